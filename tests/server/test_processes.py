"""`streamasr serve --processes N`: several server processes on one port, one session limit, one /metrics."""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamasr.events import transcript
from streamasr.protocol import decode_audio, encode_audio
from streamasr.recognizer import Recognizer
from tests_server_util import serve_process


def server_processes(parent: int) -> list[int]:
    """The pids of the server processes under ``parent`` (not multiprocessing's resource tracker)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"resource_tracker" not in cmdline:
            pids.append(int(stat.parent.name))
    return sorted(pids)


def metric(base: str, name: str) -> float:
    body = urllib.request.urlopen(base.replace("ws://", "http://") + "/metrics").read().decode()
    return float(re.search(rf"^{name} (\S+)", body, re.M).group(1))


def expected_final(model_dir, audio: np.ndarray) -> str:
    """What one in-process session makes of ``audio`` (as the server receives it: 16-bit PCM), on the
    server's default backend."""
    session = Recognizer.from_pretrained(model_dir, lm=None, backend="onnx").session()
    samples = decode_audio(encode_audio(audio, "pcm_s16le"), "pcm_s16le")
    return transcript(session.accept(samples) + session.finish())


async def open_stream(url: str):
    ws = await connect(url)
    await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
    return ws, json.loads(await ws.recv())


async def finals(ws) -> tuple[list[str], int]:
    """The texts of the finals until the server closes, and its close code."""
    texts = []
    try:
        async for msg in ws:
            ev = json.loads(msg)
            if ev["type"] == "final" and ev["text"]:
                texts.append(ev["text"])
    except ConnectionClosed:
        pass
    return texts, ws.close_code


def test_processes_share_one_session_limit_one_metrics_and_stop_together(tiny_model_dir):
    audio = [(np.random.default_rng(i).standard_normal(16000 * 2) * 0.3).astype(np.float32) for i in range(3)]
    proc, base = serve_process("--model", str(tiny_model_dir), "--no-lm", "--processes", "2", "--max-sessions", "3")
    try:
        assert len(server_processes(proc.pid)) == 2

        async def main():
            streams = [await open_stream(base + "/") for _ in range(3)]
            assert all(ready["type"] == "ready" for _, ready in streams)
            # a fourth stream is one too many for the two processes together, whichever accepts it
            extra = await connect(base + "/")  # refused at once, before any start message
            refused = json.loads(await extra.recv())
            assert refused["type"] == "error" and refused["code"] == "busy"
            await extra.wait_closed()
            assert extra.close_code == 1013
            assert metric(base, "streamasr_sessions") == 3.0  # the sum over both processes
            for (ws, _), a in zip(streams, audio):
                await ws.send(encode_audio(a, "pcm_s16le"))
            # counted once each process has computed its streams' chunks: wait for that, not for a fixed time
            deadline = time.monotonic() + 30
            while metric(base, "streamasr_audio_seconds_total") < 6.0 - 1e-6 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert metric(base, "streamasr_audio_seconds_total") == pytest.approx(6.0)
            proc.send_signal(signal.SIGTERM)  # every process flushes its streams' finals
            return [await finals(ws) for ws, _ in streams]

        got = asyncio.run(main())
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
    for (texts, code), a in zip(got, audio):
        assert code == 1001
        assert " ".join(texts) == expected_final(tiny_model_dir, a)


def test_processes_starting_on_a_fresh_cache_export_the_onnx_encoder_once(tiny_model_dir, tmp_path):
    """`serve` runs the encoder on onnxruntime unless told otherwise; a model without ONNX files is exported
    on first use, by one of the processes while the others wait for its files."""
    audio = (np.random.default_rng(5).standard_normal(16000 * 2) * 0.3).astype(np.float32)
    cache = tmp_path / "cache"
    proc, base = serve_process("--model", str(tiny_model_dir), "--no-lm", "--processes", "3",
                              env={**os.environ, "STREAMASR_CACHE": str(cache)})
    try:
        async def main():
            ws, ready = await open_stream(base + "/")
            assert ready["type"] == "ready"
            await ws.send(encode_audio(audio, "pcm_s16le"))
            await ws.send(json.dumps({"type": "end"}))
            return await finals(ws)

        got = asyncio.run(main())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    exports = [line for line in proc.stderr.read().splitlines() if "to ONNX once" in line]
    assert len(exports) == 1, exports
    exported = [p for p in (cache / "onnx").iterdir() if p.is_dir()]
    assert len(exported) == 1 and str(exported[0]) in exports[0]  # no second export, no leftover temporary folder
    want = expected_final(tiny_model_dir, audio)
    assert got == ([want] if want else [], 1000)


def test_a_process_that_dies_is_replaced_and_the_others_carry_on(tiny_model_dir):
    audio = (np.random.default_rng(7).standard_normal(16000 * 2) * 0.3).astype(np.float32)
    proc, base = serve_process("--model", str(tiny_model_dir), "--no-lm", "--processes", "2")
    try:
        before = server_processes(proc.pid)
        os.kill(before[0], signal.SIGKILL)
        for _ in range(600):
            now = server_processes(proc.pid)
            if len(now) == 2 and before[0] not in now:
                break
            time.sleep(0.1)
        assert len(now) == 2 and before[1] in now and before[0] not in now

        async def main():
            results = []
            for _ in range(4):  # whichever process accepts each stream
                ws, ready = await open_stream(base + "/")
                assert ready["type"] == "ready"
                await ws.send(encode_audio(audio, "pcm_s16le"))
                await ws.send(json.dumps({"type": "end"}))
                results.append(await finals(ws))
            return results

        time.sleep(3.0)  # the new process loads its model before it accepts
        got = asyncio.run(main())
        assert metric(base, "streamasr_sessions") == 0.0  # the dead process's open count is gone with it
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    want = expected_final(tiny_model_dir, audio)
    assert got == [([want] if want else [], 1000)] * 4


def test_a_model_that_does_not_load_stops_the_server_with_a_clear_error(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", "0", "--processes", "2",
                           "--model", str(tmp_path / "missing"), "--no-lm"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("streamasr: error: ")
    assert "missing" in proc.stderr.strip().splitlines()[-1]
    assert "listening" not in proc.stdout


def test_the_processes_stop_when_the_parent_is_killed(tiny_model_dir):
    """Orphans would hold the port with no one to stop them: they end their streams and exit."""
    proc, base = serve_process("--model", str(tiny_model_dir), "--no-lm", "--processes", "2")
    children = server_processes(proc.pid)

    async def main():
        ws, ready = await open_stream(base + "/")
        assert ready["type"] == "ready"
        await ws.send(encode_audio(np.zeros(8000, np.float32) + 0.01, "pcm_s16le"))
        await asyncio.sleep(0.5)
        proc.kill()
        return await finals(ws)

    _, code = asyncio.run(main())
    assert code == 1001  # the stream was closed as at a shutdown, not dropped
    for _ in range(300):
        if not any(Path(f"/proc/{pid}").exists() for pid in children):
            break
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in children)


def test_a_port_in_use_is_an_error_even_for_another_multi_process_server(tiny_model_dir):
    """SO_REUSEPORT would let a second server join the first one's port unnoticed."""
    proc, base = serve_process("--model", str(tiny_model_dir), "--no-lm", "--processes", "2")
    try:
        port = base.rsplit(":", 1)[1]
        second = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", port, "--processes",
                                 "2", "--model", str(tiny_model_dir), "--no-lm"], capture_output=True, text=True,
                                timeout=120)
        assert second.returncode == 2
        assert "in use" in second.stderr.strip().splitlines()[-1]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0


def test_the_supervising_process_and_the_cli_do_not_import_torch():
    """The parent of N server processes only supervises: torch would cost it ~0.5 GB resident, and every
    CLI command (even --help) seconds to start."""
    code = ("import sys, streamasr, streamasr.cli.main, streamasr.server, streamasr.server.processes; "
            "print(sorted(m for m in ('torch', 'torchaudio', 'onnxruntime', 'kenlm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_tls_with_several_processes(tiny_model_dir, tmp_path):
    import ssl

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", "0", "--processes", "2",
                             "--model", str(tiny_model_dir), "--no-lm", "--certfile", str(cert), "--keyfile", str(key)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on wss://127.0.0.1:" in line, proc.stderr.read()
        ctx = ssl.create_default_context(cafile=str(cert))

        async def main():
            for _ in range(4):  # whichever process takes each connection speaks TLS
                async with connect(line.split()[-1] + "/", ssl=ctx) as ws:
                    await ws.send(json.dumps({"type": "start", "sample_rate": 16000}))
                    assert json.loads(await ws.recv())["type"] == "ready"

        asyncio.run(main())
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
