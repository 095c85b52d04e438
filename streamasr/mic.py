"""Microphone capture with sounddevice: blocks of float32 samples into a queue."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np


@contextmanager
def microphone(sample_rate: int = 16000, block_ms: int = 100, device: str | int | None = None
               ) -> Iterator["queue.Queue[np.ndarray]"]:
    """Yield a queue that receives (S,) float32 mono blocks from the input device until exit."""
    import sounddevice as sd  # imported here: PortAudio is needed only by this command

    blocks: queue.Queue[np.ndarray] = queue.Queue(maxsize=600)  # a minute of 100 ms blocks at most

    def callback(indata, frames, time_info, status):  # runs in PortAudio's thread
        try:
            blocks.put_nowait(indata[:, 0].copy())
        except queue.Full:
            pass  # the consumer stalled; dropping audio beats unbounded memory

    with sd.InputStream(samplerate=sample_rate, channels=1, dtype="float32", device=device,
                        blocksize=sample_rate * block_ms // 1000, callback=callback):
        yield blocks
