"""Vosk-compatible and media-stream (telephony) clients against the real server."""

import asyncio
import json

import numpy as np
import pytest
import soxr
from websockets.asyncio.client import connect

from speech import HELD_OUT_SENTENCES as SENTENCES, espeak
from streamasr.data.augment import phone_channel
from streamasr.metrics import error_rate
from streamasr.client import stream_samples
from streamasr.protocol import call_media_events, encode_audio, media_events, media_open_events, media_stop_event
from streamasr.server.app import ServerConfig
from tests_server_util import Running, expect_error


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


def test_vosk_config_max_alternatives_and_words(model_server, tmp_path):
    """vosk-server's result shapes for its other config keys, with the bundled model on real speech:
    ``max_alternatives`` gives ranked {"text", "confidence", "result"} entries, ``"words": false`` drops the
    word lists; a bad max_alternatives is refused like any bad config."""
    audio = espeak("and the pharisees also who were covetous heard all these things", tmp_path / "a.wav")

    async def last_result(config: dict) -> dict:
        async with connect(model_server.url("/vosk")) as ws:
            await ws.send(json.dumps({"config": config}))
            for i in range(0, len(audio), 8000):
                await ws.send(encode_audio(audio[i : i + 8000], "pcm_s16le"))
                json.loads(await ws.recv())
            await ws.send('{"eof" : 1}')
            return json.loads(await ws.recv())

    async def main():
        ranked = await last_result({"sample_rate": 16000, "max_alternatives": 3})
        assert set(ranked) == {"alternatives"} and 2 <= len(ranked["alternatives"]) <= 3
        best = ranked["alternatives"][0]
        assert best["text"] == "and the pharisees also who were covetous heard all these things"
        assert [w["word"] for w in best["result"]] == best["text"].split()
        scores = [a["confidence"] for a in ranked["alternatives"]]
        assert scores == sorted(scores, reverse=True) and len({a["text"] for a in ranked["alternatives"]}) == len(scores)
        bare = await last_result({"sample_rate": 16000, "max_alternatives": 3, "words": False})
        assert bare == {"alternatives": [{k: a[k] for k in ("text", "confidence")} for a in ranked["alternatives"]]}
        assert await last_result({"words": False}) == {"text": best["text"]}
        await expect_error(model_server.url("/vosk"), ['{"config": {"max_alternatives": "3"}}'], "bad_start", 1008)

    asyncio.run(main())


def test_native_finals_carry_alternatives_when_the_start_asks(model_server, tmp_path):
    audio = espeak("and the pharisees also who were covetous heard all these things", tmp_path / "a.wav")
    events = asyncio.run(stream_samples(model_server.url(), audio, 16000, start={"alternatives": 3}))
    final = [e for e in events if e["type"] == "final"][-1]
    assert final["alternatives"][0] == {"text": final["text"], "score": final["alternatives"][0]["score"],
                                        "words": final["words"]}
    bare = asyncio.run(stream_samples(model_server.url(), audio, 16000, start={"alternatives": 3, "words": False}))
    final_bare = [e for e in bare if e["type"] == "final"][-1]
    assert "words" not in final_bare and all(set(a) == {"text", "score"} for a in final_bare["alternatives"])
    assert [a["text"] for a in final_bare["alternatives"]] == [a["text"] for a in final["alternatives"]]


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


def test_a_call_with_both_tracks_hears_each_party(model_server, tmp_path):
    """A call's inbound and outbound audio (two held-out sentences over the phone band, the second party
    answering after 0.6 s) in one media stream, their events interleaved: each track's finals hold its own
    sentence, and the ready reply names the tracks."""
    caller, agent = (phone_channel(espeak(s, tmp_path / f"{i}.wav")) for i, s in enumerate(SENTENCES[:2]))
    agent = np.concatenate([np.zeros(4800, np.float32), agent])
    n = max(len(caller), len(agent))
    caller, agent = (np.pad(x, (0, n - len(x))) for x in (caller, agent))  # both tracks run the whole call

    async def main():
        async with connect(model_server.url("/media")) as ws:
            for event in media_open_events("MZ3", tracks=["inbound", "outbound"]):
                await ws.send(json.dumps(event))
            for event in call_media_events({"inbound": caller, "outbound": agent}, "MZ3"):
                await ws.send(json.dumps(event))
            await ws.send(json.dumps(media_stop_event("MZ3")))
            return [json.loads(m) async for m in ws]

    got = asyncio.run(main())
    assert got[0]["type"] == "ready" and got[0]["tracks"] == ["inbound", "outbound"]
    for name, sentence in (("inbound", SENTENCES[0]), ("outbound", SENTENCES[1])):
        text = " ".join(m["text"] for m in got if m["type"] == "final" and m["track"] == name and m["text"])
        assert error_rate([sentence], [text]) <= 0.2, (name, text)


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


def test_a_calls_custom_parameter_hotwords_reach_its_stream(model_server, tmp_path):
    """customParameters.hotwords of the start event (a string, as telephony platforms pass a call's parameters):
    over the phone band, a name the LM has never seen is found with it and not without, nor with
    customParameters.hotword_weight "0"."""
    audio = phone_channel(espeak("and they went unto london in the morning", tmp_path / "a.wav"))

    async def call_with(parameters):
        async with connect(model_server.url("/media")) as ws:
            for event in (media_open_events("MZ2", parameters=parameters) + media_events(audio, "MZ2")
                          + [media_stop_event("MZ2")]):
                await ws.send(json.dumps(event))
            got = [json.loads(m) async for m in ws]
        return " ".join(e["text"] for e in got if e["type"] == "final").split()

    plain, named = asyncio.run(call_with(None)), asyncio.run(call_with({"hotwords": "London, Oxford"}))
    assert "london" not in plain and "london" in named and "oxford" not in named, (plain, named)
    unweighted = asyncio.run(call_with({"hotwords": "London", "hotword_weight": "0"}))
    assert "london" not in unweighted, unweighted


@pytest.mark.parametrize("start", [{"customParameters": {"hotwords": ["london"]}}, {"customParameters": "x"},
                                   "x", {"mediaFormat": 3}, {"customParameters": {"hotword_weight": "lots"}},
                                   {"customParameters": {"hotword_weight": 10}},
                                   {"customParameters": {"hotword_weight": "50"}}, {"tracks": "inbound"},
                                   {"tracks": []}, {"tracks": ["inbound", "inbound"]}, {"tracks": ["a", "b", "c"]},
                                   {"tracks": [1]}, {"tracks": [""]}])
def test_a_media_start_of_the_wrong_shape_is_refused(tiny_server, start):
    asyncio.run(expect_error(tiny_server.url("/media"), [json.dumps({"event": "start", "start": start})],
                             "bad_start", 1008))


def test_a_dead_track_of_a_call_is_warned_of_on_the_wire_and_counted_in_the_metrics(tiny_server):
    """A call whose outbound track sends only digital silence (a dead leg): one warning message naming that
    track, none for the live one; the server's /metrics counts it by its code."""
    import re
    import urllib.request

    from tests_server_util import noise

    def silent_count() -> float:
        body = urllib.request.urlopen(f"http://127.0.0.1:{tiny_server.port}/metrics").read().decode()
        found = re.search(r'^streamasr_input_warnings_total\{code="silent"\} (\S+)', body, re.M)
        return float(found[1]) if found else 0.0

    async def main():
        async with connect(tiny_server.url("/media")) as ws:
            for event in media_open_events("MZ9", tracks=["inbound", "outbound"]):
                await ws.send(json.dumps(event))
            tracks = {"inbound": noise(5, 8000), "outbound": np.zeros(5 * 8000, np.float32)}
            for event in call_media_events(tracks, "MZ9"):
                await ws.send(json.dumps(event))
            await ws.send(json.dumps(media_stop_event("MZ9")))
            return [json.loads(m) async for m in ws]

    before = silent_count()
    got = asyncio.run(main())
    assert [m for m in got if m["type"] == "warning"] == [
        {"type": "warning", "code": "silent", "track": "outbound",
         "message": "track outbound has sent only digital silence (every sample 0) for 3 s: it may be muted"}]
    assert got[-1]["type"] == "final" and silent_count() == before + 1
