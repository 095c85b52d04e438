"""Chunks of concurrent streams are encoded together, and every stream gets what it would alone."""

import asyncio
import json
import re
import urllib.request

import numpy as np
import pytest

from streamasr.client import stream_samples
from streamasr.protocol import decode_audio, encode_audio
from streamasr.recognizer import Recognizer
from streamasr.server.app import ServerConfig
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
