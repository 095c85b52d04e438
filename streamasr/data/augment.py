"""Waveform and feature augmentation. Each function is pure given its generator."""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import soundfile
import torch
import torchaudio


@dataclass(frozen=True)
class AugmentConfig:
    p_speed: float = 0.5  # chance of speed perturbation
    speeds: tuple[float, ...] = (0.9, 1.1)  # factors to choose from
    p_noise: float = 0.5  # chance of additive noise
    snr_db: tuple[float, float] = (5.0, 30.0)  # SNR range for noise
    p_reverb: float = 0.3  # chance of simulated reverberation
    p_telephone: float = 0.3  # chance of the 8 kHz mu-law round trip
    p_phone_band: float = 0.0  # chance that a round trip also passes only a telephone band, drawn as below
    phone_low_hz: tuple[float, float] = (200.0, 400.0)  # range of the band's lower edge
    phone_high_hz: tuple[float, float] = (3100.0, 3700.0)  # range of the band's upper edge
    p_gsm: float = 0.0  # chance that a round trip also passes a mobile leg's GSM 06.10 codec (before mu-law)
    p_gain: float = 0.5  # chance of a random gain
    gain_db: tuple[float, float] = (-20.0, 3.0)  # gain range
    p_lead_noise: float = 0.0  # chance that added noise starts before the speech, as a room's does (0: off)
    lead_noise_s: tuple[float, float] = (0.5, 6.0)  # range of how long before, seconds


def speed(x: np.ndarray, factor: float, rate: int = 16000) -> np.ndarray:
    """Change speed and pitch together by resampling, as Kaldi's speed perturbation does."""
    y = torchaudio.functional.resample(torch.from_numpy(x), int(rate * factor), rate)
    return y.numpy()


def coloured_noise(n: int, rng: np.random.Generator, kind: int | None = None, dbfs: float = 0.0) -> np.ndarray:
    """White (kind 0), pink-ish (1) or brown-ish (2, default: one at random) noise of n samples, (n,) float32 at
    an RMS of ``dbfs`` (dB against full scale; 0: unit RMS)."""
    white = rng.standard_normal(n).astype(np.float32)
    kind = rng.integers(3) if kind is None else kind
    if kind == 0:
        y = white
    else:
        spec = np.fft.rfft(white)
        f = np.arange(1, len(spec) + 1, dtype=np.float32)
        y = np.fft.irfft(spec / (f ** (0.5 * kind)), n).astype(np.float32)
    return y / (np.sqrt(np.mean(y**2)) + 1e-9) * 10 ** (dbfs / 20)


def add_noise(x: np.ndarray, snr_db: float, rng: np.random.Generator, kind: int | None = None,
              lead: int = 0) -> np.ndarray:
    """``x`` with ``coloured_noise`` of ``kind`` (default: drawn) at ``snr_db`` below its RMS, the noise starting
    ``lead`` samples before it (the result that much longer).

    >>> y = add_noise(np.ones(4, np.float32), 0.0, np.random.default_rng(0), kind=0, lead=2)
    >>> len(y), bool(np.all(y[2:] != 1.0)), round(float(np.sqrt(np.mean((y - [0, 0, 1, 1, 1, 1]) ** 2))), 3)
    (6, True, 1.0)
    """
    rms = np.sqrt(np.mean(x**2)) + 1e-9
    noise = coloured_noise(lead + len(x), rng, kind) * rms / (10 ** (snr_db / 20))  # (lead + S,)
    return np.concatenate([np.zeros(lead, np.float32), x]) + noise


def reverb(x: np.ndarray, rng: np.random.Generator, rate: int = 16000) -> np.ndarray:
    """Convolve with an exponentially decaying noise impulse response (RT60 0.2-0.8 s)."""
    rt60 = rng.uniform(0.2, 0.8)
    n = int(rate * rt60)
    t = np.arange(n) / rate
    ir = rng.standard_normal(n).astype(np.float32) * np.exp(-6.9 * t / rt60).astype(np.float32)
    ir[0] = 1.0
    ir /= np.sqrt(np.sum(ir**2))
    y = torchaudio.functional.fftconvolve(torch.from_numpy(x), torch.from_numpy(ir))[: len(x)]
    return y.numpy()


TELEPHONE_BAND = (300.0, 3400.0)  # Hz: the G.712 telephone band that PSTN and mobile calls pass


def phone_channel(x: np.ndarray, rate: int = 16000, band: tuple[float, float] | None = TELEPHONE_BAND) -> np.ndarray:
    """(S,) float32 at ``rate`` -> (S',) float32 at 8 kHz, as a phone call carries speech: resampled to
    8 kHz and, unless ``band`` is None, limited to that band (two biquads on each side, 24 dB per
    octave). Encoding it as mu-law (``streamasr.protocol.encode_audio``) completes the call.

    >>> t = np.arange(16000) / 16000
    >>> y = phone_channel(np.sin(2 * np.pi * 1000 * t).astype(np.float32))
    >>> len(y), round(float(np.sqrt(np.mean(y[800:] ** 2))), 1)  # 1 kHz passes (a unit sine: RMS 0.71)
    (8000, 0.7)
    >>> y = phone_channel(np.sin(2 * np.pi * 100 * t).astype(np.float32))
    >>> bool(np.sqrt(np.mean(y[800:] ** 2)) < 0.05)  # 100 Hz hum does not
    True
    """
    y = torchaudio.functional.resample(torch.from_numpy(np.asarray(x, np.float32)), rate, 8000)
    if band is not None:
        for _ in range(2):
            y = torchaudio.functional.highpass_biquad(y, 8000, band[0])
            y = torchaudio.functional.lowpass_biquad(y, 8000, band[1])
    return y.clamp(-1, 1).numpy()


def gsm_codec(y: np.ndarray) -> np.ndarray:
    """(S,) float32 at 8 kHz -> (S,) float32 at 8 kHz through the GSM 06.10 full-rate codec and back
    (libsndfile's coder, 13 kbit/s): what a 2G mobile leg does to a call before the network passes it on
    as mu-law. A lossy model of the voice (linear prediction, long-term pitch prediction, a coarse pulse
    residual), not of the waveform: the samples move a lot while the speech stays.

    >>> t = np.arange(8000) / 8000
    >>> x = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    >>> y = gsm_codec(x)
    >>> len(y), bool(np.abs(y - x).max() > 0.01), bool(np.corrcoef(x, y)[0, 1] > 0.9)
    (8000, True, True)
    """
    buf = io.BytesIO()
    soundfile.write(buf, np.clip(y, -1.0, 1.0), 8000, format="WAV", subtype="GSM610")
    buf.seek(0)
    decoded, _ = soundfile.read(buf, dtype="float32")  # (S',): padded to whole GSM blocks
    return decoded[: len(y)]


def telephone(x: np.ndarray, rate: int = 16000, band: tuple[float, float] | None = None,
              gsm: bool = False) -> np.ndarray:
    """A call's round trip: ``phone_channel`` (8 kHz, and ``band`` if given), ``gsm_codec`` if ``gsm``,
    mu-law, back to ``rate``."""
    y = phone_channel(x, rate, band)
    y = torch.from_numpy(gsm_codec(y) if gsm else y)
    y = torchaudio.functional.mu_law_decoding(torchaudio.functional.mu_law_encoding(y, 256), 256)
    return torchaudio.functional.resample(y, 8000, rate).numpy()


def augment_waveform(x: np.ndarray, cfg: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """(S,) float32 -> (S',) float32 with a random chain of the above."""
    if rng.random() < cfg.p_speed:
        x = speed(x, float(rng.choice(cfg.speeds)))
    if rng.random() < cfg.p_reverb:
        x = reverb(x, rng)
    if rng.random() < cfg.p_noise:
        snr_db = rng.uniform(*cfg.snr_db)
        lead = 0  # (no draw at p_lead_noise 0, so recipes made before it keep their augmentation)
        if cfg.p_lead_noise > 0 and rng.random() < cfg.p_lead_noise:
            lead = round(rng.uniform(*cfg.lead_noise_s) * 16000)
        x = add_noise(x, snr_db, rng, lead=lead)
    if rng.random() < cfg.p_gain:
        x = x * 10 ** (rng.uniform(*cfg.gain_db) / 20)
    x = np.clip(x, -1.0, 1.0).astype(np.float32)
    if rng.random() < cfg.p_telephone:
        band = None  # (no draw at p_phone_band 0, so recipes made before it keep their augmentation)
        if cfg.p_phone_band > 0 and rng.random() < cfg.p_phone_band:
            band = (rng.uniform(*cfg.phone_low_hz), rng.uniform(*cfg.phone_high_hz))
        gsm = cfg.p_gsm > 0 and rng.random() < cfg.p_gsm  # (likewise no draw at p_gsm 0)
        x = telephone(x, band=band, gsm=gsm)
    return x


def spec_masks(lengths: torch.Tensor, t: int, f: int, gen: torch.Generator, freq_masks: int = 2,
               freq_width: int = 15, time_masks: int = 2, time_frac: float = 0.05) -> torch.Tensor:
    """SpecAugment's masks for a batch of (B, t, f) features: True on random mel bands and time spans of
    each utterance (spans inside its ``lengths``), drawn one utterance after another. (B, t, f) bool.

    >>> m = spec_masks(torch.tensor([10]), 20, 8, torch.Generator().manual_seed(0), time_frac=0.3)
    >>> m.shape, bool(m[0, 10:].all(1).logical_or(~m[0, 10:].any(1)).all())  # past its end: whole bands alone
    (torch.Size([1, 20, 8]), True)
    """
    b = len(lengths)
    bands = torch.zeros(b, f, dtype=torch.bool)  # (B, F)
    spans = torch.zeros(b, t, dtype=torch.bool)  # (B, T)
    for i in range(b):
        for _ in range(freq_masks):
            w = int(torch.randint(0, freq_width + 1, (1,), generator=gen))
            s = int(torch.randint(0, max(1, f - w), (1,), generator=gen))
            bands[i, s : s + w] = True
        n = int(lengths[i])
        for _ in range(time_masks):
            w = int(torch.randint(0, max(1, int(n * time_frac)) + 1, (1,), generator=gen))
            s = int(torch.randint(0, max(1, n - w), (1,), generator=gen))
            spans[i, s : s + w] = True
    return spans[:, :, None] | bands[:, None, :]  # (B, T, F)


def vtlp_matrices(n_mels: int, sample_rate: int, alphas: torch.Tensor) -> torch.Tensor:
    """(B, F, F) interpolations, one per factor of ``alphas`` (B,), that warp log-mel frames as if the vocal
    tract were 1/alpha as long.

    Output bin i takes the energy the input had at frequency hz_i / alpha (alpha > 1 moves formants
    up, towards a shorter vocal tract); bins are the HTK mel centres from 0 Hz to Nyquist.

    >>> w = vtlp_matrices(80, 16000, torch.tensor([1.0, 1.2]))
    >>> torch.allclose(w[0], torch.eye(80), atol=1e-6)
    True
    >>> int(w[1, 40].argmax()) < 40  # bin 40 now reads from a lower frequency
    True
    """
    def mel(hz):
        return 2595.0 * torch.log10(1.0 + hz / 700.0)

    def hz(m):
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    edges = torch.linspace(0.0, float(mel(torch.tensor(sample_rate / 2.0))), n_mels + 2, dtype=torch.float64)
    centres = edges[1:-1]  # (F,) mel
    src = mel(hz(centres)[None, :] / alphas.double()[:, None])  # (B, F) where each output bin reads from, in mel
    pos = torch.clamp((src - centres[0]) / (centres[1] - centres[0]), 0.0, n_mels - 1.0)  # fractional bin index
    lo = pos.floor().long().clamp(max=n_mels - 2)  # (B, F)
    frac = pos - lo
    w = torch.zeros(len(alphas), n_mels, n_mels, dtype=torch.float64)  # (B, F, F)
    batch, rows = torch.arange(len(alphas))[:, None], torch.arange(n_mels)[None, :]
    w[batch, rows, lo] = 1.0 - frac
    w[batch, rows, lo + 1] += frac
    return w.float()


def vtlp(feats: torch.Tensor, lo: float, hi: float, sample_rate: int, gen: torch.Generator) -> torch.Tensor:
    """Warp each utterance of raw log-mel feats (B, T, F) by a factor drawn from [lo, hi]."""
    if lo == hi == 1.0:
        return feats
    alphas = torch.tensor([lo + (hi - lo) * float(torch.rand((), generator=gen)) for _ in range(feats.shape[0])])
    return torch.bmm(feats, vtlp_matrices(feats.shape[2], sample_rate, alphas).transpose(1, 2))  # (B, T, F)


def eq_curve(n_mels: int, coeffs: torch.Tensor) -> torch.Tensor:
    """(F,) smooth gain curve over mel bins: a cosine series with ``coeffs`` (K,) as its weights, from the
    series' first term on (no constant term: the level is ``AugmentConfig.gain_db``'s business); with
    ``coeffs`` (B, K), one curve per row, (B, F).

    >>> [round(g, 3) for g in eq_curve(4, torch.tensor([1.0])).tolist()]  # one term: a tilt, bass up, treble down
    [0.924, 0.383, -0.383, -0.924]
    >>> float(eq_curve(80, torch.tensor([0.3, -0.5, 0.2])).sum().abs()) < 1e-5  # no net level change
    True
    """
    k = torch.arange(1, coeffs.shape[-1] + 1, dtype=torch.float64)[:, None]  # (K, 1)
    bins = (torch.arange(n_mels, dtype=torch.float64) + 0.5) / n_mels  # (F,) in (0, 1)
    return (coeffs.double() @ torch.cos(math.pi * k * bins)).float()  # (F,) or (B, F)


def lead_silence(feats: torch.Tensor, lengths: torch.Tensor, p: float, max_frames: int, log_floor: float,
                 gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Each utterance of raw log-mel feats (B, T, F), lengths (B,), with chance ``p`` preceded by 1 to
    ``max_frames`` frames of digital silence (every bin at ln ``log_floor``), as a segment of a stream
    follows a pause; the rest zero padding. Returns feats (B, T', F) and lengths (B,). Draws nothing
    when ``p`` is 0, so runs without it draw what they drew before.

    >>> x, n = lead_silence(torch.ones(2, 2, 1), torch.tensor([2, 1]), 1.0, 3, math.exp(-5), torch.Generator())
    >>> bool((n - torch.tensor([2, 1]) >= 1).all() and (n - torch.tensor([2, 1]) <= 3).all())
    True
    >>> k = int(n[0]) - 2; x[0, :k, 0].tolist() == [-5.0] * k and x[0, k:k + 2, 0].tolist() == [1.0, 1.0]
    True
    """
    if p <= 0 or max_frames <= 0:
        return feats, lengths
    shifts = []
    for _ in range(feats.shape[0]):  # drawn in the order of one utterance at a time
        hit = float(torch.rand((), generator=gen)) < p
        shifts.append(int(torch.randint(1, max_frames + 1, (), generator=gen)) if hit else 0)
    b, t, f = feats.shape
    out = feats.new_zeros(b, t + max(shifts), f)  # (B, T', F)
    for i, (k, n) in enumerate(zip(shifts, lengths.tolist())):
        out[i, :k] = math.log(log_floor)
        out[i, k : k + n] = feats[i, :n]
    return out, lengths + torch.tensor(shifts)


def spectral_eq(feats: torch.Tensor, max_db: float, log_floor: float, gen: torch.Generator, terms: int = 3
                ) -> torch.Tensor:
    """Colour each utterance of raw log-mel feats (B, T, F) with its own smooth random gain curve
    (another voice's spectral tilt, a microphone, a room): ``terms`` cosine weights drawn in [-1, 1], the
    curve scaled to a peak drawn in [0, ``max_db``] dB. Bins at ``FeatureConfig.log_floor`` (digital
    silence; the cache keeps features in float16, hence the margin) stay there."""
    if max_db <= 0:
        return feats
    silence = math.log(log_floor) + 0.05
    b, _, f = feats.shape
    coeffs, peaks = torch.empty(b, terms), torch.empty(b)
    for i in range(b):  # drawn in the order of one utterance at a time
        coeffs[i] = 2 * torch.rand(terms, generator=gen) - 1
        peaks[i] = max_db * float(torch.rand((), generator=gen))
    curves = eq_curve(f, coeffs)  # (B, F)
    scale = peaks * math.log(10) / 10 / curves.abs().amax(1).clamp_min(1e-6)  # dB -> ln power, (B,)
    curves = (curves * scale[:, None])[:, None, :]  # (B, 1, F)
    return torch.where(feats > silence, feats + curves, feats)  # (B, T, F)
