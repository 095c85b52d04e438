"""The wire protocol, defined once and shared by the server and the clients. No I/O here.

Native dialect (path ``/``):
  client → {"type": "start", "sample_rate": 8000, "encoding": "mulaw", ...}   (StartMessage)
  client → binary audio frames of any whole number of samples
  client → {"type": "end"}
  server → {"type": "ready"}, {"type": "partial"}, {"type": "final"}, {"type": "warning", "code", "message"},
           {"type": "error", "code", "message"}
Vosk dialect (path ``/vosk``): {"config": {"sample_rate": N, "words": bool, "max_alternatives": N,
  "phrase_list": [...] (hotwords), "hotword_weight": W (ours)}}, int16
  frames, {"eof" : 1}; replies {"partial": text} or {"text": text, "result": [{"word","start","end","conf"}]}
  (with max_alternatives: {"alternatives": [{"text", "confidence", "result"}]}), one per frame.
Media-stream dialect (path ``/media``): telephony JSON events connected/start/media/stop with
  base64 mu-law (or A-law) payloads at 8 kHz; the start event's customParameters.hotwords, a string of
  comma-separated words and phrases, are the stream's hotwords.
See docs/protocol.md.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, fields

import numpy as np

from streamasr.endpoint import SILENCE_RANGE_S, EndpointConfig
from streamasr.events import Event, Final
from streamasr.samples import float_samples

SAMPLE_WIDTH = {"pcm_s16le": 2, "f32le": 4, "mulaw": 1, "alaw": 1}  # bytes per sample
MAX_TEXT_BYTES = 64 * 1024  # a control message larger than this is refused
MIN_RATE, MAX_RATE = 8000, 192000
MAX_LEFT_CHUNKS = 64  # bounds a stream's attention cache (preallocated by the ONNX backends)
MAX_ALTERNATIVES = 10  # ranked texts a final may carry
MAX_CHANNELS = 2  # interleaved channels a native stream's audio may carry, each recognized on its own
MAX_HOTWORDS = 100  # words a stream may favour
MAX_HOTWORD_WEIGHT = 20.0  # the largest bonus per hotword word a stream may ask for


class ProtocolError(Exception):
    """A client error: sent as {"type": "error", "code", "message"} before closing with ``close_code``."""

    def __init__(self, code: str, message: str, close_code: int = 1008):
        super().__init__(message)
        self.code, self.message, self.close_code = code, message, close_code


@dataclass(frozen=True)
class StartMessage:
    sample_rate: int = 16000  # Hz of the audio that follows
    encoding: str = "pcm_s16le"  # pcm_s16le | f32le | mulaw | alaw
    chunk_ms: int = 320  # decoder chunk, a multiple of 40 ms
    left_chunks: int = 8  # attention left context in chunks
    hotwords: tuple[str, ...] = ()  # words to favour
    hotword_weight: float | None = None  # their bonus per word, 0..20 (None: the server's, DecoderConfig's 7.5)
    words: bool = True  # word times and confidence in finals
    silence_after_speech_s: float = EndpointConfig.silence_after_speech_s  # endpoint after speech
    max_utterance_s: float = EndpointConfig.max_utterance_s  # longest segment
    quiet_tail: bool = True  # quiet audio not yet encoded counts toward the endpoint silence
    final_pass: bool | None = None  # re-decode each segment at full context for its final (None: server default)
    alternatives: int = 0  # finals carry up to this many ranked texts, best first (0: none)
    channels: int = 1  # interleaved channels of the audio, each recognized on its own (replies name theirs)

    def endpoint(self) -> EndpointConfig:
        return EndpointConfig(silence_after_speech_s=self.silence_after_speech_s,
                              max_utterance_s=self.max_utterance_s,
                              tail_floor_db=EndpointConfig.tail_floor_db if self.quiet_tail else 0.0)

    @classmethod
    def from_dict(cls, d: dict) -> "StartMessage":
        """Validate a start message.

        >>> StartMessage.from_dict({"type": "start", "sample_rate": 8000, "encoding": "mulaw"}).encoding
        'mulaw'
        >>> StartMessage.from_dict({"sample_rate": 8000, "encoding": "mp3"})
        Traceback (most recent call last):
        streamasr.protocol.ProtocolError: unknown encoding 'mp3'; use one of pcm_s16le, f32le, mulaw, alaw
        """
        known = {f.name for f in fields(cls)}
        extra = set(d) - known - {"type"}
        if extra:
            raise ProtocolError("bad_start", f"unknown start fields {sorted(extra)}")
        d = {k: v for k, v in d.items() if k in known}
        if "hotwords" in d:
            hw = d["hotwords"]
            if not isinstance(hw, list) or not all(isinstance(w, str) for w in hw) or len(hw) > MAX_HOTWORDS:
                raise ProtocolError("bad_start", f"hotwords must be a list of at most {MAX_HOTWORDS} strings")
            d["hotwords"] = tuple(hw)
        for name, kind in (("sample_rate", int), ("chunk_ms", int), ("left_chunks", int), ("alternatives", int),
                           ("channels", int), ("words", bool),
                           ("quiet_tail", bool), ("final_pass", bool), ("silence_after_speech_s", (int, float)),
                           ("max_utterance_s", (int, float)), ("hotword_weight", (int, float))):
            if name in d and (not isinstance(d[name], kind) or (kind is not bool and isinstance(d[name], bool))):
                raise ProtocolError("bad_start", f"{name} must be {getattr(kind, '__name__', 'a number')}")
        msg = cls(**d)
        if msg.encoding not in SAMPLE_WIDTH:
            raise ProtocolError("bad_encoding", f"unknown encoding {msg.encoding!r}; use one of "
                                f"{', '.join(SAMPLE_WIDTH)}")
        if not MIN_RATE <= msg.sample_rate <= MAX_RATE:
            raise ProtocolError("bad_sample_rate", f"sample_rate {msg.sample_rate} outside {MIN_RATE}..{MAX_RATE}")
        if msg.encoding in ("mulaw", "alaw") and msg.sample_rate != 8000:
            raise ProtocolError("bad_sample_rate", f"{msg.encoding} audio must be 8000 Hz")
        if not -1 <= msg.left_chunks <= MAX_LEFT_CHUNKS:
            raise ProtocolError("bad_start", f"left_chunks must be -1..{MAX_LEFT_CHUNKS}")
        if msg.hotword_weight is not None and not 0 <= msg.hotword_weight <= MAX_HOTWORD_WEIGHT:
            raise ProtocolError("bad_start", f"hotword_weight must be 0..{MAX_HOTWORD_WEIGHT:g}")
        if not 0 <= msg.alternatives <= MAX_ALTERNATIVES:
            raise ProtocolError("bad_start", f"alternatives must be 0..{MAX_ALTERNATIVES}")
        if not 1 <= msg.channels <= MAX_CHANNELS:
            raise ProtocolError("bad_start", f"channels must be 1..{MAX_CHANNELS}")
        lo, hi = SILENCE_RANGE_S
        if not lo <= msg.silence_after_speech_s <= hi or not 1 <= msg.max_utterance_s <= 120:
            raise ProtocolError("bad_start",
                                f"silence_after_speech_s must be {lo:g}..{hi:g} and max_utterance_s 1..120")
        return msg


def hotwords_of(text: str) -> list[str]:
    """Hotwords written as one string, as a command line or a telephony platform's custom parameter gives
    them: separated by commas, each a word or a phrase of several, lower-cased.

    >>> hotwords_of("Margaret Thatcher, london,, telephone ")
    ['margaret thatcher', 'london', 'telephone']
    """
    return [" ".join(h.lower().split()) for h in text.split(",") if h.strip()]


def parse_json(text: str | bytes) -> dict:
    """A JSON object from a text frame, or a ProtocolError."""
    if len(text) > MAX_TEXT_BYTES:
        raise ProtocolError("too_large", f"control message over {MAX_TEXT_BYTES} bytes", 1009)
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ProtocolError("bad_json", f"not JSON: {e}", 1007) from None
    if not isinstance(obj, dict):
        raise ProtocolError("bad_json", "a control message must be a JSON object", 1007)
    return obj


def _g711_table(alaw: bool) -> np.ndarray:
    """Float value of each of the 256 G.711 codes (ITU-T G.711 expansion)."""
    codes = np.arange(256, dtype=np.int32)
    if alaw:
        c = codes ^ 0x55
        seg = (c & 0x70) >> 4
        mant = c & 0x0F
        mag = np.where(seg == 0, (mant << 4) + 8, ((mant << 4) + 0x108) << np.maximum(seg - 1, 0))
        val = np.where(c & 0x80, mag, -mag)
    else:
        c = ~codes & 0xFF
        seg = (c & 0x70) >> 4
        mant = c & 0x0F
        mag = (((mant << 3) + 0x84) << seg) - 0x84
        val = np.where(c & 0x80, -mag, mag)
    return (val / 32768.0).astype(np.float32)


_ULAW, _ALAW = _g711_table(False), _g711_table(True)
PEAK = {"pcm_s16le": 1.0, "f32le": 1.0, "mulaw": float(np.abs(_ULAW).max()),  # the largest magnitude a sample
        "alaw": float(np.abs(_ALAW).max())}                                    # of each encoding decodes to


def decode_audio(data: bytes, encoding: str) -> np.ndarray:
    """Bytes of one frame -> (S,) float32 in [-1, 1].

    >>> decode_audio(b"\\x00\\x40\\x00\\xc0", "pcm_s16le").tolist()
    [0.5, -0.5]
    >>> decode_audio(b"\\xff\\x7f", "mulaw").tolist()   # the two mu-law zeros
    [0.0, 0.0]
    """
    width = SAMPLE_WIDTH[encoding]
    if len(data) % width:
        raise ProtocolError("bad_audio", f"{len(data)} bytes is not a whole number of {encoding} samples "
                            f"({width} bytes each)", 1007)
    if encoding == "pcm_s16le":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    if encoding == "f32le":
        x = np.frombuffer(data, dtype="<f4").astype(np.float32)
        if not np.isfinite(x).all():
            raise ProtocolError("bad_audio", "f32le audio contains NaN or infinity", 1007)
        return np.clip(x, -1.0, 1.0)
    table = _ULAW if encoding == "mulaw" else _ALAW
    return table[np.frombuffer(data, dtype=np.uint8)]


def _nearest_code(table: np.ndarray):
    order = np.argsort(table)
    levels = table[order]
    mids = (levels[1:] + levels[:-1]) / 2

    def encode(x: np.ndarray) -> bytes:
        return order[np.searchsorted(mids, x)].astype(np.uint8).tobytes()

    return encode


_ENCODE_G711 = {"mulaw": _nearest_code(_ULAW), "alaw": _nearest_code(_ALAW)}


def encode_audio(samples: np.ndarray, encoding: str) -> bytes:
    """(S,) samples (float in [-1, 1], or int16/int32 PCM: ``float_samples``) -> bytes of one frame; G.711
    codes are the nearest level.

    >>> decode_audio(encode_audio(np.array([0.5, -0.25], np.float32), "pcm_s16le"), "pcm_s16le").tolist()
    [0.5, -0.25]
    >>> float(abs(decode_audio(encode_audio(np.array([0.3], np.float32), "alaw"), "alaw")[0] - 0.3)) < 0.01
    True
    """
    x = np.clip(float_samples(samples), -1.0, 1.0)
    if encoding == "pcm_s16le":
        return np.round(x * 32768).clip(-32768, 32767).astype("<i2").tobytes()
    if encoding == "f32le":
        return x.astype("<f4").tobytes()
    if encoding in _ENCODE_G711:
        return _ENCODE_G711[encoding](x)
    raise ValueError(f"unknown encoding {encoding!r}")


def decode_base64(payload: object) -> bytes:
    if not isinstance(payload, str):
        raise ProtocolError("bad_audio", "media payload must be a base64 string", 1007)
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("bad_audio", "media payload is not valid base64", 1007) from None


# --- media-stream dialect, client side (what a telephony platform sends) ----------------------
MEDIA_ENCODINGS = {"audio/x-mulaw": "mulaw", "audio/x-alaw": "alaw"}  # mediaFormat.encoding -> ours
MEDIA_RATE, MEDIA_FRAME = 8000, 160  # Hz, and samples per media event (20 ms)
MEDIA_TRACKS = 2  # tracks a media stream may carry, each recognized on its own (a call's inbound and outbound)


def media_open_events(sid: str = "MZ0", encoding: str = "mulaw", parameters: dict[str, str] | None = None,
                      tracks: list[str] | None = None) -> list[dict]:
    """The events that open a call's media stream: connected, then start with its 8 kHz media format, the
    call's custom parameters (strings; ``hotwords`` is read, see ``hotwords_of``) and the names of the tracks
    its media will carry (each recognized on its own; None: one, unnamed)."""
    fmt = {"encoding": next(k for k, v in MEDIA_ENCODINGS.items() if v == encoding), "sampleRate": MEDIA_RATE,
           "channels": 1}
    start = ({"streamSid": sid, "mediaFormat": fmt} | ({"customParameters": parameters} if parameters else {})
             | ({"tracks": tracks} if tracks else {}))
    return [{"event": "connected", "protocol": "Call", "version": "1.0.0"},
            {"event": "start", "sequenceNumber": "1", "streamSid": sid, "start": start}]


def media_events(samples: np.ndarray, sid: str = "MZ0", encoding: str = "mulaw", track: str = "inbound") -> list[dict]:
    """(S,) float32 at 8 kHz -> one media event per 20 ms of ``track``, its payload base64 ``encoding``.

    >>> events = media_events(np.zeros(200, np.float32))
    >>> [len(base64.b64decode(e["media"]["payload"])) for e in events], events[1]["media"]["timestamp"]
    ([160, 40], '20')
    """
    data = encode_audio(samples, encoding)
    return [{"event": "media", "streamSid": sid, "media": {
                "track": track, "chunk": str(i // MEDIA_FRAME), "timestamp": str(i * 1000 // MEDIA_RATE),
                "payload": base64.b64encode(data[i : i + MEDIA_FRAME]).decode()}}
            for i in range(0, len(data), MEDIA_FRAME)]


def call_media_events(tracks: dict[str, np.ndarray], sid: str = "MZ0", encoding: str = "mulaw") -> list[dict]:
    """The media events of a call's tracks ((S,) float32 at 8 kHz each, by name) in the order a call sends
    them: the 20 ms of every track in turn, a longer track going on alone.

    >>> call = call_media_events({"inbound": np.zeros(320, np.float32), "outbound": np.zeros(160, np.float32)})
    >>> [(e["media"]["track"], e["media"]["timestamp"]) for e in call]
    [('inbound', '0'), ('outbound', '0'), ('inbound', '20')]
    """
    each = [media_events(x, sid, encoding, track=name) for name, x in tracks.items()]
    return [events[i] for i in range(max(map(len, each), default=0)) for events in each if i < len(events)]


def media_stop_event(sid: str = "MZ0") -> dict:
    return {"event": "stop", "streamSid": sid}


def to_text(msg: dict) -> str:
    """A control message or event as a text frame, both ways: compact JSON, with every language's letters
    as they are (a text frame is UTF-8) rather than ``\\u`` escapes.

    >>> to_text({"type": "final", "text": "grüß gott"})
    '{"type":"final","text":"grüß gott"}'
    """
    return json.dumps(msg, ensure_ascii=False, separators=(",", ":"))


# --- server -> client -------------------------------------------------------------------
def ready_message(session_id: str, start: StartMessage) -> dict:
    return ({"type": "ready", "session": session_id, "sample_rate": start.sample_rate,
             "encoding": start.encoding, "chunk_ms": start.chunk_ms}
            | ({"channels": start.channels} if start.channels > 1 else {}))


def event_message(ev: Event, words: bool = True) -> dict:
    d = ev.to_dict()
    if isinstance(ev, Final) and not words:
        d.pop("words")
        for alternative in d.get("alternatives", ()):
            alternative.pop("words")
    return d


def error_message(code: str, message: str) -> dict:
    return {"type": "error", "code": code, "message": message}


def warning_message(code: str, message: str) -> dict:
    """What the input check noticed of a stream's audio (``streamasr.levels``: "silent", "quiet", "clipped"),
    once each; the stream goes on."""
    return {"type": "warning", "code": code, "message": message}


def vosk_message(ev: Event | None, partial_text: str = "", words: bool = True) -> dict:
    """Vosk's reply shapes: a result for a final (its ranked alternatives, if it has them), else the current
    partial. Without ``words`` a result has no word list, as vosk-server's with ``"words": false``.

    >>> from streamasr.events import Alternative, Word
    >>> w = (Word("amen", 0, 400, 0.9),)
    >>> vosk_message(Final(0, "amen", 0, 400, w))
    {'text': 'amen', 'result': [{'word': 'amen', 'start': 0.0, 'end': 0.4, 'conf': 0.9}]}
    >>> vosk_message(Final(0, "amen", 0, 400, w, (Alternative("amen", -3.5, w), Alternative("a men", -7.0, ()))),
    ...              words=False)
    {'alternatives': [{'text': 'amen', 'confidence': -3.5}, {'text': 'a men', 'confidence': -7.0}]}
    """
    def result(text: str, ws: tuple) -> dict:
        r = [{"word": w.word, "start": w.start_ms / 1000, "end": w.end_ms / 1000, "conf": w.conf} for w in ws]
        return {"text": text, "result": r} if words else {"text": text}

    if isinstance(ev, Final):
        if ev.alternatives:
            return {"alternatives": [{"text": a.text, "confidence": a.score} | result(a.text, a.words)
                                     for a in ev.alternatives]}
        return result(ev.text, ev.words)
    return {"partial": partial_text}
