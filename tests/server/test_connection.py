"""The sans-I/O connection: which frames need model compute (``busy``), and what ``run`` answers."""

import json

import numpy as np
import pytest

from streamasr.decoder import DecoderConfig
from streamasr.events import transcript
from streamasr.protocol import decode_audio, encode_audio
from streamasr.recognizer import Recognizer
from streamasr.server.connection import Connection

FRAME = 640  # 40 ms at 16 kHz


def frames(seconds: float, seed: int = 0) -> list[bytes]:
    audio = (np.random.default_rng(seed).standard_normal(int(16000 * seconds)) * 0.2).astype(np.float32)
    return [encode_audio(audio[i : i + FRAME], "pcm_s16le") for i in range(0, len(audio), FRAME)]


def test_only_frames_that_complete_a_chunk_are_busy(tiny_model_dir):
    rec = Recognizer.from_pretrained(tiny_model_dir, lm=None)
    conn = Connection(rec, "native", "c1")
    conn.receive(json.dumps({"type": "start", "sample_rate": 16000, "chunk_ms": 320}))
    assert not conn.busy
    assert [m["type"] for m in conn.run()] == ["ready"]
    busy = []
    for data in frames(3.0):
        conn.receive(data)
        busy.append(conn.busy)
        conn.run()
        assert not conn.busy  # run encoded everything that was ready
    # about one frame in eight (320 ms chunks of 40 ms frames) needs a worker; the first waits for look-ahead
    assert 0 < sum(busy) <= len(busy) // 8 + 1
    assert conn.session.frames_done == 8 * sum(busy)
    conn.receive(json.dumps({"type": "end"}))
    assert conn.busy
    out = conn.run()
    assert out[-1]["type"] == "final" and conn.done


@pytest.fixture(scope="module")
def call_8k(tmp_path_factory) -> np.ndarray:
    """A two-party call in stereo (``speech.conversation``) at 8 kHz, as telephony sends it: (S, 2) float32."""
    from speech import conversation

    from streamasr.audio import resample

    call = conversation(tmp_path_factory.mktemp("call"))  # (S, 2) at 16 kHz
    return np.stack([resample(np.ascontiguousarray(call[:, c]), 16000, 8000) for c in range(2)], axis=1)


def test_vosk_replies_equal_a_session_fed_the_same_frames(bundled_rec, paused_speech):
    """One reply per audio frame, whether ``run`` had compute to do or answered inline."""
    rec = bundled_rec
    conn, alone = Connection(rec, "vosk", "c2"), rec.session()
    replies, expected = [], []
    speech = [encode_audio(paused_speech[i : i + FRAME], "pcm_s16le") for i in range(0, len(paused_speech), FRAME)]
    for data in speech:
        conn.receive(data)
        replies += conn.run()
        finals = [e for e in alone.accept(decode_audio(data, "pcm_s16le")) if e.type == "final"]
        expected.append({"text": " ".join(f.text for f in finals)} if finals else {"partial": alone.partial_text})
    assert [{k: r[k] for k in ("text", "partial") if k in r} for r in replies] == expected
    assert any(e.get("partial") for e in expected) and any(e.get("text") for e in expected)
    conn.receive(json.dumps({"eof": 1}))
    (last,) = conn.run()
    assert last["text"] == transcript(alone.finish())
    assert conn.done


def test_the_server_default_final_pass_holds_unless_the_start_message_says(tiny_model_dir):
    rec = Recognizer.from_pretrained(tiny_model_dir, lm=None)
    for dialect, start, want in [("vosk", {"config": {"sample_rate": 16000}}, True),
                                 ("native", {"type": "start"}, True),
                                 ("native", {"type": "start", "final_pass": False}, False)]:
        conn = Connection(rec, dialect, "c3", final_pass=True)
        conn.receive(json.dumps(start))
        assert conn.session.cfg.final_pass is want, (dialect, start)
    conn = Connection(rec, "native", "c4")  # the server's default default: off
    conn.receive(json.dumps({"type": "start", "final_pass": True}))
    assert conn.session.cfg.final_pass is True


def test_vosk_phrase_list_becomes_the_streams_hotwords(tiny_model_dir):
    """vosk-server's grammar key: its phrases are favoured in the stream's search ("[unk]" is vosk's catch-all,
    not a word); anything but a list of strings is refused like any bad config."""
    import pytest

    from streamasr.protocol import ProtocolError

    rec = Recognizer.from_pretrained(tiny_model_dir, lm=None)
    conn = Connection(rec, "vosk", "c1")
    conn.receive(json.dumps({"config": {"sample_rate": 16000, "phrase_list": ["mount zion", "Jerusalem", "[unk]"]}}))
    assert conn.session.decoder.hot.phrases == {("mount", "zion"), ("jerusalem",)}
    for bad in ("zion", ["zion", 3], ["w"] * 101):
        with pytest.raises(ProtocolError, match="phrase_list"):
            Connection(rec, "vosk", "c2").receive(json.dumps({"config": {"phrase_list": bad}}))
    # their weight: streamasr's own key in the config, checked as a start message checks it
    assert conn.session.decoder.cfg.hotword_weight == DecoderConfig().hotword_weight
    conn = Connection(rec, "vosk", "c3")
    conn.receive(json.dumps({"config": {"phrase_list": ["zion"], "hotword_weight": 12.5}}))
    assert conn.session.decoder.cfg.hotword_weight == 12.5
    for bad in (50, "10", True, -1):
        with pytest.raises(ProtocolError, match="hotword_weight"):
            Connection(rec, "vosk", "c4").receive(json.dumps({"config": {"hotword_weight": bad}}))


def media_call(rec, tracks: dict[str, np.ndarray] | np.ndarray) -> list[dict]:
    """A media stream through a Connection: one unnamed track (an array), or named tracks whose 20 ms events
    alternate as a call's do; every reply but the ready one."""
    from streamasr.protocol import call_media_events, media_events, media_open_events, media_stop_event

    named = isinstance(tracks, dict)
    conn = Connection(rec, "media", "m")
    for event in media_open_events(tracks=list(tracks) if named else None):
        conn.receive(json.dumps(event))
    replies = []
    for event in call_media_events(tracks) if named else media_events(tracks):
        conn.receive(json.dumps(event))
        replies += conn.run()
    conn.receive(json.dumps(media_stop_event()))
    replies += conn.run()
    assert replies[0]["type"] == "ready" and conn.done
    return replies[1:]


def test_each_track_of_a_call_is_recognized_as_if_it_were_alone(bundled_rec, call_8k):
    """Inbound and outbound audio in one media stream (as a call with both tracks sends it): each track's
    replies, which name it, are those a stream of that track alone gets; the tracks are of different lengths."""
    rec = bundled_rec
    caller, agent = np.ascontiguousarray(call_8k[:, 0]), np.ascontiguousarray(call_8k[: len(call_8k) - 4000, 1])
    both = media_call(rec, {"inbound": caller, "outbound": agent})
    for name, audio in (("inbound", caller), ("outbound", agent)):
        mine = [r for r in both if r["track"] == name]
        assert [{k: v for k, v in r.items() if k != "track"} for r in mine] == media_call(rec, audio)
        assert mine[-1]["type"] == "final" and any(r["type"] == "partial" for r in mine)
    assert {r["track"] for r in both} == {"inbound", "outbound"}


def test_media_of_a_track_the_start_did_not_name_is_refused(tiny_model_dir):
    from streamasr.protocol import ProtocolError, media_events, media_open_events

    rec = Recognizer.from_pretrained(tiny_model_dir, lm=None)
    conn = Connection(rec, "media", "m")
    for event in media_open_events(tracks=["inbound"]):
        conn.receive(json.dumps(event))
    assert conn.run()[0]["tracks"] == ["inbound"]
    (event,) = media_events(np.zeros(160, np.float32), track="outbound")
    for track in ("outbound", ["inbound"], {"name": "inbound"}, None):  # names of no track, some unhashable
        event["media"]["track"] = track
        with pytest.raises(ProtocolError, match="not one the start event named") as e:
            conn.receive(json.dumps(event))
        assert e.value.code == "bad_message"


def native_stream(rec, audio: np.ndarray, rate: int = 8000, encoding: str = "mulaw") -> list[dict]:
    """A native stream through a Connection: (S,) audio, or (S, C) interleaved in each frame with a start that
    says its channels; 40 ms frames; every reply."""
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    conn = Connection(rec, "native", "n")
    conn.receive(json.dumps({"type": "start", "sample_rate": rate, "encoding": encoding}
                            | ({"channels": channels} if channels > 1 else {})))
    replies = conn.run()
    step = rate * 40 // 1000
    for pos in range(0, len(audio), step):
        conn.receive(encode_audio(audio[pos : pos + step].reshape(-1), encoding))
        replies += conn.run()
    conn.receive(json.dumps({"type": "end"}))
    replies += conn.run()
    assert conn.done
    return replies


def test_each_channel_of_a_native_stream_is_recognized_as_if_it_were_alone(bundled_rec, call_8k):
    """A stereo stream (each frame's samples interleaved, as a telephony platform forks a call): each channel's
    replies, which carry its number, are those a mono stream of that channel alone gets (resampled from 8 kHz)."""
    rec, call = bundled_rec, call_8k  # the second party silent for its first second
    both = native_stream(rec, call)
    assert both[0] == {"type": "ready", "session": "n", "sample_rate": 8000, "encoding": "mulaw", "chunk_ms": 320,
                       "channels": 2}
    for c in range(2):
        mine = [{k: v for k, v in r.items() if k != "channel"} for r in both[1:] if r["channel"] == c]
        assert mine == native_stream(rec, np.ascontiguousarray(call[:, c]))[1:]
        assert mine[-1]["type"] == "final" and any(r["type"] == "partial" for r in mine)


def test_a_stereo_frame_of_half_a_sample_pair_and_too_many_channels_are_refused(tiny_model_dir):
    from streamasr.protocol import ProtocolError

    rec = Recognizer.from_pretrained(tiny_model_dir, lm=None)
    conn = Connection(rec, "native", "n")
    conn.receive(json.dumps({"type": "start", "channels": 2}))
    conn.receive(encode_audio(np.zeros(6, np.float32), "pcm_s16le"))  # three sample pairs
    with pytest.raises(ProtocolError, match="no whole number of 2-channel samples") as e:
        conn.receive(encode_audio(np.zeros(7, np.float32), "pcm_s16le"))
    assert (e.value.code, e.value.close_code) == ("bad_audio", 1007)
    for bad in (0, 3, "2", True):
        with pytest.raises(ProtocolError, match="channels must be") as e:
            Connection(rec, "native", "n").receive(json.dumps({"type": "start", "channels": bad}))
        assert e.value.code == "bad_start"


def test_a_dead_leg_of_a_call_is_warned_of_once_and_the_other_leg_goes_on_as_before(bundled_rec, call_8k):
    """A stereo call whose second channel sends only digital silence (a muted or dead leg): one warning,
    naming that channel, after 3 s of its audio, and in the stream's summary; the first channel's replies are
    those of the call with both legs alive."""
    rec = bundled_rec
    dead = call_8k.copy()
    dead[:, 1] = 0.0
    replies = native_stream(rec, dead)
    warnings = [r for r in replies if r["type"] == "warning"]
    assert warnings == [{"type": "warning", "code": "silent", "channel": 1, "message": "channel 1 has sent only "
                         "digital silence (every sample 0) for 3 s: it may be muted"}]
    assert replies.index(warnings[0]) < max(i for i, r in enumerate(replies) if r.get("channel") == 0)  # as it came
    first = [r for r in replies if r.get("channel") == 0]
    assert first == [r for r in native_stream(rec, call_8k) if r.get("channel") == 0]
    assert [r["type"] for r in native_stream(rec, call_8k)].count("warning") == 0


def test_mulaw_speech_too_hot_is_warned_of_as_clipping_and_a_quiet_vosk_stream_only_in_the_log(bundled_rec, call_8k):
    """G.711's loudest code is 0.98 of full scale, where its clipped speech sits: the check of a mu-law stream
    knows it. A vosk client, whose protocol has no warnings, gets its usual replies; the server's log line of the
    stream names the warning."""
    rec = bundled_rec
    caller = np.ascontiguousarray(call_8k[:, 0])
    replies = native_stream(rec, np.clip(20 * caller, -1, 1))
    (warning,) = [r for r in replies if r["type"] == "warning"]
    assert warning["code"] == "clipped" and "lower the input volume" in warning["message"]

    conn = Connection(rec, "vosk", "v")
    conn.receive(json.dumps({"config": {"sample_rate": 8000}}))
    quiet = encode_audio(caller / 300, "pcm_s16le")  # about -70 dBFS: too quiet
    vosk = []
    for pos in range(0, len(quiet), 640):
        conn.receive(quiet[pos : pos + 640])
        vosk += conn.run()
    conn.receive(json.dumps({"eof": 1}))
    vosk += conn.run()
    assert all(set(r) <= {"partial", "text", "result"} for r in vosk) and "text" in vosk[-1]
    assert conn.summary().endswith(", warned: quiet"), conn.summary()
