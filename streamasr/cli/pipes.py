"""Audio sources of ``transcribe`` and ``stream``: stdin (``-`` in place of a file), read as the pipe delivers it;
blocks of samples, paced at a multiple of real time."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from streamasr.errors import AudioError
from streamasr.pipe import PipeDecoder, RawFormat, read_encoding

READ_BYTES = 1 << 14  # the most one read takes; a live pipe returns what it has
RAW_FLAGS = ("rate", "encoding", "channels")  # the flags that describe raw samples on stdin


def raw_flags(args) -> list[str]:
    """The raw-format flags given on the command line."""
    return [f"--{name}" for name in RAW_FLAGS if getattr(args, name) is not None]


def pipe_format(first: bytes, args) -> RawFormat | None:
    """The format of stdin's samples from its first bytes and the flags: None for a WAV stream (its header
    says), else raw samples as ``--rate``, ``--encoding`` and ``--channels`` say (16 kHz, 16-bit, mono where
    they do not). Raises AudioError for a WAV stream given those flags (its header decides)."""
    if first.startswith(b"RIFF"):
        if flags := raw_flags(args):
            raise AudioError(f"a WAV stream, whose header names its rate, encoding and channels: "
                             f"drop {', '.join(flags)}")
        return None
    given = {field: getattr(args, name) for field, name in zip(("sample_rate", "encoding", "channels"), RAW_FLAGS)}
    return RawFormat(**{field: value for field, value in given.items() if value is not None})  # (0 is refused)


def pieces(samples: np.ndarray, step: int) -> Iterator[np.ndarray]:
    """(S,) samples in pieces of ``step`` (the last shorter); none of an empty array."""
    for pos in range(0, len(samples), step):
        yield samples[pos : pos + step]


def paced(blocks: Iterable[np.ndarray], rate: int, speed: float, stop: Callable[[], bool] = lambda: False
          ) -> Iterator[np.ndarray]:
    """``blocks`` of samples at ``rate``, each when its start is due at ``speed`` times real time (0: as they
    come), until ``stop()`` says so (checked before each block)."""
    t0, sent = time.monotonic(), 0
    for block in blocks:
        if stop():
            return
        if speed > 0:
            time.sleep(max(0.0, t0 + sent / rate / speed - time.monotonic()))
        sent += len(block)
        yield block


class Guarded:
    """Blocks of a source that may fail midway (a file whose data turns out bad, a pipe): an AudioError ends
    them and is kept in ``error``, so that the caller can close its stream (a final for what came before)
    and then report it. ``fmt``: the format of the source's samples, where it is known before they are read
    (a file's); else that of ``blocks`` once they have begun (``Stdin``'s)."""

    def __init__(self, blocks: Iterable[np.ndarray], fmt: RawFormat | None = None):
        self.blocks = blocks
        self._fmt = fmt
        self.error: AudioError | None = None

    @property
    def fmt(self) -> RawFormat | None:
        return self._fmt or getattr(self.blocks, "fmt", None)

    def __iter__(self) -> Iterator[np.ndarray]:
        try:
            yield from self.blocks
        except AudioError as e:
            self.error = e


class Stdin:
    """stdin's audio as (S,) float32 blocks at its own rate ((S, C) where ``args.split_channels`` asks), each as
    soon as the pipe has delivered it, at most ``block_ms`` long and never empty; paced at ``speed`` times real
    time (0: as they come); until the pipe ends or ``stop()`` says so (Ctrl-C, checked after each read).
    ``fmt``: their format, once they have begun (the pipe's; of one channel, f32le, where they mix several). A
    read or format error raises AudioError (``Guarded`` keeps it)."""

    def __init__(self, args, block_ms: int = 100, speed: float = 0.0, stop: Callable[[], bool] = lambda: False):
        self.args, self.block_ms, self.speed, self.stop = args, block_ms, speed, stop
        self._pipe: PipeDecoder | None = None

    @property
    def fmt(self) -> RawFormat | None:
        fmt = self._pipe.fmt if self._pipe else None
        if fmt is None or self._pipe.keep_channels:
            return fmt
        return RawFormat(fmt.sample_rate, read_encoding(fmt.encoding, fmt.channels, False))  # their mix: one channel

    def __iter__(self) -> Iterator[np.ndarray]:
        decoded, head = self._decoded(), []
        while self.fmt is None:  # the blocks' rate is the pipe's: its header (or flags) first
            head.append(next(decoded))  # (a pipe that ends before it raises AudioError)
        rate = self.fmt.sample_rate
        step = max(1, rate * self.block_ms // 1000)  # samples per block at most
        return paced((p for samples in itertools.chain(head, decoded) for p in pieces(samples, step)), rate,
                     self.speed)

    def _decoded(self) -> Iterator[np.ndarray]:
        fd = sys.stdin.buffer.fileno()
        first = b""
        while len(first) < 4 and (data := os.read(fd, 4 - len(first))):  # enough to tell a WAV header
            first += data
        keep_channels = getattr(self.args, "split_channels", False)
        pipe = self._pipe = PipeDecoder(pipe_format(first, self.args), None, keep_channels)  # at the pipe's own rate
        data = first
        while data and not self.stop():
            yield pipe.feed(data)
            data = os.read(fd, READ_BYTES)
        yield pipe.finish()
        if pipe.trailing_bytes:
            n = pipe.trailing_bytes
            print(f"streamasr: stdin ended {n} byte{'s' * (n > 1)} into a sample, dropped", file=sys.stderr)
