import dataclasses
import hashlib
import json
from pathlib import Path

from streamasr.data.augment import AugmentConfig
from streamasr.data.manifest import Utterance
from streamasr.features import FeatureConfig
from streamasr.train.featcache import _fingerprint


def test_a_setting_added_later_keeps_the_caches_made_before_it_unless_it_is_used():
    utts = [Utterance(Path("/a.wav"), 1.0, "a"), Utterance(Path("/b.wav"), 2.0, "b")]
    fcfg, acfg = FeatureConfig(), AugmentConfig(p_telephone=0.5, p_phone_band=0.8)
    later = ("p_gsm", "p_lead_noise", "lead_noise_s")
    before = {k: v for k, v in dataclasses.asdict(acfg).items() if k not in later}  # AugmentConfig before them
    made_then = hashlib.sha256(json.dumps(
        ([["/a.wav", "a"], ["/b.wav", "b"]], dataclasses.asdict(fcfg), before, 0.6, 19)).encode()).hexdigest()[:16]
    assert _fingerprint(utts, fcfg, acfg, 0.6, 19) == made_then
    assert _fingerprint(utts, fcfg, dataclasses.replace(acfg, p_gsm=0.3), 0.6, 19) != made_then
    assert _fingerprint(utts, fcfg, dataclasses.replace(acfg, p_lead_noise=0.3), 0.6, 19) != made_then
    assert _fingerprint(utts, fcfg, dataclasses.replace(acfg, lead_noise_s=(1.0, 3.0)), 0.6, 19) != made_then
    assert _fingerprint(utts, fcfg, acfg, 0.6, 20) != made_then
    assert _fingerprint(utts[::-1], fcfg, acfg, 0.6, 19) != made_then
