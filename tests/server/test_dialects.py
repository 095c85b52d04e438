"""Vosk-compatible and media-stream (telephony) clients against the real server."""

import asyncio
import json

import numpy as np
import soxr
from websockets.asyncio.client import connect

from speech import HELD_OUT_SENTENCES as SENTENCES, espeak
from streamasr.data.augment import phone_channel
from streamasr.metrics import error_rate
from streamasr.protocol import encode_audio, media_events, media_open_events, media_stop_event
from streamasr.server.app import ServerConfig
from tests_server_util import Running


def test_vosk_client_works_unchanged(tiny_server, tmp_path):
    """The exchange a vosk-server client performs: config, frames (one reply each), eof."""
    audio = soxr.resample(espeak("and there was light", tmp_path / "a.wav"), 16000, 8000).astype(np.float32)

    async def main():
        async with connect(tiny_server.url("/vosk")) as ws:
            await ws.send('{ "config" : { "sample_rate" : 8000 } }')
            frames = [encode_audio(audio[i : i + 4000], "pcm_s16le") for i in range(0, len(audio), 4000)]
            for f in frames:
                await ws.send(f)
                reply = json.loads(await ws.recv())
                assert set(reply) in ({"partial"}, {"text", "result"})
            await ws.send('{"eof" : 1}')
            final = json.loads(await ws.recv())
            assert set(final) == {"text", "result"}
            for w in final["result"]:
                assert set(w) == {"word", "start", "end", "conf"} and w["start"] <= w["end"]
            await ws.wait_closed()
            assert ws.close_code == 1000

    asyncio.run(main())


async def call(url: str, audio_8k: np.ndarray) -> list[dict]:
    """One phone call's media stream, as telephony platforms send it: every message the server answers."""
    got = []
    async with connect(url) as ws:
        for event in media_open_events("MZ1") + media_events(audio_8k, "MZ1") + [media_stop_event("MZ1")]:
            await ws.send(json.dumps(event))
        async for msg in ws:
            got.append(json.loads(msg))
    return got


def test_media_stream_events_with_base64_mulaw(tiny_server, tmp_path):
    audio = soxr.resample(espeak("and there was light", tmp_path / "a.wav"), 16000, 8000).astype(np.float32)
    got = asyncio.run(call(tiny_server.url("/media"), audio))
    assert got[0]["type"] == "ready" and got[0]["encoding"] == "mulaw"
    assert got[-1]["type"] == "final"
    assert not any(m["type"] == "error" for m in got)


def test_the_bundled_model_hears_a_phone_call(bundled_rec, tmp_path):
    """Held-out sentences over a phone call (the 300-3400 Hz band, 8 kHz mu-law) through the real server's
    /media: the words arrive. benchmarks/call_audio.py measures the same on the test splits."""
    srv = Running(bundled_rec, ServerConfig(port=0))
    try:
        calls = [phone_channel(espeak(s, tmp_path / f"{i}.wav")) for i, s in enumerate(SENTENCES)]

        async def main():
            return await asyncio.gather(*(call(srv.url("/media"), audio) for audio in calls))

        replies = asyncio.run(main())
    finally:
        srv.stop()
    hyps = [" ".join(m["text"] for m in got if m["type"] == "final" and m["text"]) for got in replies]
    assert error_rate(SENTENCES, hyps) <= 0.2, hyps


def test_media_stream_rejects_bad_base64(tiny_server):
    async def main():
        async with connect(tiny_server.url("/media")) as ws:
            await ws.send(json.dumps({"event": "start", "start": {"mediaFormat": {"encoding": "audio/x-mulaw",
                                                                                 "sampleRate": 8000}}}))
            await ws.recv()
            await ws.send(json.dumps({"event": "media", "media": {"payload": "@@not base64@@"}}))
            err = json.loads(await ws.recv())
            assert err["type"] == "error" and err["code"] == "bad_audio"
            await ws.wait_closed()
            assert ws.close_code == 1007

    asyncio.run(main())
