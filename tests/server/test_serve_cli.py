"""`streamasr serve` as a process: SIGTERM flushes a final to every open stream and exits cleanly."""

import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamasr.events import transcript
from streamasr.protocol import encode_audio
from tests_server_util import serve_process


def test_sigterm_flushes_finals_and_exits(tiny_model_dir):
    proc, base = serve_process("--model", str(tiny_model_dir), "--no-lm")
    try:
        url = base + "/"

        async def main():
            streams = []
            for _ in range(3):
                ws = await connect(url)
                await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
                assert json.loads(await ws.recv())["type"] == "ready"
                await ws.send(encode_audio(np.zeros(8000, np.float32) + 0.01, "pcm_s16le"))
                streams.append(ws)
            await asyncio.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            for ws in streams:
                got = []
                try:
                    async for msg in ws:
                        got.append(json.loads(msg))
                except ConnectionClosed:
                    pass
                assert got and got[-1]["type"] == "final"
                assert ws.close_code == 1001

        asyncio.run(main())
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


def test_serve_final_pass_is_the_default_of_streams_that_cannot_choose(bundled_rec, tmp_path):
    """`serve --final-pass`: a Vosk client (no start options) gets the finals of a session with the pass. The
    audio: a held-out sentence after 4 s of a quiet room's noise, where the streaming pass keeps its onset
    chunk's reading of the noise and the pass does not."""
    from speech import HELD_OUT_SENTENCES, espeak
    from streamasr.data.augment import coloured_noise
    from streamasr.protocol import decode_audio

    speech = espeak(HELD_OUT_SENTENCES[0], tmp_path / "s.wav")
    audio = coloured_noise(4 * 16000 + len(speech), np.random.default_rng(1), 1, -45)  # pink at -45 dBFS, (S,)
    audio[4 * 16000 :] += speech
    proc, base = serve_process("--backend", "torch", "--final-pass")  # the bundled model and LM
    try:
        async def main():
            async with connect(base + "/vosk") as ws:
                await ws.send(json.dumps({"config": {"sample_rate": 16000}}))
                await ws.send(encode_audio(audio, "pcm_s16le"))
                first = json.loads(await ws.recv())  # a partial, or the final of a segment the frame ended
                await ws.send(json.dumps({"eof": 1}))
                return " ".join(r["text"] for r in (first, json.loads(await ws.recv())) if r.get("text"))

        got = asyncio.run(main())
    finally:
        proc.kill()
    samples = decode_audio(encode_audio(audio, "pcm_s16le"), "pcm_s16le")
    texts = {}
    for final_pass in (True, False):
        s = bundled_rec.session(final_pass=final_pass)
        texts[final_pass] = transcript(s.accept(samples) + s.finish())
    assert texts[True] != texts[False] and texts[True]  # the pass shows in this audio
    assert got == texts[True]


@pytest.mark.parametrize("args,message", [
    (["--max-backlog-ms", "-1"], "--max-backlog-ms must be 0 (never refuse) or more"),
    (["--processes", "0"], "--processes must be at least 1"),
    (["--certfile", "cert.pem"], "--certfile and --keyfile go together"),
    (["--port", "99999"], "--port must be 0 (any free port) to 65535"),
    (["--max-sessions", "0"], "--max-sessions must be at least 1"),
    (["--idle-timeout", "0"], "--idle-timeout must be more than 0 seconds"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--max-batch", "0"], "--max-batch must be at least 1"),
    (["--max-wait-ms", "-1"], "--max-wait-ms must be 0 or more"),
    (["--host", "no-such-host.invalid"], "cannot listen on no-such-host.invalid:0: "),
    (["--certfile", "/nonexistent.pem", "--keyfile", "/nonexistent.key"],
     "cannot load TLS certificate /nonexistent.pem with key /nonexistent.key: No such file"),
    (["--certfile", __file__, "--keyfile", __file__, "--processes", "2"],  # checked once, before any process starts
     f"cannot load TLS certificate {__file__} with key {__file__}: [SSL]"),
])
def test_serve_cli_errors_are_one_line(args, message):
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", "0", *args],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_port_something_listens_on_is_one_line_before_the_model_loads(processes):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", str(port),
                            "--processes", processes, "--model", "/nonexistent"],  # would fail at loading
                           capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert f"streamasr: error: cannot listen on 127.0.0.1:{port}: Address already in use" in r.stderr, r.stderr


def test_each_stream_leaves_one_line_in_the_log(tiny_model_dir):
    """At its end each stream logs its id, peer, dialect, audio, finals and how it ended, never its text: one
    done, one refused for a bad frame, one whose client vanished, one on /media, one open at shutdown."""
    import re
    import time

    from streamasr.protocol import media_events, media_open_events, media_stop_event

    proc, base = serve_process("--model", str(tiny_model_dir), "--no-lm", "--idle-timeout", "60")
    start = json.dumps({"type": "start", "sample_rate": 8000, "encoding": "mulaw"})
    second = encode_audio(np.full(8000, 0.01, np.float32), "mulaw")

    async def drain(ws):
        try:
            async for _ in ws:
                pass
        except ConnectionClosed:  # the half sample's close is 1007
            pass

    try:
        async def main():
            async with connect(base + "/") as ws:  # done
                await ws.send(start)
                await ws.send(second)
                await ws.send(second)
                await ws.send(json.dumps({"type": "end"}))
                await drain(ws)
            async with connect(base + "/") as ws:  # a frame of half a sample
                await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
                await ws.send(b"\x00")
                await drain(ws)
            ws = await connect(base + "/")  # the client goes, no close frame
            await ws.send(start)
            await ws.send(second)
            await ws.recv()
            ws.transport.abort()
            async with connect(base + "/media") as ws:
                for m in media_open_events() + media_events(np.full(8000, 0.01, np.float32)) + [media_stop_event()]:
                    await ws.send(json.dumps(m))
                await drain(ws)
            async with connect(base + "/") as ws:  # a stereo call, a second of each channel
                await ws.send(json.dumps({"type": "start", "sample_rate": 8000, "encoding": "mulaw", "channels": 2}))
                await ws.send(second + second)
                await ws.send(json.dumps({"type": "end"}))
                await drain(ws)
            http = base.replace("ws:", "http:")
            for path in ("/healthz", "/metrics"):  # plain HTTP, as a load balancer and a scraper ask
                assert urllib.request.urlopen(http + path).status == 200
            with pytest.raises(urllib.error.HTTPError, match="404"):
                urllib.request.urlopen(http + "/nowhere")
            ws = await connect(base + "/")  # open at shutdown
            await ws.send(start)
            await ws.send(second)
            await ws.recv()
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            await drain(ws)

        asyncio.run(main())
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
    log = proc.stderr.read()
    lines = re.findall(r"INFO stream ([0-9a-f]{12}) from 127\.0\.0\.1:\d+: (.*), [\d.]+ s open; (.*)", log)
    assert [(summary, ended) for _, summary, ended in lines] == [
        ("native, 2.0 s of mulaw at 8000 Hz, 1 final", "done"),
        ("native, 0.0 s of pcm_s16le at 16000 Hz, 0 finals", "error bad_audio"),
        ("native, 1.0 s of mulaw at 8000 Hz, 0 finals", "client gone"),
        ("media, 1.0 s of mulaw at 8000 Hz, 1 final", "done"),
        ("native, 1.0 s of mulaw at 8000 Hz on 2 channels, 2 finals", "done"),
        ("native, 1.0 s of mulaw at 8000 Hz, 1 final", "server shutdown"),
    ], lines
    assert len({sid for sid, _, _ in lines}) == 6
    # of websockets' own lines, the 404 alone: not each connection's open and close, nor the 200s
    assert "HTTP response sent (404 Not Found)" in log
    for quiet in ("connection open", "connection closed", "(200 OK)", "server listening"):
        assert quiet not in log, log
