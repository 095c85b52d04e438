"""New voices from recorded ones, each band of formants moved on its own.

convert.py scales a whole spectrum by one factor, as a longer or shorter vocal tract would. Speakers differ
by more than their tract's length: each of their formants sits where their own tract puts it. Here Praat's
PSOLA first sets an utterance's pitch; then each 32 ms frame's spectral envelope (its all-pole fit) is
taken through a piecewise linear warp of frequency whose slope in each band (about F1's, F2's, F3's and
the rest) is drawn for the voice, and the contrast of its peaks and valleys scaled by another draw; what
the envelope leaves (harmonics, noise) and the phase stay as they were.

The bases are recorded speakers: flite's three training voices, SVOX Pico's two and MBROLA's four English
ones. Praat comes from the PyPI package praat-parselmouth (GPL-3.0), imported only here and in convert.py.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

import numpy as np

from streamasr.data.convert import PITCH_MEDIANS, PITCH_RANGES, pitch_factor

COUNT = 120  # voices per base voice
SCALE = (0.88, 1.15)  # the warp's slope in every band times this (the tract's length) ...
SPREAD = (0.9, 1.1)  # ... and in each band times a factor of its own
CONTRASTS = (0.8, 1.2)  # the envelope's contrast times this
KNOTS = (800.0, 1800.0, 3000.0, 8000.0)  # Hz: the warp's bands end here (about F1's, F2's, F3's, the rest)
TOP = 8000.0  # Hz: where the warp takes the last knot at most (16 kHz audio's Nyquist frequency)
N_FFT = 512  # STFT of the envelope warp: 32 ms frames at 16 kHz ...
HOP = 128  # ... every 8 ms
LPC_ORDER = 18  # poles of each frame's envelope (two a formant up to 8 kHz, and the source's tilt)


@dataclass(frozen=True)
class Reshape:
    slopes: tuple[float, float, float, float]  # the formant warp's slope in each band of KNOTS
    contrast: float  # the envelope's peaks and valleys around its mean times this (narrower formants above 1)
    pitch_median: float  # Hz: the utterance's median pitch, before the job's own pitch moves it
    pitch_range: float  # log-frequency excursions from the median times this


def reshape_of(k: int) -> Reshape:
    """The ``k``-th voice's settings, the same on every machine.

    >>> r = reshape_of(7)
    >>> r == reshape_of(7) != reshape_of(8)
    True
    >>> all(SCALE[0] * SPREAD[0] <= s <= SCALE[1] * SPREAD[1] for s in r.slopes)
    True
    """
    rng = random.Random(f"formant:{k}")
    scale = rng.uniform(*SCALE)
    slopes = tuple(scale * rng.uniform(*SPREAD) for _ in KNOTS)
    contrast = rng.uniform(*CONTRASTS)
    lo, hi = np.log(PITCH_MEDIANS)
    return Reshape(slopes=slopes, contrast=contrast, pitch_median=float(np.exp(rng.uniform(lo, hi))),
                   pitch_range=rng.uniform(*PITCH_RANGES))


def warped_knots(slopes: tuple[float, ...]) -> list[float]:
    """Where the warp takes each of KNOTS: piecewise linear from 0 Hz, each band at its slope, the last one
    ending at TOP at most. Increasing, so formants keep their order and never meet.

    >>> warped_knots((1.0, 1.0, 1.0, 1.0)) == list(KNOTS[:3]) + [TOP]
    True
    >>> [round(y) for y in warped_knots((1.1, 0.9, 1.0, 1.0))]
    [880, 1780, 2980, 7980]
    """
    out, x0, y0 = [], 0.0, 0.0
    for x, s in zip(KNOTS, slopes):
        y0, x0 = y0 + s * (x - x0), x
        out.append(y0)
    out[-1] = min(out[-1], TOP)
    return out


def warp(f: float, slopes: tuple[float, ...]) -> float:
    """Hz -> Hz: a formant's frequency under the warp.

    >>> round(warp(1300.0, (1.1, 0.9, 1.0, 1.0)))
    1330
    """
    xs, ys = [0.0, *KNOTS], [0.0, *warped_knots(slopes)]
    return float(np.interp(f, xs, ys))


def lpc_envelope(power: np.ndarray, order: int) -> np.ndarray:
    """(F, T) power spectra -> (F, T) log magnitude of each frame's all-pole fit (autocorrelation method,
    Levinson-Durbin over all frames at once): an envelope whose peaks are the formants.

    >>> f = np.linspace(0, np.pi, 257)[:, None]
    >>> pole = np.abs(1 - 0.9 * np.exp(-1j * (f - 1.0))) ** -2 * np.abs(1 - 0.9 * np.exp(-1j * (f + 1.0))) ** -2
    >>> env = lpc_envelope(pole, 4)  # (257, 1): one resonance at 1 rad, as the spectrum had
    >>> round(float(f[env.argmax(), 0]), 1)
    1.0
    """
    r = np.fft.irfft(power, axis=0)[: order + 1]  # (order+1, T) autocorrelation
    r[0] *= 1 + 1e-6  # a little white noise: the recursion stays stable on silence
    a = np.zeros((order + 1, r.shape[1]))
    a[0] = 1.0
    err = r[0].copy()  # (T,)
    for i in range(1, order + 1):
        k = -(a[:i] * r[i:0:-1]).sum(0) / np.maximum(err, 1e-12)  # (T,) reflection coefficient
        a[: i + 1] = a[: i + 1] + k * a[i::-1]
        err *= 1 - k ** 2
    response = np.fft.rfft(a, n=2 * (power.shape[0] - 1), axis=0)  # (F, T)
    return 0.5 * np.log(np.maximum(err, 1e-12)) - np.log(np.abs(response) + 1e-12)


def envelope_warp(audio: np.ndarray, sample_rate: int, r: Reshape) -> np.ndarray:
    """(S,) -> (S,): each frame's spectral envelope (its all-pole fit) moved through the warp and its contrast
    around its mean scaled; what the envelope leaves (harmonics, noise) and the phase kept."""
    import torch

    window = torch.hann_window(N_FFT)
    spec = torch.stft(torch.from_numpy(audio.astype(np.float32)), N_FFT, HOP, window=window,
                      return_complex=True)  # (F, T) complex, F = N_FFT/2 + 1
    power = spec.abs().numpy().astype(np.float64) ** 2  # (F, T)
    env = lpc_envelope(power, LPC_ORDER)  # (F, T) log magnitude
    freqs = np.linspace(0, sample_rate / 2, env.shape[0])  # (F,) Hz
    source = np.interp(freqs, [0.0, *warped_knots(r.slopes)], [0.0, *KNOTS])  # (F,) Hz each bin's envelope comes from
    pos = np.clip(source / (sample_rate / 2), 0.0, 1.0) * (env.shape[0] - 1)  # (F,) fractional bin, the last at most
    lo = np.minimum(np.floor(pos).astype(int), env.shape[0] - 2)
    frac = (pos - lo)[:, None]  # (F, 1)
    moved = env[lo] * (1 - frac) + env[lo + 1] * frac  # (F, T)
    mean = moved.mean(0, keepdims=True)  # (1, T)
    moved = mean + r.contrast * (moved - mean)
    gain = torch.from_numpy(np.exp(moved - env)).to(spec.dtype)  # (F, T)
    return torch.istft(spec * gain, N_FFT, HOP, window=window, length=len(audio)).numpy()  # (S,)


def reshape(audio: np.ndarray, sample_rate: int, r: Reshape, pitch: float, seed: str) -> np.ndarray:
    """(S,) float32 -> (S,) float32: ``audio`` spoken by the voice ``r``; ``pitch`` in [0, 1] moves the median up
    to 13% either way (the job's own pitch draw); ``seed`` fixes Praat's random numbers."""
    import parselmouth
    from parselmouth.praat import call, run

    run(f"random_initializeWithSeedUnsafelyButPredictably ({zlib.crc32(seed.encode()) & 0x7FFFFFFF})\n")
    sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=sample_rate)
    median = call(sound.to_pitch(), "Get quantile", 0, 0, 0.5, "Hertz")
    if np.isfinite(median):  # something voiced: its pitch becomes the voice's (PSOLA, envelope kept)
        manipulation = call(sound, "To Manipulation", 0.01, 60, 600)
        tier = call(manipulation, "Extract pitch tier")
        target = r.pitch_median * pitch_factor(pitch)
        call(tier, "Formula", f"{target} * (self / {median}) ^ {r.pitch_range}")
        call([tier, manipulation], "Replace pitch tier")
        sound = call(manipulation, "Get resynthesis (overlap-add)")
    y = sound.values[0][: len(audio)]
    y = envelope_warp(np.pad(y, (0, len(audio) - len(y))), sample_rate, r)  # (S,)
    peak = np.abs(y).max(initial=0.0)
    if peak > 0.99:
        y *= 0.99 / peak
    return y.astype(np.float32)
