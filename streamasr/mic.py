"""Microphone capture with sounddevice: blocks of float32 samples into a queue."""

from __future__ import annotations

import logging
import queue
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from streamasr.errors import DeviceError

log = logging.getLogger("streamasr")

FULL_SCALE = 0.999  # a sample this far from 0 (of 1.0) has clipped, or nearly
QUIET_DBFS = -45.0  # speech whose loudest 100 ms stays under this (RMS, dBFS) loses many words (benchmarks/levels.py)
CLIPPED_SHARE = 0.001  # samples at full scale, of those of the last CLIP_WINDOW_S, that say the input clips (levels.py)
CLIP_WINDOW_S = 5.0


def block_dbfs(block: np.ndarray) -> float:
    """Level of a block of (S,) or (S, C) samples in dB against full scale (1.0): the mean square of its
    loudest channel; -inf where every sample is 0.

    >>> round(block_dbfs(np.full(4, 0.1, np.float32)), 3), block_dbfs(np.zeros((4, 2), np.float32))
    (-20.0, -inf)
    >>> round(block_dbfs(np.array([[0.1, 0.0], [0.1, 0.0]])), 3)  # two channels: the louder one's
    -20.0
    """
    power = float(np.max(np.mean(np.square(block, dtype=np.float64), axis=0)))  # of the loudest channel
    return 10 * np.log10(power) if power > 0 else float("-inf")


class InputCheck:
    """Notices a microphone whose input cannot be recognized well, from the blocks it sends. Once it opens:
    only digital silence (every sample 0: muted, or this program may not record) for ``silent_s``, or nothing
    as loud as ``quiet_dbfs`` for ``quiet_s`` (too quiet for speech to be recognized, or nobody has spoken
    yet); the first block that loud ends those two watches. At any time: ``CLIPPED_SHARE`` of the samples of
    the last ``CLIP_WINDOW_S`` at full scale (too loud: clipped). Each is said once. Blocks in, a message or
    None out; no I/O.

    >>> check = InputCheck(sample_rate=4, silent_s=2, quiet_s=4)  # blocks of 4 samples: 1 s each
    >>> [check.feed(np.zeros(4, np.float32)) is None for _ in range(2)]
    [True, False]
    >>> check.said
    ['silent']
    >>> [check.feed(np.full(4, 0.001, np.float32)) is None for _ in range(3)]  # -60 dBFS, from 3 s on
    [True, False, True]
    >>> check.feed(np.full(4, 0.1, np.float32)), check.heard  # -20 dBFS: loud enough
    (None, True)
    >>> check.said
    ['silent', 'quiet']
    >>> check = InputCheck(sample_rate=4)  # clipping: once its 5 s window is full
    >>> speech, clipping = np.array([0.5, 0.2, -0.2, 0.1]), np.array([1.0, 0.2, -0.2, 0.1])
    >>> [check.feed(speech) is None for _ in range(4)] + [check.feed(clipping) is None for _ in range(2)]
    [True, True, True, True, False, True]
    >>> check.said
    ['clipped']
    """

    def __init__(self, sample_rate: int, silent_s: float = 3.0, quiet_s: float = 10.0,
                 quiet_dbfs: float = QUIET_DBFS):
        self.rate = sample_rate
        self.silent_s, self.quiet_s, self.quiet_dbfs = silent_s, quiet_s, quiet_dbfs
        self.samples = 0  # audio seen so far
        self.loudest = float("-inf")  # the loudest block so far, dBFS
        self.heard = False  # a block reached quiet_dbfs: the input is loud enough
        self.recent: deque[tuple[int, int]] = deque()  # (samples, clipped samples) of each block of the last window
        self.said: list[str] = []  # the rules that have spoken: "silent", "quiet", "clipped"

    def feed(self, block: np.ndarray) -> str | None:
        """block (S,) or (S, C) float32 -> a warning the first time a rule holds, else None."""
        if block.size == 0:
            return None
        self.samples += len(block)
        return self._clipped(block) or (None if self.heard else self._quiet(block))

    def _quiet(self, block: np.ndarray) -> str | None:
        self.loudest = max(self.loudest, block_dbfs(block))
        seconds = self.samples / self.rate
        if self.loudest >= self.quiet_dbfs:
            self.heard = True
        elif self.loudest == float("-inf") and seconds >= self.silent_s and "silent" not in self.said:
            self.said.append("silent")
            return (f"the microphone has sent only digital silence (every sample 0) for {seconds:.0f} s: "
                    "it may be muted, or this program not allowed to record (on macOS: System Settings > "
                    "Privacy & Security > Microphone); `streamasr mic --list-devices` lists the inputs")
        elif self.loudest > float("-inf") and seconds >= self.quiet_s and "quiet" not in self.said:
            self.said.append("quiet")
            return (f"the microphone has been quiet for {seconds:.0f} s, its loudest at {self.loudest:.0f} dBFS: if "
                    "someone is speaking, raise the input volume (speech whose loudest stays under "
                    f"{self.quiet_dbfs:.0f} dBFS loses many words)")
        return None

    def _clipped(self, block: np.ndarray) -> str | None:
        if "clipped" in self.said:
            return None
        self.recent.append((block.size, int(np.count_nonzero(np.abs(block) >= FULL_SCALE))))
        window = CLIP_WINDOW_S * self.rate * (block.size // len(block))  # samples of all channels
        while sum(n for n, _ in self.recent) - self.recent[0][0] >= window:
            self.recent.popleft()  # the window without its oldest block is still full
        total, clipped = map(sum, zip(*self.recent))
        if total >= window and clipped >= CLIPPED_SHARE * total:
            self.said.append("clipped")
            return (f"the microphone's input clips: {100 * clipped / total:.1f}% of the samples of the last "
                    f"{CLIP_WINDOW_S:g} s at full scale: lower the input volume (clipped speech loses words)")
        return None


@contextmanager
def microphone(sample_rate: int = 16000, block_ms: int = 100, device: str | int | None = None,
               max_blocks: int = 600, channels: int = 1) -> Iterator["queue.Queue[np.ndarray]"]:
    """Yield a queue that receives (S,) float32 mono blocks from the input device until exit ((S, C) blocks of
    its first ``channels`` where more than one is asked for: two microphones on a stereo input). ``device``: a
    PortAudio device index or (part of a) name; None: the system's default input. Raises ``DeviceError`` where
    the device cannot be opened. A consumer more than ``max_blocks`` behind (a minute of 100 ms blocks) loses
    the blocks that do not fit, which a warning at exit counts."""
    sd = _sounddevice()
    blocks: queue.Queue[np.ndarray] = queue.Queue(maxsize=max_blocks)
    dropped = [0]  # samples that did not fit

    def callback(indata, frames, time_info, status):  # runs in PortAudio's thread
        try:
            blocks.put_nowait(indata[:, 0].copy() if channels == 1 else indata.copy())  # (S,) or (S, C)
        except queue.Full:
            dropped[0] += frames  # the consumer stalled; dropping audio beats unbounded memory (said at exit)

    try:
        stream = sd.InputStream(samplerate=sample_rate, channels=channels, dtype="float32", device=device,
                                blocksize=sample_rate * block_ms // 1000, callback=callback)
    except (sd.PortAudioError, ValueError) as e:  # no such device, no device at all, or one that cannot record
        which = "the default input device" if device is None else f"input device {device!r}"
        raise DeviceError(f"cannot open {which} ({e}); input devices here: {input_devices(sd)}") from None
    try:
        with stream:
            yield blocks
    finally:
        if dropped[0]:
            log.warning("%.1f s of the microphone's audio were dropped: the recognizer fell more than %g s "
                        "behind", dropped[0] / sample_rate, max_blocks * block_ms / 1000)


def device_lines() -> list[str]:
    """The devices one can record from, one line each: index, name, input channels and default rate, the
    system's default marked with a star (``streamasr mic --list-devices``). Raises ``DeviceError`` where
    there is no PortAudio."""
    sd = _sounddevice()
    try:
        inputs, default = _inputs(sd), sd.default.device[0]
    except sd.PortAudioError as e:
        raise DeviceError(f"cannot list the audio devices: {e}") from None
    return [f"{'*' if i == default else ' '} {i} {d['name']} ({d['max_input_channels']} channels, "
            f"{d['default_samplerate']:g} Hz)" for i, d in inputs]


def input_devices(sd) -> str:
    """The devices ``sd`` (the sounddevice module) can record from, as "index name" pairs, for an error message."""
    try:
        found = [f"{i} {d['name']}" for i, d in _inputs(sd)]
    except sd.PortAudioError:
        found = []
    return ", ".join(found) or "none found"


def _sounddevice():
    """The sounddevice module, imported only where a command needs PortAudio; DeviceError where it is missing."""
    try:
        import sounddevice as sd
    except (OSError, ImportError) as e:  # the PortAudio library is missing
        raise DeviceError(f"no audio input: {e}") from None
    return sd


def _inputs(sd) -> list[tuple[int, dict]]:
    """(index, description) of each device ``sd`` (the sounddevice module) can record from."""
    return [(i, d) for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]
