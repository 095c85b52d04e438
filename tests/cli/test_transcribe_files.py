"""`streamasr transcribe A B ...`: several files through one loaded model, real processes and real speech."""

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech import HELD_OUT_SENTENCES, espeak
from streamasr.metrics import error_rate
from test_end_to_end import run_cli
from test_pipes import CLI


def transcribe(*args) -> subprocess.CompletedProcess:
    return run_cli("transcribe", *map(str, args))


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list:
    folder = tmp_path_factory.mktemp("files")
    for i, sentence in enumerate(HELD_OUT_SENTENCES[2:]):
        espeak(sentence, folder / f"{i}.wav", voice="en-us" if i else "en-gb-x-rp")
    return [folder / "0.wav", folder / "1.wav"]


def test_each_files_events_are_those_it_gets_alone_marked_with_its_name(files):
    both = transcribe(*files, "--json")
    assert both.returncode == 0, both.stderr
    events = [json.loads(line) for line in both.stdout.splitlines()]
    for path, sentence in zip(files, HELD_OUT_SENTENCES[2:]):
        alone = transcribe(path, "--json")
        assert [e for e in events if e["file"] == str(path)] == \
            [json.loads(line) | {"file": str(path)} for line in alone.stdout.splitlines()]
        text = " ".join(e["text"] for e in events if e["file"] == str(path) and e["type"] == "final")
        assert error_rate([sentence], [text]) <= 0.2, text
    assert [e["file"] for e in events] == sorted(e["file"] for e in events)  # one file, then the next
    lines = transcribe(*files).stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(p) for p in files]


def test_a_file_that_cannot_be_read_is_one_line_and_the_others_are_transcribed(files, tmp_path):
    out = transcribe(files[0], tmp_path / "missing.wav", files[1])
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == f"streamasr: error: no such audio file: {tmp_path / 'missing.wav'}"
    assert [line.split(": ")[0] for line in out.stdout.splitlines()] == [str(p) for p in files]


def test_out_dir_holds_a_file_of_each_as_it_alone_prints_it(files, tmp_path):
    out = transcribe(*files, "--format", "srt", "--out-dir", tmp_path / "subs")
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[-2:] == [f"{p} -> {tmp_path / 'subs' / p.with_suffix('.srt').name}" for p in files]
    for path in files:
        assert (tmp_path / "subs" / f"{path.stem}.srt").read_text() == transcribe(path, "--format", "srt").stdout


@pytest.mark.parametrize("args,message", [
    (["{0}", "{1}", "--format", "srt"], "--format srt of several files: give --out-dir"),
    (["{0}", "-"], "- (stdin) is read alone"),
    (["{0}", "{2}", "--out-dir", "{3}"], "would both be written to"),
])
def test_what_several_files_cannot_do_is_refused(files, tmp_path, args, message):
    (tmp_path / "again").mkdir()
    (tmp_path / "again" / "0.wav").write_bytes(files[0].read_bytes())
    names = [files[0], files[1], tmp_path / "again" / "0.wav", tmp_path / "out"]
    out = transcribe(*[a.format(*names) for a in args])
    assert out.returncode == 2 and message in out.stderr and not out.stdout


def test_a_file_whose_samples_go_bad_midway_gives_the_final_of_what_came_before(files, tmp_path):
    """A file is read as a stream: samples that are no numbers, after the speech, end it there with its final,
    then the one-line error (exit 2)."""
    import numpy as np
    import soundfile as sf

    x = sf.read(files[1], dtype="float32")[0]
    bad = np.concatenate([x, np.zeros(32000, np.float32), [np.nan], np.zeros(16000, np.float32)])
    sf.write(tmp_path / "bad.wav", bad, 16000, subtype="FLOAT")
    out = transcribe(tmp_path / "bad.wav")
    assert out.returncode == 2
    error = f"streamasr: error: {tmp_path / 'bad.wav'}: audio contains NaN or infinite samples"
    assert out.stderr.strip().splitlines()[-1] == error
    assert error_rate([HELD_OUT_SENTENCES[3]], [out.stdout.strip()]) <= 0.2, out.stdout


def test_jobs_print_what_one_job_prints(files, tmp_path):
    """--jobs 2: each file in a process of its own, their output in the order named, a missing one's line too."""
    names = [files[0], tmp_path / "missing.wav", files[1], files[0]]
    one, two = transcribe(*names, "--json"), transcribe(*names, "--json", "--jobs", "2")
    assert one.returncode == two.returncode == 2
    assert two.stdout == one.stdout and two.stdout.count('"final"') >= 3
    assert two.stderr.strip().splitlines()[-1] == f"streamasr: error: no such audio file: {names[1]}"


def test_jobs_write_to_out_dir_as_one_job_does(files, tmp_path):
    out = transcribe(*files, "--format", "vtt", "--out-dir", tmp_path / "a", "-j", "2")
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[-2:] == [f"{p} -> {tmp_path / 'a' / p.with_suffix('.vtt').name}" for p in files]
    transcribe(*files, "--format", "vtt", "--out-dir", tmp_path / "b")
    for path in files:
        name = f"{path.stem}.vtt"
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


def open_by_a_process(path: Path) -> bool:
    """Whether some process on this machine has ``path`` open (a job reading it)."""
    for fd in Path("/proc").glob("[0-9]*/fd/*"):
        try:
            if os.readlink(fd) == str(path.resolve()):
                return True
        except OSError:
            continue
    return False


def test_ctrl_c_ends_the_files_being_read_and_leaves_the_rest(tmp_path):
    """Three long files replayed at real time by two jobs: Ctrl-C once both jobs read (each has its file open)
    ends those two with the finals of what was heard; the third is never begun."""
    names = [tmp_path / f"long{i}.wav" for i in range(3)]
    for i, (path, sentence) in enumerate(zip(names, HELD_OUT_SENTENCES)):
        x = espeak(sentence, tmp_path / f"s{i}.wav")
        sf.write(path, np.concatenate([x, np.zeros(60 * 16000, np.float32)]), 16000)
    proc = subprocess.Popen([*CLI, "transcribe", *map(str, names), "--json", "--realtime", "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (open_by_a_process(names[0]) and open_by_a_process(names[1])):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.2)
        time.sleep(7.0)  # each sentence heard
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    finals = [json.loads(line) for line in stdout.splitlines() if '"final"' in line]
    assert {f["file"] for f in finals} == {str(names[0]), str(names[1])}
    for path, sentence in zip(names[:2], HELD_OUT_SENTENCES):
        text = " ".join(f["text"] for f in finals if f["file"] == str(path))
        assert error_rate([sentence], [text]) <= 0.2, text
    assert took < 10 and max(f["end_ms"] for f in finals) < 30000  # where Ctrl-C came, not at the files' ends
