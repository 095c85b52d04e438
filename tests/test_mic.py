"""`streamasr mic` through a real audio device path (and its one-line errors): a PulseAudio null sink plays synthesized
speech, its monitor is the default microphone, PortAudio reads it through ALSA's pulse plugin."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from speech import espeak
from streamasr.metrics import error_rate

SENTENCE = "i gave ear to your reasons whilst ye searched out what to say"


@pytest.fixture
def pulse(tmp_path):
    if shutil.which("pulseaudio") is None:
        pytest.fail("pulseaudio is not installed (the README's set-up installs it)")
    env = dict(os.environ, PULSE_RUNTIME_PATH=str(tmp_path / "pulse"), HOME=str(tmp_path))
    os.makedirs(env["PULSE_RUNTIME_PATH"])
    subprocess.run(["pulseaudio", "-D", "-n", "--exit-idle-time=-1",
                    "--load=module-native-protocol-unix auth-anonymous=1",
                    "--load=module-null-sink sink_name=virt", "--load=module-always-sink"],
                   env=env, check=True, capture_output=True)
    try:
        for _ in range(50):
            if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-source", "virt.monitor"], env=env, check=True)
        yield env
    finally:
        subprocess.run(["pulseaudio", "-k"], env=env, capture_output=True)


@pytest.fixture
def jack(tmp_path):
    """A JACK server on its dummy driver at 48 kHz, the only rate its PortAudio device ("system") records at, as a
    Windows device in shared mode or a Linux hw device may do: the environment that reaches it."""
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed (the README's set-up installs it)")
    name = f"streamasr-test-{os.getpid()}"
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_AUDIO_RESERVATION="1", JACK_NO_START_SERVER="1")
    server = subprocess.Popen(["jackd", "--no-realtime", "-n", name, "-d", "dummy", "-r", "48000", "-p", "1024"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        subprocess.run(["jack_wait", "-w", "-t", "20"], env=env, check=True, capture_output=True)
        yield env
    finally:
        server.terminate()
        server.wait(timeout=20)


# Plays a WAV into the JACK server's device at 48 kHz, its output connected to every input there is (the mic's)
# once it is playing, half a second of quiet before the speech and a second after (PortAudio's blocking write
# crashes on JACK: sounddevice's play is its callback).
JACK_PLAY = """
import subprocess, sys
import numpy as np, sounddevice as sd, soundfile as sf, soxr
x, rate = sf.read(sys.argv[1], dtype="float32")
quiet = np.zeros(24000, np.float32)
sd.play(np.concatenate([quiet, soxr.resample(x, rate, 48000), quiet, quiet]), 48000, device="system")
ports = subprocess.run(["jack_lsp"], capture_output=True, text=True, check=True).stdout.split()
for src in [p for p in ports if ":out_" in p]:
    for dst in [p for p in ports if ":in_" in p]:
        subprocess.run(["jack_connect", src, dst], check=True)
sd.wait()
"""


def mic_hearing(args: list[str], env: dict, wav, play: tuple[str, ...] = ("paplay", "-d", "virt")
                ) -> subprocess.Popen:
    """``streamasr mic ARGS`` started, ``wav`` played into the device once it listens (after its model has
    loaded) by ``play`` (a command, the path after it): the process, still running, its first line of stderr
    (the one that says it listens) in ``.listening``."""
    mic = subprocess.Popen([sys.executable, "-m", "streamasr.cli.main", "mic", *args], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    said = []  # stderr up to the line that says the device is open
    while not said or not said[-1].startswith("listening"):
        said.append(mic.stderr.readline())
        assert said[-1], "".join(said)  # the command ended without listening
    mic.listening = said[-1]
    subprocess.run([*play, str(wav)], env=env, check=True)
    return mic


@pytest.mark.parametrize("where", ["local", "server"])
def test_mic_captions_speech_played_into_the_device(pulse, tmp_path, where, request):
    wav = tmp_path / "speech.wav"
    espeak(SENTENCE, wav)
    args = ["--json", "--seconds", "9"]
    if where == "server":
        srv = request.getfixturevalue("model_server")
        args += ["--server", srv.url(), "--latency"]
    mic = mic_hearing(args, pulse, wav)
    out, err = mic.communicate(timeout=120)
    assert mic.returncode == 0, err[-2000:]
    assert mic.listening == "listening for 9 s\n"  # the pulse device takes 16 kHz: opened at it, as before
    events = [json.loads(line) for line in out.splitlines()]
    text = " ".join(e["text"] for e in events if e["type"] == "final" and e["text"])
    assert any(e["type"] == "partial" for e in events)
    # Device audio starts at an arbitrary point of the chunk grid, so the words come out a little differently
    # each run (WER 0.2-0.7 seen on this sentence, "searched out" -> "serchdout" counts twice); character errors
    # are the steadier measure (0.10-0.21 seen; an unrelated sentence scores 0.75, silence 1.0).
    assert error_rate([SENTENCE], [text], chars=True) <= 0.3, text
    if where == "server":  # --latency: a line for the words, the partials the server sent, the end's final
        n = sum(e["type"] == "partial" for e in events)
        assert re.search(r"latency: word -> partial p50 \d+ ms, p95 \d+ ms \(\d+ words\); ", err), err[-2000:]
        assert f"({n} partials); end message -> final" in err, err[-2000:]


@pytest.mark.parametrize("where", ["local", "server"])
def test_a_device_that_records_at_its_own_rate_only_is_heard_at_that_rate(jack, tmp_path, where, request):
    """A device that refuses 16 kHz (before: "cannot open input device ... Invalid sample rate") is opened at
    its own rate, 48 kHz: resampled for the local recognizer, sent to a server as recorded (16-bit PCM at
    48 kHz, which the server resamples)."""
    wav = tmp_path / "speech.wav"
    espeak(SENTENCE, wav)
    args = ["--json", "--seconds", "9", "--device", "system"]
    if where == "server":
        args += ["--server", request.getfixturevalue("model_server").url()]
    mic = mic_hearing(args, jack, wav, play=(sys.executable, "-c", JACK_PLAY))
    out, err = mic.communicate(timeout=120)
    assert mic.returncode == 0, err[-2000:]
    assert mic.listening == "listening for 9 s at 48000 Hz, the device's own rate\n"
    events = [json.loads(line) for line in out.splitlines()]
    text = " ".join(e["text"] for e in events if e["type"] == "final" and e["text"])
    assert error_rate([SENTENCE], [text], chars=True) <= 0.3, text
    if where == "server":  # the ready message says what the server took
        assert (events[0]["type"], events[0]["sample_rate"], events[0]["encoding"]) == ("ready", 48000, "pcm_s16le")


def test_a_device_that_is_not_there_is_a_one_line_error_naming_those_that_are(pulse):
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "mic", "--device", "999", "--seconds", "1",
                        "--no-lm"], env=pulse, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "streamasr: error: microphone: cannot open input device 999" in r.stderr, r.stderr
    listed = r.stderr.split("input devices here: ")[1].strip()
    assert listed != "none found" and "pulse" in listed, r.stderr  # PortAudio reaches the pulse server via ALSA


def test_a_server_that_refuses_the_stream_is_a_one_line_error(tiny_model_dir):
    """Refused at the handshake (no token), before the microphone opens: no device needed."""
    from streamasr.recognizer import Recognizer
    from streamasr.server.app import ServerConfig
    from tests_server_util import Running

    srv = Running(Recognizer.from_pretrained(tiny_model_dir, lm=None), ServerConfig(port=0, token="s3cret"))
    try:
        r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "mic", "--server", srv.url(), "--seconds",
                            "1"], capture_output=True, text=True, timeout=120)
    finally:
        srv.stop()
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert f"streamasr: error: cannot stream to {srv.url()}: " in r.stderr and "401" in r.stderr, r.stderr


def test_a_device_that_fails_after_the_server_took_the_stream_is_one_line(tiny_model_dir):
    """The connection is open when the device fails: the error names the device, and nothing else is printed."""
    from streamasr.recognizer import Recognizer
    from streamasr.server.app import ServerConfig
    from tests_server_util import Running

    srv = Running(Recognizer.from_pretrained(tiny_model_dir, lm=None), ServerConfig(port=0))
    try:
        r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "mic", "--server", srv.url(), "--device",
                            "999", "--seconds", "1"], capture_output=True, text=True, timeout=120)
    finally:
        srv.stop()
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("streamasr: error: microphone: cannot open input device 999"), r.stderr


def test_a_server_that_dies_while_listening_is_one_line(pulse, tiny_model_dir):
    """The server process is killed while the device is open: one line on stderr, exit 2, the device closed."""
    import signal

    from tests_server_util import serve_process

    server, base = serve_process("--model", str(tiny_model_dir), "--no-lm")
    try:
        url = base + "/"
        mic = subprocess.Popen([sys.executable, "-m", "streamasr.cli.main", "mic", "--server", url, "--seconds", "30"],
                               env=pulse, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert mic.stderr.readline().startswith("listening")
        server.send_signal(signal.SIGKILL)
        out, err = mic.communicate(timeout=60)  # well before its 30 s
    finally:
        server.kill()
    assert mic.returncode == 2 and "Traceback" not in err and "Task exception" not in err, err
    assert err == f"streamasr: error: the stream to {url} closed before its end: no close frame received or sent\n"


def test_a_server_at_capacity_is_its_error_line_and_exit_1(pulse, tiny_model_dir):
    from streamasr.recognizer import Recognizer
    from tests_server_util import at_capacity

    with at_capacity(Recognizer.from_pretrained(tiny_model_dir, lm=None)) as srv:
        r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "mic", "--server", srv.url(), "--seconds", "5"],
                           env=pulse, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "server error busy: server at capacity (1 streams)\n" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and "closed before its end" not in r.stderr, r.stderr


def test_mic_hotwords_find_a_name_spoken_into_the_device(pulse, tmp_path):
    """--hotwords reaches the local session: a name the LM has never seen, played into the device, is captioned."""
    wav = tmp_path / "speech.wav"
    espeak("and they went unto london in the morning", wav)
    mic = mic_hearing(["--json", "--seconds", "7", "--hotwords", "london, oxford"], pulse, wav)
    out, err = mic.communicate(timeout=120)
    assert mic.returncode == 0, err[-2000:]
    words = " ".join(json.loads(line)["text"] for line in out.splitlines() if '"final"' in line).split()
    assert "london" in words and "oxford" not in words, words


@pytest.mark.parametrize("where", ["local", "server"])
def test_ctrl_c_ends_the_stream_with_the_final_of_what_was_said(pulse, tmp_path, where, request):
    """Ctrl-C right after the speech, long before the endpoint's silence (--silence 5) would close it: the words
    just said come as a final, exit 0 (they were lost, exit 130). A second Ctrl-C would stop at once."""
    import signal

    wav = tmp_path / "speech.wav"
    espeak(SENTENCE, wav)
    args = ["--json", "--silence", "5"]
    if where == "server":
        args += ["--server", request.getfixturevalue("model_server").url()]
    mic = mic_hearing(args, pulse, wav)
    mic.send_signal(signal.SIGINT)
    out, err = mic.communicate(timeout=120)
    assert mic.returncode == 0, err[-2000:]
    finals = [e for e in map(json.loads, out.splitlines()) if e["type"] == "final"]
    assert finals, out
    assert error_rate([SENTENCE], [" ".join(f["text"] for f in finals)], chars=True) <= 0.3, finals


def test_list_devices_names_those_one_can_record_from(pulse):
    """--list-devices: one line per input device (index, name, channels, rate), the default starred; no model
    is loaded and nothing is recorded."""
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "mic", "--list-devices"], env=pulse,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and not r.stderr, r.stderr
    lines = r.stdout.splitlines()
    assert lines and all(re.fullmatch(r"[* ] \d+ .+ \(\d+ channels, \d+ Hz\)", line) for line in lines), lines
    assert any("pulse" in line for line in lines) and sum(line.startswith("*") for line in lines) <= 1, lines


def test_audio_the_recognizer_falls_too_far_behind_for_is_dropped_and_said(pulse, tmp_path):
    """A consumer that stops reading while speech plays into the device: the blocks beyond the queue's room
    are dropped, and a warning at exit says how much (before, silently)."""
    wav = tmp_path / "speech.wav"
    seconds = len(espeak(SENTENCE, wav)) / 16000
    code = ("import sys\nfrom streamasr.mic import microphone\n"
            "with microphone(16000, max_blocks=2) as q:\n    print('open', flush=True)\n    sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], env=pulse, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline() == "open\n", proc.stderr.read()
        subprocess.run(["paplay", "-d", "virt", str(wav)], env=pulse, check=True)
        _, err = proc.communicate(input="", timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    m = re.search(r"([\d.]+) s of the microphone's audio were dropped: the recognizer fell more than 0.2 s behind", err)
    assert m and float(m.group(1)) >= seconds - 0.5, (seconds, err)


@pytest.mark.parametrize("where", ["local", "server"])
def test_two_microphones_on_a_stereo_input_are_each_their_own_speaker(pulse, tmp_path, where, request):
    """--split-channels: a stereo recording of a two-party conversation played into the device; each channel's
    finals hold what its party said, marked with its number (here, in spoken order; through a server, as they
    come, in one stream of two channels)."""
    import soundfile as sf

    from speech import HELD_OUT_SENTENCES, conversation

    sf.write(tmp_path / "call.wav", conversation(tmp_path), 16000)
    args = ["--json", "--split-channels", "--seconds", "12"]
    if where == "server":
        args += ["--server", request.getfixturevalue("model_server").url()]
    mic = mic_hearing(args, pulse, tmp_path / "call.wav")
    out, err = mic.communicate(timeout=120)
    assert mic.returncode == 0, err[-2000:]
    finals = [e for e in map(json.loads, out.splitlines()) if e["type"] == "final"]
    said = {c: " ".join(f["text"] for f in finals if f["channel"] == c and f["text"]) for c in (0, 1)}
    assert error_rate([" ".join(HELD_OUT_SENTENCES[:2])], [said[0]], chars=True) <= 0.3, said
    assert error_rate([" ".join(HELD_OUT_SENTENCES[2:])], [said[1]], chars=True) <= 0.3, said
    if where == "local":
        assert [f["start_ms"] for f in finals] == sorted(f["start_ms"] for f in finals)
    assert all("channel" in e for e in map(json.loads, out.splitlines()) if e["type"] != "ready")


@pytest.mark.parametrize("where", ["local", "server"])
def test_a_microphone_that_sends_only_silence_is_said_once_on_stderr(pulse, where, request):
    """Nothing plays into the device, whose monitor then sends zeros, as a muted microphone does: one warning
    line after 3 s, naming the cause; the captions go on (exit 0). Through a server, whose input check sends
    a warning of its own, the line is still the microphone's, once."""
    args = ["--server", request.getfixturevalue("model_server").url()] if where == "server" else ["--no-lm"]
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "mic", "--seconds", "5", *args], env=pulse,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith("streamasr: warning: the microphone has sent only digital "
                                                   "silence (every sample 0) for 3 s: it may be muted"), r.stderr


def test_speech_played_too_loud_into_the_device_is_said_to_clip(pulse, tmp_path):
    """Speech 20 dB over its level, clipped at full scale, played into the device: one warning line says the
    input clips; the words still come (exit 0)."""
    import soundfile as sf

    x = espeak(SENTENCE, tmp_path / "speech.wav")
    sf.write(tmp_path / "hot.wav", np.clip(10 * x, -1.0, 1.0), 16000, subtype="PCM_16")
    mic = mic_hearing(["--seconds", "9", "--no-lm"], pulse, tmp_path / "hot.wav")  # its window: 5 s
    out, err = mic.communicate(timeout=120)
    assert mic.returncode == 0 and out.strip(), err[-2000:]
    lines = [line for line in err.splitlines() if "warning" in line]
    assert len(lines) == 1 and lines[0].startswith("streamasr: warning: the microphone clips: "), err
