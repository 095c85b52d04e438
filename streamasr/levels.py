"""Input levels: what a source's audio says about the source, before any model hears it. Digital silence (a muted
microphone, a dead call leg), speech too quiet to be recognized well, and clipping are noticed on the audio's
100 ms blocks as it comes, whatever the pieces it comes in. No I/O: ``streamasr mic``, the server and
``streamasr transcribe`` each say what ``InputCheck`` finds in their own way (a line on stderr, a warning
message on the wire)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

FULL_SCALE = 0.999  # a sample this far from 0 (of its encoding's largest) has clipped, or nearly
QUIET_DBFS = -45.0  # speech whose loudest 100 ms stays under this (RMS, dBFS) loses many words (benchmarks/levels.py)
CLIPPED_SHARE = 0.001  # samples at full scale, of those of the last CLIP_WINDOW_S, that say the input clips (levels.py)
CLIP_WINDOW_S = 5.0
WARNINGS = ("silent", "quiet", "clipped")  # the codes of ``LevelWarning``


def blocks_dbfs(blocks: np.ndarray) -> np.ndarray:
    """Levels of (N, S, C) blocks of samples in dB against full scale (1.0): each block's loudest channel's mean
    square; -inf where every sample of a block is 0.

    >>> blocks_dbfs(np.array([[[0.1, 0.0], [0.1, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])).round(3).tolist()
    [-20.0, -inf]
    """
    power = np.square(blocks, dtype=np.float64).mean(axis=1).max(axis=1)  # (N,): the loudest channel's
    with np.errstate(divide="ignore"):
        return 10 * np.log10(power)


def block_dbfs(block: np.ndarray) -> float:
    """Level of one block of (S,) or (S, C) samples, as ``blocks_dbfs``.

    >>> round(block_dbfs(np.full(4, 0.1, np.float32)), 3), block_dbfs(np.zeros((4, 2), np.float32))
    (-20.0, -inf)
    """
    return float(blocks_dbfs(block.reshape(1, len(block), -1))[0])  # (1, S, C)


@dataclass(frozen=True)
class LevelWarning:
    """What an ``InputCheck`` noticed, and when."""

    code: str  # "silent": only digital silence; "quiet": nothing as loud as speech; "clipped": too loud
    seconds: float  # audio the source had sent when the rule held
    dbfs: float = float("-inf")  # "quiet": the loudest 100 ms so far (RMS, dBFS)
    clipped_share: float = 0.0  # "clipped": the share of the last CLIP_WINDOW_S's samples at full scale

    def message(self, source: str = "the input") -> str:
        """In words, ``source`` naming what sent the audio.

        >>> LevelWarning("quiet", 10.0, -55.2).message("channel 1").split(": ")[0]
        'channel 1 has been quiet for 10 s, its loudest at -55 dBFS'
        >>> LevelWarning("clipped", 6.4, clipped_share=0.0123).message("the microphone").split(": ")[:2]
        ['the microphone clips', '1.2% of the samples of the last 5 s at full scale']
        """
        seconds = f"{round(self.seconds, 1):g} s"
        if self.code == "silent":
            return f"{source} has sent only digital silence (every sample 0) for {seconds}: it may be muted"
        if self.code == "quiet":
            return (f"{source} has been quiet for {seconds}, its loudest at {self.dbfs:.0f} dBFS: if someone is "
                    f"speaking, raise the input volume (speech whose loudest stays under {QUIET_DBFS:.0f} dBFS "
                    "loses many words)")
        return (f"{source} clips: {100 * self.clipped_share:.1f}% of the samples of the last {CLIP_WINDOW_S:g} s at "
                "full scale: lower the input volume (clipped speech loses words)")


class InputCheck:
    """Notices a source whose audio cannot be recognized well. Until it opens: only digital silence (every
    sample 0: muted, or a program not allowed to record) for ``silent_s``, or nothing as loud as ``quiet_dbfs``
    for ``quiet_s`` (too quiet for speech to be recognized well, or nobody has spoken yet); the first block that
    loud opens it and ends those two watches. At any time: ``CLIPPED_SHARE`` of the samples of the last
    ``CLIP_WINDOW_S`` at ``full_scale`` (too loud: clipped). Each rule speaks once. The audio is measured in
    blocks of ``block_s`` on the stream's own grid, so what it says does not depend on how the audio was cut.
    Samples in, warnings out; no I/O.

    >>> check = InputCheck(sample_rate=4, silent_s=2, quiet_s=4, block_s=1.0)  # blocks of 4 samples: 1 s each
    >>> check.feed(np.zeros(6, np.float32)), [w.code for w in check.feed(np.zeros(2, np.float32))]
    ([], ['silent'])
    >>> [w.seconds for w in check.feed(np.full(12, 0.001, np.float32))]  # -60 dBFS: quiet, said at 4 s
    [4.0]
    >>> check.feed(np.full(4, 0.1, np.float32)), check.heard  # -20 dBFS: loud enough
    ([], True)
    >>> check = InputCheck(sample_rate=4, block_s=1.0)  # clipping: once its 5 s window is full
    >>> speech, clipping = np.array([0.5, 0.2, -0.2, 0.1] * 4), np.array([1.0, 0.2, -0.2, 0.1] * 2)
    >>> check.feed(speech), [w.code for w in check.feed(clipping)], check.said
    ([], ['clipped'], ['clipped'])
    """

    def __init__(self, sample_rate: int, silent_s: float = 3.0, quiet_s: float = 10.0,
                 quiet_dbfs: float = QUIET_DBFS, full_scale: float = FULL_SCALE, block_s: float = 0.1):
        self.rate = sample_rate
        self.silent_s, self.quiet_s, self.quiet_dbfs, self.full_scale = silent_s, quiet_s, quiet_dbfs, full_scale
        self.block = max(1, round(sample_rate * block_s))  # samples per measured block
        self.pending: list[np.ndarray] = []  # (S,) or (S, C) pieces: the samples of a block not yet whole
        self.pending_n = 0  # their samples
        self.samples = 0  # samples measured so far (whole blocks)
        self.loudest = float("-inf")  # the loudest block so far, dBFS
        self.heard = False  # a block reached quiet_dbfs: the input is loud enough
        self.recent: deque[int] = deque()  # clipped samples of each block of the last window
        self.said: list[str] = []  # the rules that have spoken, in order

    def feed(self, samples: np.ndarray) -> list[LevelWarning]:
        """samples (S,) or (S, C) float32 in [-1, 1], in order -> the rules that hold for the first time."""
        self.pending_n += len(samples)
        if self.pending_n < self.block:  # most frames of a live stream: no block made whole
            self.pending.append(samples.copy())  # kept past the call: the caller may reuse its buffer
            return []
        x = np.concatenate(self.pending + [samples]) if self.pending else samples  # (S,) or (S, C)
        n = len(x) // self.block
        rest = x[n * self.block :]
        self.pending, self.pending_n = ([rest.copy()] if len(rest) else []), len(rest)
        blocks = x[: n * self.block].reshape(n, self.block, -1)  # (N, block, C)
        clipped = (np.abs(blocks) >= self.full_scale).sum(axis=(1, 2))  # (N,)
        per_block = self.block * blocks.shape[2]  # samples of all channels in a block
        warnings = []
        for level, c in zip(blocks_dbfs(blocks).tolist(), clipped.tolist()):
            self.samples += self.block
            warnings += self._clipped(int(c), per_block) + ([] if self.heard else self._quiet(level))
        return warnings

    def close(self) -> list[LevelWarning]:
        """The source has ended: where nothing in it was loud enough, the rule it met is said however short it
        was (a whole file too quiet, a muted call of a few seconds), if that rule has not spoken yet."""
        if self.heard or self.samples == 0 or {"silent", "quiet"} & set(self.said):
            return []
        code = "silent" if self.loudest == float("-inf") else "quiet"
        self.said.append(code)
        return [LevelWarning(code, self.samples / self.rate, self.loudest)]

    def _quiet(self, level: float) -> list[LevelWarning]:
        self.loudest = max(self.loudest, level)
        seconds = self.samples / self.rate
        if self.loudest >= self.quiet_dbfs:
            self.heard = True
        elif self.loudest == float("-inf") and seconds >= self.silent_s and "silent" not in self.said:
            self.said.append("silent")
            return [LevelWarning("silent", seconds)]
        elif self.loudest > float("-inf") and seconds >= self.quiet_s and "quiet" not in self.said:
            self.said.append("quiet")
            return [LevelWarning("quiet", seconds, self.loudest)]
        return []

    def _clipped(self, clipped: int, per_block: int) -> list[LevelWarning]:
        if "clipped" in self.said:
            return []
        self.recent.append(clipped)
        window = max(1, round(CLIP_WINDOW_S * self.rate / self.block))  # blocks
        if len(self.recent) > window:
            self.recent.popleft()
        total = sum(self.recent)
        if len(self.recent) == window and total >= CLIPPED_SHARE * window * per_block:
            self.said.append("clipped")
            return [LevelWarning("clipped", self.samples / self.rate, clipped_share=total / (window * per_block))]
        return []
