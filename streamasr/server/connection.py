"""One client connection as a sans-I/O state machine: messages in, messages out.

The server feeds it frames and sends back what it returns; compute happens inside
``on_binary``/``on_text``/``finish``, which the server runs in a worker thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import soxr

from streamasr.events import Event, Final
from streamasr.protocol import (ProtocolError, StartMessage, decode_audio, decode_base64, error_message,
                                event_message, parse_json, ready_message, vosk_message)
from streamasr.recognizer import Recognizer, Session

DIALECTS = ("native", "vosk", "media")


class Connection:
    def __init__(self, rec: Recognizer, dialect: str, session_id: str,
                 encode: Callable[[Session], list[Event]] = Session.encode_pending):
        if dialect not in DIALECTS:
            raise ValueError(dialect)
        self.rec, self.dialect, self.id = rec, dialect, session_id
        self.encode = encode  # runs a session's ready chunks: alone, or batched with other sessions
        self.start: StartMessage | None = None
        self.session: Session | None = None
        self.resampler: soxr.ResampleStream | None = None
        self.done = False  # the conversation is over; the server closes normally
        self.audio_seconds = 0.0  # audio received, at its own rate
        self.last_compute_s = 0.0  # time spent on the last audio frame (for metrics)

    # --- inputs -----------------------------------------------------------------
    def on_text(self, text: str) -> list[dict]:
        msg = parse_json(text)
        if self.dialect == "vosk":
            return self._vosk_text(msg)
        if self.dialect == "media":
            return self._media_text(msg)
        kind = msg.get("type")
        if kind == "start":
            if self.session is not None:
                raise ProtocolError("already_started", "the stream has already started")
            return [ready_message(self.id, self._begin(StartMessage.from_dict(msg)))]
        if kind == "end":
            self._require_started()
            return self.finish()
        raise ProtocolError("bad_message", f"unknown message type {kind!r}; expected 'start' or 'end'")

    def on_binary(self, data: bytes) -> list[dict]:
        if self.dialect == "media":
            raise ProtocolError("bad_message", "the media-stream endpoint takes JSON events, not binary frames", 1003)
        if self.session is None:
            if self.dialect != "vosk":
                raise ProtocolError("not_started", "binary audio before the start message")
            self._begin(StartMessage())  # vosk clients may skip the config message
        events = self._audio(decode_audio(data, self.start.encoding))
        if self.dialect == "vosk":
            return [self._vosk_reply(events)]
        return [event_message(e, self.start.words) for e in events]

    def finish(self) -> list[dict]:
        """Flush and close the stream: the last final (also on server shutdown)."""
        if self.session is None or self.done:
            self.done = True
            return []
        self.done = True
        tail = self.resampler.resample_chunk(np.zeros(0, np.float32), last=True) if self.resampler else None
        events = self.session.accept(tail) if tail is not None and len(tail) else []
        events += self.session.finish()
        if self.dialect == "vosk":
            finals = [e for e in events if isinstance(e, Final)]
            return [vosk_message(_merge(finals))]
        return [event_message(e, self.start.words) for e in events]

    # --- internals ----------------------------------------------------------------------
    def _require_started(self) -> None:
        if self.session is None:
            raise ProtocolError("not_started", "no start message yet")

    def _begin(self, start: StartMessage) -> StartMessage:
        try:
            self.session = self.rec.session(chunk_ms=start.chunk_ms, left_chunks=start.left_chunks,
                                            hotwords=start.hotwords, endpoint=start.endpoint())
        except ValueError as e:
            raise ProtocolError("bad_start", str(e)) from None
        self.start = start
        if start.sample_rate != self.rec.sample_rate:
            self.resampler = soxr.ResampleStream(start.sample_rate, self.rec.sample_rate, 1, dtype="float32")
        return start

    def _audio(self, samples: np.ndarray) -> list[Event]:
        t0 = time.perf_counter()
        self.audio_seconds += len(samples) / self.start.sample_rate
        if self.resampler is not None:
            samples = self.resampler.resample_chunk(samples)
        events = self.session.feed(samples)
        events += self.encode(self.session)
        self.last_compute_s = time.perf_counter() - t0
        return events

    def _vosk_text(self, msg: dict) -> list[dict]:
        if "config" in msg:
            if self.session is not None:
                raise ProtocolError("already_started", "config after audio")
            cfg = msg["config"]
            if not isinstance(cfg, dict):
                raise ProtocolError("bad_start", "config must be an object")
            rate = cfg.get("sample_rate", 16000)
            rate = int(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) else -1
            self._begin(StartMessage.from_dict({"sample_rate": rate}))
            return []
        if "eof" in msg:
            if self.session is None:
                self._begin(StartMessage())
            return self.finish()
        raise ProtocolError("bad_message", "expected {\"config\": ...} or {\"eof\": 1}")

    def _vosk_reply(self, events: list[Event]) -> dict:
        finals = [e for e in events if isinstance(e, Final)]
        if finals:
            return vosk_message(_merge(finals))
        return vosk_message(None, self.session.partial_text)

    def _media_text(self, msg: dict) -> list[dict]:
        event = msg.get("event")
        if event == "connected":
            return []
        if event == "start":
            if self.session is not None:
                raise ProtocolError("already_started", "second start event")
            fmt = (msg.get("start") or {}).get("mediaFormat") or {}
            enc = {"audio/x-mulaw": "mulaw", "audio/x-alaw": "alaw"}.get(fmt.get("encoding", "audio/x-mulaw"))
            if enc is None:
                raise ProtocolError("bad_encoding", f"unsupported media encoding {fmt.get('encoding')!r}")
            rate = fmt.get("sampleRate", 8000)
            start = self._begin(StartMessage.from_dict({"encoding": enc, "sample_rate": rate}))
            return [ready_message(self.id, start)]
        if event == "media":
            self._require_started()
            payload = (msg.get("media") or {}).get("payload")
            events = self._audio(decode_audio(decode_base64(payload), self.start.encoding))
            return [event_message(e) for e in events]
        if event == "stop":
            return self.finish()
        if event in ("mark", "dtmf"):
            return []
        raise ProtocolError("bad_message", f"unknown media-stream event {event!r}")


def _merge(finals: list[Final]) -> Final:
    if len(finals) == 1:
        return finals[0]
    if not finals:
        return Final(0, "", 0, 0, ())
    return Final(finals[0].segment, " ".join(f.text for f in finals if f.text), finals[0].start_ms,
                 finals[-1].end_ms, tuple(w for f in finals for w in f.words))


__all__ = ["Connection", "error_message"]
