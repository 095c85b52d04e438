import dataclasses

import numpy as np
import torch
import torchaudio

from streamasr.data.augment import AugmentConfig, add_noise, augment_waveform, reverb, spec_masks, speed, telephone


def tone(seconds=1.0):
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_noise_has_the_requested_snr():
    x, rng = tone(), np.random.default_rng(0)
    y = add_noise(x, 10.0, rng)
    snr = 10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2))
    assert abs(snr - 10.0) < 0.5


def test_speed_changes_length():
    assert abs(len(speed(tone(), 1.1)) - 16000 / 1.1) < 5


def test_telephone_removes_high_frequencies():
    t = np.arange(16000) / 16000
    high = (0.5 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    y = telephone(high)
    assert len(y) == len(high) and np.sqrt(np.mean(y**2)) < 0.05
    assert np.corrcoef(telephone(tone()), tone())[0, 1] > 0.95  # speech band survives


def test_telephone_band_removes_hum_and_keeps_the_voice_band():
    t = np.arange(16000) / 16000
    hum = (0.5 * np.sin(2 * np.pi * 120 * t)).astype(np.float32)
    voice = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    band = (300.0, 3400.0)
    assert np.sqrt(np.mean(telephone(hum, band=band)[1600:] ** 2)) < 0.03
    assert np.sqrt(np.mean(telephone(hum)[1600:] ** 2)) > 0.3  # without a band, 8 kHz alone keeps it
    assert abs(np.sqrt(np.mean(telephone(voice, band=band)[1600:] ** 2)) - 0.5 / np.sqrt(2)) < 0.03  # (phase moves)


def test_augmentation_without_a_band_is_what_it_was():
    # recipes written before p_phone_band must make the same features: no extra draw, the same round trip
    cfg = AugmentConfig(p_speed=0, p_noise=0, p_reverb=0, p_gain=0, p_telephone=1)
    x = tone()
    y = torchaudio.functional.resample(torch.from_numpy(x), 16000, 8000)
    y = torchaudio.functional.mu_law_decoding(torchaudio.functional.mu_law_encoding(y.clamp(-1, 1), 256), 256)
    rng = np.random.default_rng(3)
    assert np.array_equal(augment_waveform(x, cfg, rng), torchaudio.functional.resample(y, 8000, 16000).numpy())
    after = rng.random()
    rng = np.random.default_rng(3)
    for _ in range(5):  # speed, reverb, noise, gain, telephone: one draw each
        rng.random()
    assert after == rng.random()


def test_lead_noise_starts_before_the_speech_at_the_level_it_has_under_it():
    cfg = AugmentConfig(p_speed=0, p_noise=1, p_reverb=0, p_gain=0, p_telephone=0, snr_db=(20.0, 20.0),
                        p_lead_noise=1, lead_noise_s=(2.0, 2.0))
    x = tone()
    y = augment_waveform(x, cfg, np.random.default_rng(7))
    assert len(y) == 3 * 16000  # two seconds of noise, then the second of speech
    rms = lambda a: float(np.sqrt(np.mean(a**2)))  # noqa: E731
    level = rms(x) / 10  # 20 dB under the speech
    assert abs(rms(y[:32000]) / level - 1) < 0.1 and abs(rms(y[32000:] - x) / level - 1) < 0.1
    # off (its default), the noise is drawn as before: no extra draw
    plain = dataclasses.replace(cfg, p_lead_noise=0.0)
    rng = np.random.default_rng(7)
    for _ in range(3):  # speed, reverb, noise
        rng.random()
    expected = np.clip(add_noise(x, rng.uniform(20.0, 20.0), rng), -1, 1)
    assert np.array_equal(augment_waveform(x, plain, np.random.default_rng(7)), expected)


def test_reverb_keeps_length_and_spreads_energy():
    x = np.zeros(16000, dtype=np.float32)
    x[0] = 1.0
    y = reverb(x, np.random.default_rng(0))
    assert len(y) == len(x) and np.abs(y[1600:]).sum() > 0.1


def test_augment_chain_is_reproducible_and_bounded():
    cfg = AugmentConfig(p_speed=1, p_noise=1, p_reverb=1, p_telephone=1, p_gain=1, p_phone_band=1)
    a = augment_waveform(tone(), cfg, np.random.default_rng(5))
    b = augment_waveform(tone(), cfg, np.random.default_rng(5))
    assert np.array_equal(a, b) and np.abs(a).max() <= 1.0 and np.isfinite(a).all()


def test_spec_augment_masks_only_inside_the_utterance():
    feats = torch.ones(2, 100, 80)
    out = feats.masked_fill(spec_masks(torch.tensor([100, 50]), 100, 80, torch.Generator().manual_seed(0),
                                       time_frac=0.2), 0.0)  # as the training batches apply them
    assert (out == 0).any() and torch.equal(feats, torch.ones(2, 100, 80))


def test_vtlp_moves_formants_the_right_way(tmp_path):
    from speech import espeak
    from streamasr.data.augment import vtlp
    from streamasr.features import FeatureConfig, LogMel

    x = espeak("she sells sea shells", tmp_path / "a.wav")
    f = LogMel(FeatureConfig())(torch.from_numpy(x))[None]  # (1, T, F)
    bins = torch.arange(f.shape[2]).float()

    def centroid(z):  # energy-weighted mean mel bin
        e = z.exp()
        return float((e * bins).sum() / e.sum())

    g = torch.Generator().manual_seed(0)
    assert vtlp(f, 1.0, 1.0, 16000, g) is f  # off
    assert centroid(vtlp(f, 1.2, 1.2, 16000, g)) > centroid(f) + 1  # shorter vocal tract: formants up
    assert centroid(vtlp(f, 0.85, 0.85, 16000, g)) < centroid(f) - 1


def test_spectral_eq_colours_speech_within_its_bound_and_leaves_silence():
    import math

    from streamasr.data.augment import spectral_eq

    g = torch.Generator().manual_seed(0)
    floor = math.log(1e-6)
    feats = torch.randn(8, 50, 80)  # (B, T, F) raw log-mel
    feats[:, :10] = floor  # digital silence
    assert spectral_eq(feats, 0.0, 1e-6, g) is feats  # off
    out = spectral_eq(feats, 10.0, 1e-6, g)
    gain_db = (out - feats)[:, 10:] * 10 / math.log(10)  # (B, T-10, F)
    assert torch.equal(out[:, :10], feats[:, :10])
    assert torch.allclose(gain_db, gain_db[:, :1].expand_as(gain_db), atol=1e-4)  # one curve per utterance
    peaks = gain_db[:, 0].abs().amax(1)  # (B,)
    assert (peaks <= 10.0 + 1e-4).all() and peaks.max() > 3.0 and len(set(peaks.round(decimals=3).tolist())) == 8


def test_batched_augmentation_draws_and_makes_what_one_utterance_at_a_time_did():
    """vtlp, spectral_eq and spec_masks work on the whole batch at once, for a GPU's sake; their random
    draws come in the order they always did, so a recipe's batches are what they were. The reference here
    is the per-utterance code they replaced."""
    import math

    from streamasr.data.augment import eq_curve, spectral_eq, vtlp, vtlp_matrices

    feats = torch.randn(5, 60, 80) * 3 - 4  # raw log-mel (B, T, F)
    feats[1, :, :10] = math.log(1e-6)  # digital silence in some bins
    lengths = torch.tensor([60, 41, 60, 7, 33])

    g, ref_g = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    ref = torch.stack([feats[i] @ vtlp_matrices(80, 16000, torch.tensor([0.85 + 0.45 * float(torch.rand(
        (), generator=ref_g))]))[0].T for i in range(5)])
    assert torch.allclose(vtlp(feats, 0.85, 1.3, 16000, g), ref, atol=1e-5)

    g, ref_g = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    ref = feats.clone()
    for i in range(5):
        curve = eq_curve(80, 2 * torch.rand(3, generator=ref_g) - 1)
        peak_db = 10.0 * float(torch.rand((), generator=ref_g))
        curve = curve * (peak_db * math.log(10) / 10 / curve.abs().max().clamp_min(1e-6))
        ref[i] = torch.where(feats[i] > math.log(1e-6) + 0.05, feats[i] + curve, feats[i])
    assert torch.allclose(spectral_eq(feats, 10.0, 1e-6, g), ref, atol=1e-5)

    g, ref_g = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    ref = feats.clone()
    for i in range(5):
        for _ in range(2):
            w = int(torch.randint(0, 16, (1,), generator=ref_g))
            s = int(torch.randint(0, max(1, 80 - w), (1,), generator=ref_g))
            ref[i, :, s : s + w] = 0.0
        n = int(lengths[i])
        for _ in range(2):
            w = int(torch.randint(0, max(1, int(n * 0.05)) + 1, (1,), generator=ref_g))
            s = int(torch.randint(0, max(1, n - w), (1,), generator=ref_g))
            ref[i, s : s + w, :] = 0.0
    assert torch.equal(feats.masked_fill(spec_masks(lengths, 60, 80, g), 0.0), ref)


def test_a_mobile_leg_codes_the_voice_and_keeps_its_band():
    from streamasr.data.augment import gsm_codec

    voice = (0.5 * np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000)).astype(np.float32)
    y = gsm_codec(voice[:1234])  # not a whole number of GSM blocks
    assert len(y) == 1234 and y.dtype == np.float32
    y = gsm_codec(voice)
    rms = np.sqrt(np.mean(y[800:] ** 2))
    assert abs(rms - 0.5 / np.sqrt(2)) < 0.1 and np.abs(y - voice).max() > 0.01  # coded, not copied
    speech = telephone(tone(), band=(300.0, 3400.0))
    assert np.corrcoef(telephone(tone(), band=(300.0, 3400.0), gsm=True)[1600:], speech[1600:])[0, 1] > 0.8


def test_augmentation_draws_the_mobile_leg_only_when_asked():
    cfg = AugmentConfig(p_speed=0, p_noise=0, p_reverb=0, p_gain=0, p_telephone=1, p_phone_band=1)
    plain = augment_waveform(tone(), cfg, np.random.default_rng(3))
    coded = augment_waveform(tone(), dataclasses.replace(cfg, p_gsm=1.0), np.random.default_rng(3))
    rng = np.random.default_rng(3)
    for _ in range(6):  # speed, reverb, noise, gain, telephone, band
        rng.random()
    band = (rng.uniform(*cfg.phone_low_hz), rng.uniform(*cfg.phone_high_hz))
    assert np.array_equal(plain, telephone(tone(), band=band))
    assert np.array_equal(coded, telephone(tone(), band=band, gsm=True)) and not np.array_equal(coded, plain)
