"""`streamasr transcribe -`: audio from a pipe, recognized as it comes, real processes and real speech."""

import json
import queue
import subprocess
import sys
import threading

import numpy as np
import pytest
import soundfile as sf
import soxr

from speech import HELD_OUT_SENTENCES, espeak
from streamasr.metrics import error_rate
from streamasr.protocol import encode_audio

CLI = [sys.executable, "-m", "streamasr.cli.main"]


def transcribe(*args, stdin: bytes = b"") -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "transcribe", *args], input=stdin, capture_output=True, timeout=300)


def events(out: bytes) -> list[dict]:
    return [json.loads(line) for line in out.decode().splitlines()]


def read_events(proc: subprocess.Popen) -> tuple[queue.Queue, threading.Thread]:
    """``proc``'s stdout, a JSON event a line, into a queue as the lines come (a thread reads them)."""
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(json.loads(line)) for line in proc.stdout], daemon=True)
    reader.start()
    return lines, reader


def rest_of(lines: queue.Queue, reader: threading.Thread) -> list[dict]:
    """The events still queued, once the reader has read to the end of the output (the process has ended)."""
    reader.join(timeout=60)
    out = []
    while not lines.empty():
        out.append(lines.get())
    return out


def finals_text(out: bytes) -> str:
    return " ".join(e["text"] for e in events(out) if e["type"] == "final" and e["text"])


def test_raw_samples_from_a_pipe_give_the_events_the_file_gives(tmp_path):
    """The same 16-bit samples as a WAV file and as raw bytes on stdin: the same partials and finals, times and
    confidences, though the pipe hands them over in other pieces."""
    x = espeak(HELD_OUT_SENTENCES[0], tmp_path / "s.wav")
    pcm = np.frombuffer(encode_audio(x, "pcm_s16le"), "<i2")
    sf.write(tmp_path / "s16.wav", pcm, 16000, subtype="PCM_16")
    from_file = transcribe(str(tmp_path / "s16.wav"), "--json")
    from_pipe = transcribe("-", "--json", stdin=pcm.tobytes())
    assert from_file.returncode == from_pipe.returncode == 0, from_pipe.stderr
    assert events(from_pipe.stdout) == events(from_file.stdout)
    assert error_rate([HELD_OUT_SENTENCES[0]], [finals_text(from_pipe.stdout)]) <= 0.2


def test_call_audio_from_a_pipe_mulaw_at_8_khz(tmp_path):
    x = espeak(HELD_OUT_SENTENCES[1], tmp_path / "s.wav")
    out = transcribe("-", "--rate", "8000", "--encoding", "mulaw", "--json",
                     stdin=encode_audio(soxr.resample(x, 16000, 8000), "mulaw"))
    assert out.returncode == 0, out.stderr
    assert error_rate([HELD_OUT_SENTENCES[1]], [finals_text(out.stdout)]) <= 0.3, finals_text(out.stdout)


def test_a_wav_stream_piped_from_the_synthesizer():
    """espeak-ng --stdout writes a WAV at 22050 Hz whose header cannot know the length; the header decides."""
    sentence = HELD_OUT_SENTENCES[2]
    out = subprocess.run(f"espeak-ng --stdout '{sentence}' | {' '.join(CLI)} transcribe - --json", shell=True,
                         capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert error_rate([sentence], [finals_text(out.stdout)]) <= 0.2, finals_text(out.stdout)


def test_partials_come_while_the_pipe_is_still_open(tmp_path):
    """The first half of the speech goes in; a partial holding words comes out before the rest is written and
    the pipe closed; then the rest, and the final."""
    x = espeak(HELD_OUT_SENTENCES[0], tmp_path / "s.wav")
    pcm = encode_audio(x, "pcm_s16le")
    half = len(pcm) // 2 // 2 * 2
    proc = subprocess.Popen([*CLI, "transcribe", "-", "--json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    lines, reader = read_events(proc)
    try:
        proc.stdin.write(pcm[:half])
        proc.stdin.flush()
        while (ev := lines.get(timeout=120))["type"] != "partial" or not ev["text"]:
            pass
        assert ev["audio_ms"] <= half // 2 * 1000 // 16000
        proc.stdin.write(pcm[half:])
        proc.stdin.close()
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    finally:
        proc.kill()
    rest = rest_of(lines, reader)
    assert rest[-1]["type"] == "final"
    assert error_rate([HELD_OUT_SENTENCES[0]], [rest[-1]["text"]]) <= 0.2


def test_a_wav_stream_refuses_raw_format_flags(tiny_model_dir):
    wav = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x80\x3e\x00\x00\x00\x7d\x00\x00\x02\x00" \
          b"\x10\x00data\xff\xff\xff\xff" + bytes(3200)
    out = transcribe("-", "--model", str(tiny_model_dir), "--no-lm", "--rate", "8000", stdin=wav)
    assert out.returncode == 2 and b"drop --rate" in out.stderr, out.stderr
    assert transcribe("-", "--model", str(tiny_model_dir), "--no-lm", stdin=wav).returncode == 0


def test_a_file_refuses_raw_format_flags(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(1600, np.float32), 16000)
    out = transcribe(str(tmp_path / "s.wav"), "--encoding", "mulaw")
    assert out.returncode == 2 and b"--encoding: for raw audio on stdin" in out.stderr, out.stderr


def test_bad_samples_midway_close_what_came_before_with_a_final(tiny_model_dir):
    """f32le samples that are not numbers, 1 s in: the final of the second before is printed, then the error."""
    good = np.full(16000, 0.1, "<f4").tobytes()
    out = transcribe("-", "--model", str(tiny_model_dir), "--no-lm", "--encoding", "f32le", "--json",
                     stdin=good + np.array([np.nan] * 4, "<f4").tobytes() + good)
    assert out.returncode == 2 and b"stdin: f32le audio contains NaN" in out.stderr, out.stderr
    final = events(out.stdout)[-1]
    assert final["type"] == "final" and final["end_ms"] <= 1000


def test_a_pipe_that_ends_inside_a_sample_says_so(tiny_model_dir):
    out = transcribe("-", "--model", str(tiny_model_dir), "--no-lm", stdin=bytes(3201))
    assert out.returncode == 0 and b"stdin ended 1 byte into a sample, dropped" in out.stderr, out.stderr


@pytest.mark.parametrize("flags,message", [(["--rate", "100"], b"sample rate 100 Hz is outside"),
                                           (["--rate", "0"], b"sample rate 0 Hz is outside"),
                                           (["--channels", "0"], b"0 channels is outside")])
def test_raw_flags_out_of_range_fail_before_stdin_is_read(flags, message):
    out = transcribe("-", *flags, stdin=bytes(10))
    assert out.returncode == 2 and message in out.stderr, out.stderr


def test_ctrl_c_ends_a_live_pipe_with_the_final_of_what_came(tmp_path):
    """A pipe that stays open (a capture tool): the speech, then silence as it goes on; Ctrl-C once the words
    show, long before the endpoint's silence (--silence 5): their final comes, exit 0."""
    import signal
    import time

    x = espeak(HELD_OUT_SENTENCES[3], tmp_path / "s.wav")
    proc = subprocess.Popen([*CLI, "transcribe", "-", "--json", "--silence", "5"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def capture():
        try:
            proc.stdin.write(encode_audio(x, "pcm_s16le"))
            while proc.poll() is None:  # 40 ms of silence every 40 ms, as a capture tool keeps sending
                proc.stdin.write(bytes(1280))
                proc.stdin.flush()
                time.sleep(0.04)
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=capture, daemon=True)
    writer.start()
    lines, reader = read_events(proc)
    try:
        while (ev := lines.get(timeout=120))["type"] != "partial" or len(ev["text"].split()) < 4:
            pass
        time.sleep(1.0)  # the rest of the sentence in
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    finally:
        proc.kill()
    events = rest_of(lines, reader)
    finals = [e for e in events if e["type"] == "final"]
    assert finals and error_rate([HELD_OUT_SENTENCES[3]], [" ".join(f["text"] for f in finals)]) <= 0.2, events


def test_stdin_that_is_a_terminal_is_refused(tiny_model_dir):
    """`transcribe -` typed at a terminal would wait for audio that never comes: a one-line error instead."""
    import os
    import pty

    main, terminal = pty.openpty()
    try:
        out = subprocess.run([*CLI, "transcribe", "-", "--model", str(tiny_model_dir), "--no-lm"], stdin=terminal,
                             capture_output=True, timeout=120)
    finally:
        os.close(main)
        os.close(terminal)
    assert out.returncode == 2 and b"stdin is a terminal: pipe audio into it" in out.stderr, out.stderr
