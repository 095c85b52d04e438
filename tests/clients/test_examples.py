"""The example clients in clients/ run as their docstrings say, against the real server and bundled model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import streamasr
from speech import espeak
from streamasr.metrics import error_rate
from streamasr.server.app import ServerConfig
from tests_server_util import Running

CLIENTS = Path(__file__).parents[2] / "clients"
# Held out of training and of the LM text; each example sends 8 kHz audio (pcm_s16le, or mu-law as calls carry it).
SENTENCE = "go not up for the lord is not among you"


@pytest.fixture(scope="module")
def server(bundled_rec):
    srv = Running(bundled_rec, ServerConfig(port=0))
    yield srv
    srv.stop()


def run_example(name: str, wav: Path, url: str, *more: str) -> str:
    r = subprocess.run([sys.executable, str(CLIENTS / name), str(wav), url, *more], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout


def test_vosk_style_example(server, tmp_path):
    espeak(SENTENCE, tmp_path / "a.wav")
    out = run_example("vosk_style.py", tmp_path / "a.wav", server.url(""))
    lines = out.splitlines()
    start = max(i for i, line in enumerate(lines) if line == "{")  # the last reply is printed indented
    final = json.loads("\n".join(lines[start:]))
    assert all(set(json.loads(line)) in ({"partial"}, {"text", "result"}) for line in lines[:start])
    assert set(final) == {"text", "result"} and [w["word"] for w in final["result"]] == final["text"].split()
    assert error_rate([SENTENCE], [final["text"]]) <= 0.35, final["text"]


def test_media_stream_example(server, tmp_path):
    espeak(SENTENCE, tmp_path / "a.wav")
    out = run_example("media_stream.py", tmp_path / "a.wav", server.url(""))
    events = [json.loads(line) for line in out.splitlines()]
    assert events and all(e["type"] == "final" for e in events), events
    assert error_rate([SENTENCE], [" ".join(e["text"] for e in events if e["text"])]) <= 0.35, events


def test_media_stream_example_sends_a_stereo_file_as_a_call_with_both_tracks(server, tmp_path):
    import numpy as np
    import soundfile as sf

    sentences = [SENTENCE, "go not up for the lord is not among you"]
    left, right = (espeak(s, tmp_path / f"{i}.wav") for i, s in enumerate(sentences))
    n = max(len(left), len(right))
    sf.write(tmp_path / "call.wav", np.stack([np.pad(x, (0, n - len(x))) for x in (left, right)], axis=1), 16000)
    out = run_example("media_stream.py", tmp_path / "call.wav", server.url(""))
    events = [json.loads(line) for line in out.splitlines()]
    for track, sentence in zip(("inbound", "outbound"), sentences):
        text = " ".join(e["text"] for e in events if e["track"] == track and e["text"])
        assert error_rate([sentence], [text]) <= 0.35, (track, events)


@pytest.mark.parametrize("name", ["vosk_style.py", "media_stream.py", "settled_captions.py"])
def test_an_example_without_its_arguments_says_how_to_run_it(name):
    r = subprocess.run([sys.executable, str(CLIENTS / name)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.startswith(f"usage: python {CLIENTS / name} FILE ws://HOST:PORT"), r.stderr


def test_media_stream_example_passes_hotwords_as_the_calls_parameter(server, tmp_path):
    espeak("and they went unto london in the morning", tmp_path / "a.wav")
    out = run_example("media_stream.py", tmp_path / "a.wav", server.url(""), "london,oxford")
    words = " ".join(json.loads(line)["text"] for line in out.splitlines()).split()
    assert "london" in words and "oxford" not in words, words


def test_settled_captions_example_writes_the_finals_words_once_some_before_their_final(server, bundled_rec, tmp_path):
    sentence = "and they sang together by course in praising and giving thanks unto the lord"  # held out
    samples = espeak(sentence, tmp_path / "a.wav")
    out = run_example("settled_captions.py", tmp_path / "a.wav", server.url(""))
    lines = [line.split(None, 2) for line in out.splitlines()]  # [audio_ms, "ms", "settled: words" | "final: words"]
    kinds = [rest.split(":")[0] for _, _, rest in lines]
    written = " ".join(rest.split(":", 1)[1].strip() for _, _, rest in lines)
    session = bundled_rec.session()  # the server's defaults
    finals = streamasr.transcript(session.accept(samples) + session.finish())
    assert written == finals, out  # every word of the finals, once, in order
    assert "settled" in kinds, out  # some of them before their final came
    assert error_rate([sentence], [written]) <= 0.35, out


@pytest.mark.parametrize("name", ["media_stream.py", "settled_captions.py"])
def test_an_example_shows_the_servers_warning_of_a_quiet_input_on_stderr(server, tmp_path, name):
    import soundfile as sf

    samples = espeak(SENTENCE, tmp_path / "a.wav")
    quiet = samples / max(float(abs(samples).max()), 1e-9) * 10 ** (-60 / 20)  # peaks at -60 dBFS
    sf.write(tmp_path / "quiet.wav", quiet, 16000)
    r = subprocess.run([sys.executable, str(CLIENTS / name), str(tmp_path / "quiet.wav"), server.url("")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "warning: " in r.stderr and "quiet" in r.stderr, r.stderr
