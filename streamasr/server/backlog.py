"""How far behind a server process's streams are, and when to stop taking new ones.

A stream's *backlog* is the audio its client has sent that the server has not read yet: the bytes
waiting in the kernel's socket buffer plus those in websockets' frame queue, in seconds of that
stream's audio. A live client sends at real time, so its backlog is how late the server hears it, and
it grows without bound once a process takes on more streams than it can compute. Each server process
samples its streams' backlogs a few times a second; once the median over its live streams exceeds
``ServerConfig.max_backlog_ms`` it is *behind* until the median is back under half of that, and while any
process is behind, every process refuses new streams (close code 1013) and ``/healthz`` answers 503, so
that the streams they have keep their latency.
"""

from __future__ import annotations

import array
import fcntl
import statistics
import termios
from collections.abc import MutableSequence, Sequence

SAMPLE_INTERVAL_S = 0.1  # how often every stream's backlog is sampled
FAST_RATIO, FAST_SLACK_S = 1.25, 1.0  # a client that sent more audio than this has had time for is a bulk upload
MIN_AGE_S = 1.0  # younger streams do not count yet: a first burst (a client's buffered start) is not a backlog


def unread_bytes(ws) -> int:
    """Bytes a client has sent that ``ws`` (a websockets ``ServerConnection``) has not handed out yet: the
    socket's unread bytes (FIONREAD) plus the payloads in websockets' frame queue. The queue is a private
    attribute of websockets' asyncio implementation; without it, only the socket counts (websockets then
    holds at most its ``max_queue`` frames, 16 by default, out of sight)."""
    total = 0
    try:
        sock = ws.transport.get_extra_info("socket")
        buf = array.array("i", [0])
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf, True)
        total += buf[0]
    except (AttributeError, OSError, ValueError):  # closed, or not a socket
        pass
    frames = getattr(getattr(getattr(ws, "recv_messages", None), "frames", None), "queue", ())
    return total + sum(len(f.data) for f in list(frames))


def backlog_seconds(unread: int, audio_seconds: float, wire_bytes: int) -> float:
    """``unread`` bytes in seconds of a stream's audio, at the bytes per second its frames have carried so
    far (``wire_bytes`` received for ``audio_seconds`` of audio); 0 before any audio.

    >>> backlog_seconds(32000, 10.0, 320000)  # 16 kHz 16-bit PCM: 32000 bytes a second
    1.0
    >>> backlog_seconds(4000, 2.0, 16000)  # 8 kHz mu-law
    0.5
    >>> backlog_seconds(5000, 0.0, 120)  # only the start message so far
    0.0
    """
    return unread * audio_seconds / wire_bytes if wire_bytes and audio_seconds else 0.0


def is_upload(was_upload: bool, sent_s: float, elapsed_s: float) -> bool:
    """Whether a client that has sent ``sent_s`` seconds of audio (read or not) in ``elapsed_s`` seconds is
    uploading a recording as fast as it can rather than streaming at about real time or slower. A bulk
    upload's unread audio is its own queue, not a sign that the server is behind. Once an upload, always:
    when TCP's flow control holds it back, it sends no faster than the server reads and looks live.
    Real time, a first second sent early, and a client that sends only its speech are not uploads:

    >>> is_upload(False, 10.0, 10.0), is_upload(False, 1.5, 0.5), is_upload(False, 4.0, 10.0)
    (False, False, False)
    >>> is_upload(False, 60.0, 10.0), is_upload(True, 10.0, 10.0)  # six times real time; then held back
    (True, True)
    """
    return was_upload or sent_s > FAST_RATIO * elapsed_s + FAST_SLACK_S


def median_backlog(backlogs: Sequence[float]) -> float:
    """The median backlog over a process's live streams; 0 without any.

    >>> median_backlog([0.0, 0.1, 2.5]), median_backlog([])
    (0.1, 0.0)
    """
    return statistics.median(backlogs) if backlogs else 0.0


def is_behind(was_behind: bool, median_s: float, bound_s: float) -> bool:
    """Whether a process is behind after a sample whose median backlog is ``median_s``: from the first sample
    above ``bound_s`` until one under half of it. Quick to stop taking streams, slow to start again: streams
    taken while a process is behind keep it behind for as long as they last, and one that took new streams
    the moment its backlog dipped under the bound would hover above it.

    >>> is_behind(False, 0.4, 1.0), is_behind(False, 1.2, 1.0)  # under the bound; above it
    (False, True)
    >>> is_behind(True, 0.8, 1.0), is_behind(True, 0.4, 1.0)  # behind: not yet under half; under it
    (True, False)
    """
    return median_s >= bound_s / 2 if was_behind else median_s > bound_s


class Behind:
    """Which server processes are behind, one flag each (a ``multiprocessing.Array`` when processes share a
    port). While any is behind, all of them refuse new streams: they share the machine's cores, and a stream
    taken by another process takes CPU from the one that is behind.

    >>> flags = [0, 0]  # two processes (a multiprocessing.Array in a real server)
    >>> first, second = Behind(flags, 0), Behind(flags, 1)
    >>> first.set(True); second.mine(), second.any(), flags
    (False, True, [1, 0])
    >>> first.set(False); second.any()
    False
    """

    def __init__(self, flags: MutableSequence[int] | None = None, index: int = 0):
        self.flags = flags if flags is not None else [0]
        self.index = index

    def set(self, behind: bool) -> None:
        self.flags[self.index] = int(behind)

    def mine(self) -> bool:
        return bool(self.flags[self.index])

    def any(self) -> bool:
        return any(self.flags)
