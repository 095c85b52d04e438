"""A real server on a loopback port, in a thread, for tests."""

import asyncio
import json
import subprocess
import sys
import threading
from contextlib import contextmanager

import numpy as np
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamasr.server.app import Server, ServerConfig
from streamasr.recognizer import Recognizer


def noise(seconds: float, rate: int = 16000, seed: int = 0) -> np.ndarray:
    """(S,) float32 white noise at about -20 dBFS: audio for tests that need frames, not words."""
    return (np.random.default_rng(seed).standard_normal(int(rate * seconds)) * 0.1).astype(np.float32)


def serve_process(*args: str, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """`streamasr serve --port 0 ARGS` in a process of its own, once it listens: (the process, its base URL
    "ws://127.0.0.1:PORT"). The caller kills it."""
    proc = subprocess.Popen([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if "listening on ws://127.0.0.1:" not in line:
        proc.kill()
        raise AssertionError(proc.stderr.read())
    return proc, line.split()[-1]


START = json.dumps({"type": "start", "sample_rate": 16000, "encoding": "pcm_s16le"})


async def expect_error(url: str, messages: list, code: str, close_code: int):
    async with connect(url, max_size=None) as ws:
        replies = []
        try:
            for m in messages:
                await ws.send(m)
        except ConnectionClosed:
            pass  # the server may refuse before we are done sending; its reply is still to be read
        try:
            async for msg in ws:
                replies.append(json.loads(msg))
        except ConnectionClosed:
            pass
        assert ws.close_code == close_code, (ws.close_code, ws.close_reason, replies)
        errors = [r for r in replies if r.get("type") == "error"]
        assert errors and errors[-1]["code"] == code and errors[-1]["message"]


class Running:
    """A real server on a loopback port, in a thread of its own."""

    def __init__(self, rec: Recognizer, cfg: ServerConfig):
        self.server = Server(rec, cfg)
        self.loop = asyncio.new_event_loop()
        ready = self.loop.create_future()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        self.port = self._port(ready)

    def _run(self, ready):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.run(ready.set_result))

    def _port(self, ready) -> int:
        import time

        for _ in range(600):
            if ready.done():
                return ready.result()
            time.sleep(0.05)
        raise TimeoutError("server did not start")

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.stopping.set)
        self.thread.join(timeout=30)


@contextmanager
def at_capacity(rec: Recognizer):
    """A real server that takes one stream, holding it: the next stream is refused (busy)."""
    from websockets.sync.client import connect as connect_sync

    srv = Running(rec, ServerConfig(port=0, max_sessions=1))
    try:
        with connect_sync(srv.url()) as held:  # the one stream it takes
            held.send(START)
            assert json.loads(held.recv())["type"] == "ready"
            yield srv
    finally:
        srv.stop()
