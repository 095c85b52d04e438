"""`streamasr stream FILE --server URL`, a real client process against the real server."""

import json
import re
import signal
import subprocess
import sys

import pytest

from speech import espeak
from test_captions import parse
from streamasr.metrics import error_rate
from tests_server_util import serve_process

SENTENCE = "go not up for the lord is not among you"


def run(*args):
    return subprocess.run([sys.executable, "-m", "streamasr.cli.main", "stream", *args], capture_output=True,
                          text=True, timeout=120)


def test_stream_a_file_at_double_speed(model_server, tmp_path):
    espeak(SENTENCE, tmp_path / "s.wav")
    out = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--speed", "2", "--json")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events[0]["type"] == "ready" and events[-1]["type"] == "final"
    assert [e["type"] for e in events].count("partial") >= 2
    text = " ".join(e["text"] for e in events if e["type"] == "final")
    assert error_rate([SENTENCE], [text]) <= 0.5, text


def test_latency_of_every_partial_and_of_the_end_final(model_server, tmp_path):
    """--latency: one line on stderr with the words' latencies (those of the finals' words that some partial
    held first), until they stopped changing and until a partial's stable_words settled them (every word of
    the finals), the partials' (as many as the partials the server sent) and the end message's final; stdout
    keeps the events alone."""
    import re

    espeak(SENTENCE, tmp_path / "s.wav")
    out = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--speed", "2", "--json", "--latency")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    m = re.search(r"latency: word -> partial p50 (\d+) ms, p95 (\d+) ms \((\d+) words\); "
                  r"word -> unchanged p50 (\d+) ms, p95 (\d+) ms \((\d+) words\); "
                  r"word -> settled p50 (\d+) ms, p95 (\d+) ms \((\d+) words\); "
                  r"chunk -> partial p50 (\d+) ms, p95 (\d+) ms, max (\d+) ms \((\d+) partials\); "
                  r"end message -> final (\d+) ms", out.stderr)
    assert m, out.stderr
    w50, w95, words, u50, u95, unchanged, s50, s95, settled, p50, p95, top, n, end = map(int, m.groups())
    assert 1 <= words <= unchanged == settled == sum(len(e["words"]) for e in events if e["type"] == "final")
    assert n == [e["type"] for e in events].count("partial") >= 2
    assert 0 <= w50 <= w95 and 0 <= u50 <= u95 and u50 <= s50 <= s95 and 0 <= p50 <= p95 <= top and end >= 0


def test_hotwords_reach_the_server(model_server, tmp_path):
    """--hotwords goes out in the start message: the server's session finds a name the LM has never seen; and
    --hotword-weight: at 20 a hotword is put where a word that sounds like it was said, at the server's not."""
    espeak("then came margaret and she sat by the river", tmp_path / "s.wav")
    texts = [run(str(tmp_path / "s.wav"), "--server", model_server.url(), *args).stdout.split()
             for args in ([], ["--hotwords", "margaret, oxford"])]
    assert "margaret" not in texts[0] and "margaret" in texts[1] and "oxford" not in texts[1], texts
    espeak("the perish shall be rebuilt", tmp_path / "s.wav")
    texts = [run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--hotwords", "paris", *args).stdout.split()
             for args in ([], ["--hotword-weight", "20"])]
    assert "paris" not in texts[0] and "paris" in texts[1], texts


def test_chunk_settings_reach_the_server(model_server, tmp_path):
    """--chunk-ms goes out in the start message: partials every 160 ms of audio, not the server's 320; a chunk
    the model cannot take is the server's bad_start, on stderr, exit 1."""
    espeak(SENTENCE, tmp_path / "s.wav")
    out = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--json", "--chunk-ms", "160", "--left-chunks",
              "16")
    assert out.returncode == 0, out.stderr
    marks = [e["audio_ms"] for e in map(json.loads, out.stdout.splitlines()) if e["type"] == "partial"]
    assert marks and all(ms % 160 == 0 for ms in marks) and any(ms % 320 for ms in marks), marks
    out = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--chunk-ms", "100")
    assert out.returncode == 1 and "server error bad_start: chunk_ms must be a multiple of 40" in out.stderr, out.stderr


def test_plain_output_and_errors(model_server, tmp_path):
    espeak(SENTENCE, tmp_path / "s.wav")
    out = run(str(tmp_path / "s.wav"), "--server", model_server.url())
    assert out.returncode == 0 and error_rate([SENTENCE], [" ".join(out.stdout.split())]) <= 0.5
    out = run(str(tmp_path / "s.wav"), "--server", "ws://127.0.0.1:9/")  # nothing listens there
    assert out.returncode == 2 and "cannot stream to" in out.stderr and "Traceback" not in out.stderr
    out = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--speed", "-1")
    assert out.returncode == 2 and "--speed must be 0 (at once) or more" in out.stderr, out.stderr[-2000:]


def test_alternatives_follow_each_final(model_server, tmp_path):
    """--alternatives reaches the server in the start message; plain output lists the other texts after the
    final, JSON output carries them all."""
    espeak(SENTENCE, tmp_path / "s.wav")
    out = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--alternatives", "3", "--json")
    assert out.returncode == 0, out.stderr
    final = [json.loads(line) for line in out.stdout.splitlines()][-1]
    assert final["type"] == "final" and final["alternatives"][0]["text"] == final["text"]
    others = [a["text"] for a in final["alternatives"][1:]]
    assert others, final
    out = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--alternatives", "3")
    assert out.returncode == 0 and [line.removeprefix("  or: ") for line in out.stdout.splitlines()[1:]] == others


def test_subtitles_from_a_server(model_server, tmp_path):
    """--format vtt prints the server's finals as WebVTT cues (word times from the server's final)."""
    espeak(SENTENCE, tmp_path / "s.wav")
    out = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--speed", "2", "--format", "vtt")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("WEBVTT\n\n")
    cues = parse(out.stdout[len("WEBVTT\n\n"):], numbered=False)
    assert cues and all(start < end for start, end, _ in cues)
    text = " ".join(" ".join(lines) for _, _, lines in cues)
    assert error_rate([SENTENCE], [text]) <= 0.5, text


def test_settled_words_from_a_server(model_server, tmp_path):
    """--format settled through a server: the words its partials settle, then the rest at its final - the
    final's text, once, on one line."""
    espeak(SENTENCE, tmp_path / "s.wav")
    out = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--speed", "2", "--json")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert any(e["type"] == "partial" and e["stable_words"] for e in events)
    settled = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--speed", "2", "--format", "settled")
    assert settled.returncode == 0, settled.stderr
    assert settled.stdout.splitlines() == [e["text"] for e in events if e["type"] == "final" and e["text"]]


def test_a_server_at_capacity_is_its_own_one_line_error(tiny_model_dir, tmp_path):
    """The server refuses the stream (busy, 1013) with an error message, maybe before the start message is out:
    that message is the one line on stderr, exit 1."""
    from streamasr.recognizer import Recognizer
    from tests_server_util import at_capacity

    espeak(SENTENCE, tmp_path / "s.wav")
    with at_capacity(Recognizer.from_pretrained(tiny_model_dir, lm=None)) as srv:
        outs = [run(str(tmp_path / "s.wav"), "--server", srv.url(), *fmt) for fmt in ([], ["--json"])]
    assert outs[0].returncode == 1 and outs[0].stderr == "server error busy: server at capacity (1 streams)\n", \
        outs[0].stderr
    assert outs[1].returncode == 1 and not outs[1].stderr, outs[1].stderr
    assert [json.loads(line)["code"] for line in outs[1].stdout.splitlines()] == ["busy"]


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_a_server_that_goes_mid_stream_is_one_line(tiny_model_dir, tmp_path, how):
    """The server process dies (no close frame) or shuts down (its last final, then close 1001) while the file
    is still being sent: what came before is on stdout, one line on stderr says the stream ended early, exit 2."""
    espeak(SENTENCE, tmp_path / "s.wav")
    server, base = serve_process("--model", str(tiny_model_dir), "--no-lm")
    try:
        url = base + "/"
        client = subprocess.Popen([sys.executable, "-m", "streamasr.cli.main", "stream", str(tmp_path / "s.wav"),
                                   "--server", url, "--speed", "0.5", "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        assert json.loads(client.stdout.readline())["type"] == "ready"
        server.send_signal(how)
        out, err = client.communicate(timeout=60)
    finally:
        server.kill()
    assert client.returncode == 2 and "Traceback" not in err and "Task exception" not in err, err
    assert err.startswith(f"streamasr: error: the stream to {url} closed before its end: ") and err.count("\n") == 1
    events = [json.loads(line) for line in out.splitlines()]
    if how == signal.SIGTERM:  # a server going away flushes the open stream's final first
        assert events and events[-1]["type"] == "final", out
        assert "1001" in err, err


def test_stream_a_pipe_as_it_comes(model_server, tmp_path):
    """`stream -`: raw samples from stdin reach the server as they come, and its finals are those the file's
    samples get; a WAV stream on stdin (espeak-ng --stdout) is read by its header."""
    import numpy as np
    import soundfile as sf

    from streamasr.protocol import encode_audio

    x = espeak(SENTENCE, tmp_path / "s.wav")
    pcm = np.frombuffer(encode_audio(x, "pcm_s16le"), "<i2")
    sf.write(tmp_path / "s16.wav", pcm, 16000, subtype="PCM_16")

    def finals(out):
        assert out.returncode == 0, out.stderr
        return [e["text"] for e in map(json.loads, out.stdout.splitlines()) if e["type"] == "final"]

    from_file = finals(run(str(tmp_path / "s16.wav"), "--server", model_server.url(), "--json"))
    from_pipe = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "stream", "-", "--server",
                                model_server.url(), "--json"], input=pcm.tobytes(), capture_output=True, timeout=120)
    from_pipe.stdout = from_pipe.stdout.decode()
    assert finals(from_pipe) == from_file and error_rate([SENTENCE], [" ".join(from_file)]) <= 0.5
    synth = subprocess.run(f"espeak-ng --stdout '{SENTENCE}' | {sys.executable} -m streamasr.cli.main stream - "
                           f"--server {model_server.url()} --json", shell=True, capture_output=True, text=True,
                           timeout=120)
    assert error_rate([SENTENCE], [" ".join(finals(synth))]) <= 0.5


def test_a_stereo_call_through_a_server_each_channel_apart(model_server, bundled_rec, tmp_path):
    """`stream --split-channels`: the call's channels in one stream ("channels": 2, samples interleaved); each
    channel's finals are those a session of its own gives, marked with its number; subtitle cues of both come
    at the end in the order of their starts; --latency times the words of both channels' finals."""
    import numpy as np
    import soundfile as sf

    from speech import conversation

    sf.write(tmp_path / "call.wav", conversation(tmp_path), 16000, subtype="PCM_16")
    call = sf.read(tmp_path / "call.wav", dtype="float32")[0]  # (S, 2), as the file holds them
    out = run(str(tmp_path / "call.wav"), "--server", model_server.url(), "--split-channels", "--json")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert events[0]["type"] == "ready" and events[0]["channels"] == 2
    for c in range(2):
        s = bundled_rec.session()
        own = [e.to_dict() | {"channel": c} for e in s.accept(np.ascontiguousarray(call[:, c])) + s.finish()]
        assert [e for e in events if e.get("channel") == c and e["type"] == "final"] == \
            [e for e in own if e["type"] == "final"]
    srt = run(str(tmp_path / "call.wav"), "--server", model_server.url(), "--split-channels", "--format", "srt")
    assert srt.returncode == 0, srt.stderr
    cues = parse(srt.stdout, numbered=True)
    assert [start for start, _, _ in cues] == sorted(start for start, _, _ in cues) and len(cues) >= 4
    assert [lines[0][:4] for _, _, lines in cues][:3] == ["ch0:", "ch1:", "ch0:"]
    timed = run(str(tmp_path / "call.wav"), "--server", model_server.url(), "--split-channels", "--latency",
                "--json", "--speed", "4")
    assert timed.returncode == 0, timed.stderr
    finals = [e for e in map(json.loads, timed.stdout.splitlines()) if e["type"] == "final"]
    m = re.search(r"word -> partial p50 \d+ ms, p95 \d+ ms \((\d+) words\); word -> unchanged p50 \d+ ms, p95 \d+ ms "
                  r"\((\d+) words\); .* end message -> final \d+ ms", timed.stderr)
    assert m, timed.stderr
    assert {f["channel"] for f in finals if f["words"]} == {0, 1}
    assert 1 <= int(m[1]) <= int(m[2]) == sum(len(f["words"]) for f in finals)  # both channels' words timed


def test_a_file_too_quiet_is_warned_of_by_the_server_as_transcribe_warns_of_it(model_server, tmp_path):
    """Speech 40 dB under its level (its loudest 100 ms under -45 dBFS) and shorter than the 10 s the quiet rule
    waits for: at the stream's end the server sends a warning (before the last final), shown on stderr as one
    line, the one `transcribe` writes of the same file but for the name of the source; at its own level, none."""
    import numpy as np
    import soundfile as sf

    x = espeak(SENTENCE, tmp_path / "s.wav")
    sf.write(tmp_path / "quiet.wav", x / 100, 16000, subtype="PCM_16")
    streamed = run(str(tmp_path / "quiet.wav"), "--server", model_server.url(), "--speed", "0", "--json")
    assert streamed.returncode == 0, streamed.stderr
    events = [json.loads(line) for line in streamed.stdout.splitlines()]
    (warning,) = [e for e in events if e["type"] == "warning"]
    assert warning["code"] == "quiet" and events[-1]["type"] == "final" and events.index(warning) < len(events) - 1
    line = f"streamasr: warning: {warning['message']}"
    assert [s for s in streamed.stderr.splitlines() if "warning" in s] == [line]
    assert line.startswith(f"streamasr: warning: the stream has been quiet for {len(x) / 16000:.1f} s, its loudest "
                           "at -")
    local = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "transcribe", str(tmp_path / "quiet.wav")],
                           capture_output=True, text=True, timeout=120)
    assert local.returncode == 0, local.stderr
    said = [s for s in local.stderr.splitlines() if "warning" in s]
    assert said == [line.replace("the stream", str(tmp_path / "quiet.wav"))], (said, line)
    assert np.max(np.abs(x)) > 0.1  # at its own level the file is loud enough: no warning
    plain = run(str(tmp_path / "s.wav"), "--server", model_server.url(), "--speed", "0")
    assert plain.returncode == 0 and "warning" not in plain.stderr, plain.stderr


def transcribe(*args, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streamasr.cli.main", "transcribe", *args], input=stdin,
                          capture_output=True, timeout=120)


def test_call_audio_goes_to_the_server_as_the_file_holds_it(model_server, tmp_path):
    """An 8 kHz mu-law WAV (as phone systems record calls) is streamed as the file holds it: the start message
    names 8 kHz mu-law (the ready message says what the server took), its codes go as they are (a quarter of the
    bytes of 16 kHz PCM), and the server's finals are those `transcribe` makes of the file; the same codes raw on
    stdin, named by flags, go the same way. A 44.1 kHz float WAV goes as 16-bit PCM at 44.1 kHz; a file at a rate
    the protocol refuses (6 kHz), resampled to 16 kHz."""
    import numpy as np
    import soundfile as sf
    import soxr

    from streamasr.protocol import decode_audio, encode_audio

    x = espeak(SENTENCE, tmp_path / "s.wav")
    codes = encode_audio(soxr.resample(x, 16000, 8000), "mulaw")
    sf.write(tmp_path / "call.wav", decode_audio(codes, "mulaw"), 8000, subtype="ULAW")
    assert np.array_equal(sf.read(tmp_path / "call.wav", dtype="float32")[0], decode_audio(codes, "mulaw"))

    def ready_and_finals(out):
        assert out.returncode == 0, out.stderr
        events = [json.loads(line) for line in out.stdout.splitlines()]
        assert events[0]["type"] == "ready"
        return (events[0]["sample_rate"], events[0]["encoding"]), [e for e in events if e["type"] == "final"]

    wire, finals = ready_and_finals(run(str(tmp_path / "call.wav"), "--server", model_server.url(), "--json"))
    assert wire == (8000, "mulaw") and error_rate([SENTENCE], [" ".join(e["text"] for e in finals)]) <= 0.5
    local = transcribe(str(tmp_path / "call.wav"), "--json")
    assert local.returncode == 0, local.stderr
    assert [e for e in map(json.loads, local.stdout.decode().splitlines()) if e["type"] == "final"] == finals
    piped = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "stream", "-", "--rate", "8000",
                            "--encoding", "mulaw", "--server", model_server.url(), "--json"], input=codes,
                           capture_output=True, timeout=120)
    piped.stdout = piped.stdout.decode()
    assert ready_and_finals(piped) == ((8000, "mulaw"), finals)

    sf.write(tmp_path / "wide.wav", soxr.resample(x, 16000, 44100), 44100, subtype="FLOAT")
    assert ready_and_finals(run(str(tmp_path / "wide.wav"), "--server", model_server.url(), "--json"))[0] == \
        (44100, "pcm_s16le")
    sf.write(tmp_path / "low.wav", soxr.resample(x, 16000, 6000), 6000, subtype="PCM_16")
    wire, finals = ready_and_finals(run(str(tmp_path / "low.wav"), "--server", model_server.url(), "--json"))
    assert wire == (16000, "pcm_s16le") and error_rate([SENTENCE], [" ".join(e["text"] for e in finals)]) <= 0.5


def test_clipped_call_audio_is_warned_of_by_the_server_as_transcribe_warns_of_it(model_server, tmp_path):
    """Speech 5 dB too hot in an 8 kHz mu-law file: about 0.2% of its samples sit at G.711's loudest code, 0.98 of
    full scale, twice the share the clipping rule asks. The server, hearing the codes themselves, warns of it,
    and `transcribe`, checking the file's samples as they are, writes the same line but for the name of the
    source. (Resampled to 16 kHz PCM, as `stream` once sent it, only the resampler's overshoot reaches full
    scale, 0.05% of the samples, and no rule spoke.)"""
    import numpy as np
    import soundfile as sf
    import soxr

    x = espeak(SENTENCE, tmp_path / "s.wav")
    hot = np.clip(1.75 * soxr.resample(np.tile(x, 3), 16000, 8000), -1, 1)  # (S,) 6.7 s: longer than the 5 s window
    sf.write(tmp_path / "hot.wav", hot, 8000, subtype="ULAW")
    streamed = run(str(tmp_path / "hot.wav"), "--server", model_server.url(), "--speed", "0", "--json")
    assert streamed.returncode == 0, streamed.stderr
    (warning,) = [e for e in map(json.loads, streamed.stdout.splitlines()) if e["type"] == "warning"]
    assert warning["code"] == "clipped" and "lower the input volume" in warning["message"]
    line = f"streamasr: warning: {warning['message']}"
    local = transcribe(str(tmp_path / "hot.wav"))
    assert local.returncode == 0, local.stderr
    said = [s for s in local.stderr.decode().splitlines() if "warning" in s]
    assert said == [line.replace("the stream", str(tmp_path / "hot.wav"))], (said, line)
