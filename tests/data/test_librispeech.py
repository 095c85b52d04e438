import json
import subprocess
import sys

import soundfile as sf

from speech import espeak
from streamasr.data.librispeech import import_librispeech


def test_librispeech_layout_becomes_a_manifest(tmp_path):
    chapter = tmp_path / "LibriSpeech" / "train-clean-5" / "19" / "198"
    chapter.mkdir(parents=True)
    samples = espeak("and there was light", tmp_path / "a.wav")
    sf.write(chapter / "19-198-0000.flac", samples, 16000)
    sf.write(chapter / "19-198-0001.flac", samples, 16000)
    (chapter / "19-198.trans.txt").write_text("19-198-0000 AND THERE WAS LIGHT\n19-198-0001 AND THERE WAS LIGHT\n")
    out = tmp_path / "train.jsonl"
    assert import_librispeech(tmp_path / "LibriSpeech", out) == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[0]["text"] == "and there was light" and rows[0]["voice"] == "19"
    assert abs(rows[0]["duration"] - len(samples) / 16000) < 0.01

    cli = [sys.executable, "-m", "streamasr.cli.main", "data", "librispeech"]
    r = subprocess.run([*cli, str(tmp_path / "LibriSpeech"), "--out", str(tmp_path / "cli.jsonl")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "wrote 2 utterances" in r.stdout
    assert (tmp_path / "cli.jsonl").read_text() == out.read_text()
    r = subprocess.run([*cli, str(tmp_path / "nothing"), "--out", str(tmp_path / "x.jsonl")], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "no *.trans.txt with audio found" in r.stderr
