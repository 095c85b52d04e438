"""`streamasr transcribe A B ...`: several files through one loaded model, real processes and real speech."""

import json
import subprocess

import pytest

from speech import HELD_OUT_SENTENCES, espeak
from streamasr.metrics import error_rate
from test_end_to_end import run_cli


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
