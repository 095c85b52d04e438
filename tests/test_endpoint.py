"""Endpoints on real speech: a quiet tail ends a segment sooner, whatever the pieces, and stands back in noise."""

import numpy as np
import pytest

from speech import espeak
from streamasr.endpoint import EndpointConfig
from streamasr.events import Final
from streamasr.recognizer import Recognizer

RATE = 16000
OFF = EndpointConfig(tail_floor_db=0.0)  # the same rules without the quiet tail


@pytest.fixture(scope="module")
def rec():
    return Recognizer.from_pretrained()


@pytest.fixture(scope="module")
def stream(tmp_path_factory):
    """Two held-out sentences, each followed by a second of silence: (16 s,) float32."""
    folder = tmp_path_factory.mktemp("endpoint")
    texts = ["go not up for the lord is not among you", "or whether we be sober it is for your cause"]
    gap = np.zeros(RATE, np.float32)
    return np.concatenate([x for i, t in enumerate(texts) for x in (espeak(t, folder / f"{i}.wav"), gap)])


def feed(session, samples, sizes):
    """[(samples fed when it came out, event)] for pieces of the given sizes, then the rest, then finish()."""
    out, pos = [], 0
    for n in list(sizes) + [len(samples)]:
        piece = samples[pos : pos + n]
        pos += len(piece)
        out += [(pos, e) for e in session.accept(piece)]
    return out + [(pos, e) for e in session.finish()]


def finals(fed):
    return [(pos, e) for pos, e in fed if isinstance(e, Final) and e.text]


def test_a_quiet_tail_brings_the_final_sooner_with_the_same_text(rec, stream):
    pieces = [RATE // 50] * (len(stream) // (RATE // 50))  # 20 ms, as a real-time client sends
    on = finals(feed(rec.session(), stream, pieces))
    off = finals(feed(rec.session(endpoint=OFF), stream, pieces))
    assert len(on) == len(off) == 2
    assert [e.text for _, e in on] == [e.text for _, e in off]
    # the first sentence's final no longer waits for the chunk that covers the pause
    assert on[0][0] <= off[0][0] - RATE // 10
    assert on[0][1].end_ms <= off[0][1].end_ms


def test_events_do_not_depend_on_how_the_audio_is_split(rec, stream):
    rng = np.random.default_rng(0)
    whole = feed(rec.session(), stream, [])
    for sizes in ([RATE // 50] * 800, rng.integers(1, 3000, 200).tolist()):
        assert [e for _, e in feed(rec.session(), stream, sizes)] == [e for _, e in whole]


def test_in_loud_noise_the_tail_stands_back(rec, stream):
    """At 5 dB SNR no block is quiet against the floor: the CTC rule alone decides, as without the tail."""
    noise = np.random.default_rng(1).standard_normal(len(stream)).astype(np.float32)
    speech_rms = np.sqrt(np.mean(stream[np.abs(stream) > 1e-3] ** 2))
    noisy = stream + noise * speech_rms / 10 ** (5 / 20)
    pieces = [RATE // 50] * (len(stream) // (RATE // 50))
    assert feed(rec.session(), noisy, pieces) == feed(rec.session(endpoint=OFF), noisy, pieces)
