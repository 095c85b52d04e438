"""Audio that arrives as bytes from a pipe (``streamasr transcribe -``, ``streamasr stream -``): raw samples of
a named format, or a WAV stream whose header names it. Bytes in, in whatever pieces the pipe delivers them;
mono float32 at the rate asked for out, the same however the bytes were cut. No I/O here."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import soxr

from streamasr.errors import AudioError
from streamasr.protocol import SAMPLE_WIDTH, ProtocolError, decode_audio

MAX_WAV_HEADER = 1 << 20  # bytes a WAV stream may take to reach its audio (metadata chunks before it)
_WAV_TAGS = {(1, 16): "pcm_s16le", (3, 32): "f32le", (6, 8): "alaw", (7, 8): "mulaw"}  # (format tag, bits) -> ours
_WAV_EXTENSIBLE = 0xFFFE  # its real tag is the first two bytes of the subformat GUID
_WAV_UNKNOWN_SIZE = (0, 0xFFFFFFFF)  # what writers put in the data chunk's size when they cannot know it
MIN_RAW_RATE, MAX_RAW_RATE = 1000, 192000  # Hz of raw samples a pipe takes (a file of another rate is resampled)


@dataclass(frozen=True)
class RawFormat:
    sample_rate: int = 16000  # Hz
    encoding: str = "pcm_s16le"  # one of protocol.SAMPLE_WIDTH's: pcm_s16le | f32le | mulaw | alaw
    channels: int = 1  # interleaved channels (averaged into one unless the decoder keeps them apart)

    def __post_init__(self):
        if self.encoding not in SAMPLE_WIDTH:
            raise AudioError(f"unknown encoding {self.encoding!r}; use one of {', '.join(SAMPLE_WIDTH)}")
        if not MIN_RAW_RATE <= self.sample_rate <= MAX_RAW_RATE:
            raise AudioError(f"sample rate {self.sample_rate} Hz is outside {MIN_RAW_RATE}..{MAX_RAW_RATE}")
        if not 1 <= self.channels <= 32:
            raise AudioError(f"{self.channels} channels is outside 1..32")

    @property
    def frame_bytes(self) -> int:
        """Bytes of one sample of every channel."""
        return SAMPLE_WIDTH[self.encoding] * self.channels


def read_encoding(encoding: str, channels: int, keep_channels: bool) -> str:
    """The encoding that holds a source's samples as they are read: its own, or, where its channels are mixed
    into one (not kept apart), f32le, for their mean is no sample of a narrower encoding.

    >>> read_encoding("mulaw", 2, keep_channels=False), read_encoding("mulaw", 2, keep_channels=True)
    ('f32le', 'mulaw')
    """
    return encoding if keep_channels or channels == 1 else "f32le"


def at_rate(blocks: Iterable[np.ndarray], rate: int, target: int) -> Iterator[np.ndarray]:
    """(S,) or (S, C) blocks at ``rate`` -> the same at ``target``, resampled as a stream (soxr, as files and pipes
    are read), the resampler's tail after the last; none of them empty.

    >>> sum(len(b) for b in at_rate([np.zeros(800, np.float32)] * 3, 8000, 16000))  # 0.3 s
    4800
    """
    if rate == target:
        yield from blocks
        return
    resampler, empty = None, None
    for block in blocks:
        if resampler is None:
            resampler = soxr.ResampleStream(rate, target, 1 if block.ndim == 1 else block.shape[1], dtype="float32")
            empty = block[:0]
        if len(out := resampler.resample_chunk(block)):
            yield out
    if resampler is not None and len(tail := resampler.resample_chunk(empty, last=True)):
        yield tail


def wav_header(data: bytes) -> tuple[RawFormat, int, int | None] | None:
    """The first bytes of a WAV stream -> (its format, the length of its header, the bytes of audio it
    announces, None where it cannot say), or None while ``data`` does not reach the audio yet. Raises
    AudioError where the stream is no WAV, or holds samples of no format of ours.

    >>> fmt = b"fmt " + struct.pack("<IHHIIHH", 16, 7, 1, 8000, 8000, 1, 8)  # mu-law, mono, 8 kHz
    >>> head = b"RIFF\\xff\\xff\\xff\\xffWAVE" + fmt + b"data\\xff\\xff\\xff\\xff"  # as a writer to a pipe puts it
    >>> wav_header(head)
    (RawFormat(sample_rate=8000, encoding='mulaw', channels=1), 44, None)
    >>> wav_header(head[:40]) is None
    True
    >>> wav_header(b"RIFF\\x00\\x00\\x00\\x00AVI LIST")
    Traceback (most recent call last):
    ...
    streamasr.errors.AudioError: not a WAV stream: it begins b'RIFF\\x00\\x00\\x00\\x00AVI ', not RIFF....WAVE
    """
    if len(data) < 12:
        return None
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioError(f"not a WAV stream: it begins {data[:12]!r}, not RIFF....WAVE")
    pos, fmt = 12, None
    while len(data) >= pos + 8:
        chunk, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if chunk == b"data":
            if fmt is None:
                raise AudioError("WAV stream: its audio comes before its fmt chunk")
            return fmt, pos + 8, None if size in _WAV_UNKNOWN_SIZE else size
        if pos + 8 + size > MAX_WAV_HEADER:
            raise AudioError(f"WAV stream: no audio within its first {MAX_WAV_HEADER} bytes")
        if chunk == b"fmt ":
            if len(data) < pos + 8 + size:
                return None
            fmt = _wav_format(data[pos + 8 : pos + 8 + size])
        pos += 8 + size + (size & 1)  # chunks are padded to an even length
    return None


def _wav_format(body: bytes) -> RawFormat:
    """A fmt chunk's body -> its format, or AudioError."""
    if len(body) < 16:
        raise AudioError(f"WAV stream: its fmt chunk has {len(body)} bytes, not 16 or more")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _WAV_EXTENSIBLE and len(body) >= 26:
        tag = int.from_bytes(body[24:26], "little")
    if (tag, bits) not in _WAV_TAGS:
        raise AudioError(f"WAV stream of {bits}-bit samples (format tag {tag}): a pipe takes 16-bit PCM, 32-bit "
                         "float, mu-law or A-law (a file's path takes any)")
    return RawFormat(rate, _WAV_TAGS[tag, bits], channels)


class PipeDecoder:
    """A pipe's bytes, in any pieces, -> (S,) float32 mono at ``rate`` (None: the pipe's own, ``fmt.sample_rate``
    once known; with ``keep_channels``: (S, C), a column per channel); ``finish`` at the end of the pipe.

    ``fmt``: the format of raw samples; None: the bytes are a WAV stream, whose header says. The samples are
    resampled as a stream (soxr), so the output is the same however the pipe cut the bytes.

    >>> pipe = PipeDecoder(RawFormat(16000, "pcm_s16le"), 16000)
    >>> pipe.feed(b"\\x00\\x40\\x00").tolist()  # a sample and a half
    [0.5]
    >>> pipe.feed(b"\\xc0").tolist()
    [-0.5]
    >>> PipeDecoder(RawFormat(8000, "mulaw"), None).rate  # None: the samples out at the pipe's own rate
    8000
    """

    def __init__(self, fmt: RawFormat | None, rate: int | None, keep_channels: bool = False):
        self.rate = rate  # Hz of the samples out (None until the format is known, where it was None: its own)
        self.keep_channels = keep_channels  # (S, C) out, where False averages the channels into (S,)
        self.fmt: RawFormat | None = None  # the samples' format, once known
        self.trailing_bytes = 0  # after ``finish``: bytes at the end that made no whole sample (dropped)
        self._pending = b""  # bytes not decoded yet: the WAV header so far, or the start of a sample
        self._left: int | None = None  # bytes of audio still to come where the WAV header said how many
        self._resampler: soxr.ResampleStream | None = None
        if fmt is not None:
            self._begin(fmt)

    def feed(self, data: bytes) -> np.ndarray:
        """The samples that ``data`` completes (possibly none). Raises AudioError."""
        if self.fmt is None:
            self._pending += data
            head = wav_header(self._pending)
            if head is None:
                return np.zeros(0, np.float32)
            fmt, length, self._left = head
            data, self._pending = self._pending[length:], b""
            self._begin(fmt)
        if self._left is not None:
            data = data[: self._left]
            self._left -= len(data)
        data, whole = self._pending + data, (len(self._pending) + len(data)) // self.fmt.frame_bytes
        data, self._pending = data[: whole * self.fmt.frame_bytes], data[whole * self.fmt.frame_bytes :]
        return self._convert(data, last=False)

    def finish(self) -> np.ndarray:
        """The samples still held back by the resampler; the pipe has ended. Raises AudioError where it
        ended inside a WAV header."""
        if self.fmt is None:
            raise AudioError(f"the pipe ended inside its WAV header ({len(self._pending)} bytes)"
                             if self._pending else "the pipe held no audio")
        self.trailing_bytes, self._pending = len(self._pending), b""
        return self._convert(b"", last=True)

    def _begin(self, fmt: RawFormat) -> None:
        self.fmt = fmt
        self.rate = self.rate or fmt.sample_rate
        if fmt.sample_rate != self.rate:
            channels = fmt.channels if self.keep_channels else 1
            self._resampler = soxr.ResampleStream(fmt.sample_rate, self.rate, channels, dtype="float32")

    def _convert(self, data: bytes, last: bool) -> np.ndarray:
        try:
            x = decode_audio(data, self.fmt.encoding)  # (S * C,)
        except ProtocolError as e:
            raise AudioError(e.message) from None
        x = x.reshape(-1, self.fmt.channels)  # (S, C)
        if not self.keep_channels:
            x = x.mean(axis=1, dtype=np.float32)  # (S,)
        if self._resampler is None:
            return x
        return self._resampler.resample_chunk(x, last=last)
