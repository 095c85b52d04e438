"""A streaming client of the native protocol: send a file as if live, collect the events."""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamasr.metrics import word_emergence, word_settling
from streamasr.protocol import ProtocolError, StartMessage, encode_audio, to_text


@dataclass
class Timing:
    """When a stream's audio went out and its events came back (``time.monotonic()`` seconds)."""

    sent: list[tuple[int, float]] = field(default_factory=list)  # (ms of audio sent so far, when), one per frame
    received: list[float] = field(default_factory=list)  # arrival of each event, in order
    end_sent: float | None = None  # when the end message went out

    def frame_sent(self, audio_ms: int) -> None:
        """A frame went out, and with it the stream's first ``audio_ms`` of audio."""
        self.sent.append((audio_ms, time.monotonic()))

    def event_received(self) -> None:
        self.received.append(time.monotonic())

    def end(self) -> None:
        self.end_sent = time.monotonic()


def wire_format(rate: int, encoding: str) -> tuple[int, str]:
    """The sample rate and encoding to send samples of ``rate`` and ``encoding`` in: their own where a start
    message may name them, so that the server hears the samples as they are (their levels as recorded; 8 kHz
    mu-law at half the bytes of 16-bit PCM), but 16-bit PCM for f32le (wider PCM, floats, compressed audio: 16
    bits hold what speech needs, at half the bytes); 16 kHz 16-bit PCM, resampled, where the rate is refused.

    >>> wire_format(8000, "mulaw"), wire_format(44100, "f32le"), wire_format(16000, "alaw"), wire_format(4000, "mulaw")
    ((8000, 'mulaw'), (44100, 'pcm_s16le'), (16000, 'pcm_s16le'), (16000, 'pcm_s16le'))
    """
    for wire in ((rate, "pcm_s16le" if encoding == "f32le" else encoding), (rate, "pcm_s16le")):
        try:
            StartMessage.from_dict({"sample_rate": wire[0], "encoding": wire[1]})
            return wire
        except ProtocolError:
            continue
    return 16000, "pcm_s16le"


async def stream_frames(url: str, frames: AsyncIterator[np.ndarray], sample_rate: int,
                        start: dict | None = None, on_event: Callable[[dict], None] | None = None,
                        token: str | None = None, timing: Timing | None = None,
                        encoding: str = "pcm_s16le") -> list[dict]:
    """Open a stream, send each (S,) frame (float, or int16/int32 PCM: ``samples.float_samples``) as it comes in
    ``encoding`` (``sample_rate`` Hz), then the end message. (S, C) frames are sent with their channels
    interleaved, for a start message that says ``"channels": C``.

    ``frames`` is first asked for a frame once the start message is out. Returns every message the server
    sent, in order, the last final included; ``timing``, if given, is filled in as they go and come. A
    server that refuses the stream says why in an error message, returned with the rest; a connection
    closed otherwise before the stream's end (lost, or the server going away) raises ``ConnectionClosed``,
    after ``on_event`` has seen every message that came before the close."""
    headers = {"Authorization": f"Bearer {token}"} if token else None
    received: list[dict] = []
    async with connect(url, additional_headers=headers, max_size=None) as ws:

        async def reader():
            async for msg in ws:
                if timing is not None:
                    timing.event_received()
                event = json.loads(msg)
                received.append(event)
                if on_event:
                    on_event(event)

        task = asyncio.create_task(reader())
        sent, closed = 0, None  # samples sent so far; the close, if it came before the stream's end
        try:  # a server at capacity may refuse (error message, close) before the start message is out
            await ws.send(to_text({"type": "start", "sample_rate": sample_rate, "encoding": encoding} | (start or {})))
            async for frame in frames:
                await ws.send(encode_audio(frame.reshape(-1), encoding))  # (S * C,), interleaved
                sent += len(frame)
                if timing is not None:
                    timing.frame_sent(sent * 1000 // sample_rate)
            await ws.send(to_text({"type": "end"}))
            if timing is not None:
                timing.end()
        except ConnectionClosed as e:  # the reader still takes the events sent before it
            closed = e
        except BaseException:  # the frames' source failed (a device), or Ctrl-C: the reader stops here
            task.cancel()
            raise
        try:
            await task
        except ConnectionClosed as e:  # not a clean close
            closed = e
    if closed is not None and not any(e.get("type") == "error" for e in received):
        raise closed
    return received


async def stream_samples(url: str, samples: np.ndarray, sample_rate: int, frame_ms: int = 100,
                         speed: float = 0.0, start: dict | None = None,
                         on_event: Callable[[dict], None] | None = None, token: str | None = None,
                         timing: Timing | None = None) -> list[dict]:
    """``stream_frames`` of (S,) samples (float or int16/int32 PCM) cut into ``frame_ms`` frames; ``speed`` 1.0
    paces them at real time (each sent when its start is due), 0 sends them at once."""
    step = max(1, sample_rate * frame_ms // 1000)

    async def frames():
        t0 = time.monotonic()
        for pos in range(0, len(samples), step):
            if speed > 0:
                await asyncio.sleep(max(0.0, t0 + pos / sample_rate / speed - time.monotonic()))
            yield samples[pos : pos + step]

    return await stream_frames(url, frames(), sample_rate, start=start, on_event=on_event, token=token,
                               timing=timing)


def word_latencies(partials: list[tuple[float, list[str]]], final: dict,
                   sent: list[tuple[int, float]], final_arrival: float | None = None) -> list[float]:
    """Seconds from the moment each word's end (as ``final`` times it) was spoken (``spoken_at``) to the
    arrival of the first partial holding that word with every word before it as in the final; with
    ``final_arrival`` (when the final came), to the arrival of the first partial from which every later one
    of the segment holds it so (the word stopped changing there: ``metrics.word_emergence``), or of the final
    where none does, for every word of the final.

    ``partials``: (arrival, words) of the segment's partials, in order; ``sent``: (ms of audio sent so far,
    when), ascending. A partial that holds a word before its end was spoken counts as 0.

    >>> final = {"words": [{"word": "in", "end_ms": 150}, {"word": "the", "end_ms": 330}]}
    >>> sent = [(100, 0.0), (200, 0.1), (300, 0.2), (400, 0.3)]
    >>> partials = [(0.4, ["in", "a"]), (0.6, ["in", "the"]), (0.8, ["in", "a", "lord"])]
    >>> [round(s, 6) for s in word_latencies(partials, final, sent)]  # spoken at 0.05 and 0.23
    [0.35, 0.37]
    >>> [round(s, 6) for s in word_latencies(partials, final, sent, final_arrival=1.0)]  # "the" taken back at 0.8
    [0.35, 0.77]
    """
    timed = final.get("words", [])  # none where the start message asked for no word times
    shown = word_emergence([words for _, words in partials], [w["word"] for w in timed])
    if final_arrival is None:
        arrivals = [None if first is None else partials[first][0] for first, _ in shown]
    else:
        arrivals = [final_arrival if stable is None else partials[stable][0] for _, stable in shown]
    return _since_spoken(timed, arrivals, sent)


def settled_latencies(settled: list[tuple[float, int]], final: dict, sent: list[tuple[int, float]],
                      final_arrival: float) -> list[float]:
    """Seconds from the moment each word's end (as ``final`` times it) was spoken (``spoken_at``) to the
    arrival of the first partial whose ``stable_words`` cover it (it can no longer change), or of the final.

    ``settled``: (arrival, stable_words) of the segment's partials, in order; ``sent`` as in ``word_latencies``.

    >>> final = {"words": [{"word": "in", "end_ms": 150}, {"word": "the", "end_ms": 330}]}
    >>> sent = [(100, 0.0), (200, 0.1), (300, 0.2), (400, 0.3)]
    >>> [round(s, 6) for s in settled_latencies([(0.4, 0), (0.6, 1)], final, sent, 1.0)]
    [0.55, 0.77]
    """
    timed = final.get("words", [])
    firsts = word_settling([k for _, k in settled], len(timed))
    return _since_spoken(timed, [final_arrival if j is None else settled[j][0] for j in firsts], sent)


def spoken_at(ms: float, sent: list[tuple[int, float]], sent_ms: list[int] | None = None) -> float | None:
    """When the audio ``ms`` into the stream was spoken, on the sender's clock, as a live source sends it: each
    frame as soon as its audio is complete, so ``ms`` was spoken as long before the frame holding it went out
    as it lies before that frame's end (interpolated between the sending of the frame before and of it; the
    first frame at real time). None where no frame holding it was sent. ``sent``: (ms of audio sent so far,
    when), ascending (``Timing.sent``); ``sent_ms``: its ms, where the caller has them.

    >>> sent = [(40, 1.0), (80, 1.04), (120, 1.08)]
    >>> [round(spoken_at(ms, sent), 6) for ms in (90, 80, 20)], spoken_at(130, sent)
    ([1.05, 1.04, 0.98], None)
    """
    j = bisect.bisect_left(sent_ms if sent_ms is not None else [m for m, _ in sent], ms)  # the frame holding it
    if j == len(sent):
        return None
    end_ms, t = sent[j]
    before_ms, before_t = sent[j - 1] if j else (0, t - end_ms / 1000)
    return t if end_ms == before_ms else t - (end_ms - ms) / (end_ms - before_ms) * (t - before_t)


def _since_spoken(timed: list[dict], arrivals: list[float | None], sent: list[tuple[int, float]]) -> list[float]:
    """Seconds from the moment each timed word's end was spoken (``spoken_at``) to its arrival; words with
    no arrival, or whose end was never sent, are left out, and an arrival before that moment counts as 0."""
    sent_ms = [ms for ms, _ in sent]
    out = []
    for w, arrival in zip(timed, arrivals):
        if arrival is not None and (spoken := spoken_at(w["end_ms"], sent, sent_ms)) is not None:
            out.append(max(0.0, arrival - spoken))
    return out


def latencies(events: list[dict], timing: Timing) -> dict[str, list[float]]:
    """Milliseconds from the moment a word's end was spoken (``spoken_at``) to the first partial holding
    it ("word", see ``word_latencies``), to the partial or final from which it no longer changed ("unchanged")
    and to the one that settled it ("settled", see ``settled_latencies``); each partial, from the moment the
    audio it covers (its ``audio_ms``) had been sent to its arrival ("partial"); and the last final, the one
    the end message asks for, from that message ("end_final": empty if it came before, the stream having
    ended on its own). A stream of two channels has a segment open on each: the words of a channel's final
    are timed by that channel's partials, and "end_final" is the last final of either.

    >>> t = Timing(sent=[(100, 0.0), (200, 0.1), (300, 0.2), (400, 0.3)], received=[0.45, 0.5, 0.9], end_sent=0.35)
    >>> events = [{"type": "partial", "audio_ms": 320, "text": "in", "stable_words": 0},
    ...           {"type": "final", "text": "in", "words": [{"word": "in", "end_ms": 250}]},
    ...           {"type": "final", "text": "", "words": []}]
    >>> latencies(events, t)
    {'word': [300.0], 'unchanged': [300.0], 'settled': [350.0], 'partial': [150.0], 'end_final': [550.0]}
    >>> stereo = [{**events[0], "channel": 0}, {"type": "partial", "audio_ms": 320, "text": "a", "channel": 1},
    ...           {**events[1], "channel": 0}, {"type": "final", "text": "", "words": [], "channel": 1}]
    >>> latencies(stereo, Timing(t.sent, [0.45, 0.46, 0.5, 0.9], t.end_sent))  # channel 1's "a" took back no "in"
    {'word': [300.0], 'unchanged': [300.0], 'settled': [350.0], 'partial': [150.0, 160.0], 'end_final': [550.0]}
    """
    sent_ms = [ms for ms, _ in timing.sent]
    out: dict[str, list[float]] = {"word": [], "unchanged": [], "settled": [], "partial": [], "end_final": []}
    open_partials: dict[int, list[tuple[float, dict]]] = {}  # channel -> (arrival, partial) of its open segment
    last_final = None  # arrival of the last final so far
    for ev, arrived in zip(events, timing.received):
        if ev.get("type") == "partial":
            open_partials.setdefault(ev.get("channel", 0), []).append((arrived, ev))
            i = bisect.bisect_left(sent_ms, ev["audio_ms"])  # the frame that completed that audio
            if i < len(sent_ms):
                out["partial"].append(round((arrived - timing.sent[i][1]) * 1000, 1))
        elif ev.get("type") == "final":
            partials = open_partials.pop(ev.get("channel", 0), [])
            shown = [(a, p["text"].split()) for a, p in partials]
            marks = [(a, p.get("stable_words", 0)) for a, p in partials]
            out["word"] += [round(s * 1000, 1) for s in word_latencies(shown, ev, timing.sent)]
            out["unchanged"] += [round(s * 1000, 1) for s in word_latencies(shown, ev, timing.sent, arrived)]
            out["settled"] += [round(s * 1000, 1) for s in settled_latencies(marks, ev, timing.sent, arrived)]
            last_final = arrived
    if last_final is not None and timing.end_sent is not None and last_final >= timing.end_sent:
        out["end_final"].append(round((last_final - timing.end_sent) * 1000, 1))
    return out
