"""What a sample is: float32 with full scale at 1. Every array of samples that comes in from a caller (a
``Session``, a client's frames) is read by ``float_samples``, so that PCM arrays mean what they say."""

from __future__ import annotations

import numpy as np

PCM_WIDTHS = (2, 4)  # bytes of the integer samples taken as PCM: int16 and int32, full scale 2**15 and 2**31


def float_samples(samples) -> np.ndarray:
    """Samples as float32 in [-1, 1] where full scale is 1: floats as they are; int16 and int32 arrays (PCM, as
    ``sounddevice``, ``soundfile`` and WAV readers give it) scaled from their full scale. Other integers are
    refused: taken as floats they would sit thousands of times over full scale, clip, and recognize as noise.

    >>> float_samples(np.array([-32768, 16384], np.int16)), float_samples(np.array([2 ** 30], ">i4"))
    (array([-1. ,  0.5], dtype=float32), array([0.5], dtype=float32))
    >>> float_samples([0.25, -0.5])
    array([ 0.25, -0.5 ], dtype=float32)
    >>> float_samples([1, 2])
    Traceback (most recent call last):
    ...
    ValueError: int64 samples: pass floats in [-1, 1], or int16 or int32 PCM
    >>> float_samples(b"\\x00\\x01")
    Traceback (most recent call last):
    ...
    ValueError: bytes, not samples: decode them (streamasr.PipeDecoder; np.frombuffer(data, '<i2') for 16-bit PCM)
    """
    if isinstance(samples, (bytes, bytearray, memoryview)):
        raise ValueError("bytes, not samples: decode them (streamasr.PipeDecoder; np.frombuffer(data, '<i2') for "
                         "16-bit PCM)")
    x = np.asarray(samples)
    if x.dtype.kind == "f":
        return x.astype(np.float32, copy=False)
    if x.dtype.kind == "i" and x.dtype.itemsize in PCM_WIDTHS:  # either byte order
        return x.astype(np.float32) / np.float32(2 ** (8 * x.dtype.itemsize - 1))
    if x.size == 0:  # no samples, whatever their type says of a scale
        return x.astype(np.float32)
    raise ValueError(f"{x.dtype} samples: pass floats in [-1, 1], or int16 or int32 PCM")
