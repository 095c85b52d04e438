"""Bad input against the real server: a clear error, a proper close code, and nobody else notices."""

import asyncio
import json
import re
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from streamasr.client import stream_samples
from streamasr.protocol import encode_audio
from streamasr.server.app import ServerConfig
from tests_server_util import START, Running, expect_error, noise


CASES = {
    "binary before start": ([b"\x00\x00" * 100], "not_started", 1008),
    "garbage json": (["{not json"], "bad_json", 1007),
    "json that is not an object": (["[1, 2]"], "bad_json", 1007),
    "oversized json": ([json.dumps({"type": "start", "pad": "x" * 70000})], "too_large", 1009),
    "unknown encoding": ([json.dumps({"type": "start", "encoding": "mp3"})], "bad_encoding", 1008),
    "wrong rate": ([json.dumps({"type": "start", "sample_rate": 100})], "bad_sample_rate", 1008),
    "mulaw at 16 kHz": ([json.dumps({"type": "start", "sample_rate": 16000, "encoding": "mulaw"})],
                        "bad_sample_rate", 1008),
    "unknown field": ([json.dumps({"type": "start", "samplerate": 8000})], "bad_start", 1008),
    "bad chunk": ([json.dumps({"type": "start", "chunk_ms": 100})], "bad_start", 1008),
    "too many alternatives": ([json.dumps({"type": "start", "alternatives": 11})], "bad_start", 1008),
    "odd byte count": ([START, b"\x00\x00\x00"], "bad_audio", 1007),
    "nan floats": ([json.dumps({"type": "start", "encoding": "f32le"}), np.array([np.nan], "<f4").tobytes()],
                   "bad_audio", 1007),
    "start twice": ([START, START], "already_started", 1008),
    "unknown type": ([json.dumps({"type": "pause"})], "bad_message", 1008),
    "end before start": ([json.dumps({"type": "end"})], "not_started", 1008),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_input_gets_error_and_close_while_another_stream_carries_on(tiny_server, name):
    messages, code, close_code = CASES[name]

    async def main():
        good = asyncio.create_task(stream_samples(tiny_server.url(), noise(3), 16000, speed=4.0))
        await expect_error(tiny_server.url(), messages, code, close_code)
        events = await good
        assert events[0]["type"] == "ready" and events[-1]["type"] == "final"
        assert not any(e["type"] == "error" for e in events)

    asyncio.run(main())


def test_text_frames_carry_any_letters_unescaped(tiny_server):
    """The error echoes the client's own text; a text frame is UTF-8, so "ü" goes as itself, not as \\u00fc."""
    async def main():
        async with connect(tiny_server.url()) as ws:
            await ws.send(json.dumps({"type": "start", "encoding": "ü-law"}))
            raw = await ws.recv()
            assert "'ü-law'" in raw and "\\u" not in raw, raw
            assert json.loads(raw)["code"] == "bad_encoding"

    asyncio.run(main())


def test_huge_frame_closes_with_1009(tiny_server):
    async def main():
        async with connect(tiny_server.url(), max_size=None) as ws:
            await ws.send(START)
            assert json.loads(await ws.recv())["type"] == "ready"
            await ws.send(b"\x00" * (2 << 20))
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1009

    asyncio.run(main())


def test_client_vanishing_mid_stream_frees_its_session(tiny_server):
    async def main():
        ws = await connect(tiny_server.url())
        await ws.send(START)
        await ws.recv()
        await ws.send(encode_audio(noise(1), "pcm_s16le"))
        ws.transport.abort()  # no close handshake: the client is just gone
        for _ in range(100):
            if not tiny_server.server.open:
                break
            await asyncio.sleep(0.05)
        assert not tiny_server.server.open
        events = await stream_samples(tiny_server.url(), noise(1), 16000)
        assert events[-1]["type"] == "final"

    asyncio.run(main())


def test_idle_stream_is_closed(tiny_server):
    async def main():
        await expect_error(tiny_server.url(), [START], "idle_timeout", 1008)

    asyncio.run(main())


def test_capacity_is_refused_clearly(tiny_model_dir):
    from streamasr.recognizer import Recognizer

    srv = Running(Recognizer.from_pretrained(tiny_model_dir, lm=None), ServerConfig(port=0, max_sessions=1))

    async def main():
        async with connect(srv.url()) as first:
            await first.send(START)
            await first.recv()
            await expect_error(srv.url(), [START], "busy", 1013)

    try:
        asyncio.run(main())
        body = urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics").read().decode()
        assert "streamasr_refused_total 1.0" in body
    finally:
        srv.stop()


def test_token_is_required_when_set(tiny_model_dir):
    from streamasr.recognizer import Recognizer

    srv = Running(Recognizer.from_pretrained(tiny_model_dir, lm=None), ServerConfig(port=0, token="s3cret"))

    async def main():
        with pytest.raises(InvalidStatus) as e:
            async with connect(srv.url()):
                pass
        assert e.value.response.status_code == 401
        events = await stream_samples(srv.url(), noise(0.5), 16000, token="s3cret")
        assert events[-1]["type"] == "final"
        events = await stream_samples(srv.url() + "?token=s3cret", noise(0.5), 16000)
        assert events[-1]["type"] == "final"

    try:
        asyncio.run(main())
    finally:
        srv.stop()


def test_event_loop_lag_is_measured(tiny_server):
    def late_wakeups(body: str) -> float:  # samples above 0.2 s
        count = lambda le: float(re.search(rf'^streamasr_loop_lag_seconds_bucket{{le="{le}"}} (\S+)', body, re.M)[1])  # noqa: E731
        return count(r"\+Inf") - count("0.2")

    base = f"http://127.0.0.1:{tiny_server.port}/metrics"
    before = late_wakeups(urllib.request.urlopen(base).read().decode())
    tiny_server.loop.call_soon_threadsafe(time.sleep, 0.3)  # the server's loop stalls, as under overload
    time.sleep(0.6)
    assert late_wakeups(urllib.request.urlopen(base).read().decode()) == before + 1


def test_health_and_metrics(tiny_server):
    asyncio.run(stream_samples(tiny_server.url(), noise(1), 16000))
    base = f"http://127.0.0.1:{tiny_server.port}"
    assert urllib.request.urlopen(base + "/healthz").read() == b"ok\n"
    body = urllib.request.urlopen(base + "/metrics").read().decode()
    assert "streamasr_sessions 0.0" in body
    assert "streamasr_chunk_seconds_count" in body
    audio = float(next(line.split()[1] for line in body.splitlines() if line.startswith("streamasr_audio_seconds_total")))
    assert audio >= 1.0 - 1e-9  # a sum of frame durations, in floats
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(base + "/nothing-here")
    assert e.value.code == 404
