"""A recording of several channels, each its own speaker (a call recorded in stereo: one party on each side):
a Session per channel, and their events tagged with the channel, the finals in the order they were spoken.

No I/O here: (S, C) samples in, ``ChannelEvent``s out. ``transcribe --split-channels`` is its adapter.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

from streamasr.events import Event, Final, Partial
from streamasr.recognizer import Session
from streamasr.samples import float_samples


@dataclass(frozen=True)
class ChannelEvent:
    channel: int  # 0, 1, ...: the column of the samples it was heard in
    event: Event

    def to_dict(self) -> dict:
        return self.event.to_dict() | {"channel": self.channel}


@dataclass(order=True)
class _Held:
    start_ms: int
    channel: int
    segment: int
    final: Final = field(compare=False)


def spoken_order(held: list[_Held], horizon_ms: float) -> list[_Held]:
    """Take from the heap ``held`` the finals that start at or before ``horizon_ms`` (before it, no channel
    can start another), earliest first; the rest stay held. Ties go to the lower channel.

    >>> f = lambda c, start: _Held(start, c, 0, Final(0, "", start, start + 500, ()))
    >>> held = [f(1, 900), f(0, 300), f(1, 300)]
    >>> heapq.heapify(held)
    >>> [(h.channel, h.start_ms) for h in spoken_order(held, 800)], len(held)
    ([(0, 300), (1, 300)], 1)
    """
    out = []
    while held and held[0].start_ms <= horizon_ms:
        out.append(heapq.heappop(held))
    return out


class ChannelSessions:
    """One Session per channel. A final waits until no channel can still give one that starts before it
    (each session's ``segment_start_ms``), so the finals read as the conversation went. A partial comes out
    as soon as its channel gives it, unless a final of its channel is waiting: then it waits behind that
    final, the latest one only. So each channel's events come in its session's own order, less the partials
    that a later one replaced before they could come out.

    ``sessions``: one per channel, made alike (``Recognizer.session``), none used yet."""

    def __init__(self, sessions: list[Session]):
        if not sessions:
            raise ValueError("a recording of no channels")
        self.sessions = sessions
        self.held: list[_Held] = []  # a heap: finals given by their sessions, not yet let out
        self.behind: dict[int, Partial] = {}  # channel -> its latest partial, given while a final of it was held

    @property
    def channels(self) -> int:
        return len(self.sessions)

    def accept(self, samples: np.ndarray) -> list[ChannelEvent]:
        """Feed (S, C) samples at the model rate, a column per channel (float in [-1, 1] or int16/int32 PCM:
        ``float_samples``); return the events they produce. No samples (of any shape: a ``PipeDecoder`` before
        its WAV header is complete) are no events."""
        samples = float_samples(samples)
        if len(samples) == 0:
            return []
        if samples.ndim != 2 or samples.shape[1] != self.channels:
            raise ValueError(f"expected (samples, {self.channels}) audio, got shape {samples.shape}")
        out = []
        for c, session in enumerate(self.sessions):
            out += self._route(c, session.accept(np.ascontiguousarray(samples[:, c])))  # (S,)
        return out + self._let_out(min(s.segment_start_ms for s in self.sessions))

    def finish(self) -> list[ChannelEvent]:
        """The end of the recording: every channel's last final, and every final still held, in spoken order."""
        out = []
        for c, session in enumerate(self.sessions):
            out += self._route(c, session.finish())
        return out + self._let_out(float("inf"))

    def _route(self, channel: int, events: list[Event]) -> list[ChannelEvent]:
        # finals held; partials out at once, or behind their channel's held final
        out = []
        for ev in events:
            if isinstance(ev, Final):
                heapq.heappush(self.held, _Held(ev.start_ms, channel, ev.segment, ev))
                self.behind.pop(channel, None)  # a partial waiting behind was of this final's segment
            elif any(h.channel == channel for h in self.held):
                self.behind[channel] = ev
            else:
                out.append(ChannelEvent(channel, ev))
        return out

    def _let_out(self, horizon_ms: float) -> list[ChannelEvent]:
        out = [ChannelEvent(h.channel, h.final) for h in spoken_order(self.held, horizon_ms)]
        waiting = {h.channel for h in self.held}
        for channel in [c for c in self.behind if c not in waiting]:
            out.append(ChannelEvent(channel, self.behind.pop(channel)))
        return out
