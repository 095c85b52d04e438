"""Admission by backlog against a real server: while its live streams' audio waits unread, new streams are
refused (1013, ``busy``) and /healthz answers 503; once it has caught up, both recover and the open streams
have lost nothing. The server is made to fall behind as an overloaded one does: its only compute thread is
taken (here by a task that waits on an event), so every stream's audio queues up unread."""

import asyncio
import logging
import threading
import time
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect

from streamasr.client import stream_samples
from streamasr.recognizer import Recognizer
from streamasr.server.app import ServerConfig
from streamasr.server.logs import websockets_line_kept
from tests_server_util import START, Running, expect_error, noise


def health(port: int) -> int:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").status
    except urllib.error.HTTPError as e:
        return e.code


async def wait_for_health(port: int, status: int, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while (now := await asyncio.to_thread(health, port)) != status:
        assert time.monotonic() < deadline, f"/healthz still {now}, expected {status}"
        await asyncio.sleep(0.05)


@pytest.fixture
def one_thread_server(tiny_model_dir):
    srv = Running(Recognizer.from_pretrained(tiny_model_dir, lm=None),
                  ServerConfig(port=0, max_sessions=8, max_batch=1, workers=1, max_backlog_ms=300))
    gate = threading.Event()
    yield srv, gate
    gate.set()
    srv.stop()


def test_a_server_behind_refuses_new_streams_until_it_catches_up(one_thread_server, caplog):
    srv, gate = one_thread_server
    caplog.set_level(logging.INFO)

    async def main():
        live = [asyncio.create_task(stream_samples(srv.url(), noise(4, seed=seed), 16000, frame_ms=40, speed=1.0))
                for seed in (1, 2)]
        await asyncio.sleep(0.5)
        assert await asyncio.to_thread(health, srv.port) == 200
        srv.server.pool.submit(gate.wait)  # the server's one compute thread is taken: audio queues up unread
        await wait_for_health(srv.port, 503, within_s=5)
        await expect_error(srv.url(), [START], "busy", 1013)
        gate.set()
        await wait_for_health(srv.port, 200, within_s=10)
        late = await stream_samples(srv.url(), noise(0.5), 16000)
        assert late[-1]["type"] == "final"
        for events in await asyncio.gather(*live):  # the open streams carried on: every frame heard, no error
            assert events[-1]["type"] == "final" and not [e for e in events if e["type"] == "error"]
            assert events[-1]["end_ms"] >= 3600  # the last final closes the stream where its audio ended

    asyncio.run(main())
    body = urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics").read().decode()
    assert "streamasr_refused_behind_total 1.0" in body
    assert "streamasr_refused_total 0.0" in body
    # the log: the change of state each way, once; websockets' line for each /healthz 503 polled is not kept
    said = [r.getMessage() for r in caplog.records if r.name.startswith("streamasr")]
    assert sum(m.startswith("behind, refusing new streams") for m in said) == 1, said
    assert sum(m.startswith("caught up") for m in said) == 1, said
    polls = [r for r in caplog.records if r.name == "websockets.server" and r.args and r.args[0] == 503]
    assert polls and not any(map(websockets_line_kept, polls)), [r.getMessage() for r in polls]


def test_a_bulk_upload_is_not_a_server_behind(one_thread_server):
    srv, gate = one_thread_server

    async def main():
        srv.server.pool.submit(gate.wait)
        upload = asyncio.create_task(stream_samples(srv.url(), noise(20), 16000))  # as fast as it can send
        for _ in range(30):  # its own unread audio is seconds long, but it is no live stream kept waiting
            await asyncio.sleep(0.1)  # (and stays an upload once flow control slows it to real time)
            assert await asyncio.to_thread(health, srv.port) == 200
        async with connect(srv.url()) as other:
            await other.send(START)
            assert '"ready"' in await other.recv()
            gate.set()
        assert (await upload)[-1]["type"] == "final"

    asyncio.run(main())
