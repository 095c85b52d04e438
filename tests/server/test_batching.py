"""Chunks of concurrent streams are encoded together, and every stream gets what it would alone."""

import asyncio
import json
import re
import threading
import time
import urllib.request

import numpy as np
import pytest

from streamasr.client import stream_samples
from streamasr.protocol import decode_audio, encode_audio
from streamasr.recognizer import Recognizer
from streamasr.server.app import ServerConfig
from streamasr.server.batcher import Batcher
from tests_server_util import Running


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_concurrent_streams_are_batched_and_match_sessions_alone(tiny_model_dir, backend):
    rec = Recognizer.from_pretrained(tiny_model_dir, lm=None, backend=backend)
    srv = Running(rec, ServerConfig(port=0, max_batch=8, max_wait_ms=20))
    rng = np.random.default_rng(0)
    audios = [(rng.standard_normal(16000 * 3) * 0.2).astype(np.float32) for _ in range(6)]
    try:
        async def main():
            return await asyncio.gather(*(stream_samples(srv.url(), a, 16000, speed=2.0) for a in audios))

        results = asyncio.run(main())
        body = urllib.request.urlopen(f"http://127.0.0.1:{srv.port}/metrics").read().decode()
    finally:
        srv.stop()
    calls = float(re.search(r"^streamasr_batch_size_count (\S+)", body, re.M).group(1))
    chunks = float(re.search(r"^streamasr_batch_size_sum (\S+)", body, re.M).group(1))
    assert chunks > calls  # some encoder calls held chunks of several streams
    for audio, events in zip(audios, results):
        alone = rec.session()
        quantized = decode_audio(encode_audio(audio, "pcm_s16le"), "pcm_s16le")  # what the server received
        expected = [e.to_dict() for e in alone.accept(quantized) + alone.finish()]
        got = [e for e in events if e["type"] in ("partial", "final")]
        assert [e["text"] for e in got] == [e["text"] for e in expected]
        assert [e["type"] for e in got] == [e["type"] for e in expected]


def test_the_sessions_of_a_batch_search_one_at_a_time(tiny_model_dir):
    """``Batcher.decoding``: rows come back from one encoder call for several sessions, and their threads search
    them in turn, never two at once (so the event loop shares the GIL with one search, not with all of them);
    each session's events are still what it gives alone."""
    rec = Recognizer.from_pretrained(tiny_model_dir, lm=None)
    sizes: list[int] = []
    batcher = Batcher(rec.encoder, max_batch=8, max_wait_s=0.05, on_batch=sizes.append)
    rng = np.random.default_rng(1)
    audios = [(rng.standard_normal(16000 * 2) * 0.2).astype(np.float32) for _ in range(6)]
    sessions = [rec.session() for _ in audios]
    searching, most, guard = 0, 0, threading.Lock()

    def watch(session):  # counts the sessions inside ``advance`` at once; the search itself is the real one
        advance = session.advance

        def counted(logp, state):
            nonlocal searching, most
            with guard:
                searching += 1
                most = max(most, searching)
            time.sleep(0.005)  # long enough for another thread to come in, were it let
            try:
                return advance(logp, state)
            finally:
                with guard:
                    searching -= 1

        session.advance = counted

    events: dict[int, list] = {}

    def stream(i: int) -> None:
        session = sessions[i]
        watch(session)
        out = []
        step = 16000 * 320 // 1000  # a chunk's audio at a time, as a live stream's frames bring it
        for pos in range(0, len(audios[i]), step):
            out += session.feed(audios[i][pos : pos + step]) + batcher.run(session)
        events[i] = out + session.finish()

    threads = [threading.Thread(target=stream, args=(i,)) for i in range(len(audios))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        batcher.close()
    assert len(events) == len(audios)
    assert max(sizes) > 1  # rows of several sessions came back at once
    assert most == 1
    for i, audio in enumerate(audios):
        alone = rec.session()
        expected = [e.to_dict() for e in alone.accept(audio) + alone.finish()]
        assert [e.to_dict() for e in events[i]] == expected


def test_onnx_server_refuses_an_unbounded_left_context_and_keeps_serving(tiny_model_dir):
    from websockets.sync.client import connect

    srv = Running(Recognizer.from_pretrained(tiny_model_dir, lm=None, backend="onnx"), ServerConfig(port=0))
    try:
        with connect(srv.url()) as ws:
            ws.send('{"type": "start", "left_chunks": -1}')
            err = json.loads(ws.recv())
            assert err["type"] == "error" and err["code"] == "bad_start" and "bounded left context" in err["message"]
        audio = (np.random.default_rng(0).standard_normal(16000) * 0.2).astype(np.float32)
        events = asyncio.run(stream_samples(srv.url(), audio, 16000))
        assert events[-1]["type"] == "final"
    finally:
        srv.stop()
