"""Audio files and sample conversion: anything in, mono float32 at the model rate out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from streamasr.errors import AudioError  # defined there for the CLI, which must not import torch
from streamasr.pipe import MAX_RAW_RATE, MIN_RAW_RATE, RawFormat, at_rate, read_encoding


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


BLOCK_S = 1.0  # seconds of a file read at a time
_HELD_AS = {"ULAW": "mulaw", "ALAW": "alaw", "PCM_16": "pcm_s16le", "PCM_S8": "pcm_s16le", "PCM_U8": "pcm_s16le"}
# a libsndfile subtype -> the encoding of ours that holds its samples as they are (the rest: f32le)


def read_as_held(path: str | Path, keep_channels: bool = False, block_s: float = BLOCK_S
                 ) -> tuple[RawFormat, Iterator[np.ndarray]]:
    """A file read as ``read_blocks`` reads it, at its own rate, and the format that holds its samples as they are:
    the file's rate, and the encoding of ours that holds them (pcm_s16le for 16-bit and narrower PCM, mulaw and
    alaw for G.711, f32le for wider PCM, floats and compressed audio, and for a mix of its channels); channels:
    the file's with ``keep_channels``, else 1 (their mix). A rate no pipe takes (outside 1000..192000 Hz) is
    read at 16 kHz, as f32le. Raises AudioError at once where the file cannot be opened as audio (or
    ``keep_channels`` has over 32 channels), and while iterating where its data turns out bad."""
    path = Path(path)
    f = _open(path)
    rate, channels = f.samplerate, f.channels
    encoding = read_encoding(_HELD_AS.get(f.subtype, "f32le"), channels, keep_channels)
    if not MIN_RAW_RATE <= rate <= MAX_RAW_RATE:
        rate, encoding = 16000, "f32le"
    try:
        fmt = RawFormat(rate, encoding, channels if keep_channels else 1)
    except AudioError:
        f.close()
        raise
    return fmt, _blocks(f, path, rate, keep_channels, max(1, round(block_s * f.samplerate)))


def read_blocks(path: str | Path, target_rate: int = 16000, keep_channels: bool = False,
                block_s: float = BLOCK_S) -> Iterator[np.ndarray]:
    """A WAV, FLAC, MP3 or OGG (Vorbis, Opus) file (libsndfile) of any rate and channel count, read as a
    stream: blocks of about ``block_s`` seconds, (S,) float32 mono at ``target_rate`` (with ``keep_channels``,
    (S, C), a column per channel), resampled as a stream (soxr, as a pipe's and a server's audio are), so
    that memory stays bounded however long the file. Raises AudioError at once where the file cannot be
    opened as audio, and while iterating where its data turns out bad."""
    path = Path(path)
    f = _open(path)
    return _blocks(f, path, target_rate, keep_channels, max(1, round(block_s * f.samplerate)))


def _open(path: Path) -> sf.SoundFile:
    """``path`` opened for reading, or AudioError."""
    if not path.is_file():
        raise AudioError(f"{path} is a folder, not an audio file" if path.is_dir() else f"no such audio file: {path}")
    try:
        return sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError) as e:
        raise AudioError(f"cannot read {path}: {e}") from None


def _blocks(f: sf.SoundFile, path: Path, target_rate: int, keep_channels: bool, frames: int) -> Iterator[np.ndarray]:
    return at_rate(_read(f, path, keep_channels, frames), f.samplerate, target_rate)


def _read(f: sf.SoundFile, path: Path, keep_channels: bool, frames: int) -> Iterator[np.ndarray]:
    """``f``'s samples, ``frames`` at a time, (S,) float32 mono or (S, C) with ``keep_channels``; closes it."""
    with f:
        try:
            for data in f.blocks(blocksize=frames, dtype="float32", always_2d=True):  # (S, C)
                yield (np.stack([to_mono_float(data[:, c]) for c in range(f.channels)], axis=1) if keep_channels
                       else to_mono_float(data))  # (S, C) or (S,)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioError(f"cannot read {path}: {e}") from None
        except AudioError as e:  # samples that are no numbers
            raise AudioError(f"{path}: {e}") from None


def load_audio(path: str | Path, target_rate: int = 16000) -> np.ndarray:
    """Read a whole file, as ``read_blocks`` reads it -> (S,) float32 mono at ``target_rate``."""
    return np.concatenate([np.zeros(0, np.float32), *read_blocks(path, target_rate)])


def load_channels(path: str | Path, target_rate: int = 16000) -> np.ndarray:
    """Read a whole file as ``load_audio`` does, but keep its channels apart -> (S, C) float32 at ``target_rate``."""
    blocks = list(read_blocks(path, target_rate, keep_channels=True))
    return np.concatenate(blocks) if blocks else np.zeros((0, sf.info(str(path)).channels), np.float32)


def load_whole(path: str | Path, target_rate: int = 16000) -> np.ndarray:
    """Read a whole file at once and resample it whole (torchaudio's ``resample``) -> (S,) float32 mono.
    How synthesized corpora were read when they were made (``streamasr.data``); everything else reads with
    ``read_blocks``."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (S, C)
    return resample(to_mono_float(data), rate, target_rate)


def with_silence_before(samples: np.ndarray, seconds: float, sample_rate: int) -> np.ndarray:
    """The utterance as a stream's segment after a pause hears it: ``seconds`` of digital silence first.

    >>> with_silence_before(np.ones(2, np.float32), 0.5, 4)
    array([0., 0., 1., 1.], dtype=float32)
    """
    if seconds <= 0:
        return samples  # no copy of every utterance where no silence is asked for
    return np.concatenate([np.zeros(round(seconds * sample_rate), samples.dtype), samples])
