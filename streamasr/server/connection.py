"""One client connection as a sans-I/O state machine: messages in, messages out.

The server hands it each frame with ``receive``, which only parses, decodes and buffers, cheap
enough for the event loop. Then it asks ``run`` for the replies: in a worker thread when ``busy``
says there is compute to do (a whole chunk to encode, or the stream to close), inline otherwise,
so most audio frames of a live stream (seven of eight at 40 ms frames and 320 ms chunks) never
leave the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import soxr

from streamasr.events import Alternative, Event, Final
from streamasr.levels import FULL_SCALE, InputCheck, LevelWarning
from streamasr.protocol import (MAX_ALTERNATIVES, MEDIA_ENCODINGS, MEDIA_RATE, MEDIA_TRACKS, PEAK, ProtocolError,
                                StartMessage, decode_audio, decode_base64, error_message, event_message, hotwords_of,
                                parse_json, ready_message, vosk_message, warning_message)
from streamasr.recognizer import Recognizer, Session

DIALECTS = ("native", "vosk", "media")


@dataclass
class Track:
    """One audio track of a stream, with its own session: vosk streams have one, unnamed; a native stream one
    per channel of its audio (one, unnamed, for mono); a media stream one per track its start event names (a
    call's inbound and outbound audio)."""

    name: str | int | None  # the media track's name, or the channel's number; None: the stream's only track
    session: Session
    resampler: soxr.ResampleStream | None  # to the model's rate, where the stream's differs
    check: InputCheck  # of its audio as received: digital silence, too quiet, clipping
    seconds: float = 0.0  # audio received on it, at its own rate
    events: list[Event] = field(default_factory=list)  # of the audio received since the last ``run``

    @property
    def tag(self) -> dict:
        """What its replies carry to say whose they are."""
        if self.name is None:
            return {}
        return {"channel": self.name} if isinstance(self.name, int) else {"track": self.name}

    @property
    def source(self) -> str:
        """What its warnings call it.

        >>> [Track(name, None, None, None).source for name in (None, 1, "inbound")]
        ['the stream', 'channel 1', 'track inbound']
        """
        return " ".join(f"{kind} {name}" for kind, name in self.tag.items()) or "the stream"


class Connection:
    def __init__(self, rec: Recognizer, dialect: str, session_id: str,
                 encode: Callable[[Session], list[Event]] = Session.encode_pending, final_pass: bool = False):
        if dialect not in DIALECTS:
            raise ValueError(dialect)
        self.rec, self.dialect, self.id = rec, dialect, session_id
        self.encode = encode  # runs a session's ready chunks: alone, or batched with other sessions
        self.final_pass = final_pass  # the server's default for streams whose start message does not say
        self.start: StartMessage | None = None
        self.tracks: dict[str | int | None, Track] = {}  # by name (or channel number), once started
        self.done = False  # the conversation is over; the server closes normally
        self.wire_bytes = 0  # size of the frames received (their audio's bytes per second, for the backlog)
        self.last_compute_s = 0.0  # time spent on the last audio frame, receive and run (for metrics)
        self.finals = 0  # finals sent so far
        self.warned: list[tuple[str, str | None]] = []  # the input check's warnings so far: (code, track's source)
        self._replies: list[dict] = []  # replies that need no compute (ready), for the next ``run``
        self._audio = False  # audio arrived since the last ``run``
        self._closing = False  # the client ended the stream: the next ``run`` closes it

    # --- inputs -----------------------------------------------------------------
    def receive(self, msg: str | bytes) -> None:
        """Take one frame: parse, decode and buffer it (no model compute). Raises ProtocolError."""
        self.wire_bytes += len(msg)
        if isinstance(msg, bytes):
            self._binary(msg)
        else:
            self._text(parse_json(msg))

    @property
    def session(self) -> Session | None:
        """The first track's session (a native or vosk stream's only one); None before the start."""
        return next(iter(self.tracks.values())).session if self.tracks else None

    @property
    def audio_seconds(self) -> float:
        """Audio received on all tracks, at its own rate."""
        return sum(t.seconds for t in self.tracks.values())

    @property
    def stream_seconds(self) -> float:
        """How far into the stream its audio has come: its longest track's seconds (a call's two tracks run
        side by side)."""
        return max((t.seconds for t in self.tracks.values()), default=0.0)

    @property
    def busy(self) -> bool:
        """Whether ``run`` has model compute to do: a whole chunk to encode, or the stream to close."""
        return self._closing or (self._audio and any(t.session.chunk_ready() for t in self.tracks.values()))

    def run(self) -> list[dict]:
        """The replies to what was received since the last call; encodes and decodes every ready chunk."""
        replies, self._replies = self._replies, []
        if self._closing:
            return replies + self.finish()
        if not self._audio:
            return replies
        t0 = time.perf_counter()
        for track in self.tracks.values():
            events, track.events = track.events + self.encode(track.session), []
            replies += self._messages(track, events)
        self._audio = False
        self.last_compute_s += time.perf_counter() - t0
        return replies

    def finish(self) -> list[dict]:
        """Flush and close the stream: the last final (also on server shutdown)."""
        if self.session is None or self.done:
            self.done = True
            return []
        self.done = True
        replies = []
        for track in self.tracks.values():
            tail = track.resampler.resample_chunk(np.zeros(0, np.float32), last=True) if track.resampler else None
            events, track.events = track.events, []
            events += track.session.accept(tail) if tail is not None and len(tail) else []
            replies += self._warnings(track, track.check.close())
            replies += self._messages(track, events + track.session.finish(), closing=True)
        return replies

    def summary(self) -> str:
        """What the stream carried, for its line in the server's log (never its text)."""
        return stream_summary(self.dialect, self.start, self.stream_seconds, self.finals, len(self.tracks),
                              self.warned)

    # --- internals ----------------------------------------------------------------------
    def _warnings(self, track: Track, warnings: list[LevelWarning]) -> list[dict]:
        """The input check's warnings of ``track`` as replies (none on the vosk dialect, whose clients know no
        such message: there the server's log has them), and in the stream's summary."""
        self.warned += [(w.code, None if track.name is None else track.source) for w in warnings]
        if self.dialect == "vosk":
            return []
        return [warning_message(w.code, w.message(track.source)) | track.tag for w in warnings]

    def _messages(self, track: Track, events: list[Event], closing: bool = False) -> list[dict]:
        if self.dialect != "vosk":
            self.finals += sum(isinstance(e, Final) for e in events)
            return [event_message(e, self.start.words) | track.tag for e in events]
        # vosk: one reply per audio frame, the final(s) it closed, else the partial; the close always gets a final
        finals = [e for e in events if isinstance(e, Final)]
        if finals or closing:
            self.finals += 1
            return [vosk_message(_merge(finals), words=self.start.words)]
        return [vosk_message(None, track.session.partial_text)]

    def _text(self, msg: dict) -> None:
        if self.dialect == "vosk":
            return self._vosk_text(msg)
        if self.dialect == "media":
            return self._media_text(msg)
        kind = msg.get("type")
        if kind == "start":
            if self.session is not None:
                raise ProtocolError("already_started", "the stream has already started")
            start = StartMessage.from_dict(msg)
            channels = tuple(range(start.channels)) if start.channels > 1 else (None,)
            self._replies.append(ready_message(self.id, self._begin(start, channels)))
        elif kind == "end":
            self._require_started()
            self._closing = True
        else:
            raise ProtocolError("bad_message", f"unknown message type {kind!r}; expected 'start' or 'end'")

    def _binary(self, data: bytes) -> None:
        if self.dialect == "media":
            raise ProtocolError("bad_message", "the media-stream endpoint takes JSON events, not binary frames", 1003)
        if self.dialect == "vosk":
            self._vosk_default_start()
        elif self.session is None:
            raise ProtocolError("not_started", "binary audio before the start message")
        samples = decode_audio(data, self.start.encoding)  # (S * C,), interleaved
        if len(self.tracks) == 1:
            return self._feed(samples)
        if len(samples) % len(self.tracks):
            raise ProtocolError("bad_audio", f"a frame of {len(samples)} samples is no whole number of "
                                f"{len(self.tracks)}-channel samples", 1007)
        t0 = time.perf_counter()
        frames = samples.reshape(-1, len(self.tracks))  # (S, C)
        for c, track in enumerate(self.tracks.values()):
            self._feed(np.ascontiguousarray(frames[:, c]), track)
        self.last_compute_s = time.perf_counter() - t0

    def _require_started(self) -> None:
        if self.session is None:
            raise ProtocolError("not_started", "no start message yet")

    def _begin(self, start: StartMessage, tracks: tuple[str | int | None, ...] = (None,)) -> StartMessage:
        """Start the stream: a session for each of ``tracks`` (names or channel numbers; None: one unnamed)."""
        final_pass = self.final_pass if start.final_pass is None else start.final_pass
        for name in tracks:
            try:
                session = self.rec.session(chunk_ms=start.chunk_ms, left_chunks=start.left_chunks,
                                           hotwords=start.hotwords, hotword_weight=start.hotword_weight,
                                           endpoint=start.endpoint(), final_pass=final_pass,
                                           alternatives=start.alternatives)
            except ValueError as e:
                raise ProtocolError("bad_start", str(e)) from None
            resampler = None
            if start.sample_rate != self.rec.sample_rate:
                resampler = soxr.ResampleStream(start.sample_rate, self.rec.sample_rate, 1, dtype="float32")
            check = InputCheck(start.sample_rate, full_scale=FULL_SCALE * PEAK[start.encoding])
            self.tracks[name] = Track(name, session, resampler, check)
        self.start = start
        return start

    def _feed(self, samples: np.ndarray, track: Track | None = None) -> None:
        """Audio of ``track`` (None: the stream's only one)."""
        t0 = time.perf_counter()
        track = track or next(iter(self.tracks.values()))
        track.seconds += len(samples) / self.start.sample_rate
        self._replies += self._warnings(track, track.check.feed(samples))
        if track.resampler is not None:
            samples = track.resampler.resample_chunk(samples)
        track.events += track.session.feed(samples)  # a quiet tail may close a segment here
        self._audio = True
        self.last_compute_s = time.perf_counter() - t0

    def _vosk_text(self, msg: dict) -> None:
        if "config" in msg:
            if self.session is not None:
                raise ProtocolError("already_started", "config after audio")
            cfg = msg["config"]
            if not isinstance(cfg, dict):
                raise ProtocolError("bad_start", "config must be an object")
            rate = cfg.get("sample_rate", 16000)
            rate = int(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) else -1
            n = cfg.get("max_alternatives", 0)
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_ALTERNATIVES:
                raise ProtocolError("bad_start", f"max_alternatives must be an integer 0..{MAX_ALTERNATIVES}")
            start = {"sample_rate": rate, "alternatives": n}
            if "phrase_list" in cfg:  # vosk's grammar; here its words are favoured (hotwords), not the only ones
                phrases = cfg["phrase_list"]
                if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases) or len(phrases) > 100:
                    raise ProtocolError("bad_start", "phrase_list must be a list of at most 100 strings (here they "
                                        "are hotwords: favoured, not a grammar)")
                start["hotwords"] = [p for p in phrases if p.strip() and p.strip() != "[unk]"]
            if "hotword_weight" in cfg:  # not vosk's: ours, as in a start message (checked there)
                start["hotword_weight"] = cfg["hotword_weight"]
            if "words" in cfg:  # vosk-server takes any value as its truth (bool(...)); so do we
                start["words"] = bool(cfg["words"])
            self._begin(StartMessage.from_dict(start))
            return
        if "eof" in msg:
            self._vosk_default_start()
            self._closing = True
            return
        raise ProtocolError("bad_message", "expected {\"config\": ...} or {\"eof\": 1}")

    def _track_of(self, name) -> Track:
        """The track a media event's ``media.track`` names; any, or none, where the start named no tracks."""
        if None in self.tracks:
            return self.tracks[None]
        if not isinstance(name, str) or name not in self.tracks:
            raise ProtocolError("bad_message", f"media of track {name!r}, not one the start event named "
                                f"({', '.join(map(str, self.tracks))})")
        return self.tracks[name]

    def _vosk_default_start(self) -> None:
        """Vosk clients may skip the config message: their first audio (or eof) starts the stream as it is."""
        if self.session is None:
            self._begin(StartMessage())

    def _media_text(self, msg: dict) -> None:
        event = msg.get("event")
        if event in ("connected", "mark", "dtmf"):
            return
        if event == "start":
            if self.session is not None:
                raise ProtocolError("already_started", "second start event")
            info = msg.get("start") or {}
            fmt = (info.get("mediaFormat") or {}) if isinstance(info, dict) else None
            params = (info.get("customParameters") or {}) if isinstance(info, dict) else None
            if not all(isinstance(x, dict) for x in (info, fmt, params)):
                raise ProtocolError("bad_start", "start, its mediaFormat and its customParameters must be objects")
            enc = MEDIA_ENCODINGS.get(fmt.get("encoding", "audio/x-mulaw"))
            if enc is None:
                raise ProtocolError("bad_encoding", f"unsupported media encoding {fmt.get('encoding')!r}")
            rate = fmt.get("sampleRate", MEDIA_RATE)
            start = {"encoding": enc, "sample_rate": rate}
            if "hotwords" in params:  # customParameters: the call's own, all strings
                if not isinstance(params["hotwords"], str):
                    raise ProtocolError("bad_start", "customParameters.hotwords must be a string of words and "
                                        "phrases separated by commas")
                start["hotwords"] = hotwords_of(params["hotwords"])
            if "hotword_weight" in params:  # a string too, as "10"
                start["hotword_weight"] = _number_of(params["hotword_weight"], "customParameters.hotword_weight")
            tracks = _tracks_of(info.get("tracks"))
            start = self._begin(StartMessage.from_dict(start), tracks)
            self._replies.append(ready_message(self.id, start) | ({"tracks": list(tracks)} if tracks[0] else {}))
            return
        if event == "media":
            self._require_started()
            media = msg.get("media") or {}
            if not isinstance(media, dict):
                raise ProtocolError("bad_message", "media must be an object")
            return self._feed(decode_audio(decode_base64(media.get("payload")), self.start.encoding),
                              self._track_of(media.get("track")))
        if event == "stop":
            self._closing = True
            return
        raise ProtocolError("bad_message", f"unknown media-stream event {event!r}")


def _tracks_of(value) -> tuple[str | None, ...]:
    """A media start event's ``tracks``: the names of the tracks its media will carry, each recognized on
    its own; absent, one track whose media need not name it.

    >>> _tracks_of(["inbound", "outbound"]), _tracks_of(None)
    (('inbound', 'outbound'), (None,))
    >>> _tracks_of(["inbound", "inbound"])
    Traceback (most recent call last):
    streamasr.protocol.ProtocolError: start.tracks must be a list of 1 to 2 different names, as ["inbound", "outbound"]
    """
    if value is None:
        return (None,)
    if (not isinstance(value, list) or not 1 <= len(value) <= MEDIA_TRACKS or len(set(map(str, value))) < len(value)
            or not all(isinstance(v, str) and 0 < len(v) <= 64 for v in value)):
        raise ProtocolError("bad_start", f"start.tracks must be a list of 1 to {MEDIA_TRACKS} different names, "
                            'as ["inbound", "outbound"]')
    return tuple(value)


def _number_of(value, name: str) -> float:
    """A number a telephony platform's custom parameter carries, written as a string (they all are).

    >>> _number_of("10", "hotword_weight")
    10.0
    >>> _number_of(10, "hotword_weight")
    Traceback (most recent call last):
    streamasr.protocol.ProtocolError: hotword_weight must be a number written as a string, as "10"
    """
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ProtocolError("bad_start", f'{name} must be a number written as a string, as "10"')


def _merge(finals: list[Final]) -> Final:
    """One vosk result for the finals of one audio frame (or of the close). Merged, their alternatives are the
    merged text alone, scored as the sum of each final's best."""
    if len(finals) == 1:
        return finals[0]
    if not finals:
        return Final(0, "", 0, 0, ())
    text, words = " ".join(f.text for f in finals if f.text), tuple(w for f in finals for w in f.words)
    alternatives = ()
    if all(f.alternatives for f in finals):
        alternatives = (Alternative(text, round(sum(f.alternatives[0].score for f in finals), 3), words),)
    return Final(finals[0].segment, text, finals[0].start_ms, finals[-1].end_ms, words, alternatives)


def stream_summary(dialect: str, start: StartMessage | None, seconds: float, finals: int, tracks: int = 1,
                   warned: list[tuple[str, str | None]] = ()) -> str:
    """A stream's dialect, audio (``seconds`` long: its tracks run side by side), finals and the input check's
    warnings in words (``warned``: each one's code and source, None for a stream's only track).

    >>> stream_summary("media", None, 0.0, 0)
    'media, no start'
    >>> stream_summary("native", StartMessage(8000, "mulaw"), 12.34, 1)
    'native, 12.3 s of mulaw at 8000 Hz, 1 final'
    >>> stream_summary("media", StartMessage(8000, "mulaw"), 20.0, 4, tracks=2)
    'media, 20.0 s of mulaw at 8000 Hz on 2 tracks, 4 finals'
    >>> stream_summary("native", StartMessage(8000, "mulaw", channels=2), 20.0, 4, tracks=2,
    ...                warned=[("quiet", "channel 1"), ("clipped", None)])
    'native, 20.0 s of mulaw at 8000 Hz on 2 channels, 4 finals, warned: quiet on channel 1, clipped'
    """
    if start is None:
        return f"{dialect}, no start"
    kind = "channels" if start.channels > 1 else "tracks"
    return (f"{dialect}, {seconds:.1f} s of {start.encoding} at {start.sample_rate} Hz"
            f"{f' on {tracks} {kind}' if tracks > 1 else ''}, {finals} final{'s' * (finals != 1)}"
            + (f", warned: {', '.join(code + (f' on {source}' if source else '') for code, source in warned)}"
               if warned else ""))


__all__ = ["Connection", "error_message"]
