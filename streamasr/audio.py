"""Audio files and sample conversion: anything in, mono float32 at the model rate out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from streamasr.errors import AudioError  # defined there for the CLI, which must not import torch


def to_mono_float(samples: np.ndarray) -> np.ndarray:
    """(S,) or (S, C) samples of any numeric dtype -> (S,) float32 in [-1, 1].

    >>> to_mono_float(np.array([[16384, 16384], [-32768, 0]], dtype=np.int16)).tolist()
    [0.5, -0.5]
    """
    x = np.asarray(samples)
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(-np.iinfo(x.dtype).min)
    x = x.astype(np.float32, copy=False)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise AudioError(f"expected (samples,) or (samples, channels) audio, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise AudioError("audio contains NaN or infinite samples")
    return np.clip(x, -1.0, 1.0)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """(S,) float32 at ``rate`` -> (S',) float32 at ``target``."""
    if rate <= 0:
        raise AudioError(f"invalid sample rate {rate}")
    if rate == target:
        return samples
    return torchaudio.functional.resample(torch.from_numpy(samples), rate, target).numpy()


def _read(path: str | Path) -> tuple[np.ndarray, int]:
    """A file's samples, (S, C) float32, and its rate."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path} is a folder, not an audio file" if path.is_dir() else f"no such audio file: {path}")
    try:
        return sf.read(str(path), dtype="float32", always_2d=True)  # (S, C)
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"cannot read {path}: {e}") from None


def load_audio(path: str | Path, target_rate: int = 16000) -> np.ndarray:
    """Read a WAV, FLAC, MP3 or OGG (Vorbis, Opus) file (libsndfile) of any rate and channel count -> (S,)
    float32 mono at ``target_rate``."""
    data, rate = _read(path)  # (S, C)
    return resample(to_mono_float(data), rate, target_rate)


def load_channels(path: str | Path, target_rate: int = 16000) -> np.ndarray:
    """Read a file as ``load_audio`` does, but keep its channels apart -> (S, C) float32 at ``target_rate``."""
    data, rate = _read(path)  # (S, C)
    columns = [resample(to_mono_float(data[:, c]), rate, target_rate) for c in range(data.shape[1])]  # C x (S',)
    return np.stack(columns, axis=1)  # (S', C)


def with_silence_before(samples: np.ndarray, seconds: float, sample_rate: int) -> np.ndarray:
    """The utterance as a stream's segment after a pause hears it: ``seconds`` of digital silence first.

    >>> with_silence_before(np.ones(2, np.float32), 0.5, 4)
    array([0., 0., 1., 1.], dtype=float32)
    """
    if seconds <= 0:
        return samples  # no copy of every utterance where no silence is asked for
    return np.concatenate([np.zeros(round(seconds * sample_rate), samples.dtype), samples])
