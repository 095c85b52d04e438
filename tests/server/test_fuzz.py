"""Random messages thrown at the real server: it answers or closes, never dies."""

import asyncio
import json

from hypothesis import HealthCheck, given, settings, strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from streamasr.client import stream_samples

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=12), c, max_size=4),
                           max_leaves=12)
start_like = st.fixed_dictionaries({"type": st.just("start")}, optional={
    "sample_rate": st.integers(-10, 200000) | st.sampled_from([8000, 16000, 44100]),
    "encoding": st.sampled_from(["pcm_s16le", "f32le", "mulaw", "alaw", "opus", ""]),
    "chunk_ms": st.integers(-100, 2000), "left_chunks": st.integers(-5, 50),
    "hotwords": st.lists(st.text(max_size=10), max_size=3) | st.integers(),
    "channels": st.integers(-1, 3) | json_values})
media_like = st.one_of(  # a telephony platform's events, tracks and all, with odd values where they may be
    st.fixed_dictionaries({"event": st.just("start"), "start": st.fixed_dictionaries({}, optional={
        "tracks": st.lists(st.sampled_from(["inbound", "outbound", ""]), max_size=3) | json_values,
        "mediaFormat": st.just({"encoding": "audio/x-mulaw", "sampleRate": 8000}) | json_values})}),
    st.fixed_dictionaries({"event": st.just("media"), "media": st.fixed_dictionaries({}, optional={
        "track": st.sampled_from(["inbound", "outbound"]) | json_values,
        "payload": st.just("//////////8=") | json_values})}),
    st.just({"event": "stop"}))
message = st.one_of(st.binary(max_size=3000), st.text(max_size=200), json_values.map(json.dumps),
                    start_like.map(json.dumps), media_like.map(json.dumps), st.just(json.dumps({"type": "end"})))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/", "/vosk", "/media"]), messages=st.lists(message, min_size=1, max_size=6))
def test_random_messages_never_break_the_server(tiny_server, path, messages):
    async def main():
        async with connect(tiny_server.url(path), max_size=None) as ws:
            try:
                for m in messages:
                    await ws.send(m)
                await ws.send(json.dumps({"type": "end"}))
                while True:
                    reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    assert isinstance(reply, dict)
                    if reply.get("type") == "error":
                        assert reply["code"] != "internal", reply
            except ConnectionClosed:
                pass
            except TimeoutError:
                pass  # e.g. a vosk stream still open: fine, we close it
        assert ws.close_code != 1011, ws.close_reason
        # and the server still serves a normal stream
        events = await stream_samples(tiny_server.url(), __import__("numpy").zeros(4000, "float32"), 16000)
        assert events[-1]["type"] == "final"

    asyncio.run(main())
