import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from streamasr.endpoint import SILENCE_RANGE_S
from streamasr.protocol import (MAX_ALTERNATIVES, MAX_CHANNELS, MAX_HOTWORD_WEIGHT, MAX_LEFT_CHUNKS, MAX_RATE, MIN_RATE,
                                ProtocolError, StartMessage, decode_audio, encode_audio)


def test_g711_tables_match_the_standard_library_reference():
    audioop = pytest.importorskip("audioop")  # Python <= 3.12: an independent G.711 implementation
    codes = bytes(range(256))
    for enc, ref in (("mulaw", audioop.ulaw2lin), ("alaw", audioop.alaw2lin)):
        expected = np.frombuffer(ref(codes, 2), "<i2") / 32768.0
        assert np.array_equal(decode_audio(codes, enc), expected.astype(np.float32))


@pytest.mark.parametrize("enc,tol", [("pcm_s16le", 1 / 32768), ("f32le", 0), ("mulaw", 0.032), ("alaw", 0.032)])
def test_encode_then_decode_is_close(enc, tol):
    x = np.linspace(-1, 1, 4001).astype(np.float32)
    y = decode_audio(encode_audio(x, enc), enc)
    assert np.abs(y - x).max() <= tol + 1e-7


@pytest.mark.parametrize("enc", ["pcm_s16le", "f32le", "mulaw", "alaw"])
def test_pcm_arrays_encode_as_their_float_samples(enc):
    """An int16 or int32 frame (a sound card's, a WAV reader's) goes out as the floats it stands for; 16-bit PCM
    out of int16 PCM is the same bytes."""
    pcm = np.random.default_rng(1).integers(-32768, 32768, 1000).astype(np.int16)
    as_float = pcm.astype(np.float32) / 32768
    assert encode_audio(pcm, enc) == encode_audio(as_float, enc) == encode_audio(pcm.astype(np.int32) << 16, enc)
    if enc == "pcm_s16le":
        assert encode_audio(pcm, enc) == pcm.astype("<i2").tobytes()
    with pytest.raises(ValueError, match="int64 samples"):
        encode_audio(pcm.astype(np.int64), enc)


def test_g711_encoding_picks_the_nearest_level():
    x = np.random.default_rng(0).uniform(-1, 1, 1000).astype(np.float32)
    for enc in ("mulaw", "alaw"):
        levels = decode_audio(bytes(range(256)), enc)
        best = levels[np.abs(levels[None, :] - x[:, None]).argmin(1)]
        assert np.allclose(np.abs(decode_audio(encode_audio(x, enc), enc) - x), np.abs(best - x))


@pytest.mark.parametrize("bad", [{"sample_rate": True}, {"sample_rate": "8000"}, {"hotwords": "x"},
                                 {"chunk_ms": 1.5}, {"silence_after_speech_s": 0}, {"max_utterance_s": 500},
                                 {"left_chunks": 100000}, {"left_chunks": -2}, {"quiet_tail": "no"},
                                 {"final_pass": 1}, {"silence_after_speech_s": True}, {"hotword_weight": -1},
                                 {"hotword_weight": 20.5}, {"hotword_weight": "10"}, {"hotword_weight": True},
                                 {"hotword_weight": float("nan")}, {"hotword_weight": None}])
def test_start_message_validation(bad):
    with pytest.raises(ProtocolError):
        StartMessage.from_dict({"type": "start"} | bad)


def test_start_message_takes_a_hotword_weight():
    assert StartMessage.from_dict({"type": "start"}).hotword_weight is None  # the server's
    assert StartMessage.from_dict({"type": "start", "hotword_weight": 12}).hotword_weight == 12
    assert StartMessage.from_dict({"type": "start", "hotword_weight": 0.5}).hotword_weight == 0.5


def test_start_message_sets_the_endpoint_rules():
    ep = StartMessage.from_dict({"type": "start", "silence_after_speech_s": 0.8, "quiet_tail": False}).endpoint()
    assert ep.silence_after_speech_s == 0.8 and ep.tail_floor_db == 0
    assert StartMessage.from_dict({"type": "start"}).endpoint().tail_floor_db > 0


def _start_table() -> tuple[dict, dict[str, tuple[str, str]]]:
    """docs/protocol.md's start message: its JSON example, and each field of its table with the default and the
    meaning it states."""
    doc = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text()
    part = doc[doc.index("1. A start message") : doc.index("\n2. ")]
    example = json.loads(re.search(r"```json\n(.*?)```", part, re.S)[1])
    rows = re.findall(r"^   \| `(\w+)` \| ([^|]*) \| (.*) \|$", part, re.M)
    return example, {name: (default.strip(), meaning) for name, default, meaning in rows}


def test_the_protocol_docs_table_is_the_start_message():
    """Every field of StartMessage has a row in docs/protocol.md, and no row names another; the defaults the rows
    state as values are the dataclass's, the ranges they state are the ones from_dict checks, and the example
    parses."""
    example, rows = _start_table()
    StartMessage.from_dict(example)
    defaults = {f.name: f.default for f in dataclasses.fields(StartMessage)}
    assert set(rows) == set(defaults)
    stated = {"encoding": rows["encoding"][0].strip("`")}
    for name, (default, _) in rows.items():
        try:
            stated.setdefault(name, json.loads(default.strip("`")))
        except json.JSONDecodeError:  # prose, as "the server's (7.5)"
            pass
    assert len(stated) >= 10
    for name, value in stated.items():
        expected = list(defaults[name]) if isinstance(defaults[name], tuple) else defaults[name]
        assert value == expected, f"docs/protocol.md says {name} defaults to {value!r}; StartMessage has {expected!r}"
    ranges = {"sample_rate": (MIN_RATE, MAX_RATE), "left_chunks": (-1, MAX_LEFT_CHUNKS),
              "hotword_weight": (0, MAX_HOTWORD_WEIGHT), "alternatives": (0, MAX_ALTERNATIVES),
              "channels": (1, MAX_CHANNELS), "silence_after_speech_s": SILENCE_RANGE_S, "max_utterance_s": (1, 120)}
    for name, (lo, hi) in ranges.items():
        assert f"{lo:g}..{hi:g}" in rows[name][1], f"docs/protocol.md's {name}: {rows[name][1]!r}, not {lo:g}..{hi:g}"
        for bad in (lo - 1e-3 if isinstance(lo, float) else lo - 1, hi + 1):  # and from_dict refuses past them
            with pytest.raises(ProtocolError):
                StartMessage.from_dict({name: bad})
