"""Endpoints through the real server: the finals a quiet tail brings early reach the client as they do alone."""

import asyncio

from streamasr.client import stream_samples
from streamasr.metrics import error_rate
from streamasr.endpoint import EndpointConfig
from streamasr.protocol import decode_audio, encode_audio


def test_server_sends_the_same_endpoint_finals_as_a_session_alone(model_server, paused_speech):
    audio = paused_speech
    events = asyncio.run(stream_samples(model_server.url(), audio, 16000, frame_ms=20, speed=4.0))
    got = [e for e in events if e["type"] in ("partial", "final")]

    alone = model_server.server.rec.session()
    quantized = decode_audio(encode_audio(audio, "pcm_s16le"), "pcm_s16le")  # what the server received
    expected = [e.to_dict() for e in alone.accept(quantized) + alone.finish()]
    assert [(e["type"], e["text"]) for e in got] == [(e["type"], e["text"]) for e in expected]
    finals = [e for e in got if e["type"] == "final" and e["text"]]
    assert len(finals) == 2
    # the first was closed by the quiet tail: without it, that segment ends later
    off = model_server.server.rec.session(endpoint=EndpointConfig(tail_floor_db=0.0))
    off_finals = [e for e in off.accept(quantized) + off.finish() if e.type == "final" and e.text]
    assert finals[0]["end_ms"] < off_finals[0].end_ms


def test_final_pass_asked_in_the_start_message(model_server, paused_speech):
    """Partials as usual, finals re-decoded at full context: the same events as a session alone with the pass."""
    audio = paused_speech
    events = asyncio.run(stream_samples(model_server.url(), audio, 16000, frame_ms=20, speed=4.0,
                                        start={"final_pass": True}))
    got = [(e["type"], e["text"]) for e in events if e["type"] in ("partial", "final")]
    quantized = decode_audio(encode_audio(audio, "pcm_s16le"), "pcm_s16le")
    alone = model_server.server.rec.session(final_pass=True)
    assert got == [(e.type, e.text) for e in alone.accept(quantized) + alone.finish()]
    refs = ["go not up for the lord is not among you", "or whether we be sober it is for your cause"]
    finals = [t for kind, t in got if kind == "final" and t]
    assert len(finals) == 2 and error_rate(refs, finals) <= 0.1, finals
