"""New voices from the training voices of flite and SVOX Pico: each utterance of a base voice with its
formants, pitch and pitch range changed, as Praat's "Change gender" does (formants shifted by resampling,
pitch and duration restored by PSOLA), through Praat itself (the PyPI package praat-parselmouth, GPL-3.0,
imported only here).

Those engines have five training voices between them, against espeak-ng's hundreds; converted, each
gives ``COUNT`` speakers of other vocal-tract lengths and pitches. Praat's PSOLA fills lengthened unvoiced
stretches with random pieces, so each call seeds Praat's generator from the utterance: the same plan
gives the same audio.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

import numpy as np

COUNT = 200  # converted voices per base voice
FORMANT_RATIOS = (0.86, 1.2)  # vocal-tract scaling drawn per voice: below 1 a longer tract, above a shorter
PITCH_MEDIANS = (80.0, 250.0)  # Hz, drawn log-uniformly per voice
PITCH_RANGES = (0.6, 1.5)  # intonation scaled around the median (in log frequency) per voice


@dataclass(frozen=True)
class Conversion:
    formant_ratio: float  # every formant's frequency times this
    pitch_median: float  # Hz: the utterance's median pitch, before the job's own pitch moves it
    pitch_range: float  # log-frequency excursions from the median times this


def conversion(k: int) -> Conversion:
    """The ``k``-th converted voice's settings, the same on every machine.

    >>> c = conversion(7)
    >>> c == conversion(7) != conversion(8)
    True
    >>> FORMANT_RATIOS[0] <= c.formant_ratio <= FORMANT_RATIOS[1] and PITCH_MEDIANS[0] <= c.pitch_median <= PITCH_MEDIANS[1]
    True
    """
    rng = random.Random(f"conversion:{k}")
    lo, hi = np.log(PITCH_MEDIANS)
    return Conversion(formant_ratio=rng.uniform(*FORMANT_RATIOS), pitch_median=float(np.exp(rng.uniform(lo, hi))),
                      pitch_range=rng.uniform(*PITCH_RANGES))


def pitch_factor(pitch: float) -> float:
    """A job's pitch draw in [0, 1] as a factor on a voice's median pitch: up to 13% either way.

    >>> [round(pitch_factor(p), 2) for p in (0.0, 0.5, 1.0)]
    [0.87, 1.0, 1.13]
    """
    return 0.87 + 0.26 * pitch


def voice_name(base: str, k: int) -> str:
    """``engine/voice/k`` of a converted voice; ``base`` is the base voice as ``engine:voice``.

    >>> voice_name("flite:awb", 7)
    'flite/awb/007'
    >>> parse_name("flite/awb/007")
    ('flite', 'awb', 7)
    """
    engine, name = base.split(":")
    return f"{engine}/{name}/{k:03d}"


def parse_name(name: str) -> tuple[str, str, int]:
    engine, voice, k = name.split("/")
    return engine, voice, int(k)


def convert(audio: np.ndarray, sample_rate: int, c: Conversion, pitch: float, seed: str) -> np.ndarray:
    """(S,) float32 -> (S,) float32: ``audio`` spoken by the converted voice ``c``; ``pitch`` in [0, 1] moves
    the median up to 13% either way (the job's own pitch draw); ``seed`` fixes Praat's random numbers."""
    import parselmouth
    from parselmouth.praat import call, run

    sound = parselmouth.Sound(audio.astype(np.float64), sampling_frequency=sample_rate)
    median = call(sound.to_pitch(), "Get quantile", 0, 0, 0.5, "Hertz")
    if not np.isfinite(median):  # nothing voiced: the vocal tract alone changes
        median = c.pitch_median
    r = c.formant_ratio
    call(sound, "Override sampling frequency", sample_rate * r)  # every frequency x r, duration / r
    manipulation = call(sound, "To Manipulation", 0.01, 75 * r, 600 * r)
    target = c.pitch_median * pitch_factor(pitch)
    tier = call(manipulation, "Extract pitch tier")
    call(tier, "Formula", f"{target} * (self / {median * r}) ^ {c.pitch_range}")
    call([tier, manipulation], "Replace pitch tier")
    durations = call("Create DurationTier", "durations", 0, sound.duration)
    call(durations, "Add point", 0, r)  # back to the utterance's own length
    call([manipulation, durations], "Replace duration tier")
    run(f"random_initializeWithSeedUnsafelyButPredictably ({zlib.crc32(seed.encode()) & 0x7FFFFFFF})\n")
    out = call(call(manipulation, "Get resynthesis (overlap-add)"), "Resample", sample_rate, 50)
    return out.values[0].astype(np.float32)  # (S,)
