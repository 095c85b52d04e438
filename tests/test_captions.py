"""`--format srt` / `--format vtt`: the bundled model's finals on real synthesized speech, as subtitle files;
`--format settled`: their words, append-only."""

import json
import re
import subprocess
import sys

import numpy as np
import soundfile as sf

from speech import HELD_OUT_SENTENCES as SENTENCES, espeak
from streamasr.captions import MAX_CHARS

TIMES = re.compile(r"^(\d\d):(\d\d):(\d\d)([,.])(\d\d\d) --> (\d\d):(\d\d):(\d\d)\4(\d\d\d)$")


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "streamasr.cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def parse(text: str, numbered: bool) -> list[tuple[int, int, list[str]]]:
    """(start_ms, end_ms, lines) of each cue of a SubRip (numbered) or WebVTT body; fails on anything else.
    (tests/server/test_stream_cli.py reads a server's subtitles with it too.)"""
    out = []
    for n, block in enumerate(text.strip("\n").split("\n\n"), 1):
        rows = block.split("\n")
        if numbered:
            assert rows.pop(0) == str(n), block
        m = TIMES.match(rows[0])
        assert m and rows[1:], block
        g = [int(x) for x in m.groups() if x not in ",."]
        ms = lambda h, mi, s, f: ((h * 60 + mi) * 60 + s) * 1000 + f  # noqa: E731
        out.append((ms(*g[:4]), ms(*g[4:]), rows[1:]))
    return out


def test_subtitles_hold_the_finals_words_in_timed_cues(tmp_path):
    """Two utterances 1 s apart, the first two sentences long: two finals; their words, in order, fill cues
    of at most two 42-character lines that follow one another in time, SubRip and WebVTT alike."""
    a = espeak(f"{SENTENCES[0]} {SENTENCES[1]}", tmp_path / "a.wav")
    b = espeak(SENTENCES[2], tmp_path / "b.wav")
    sf.write(tmp_path / "two.wav", np.concatenate([a, np.zeros(16000, np.float32), b]), 16000)
    out = run_cli("transcribe", str(tmp_path / "two.wav"), "--json")
    assert out.returncode == 0, out.stderr
    finals = [e for e in map(json.loads, out.stdout.splitlines()) if e["type"] == "final" and e["text"]]
    assert len(finals) == 2

    srt = run_cli("transcribe", str(tmp_path / "two.wav"), "--format", "srt")
    vtt = run_cli("transcribe", str(tmp_path / "two.wav"), "--format", "vtt")
    assert srt.returncode == 0 and vtt.returncode == 0, srt.stderr + vtt.stderr
    assert vtt.stdout.startswith("WEBVTT\n\n")
    cues = parse(srt.stdout, numbered=True)
    assert parse(vtt.stdout[len("WEBVTT\n\n"):], numbered=False) == cues
    assert len(cues) >= 3  # the first final alone needs more than two 42-character lines
    assert " ".join(" ".join(lines) for _, _, lines in cues) == " ".join(f["text"] for f in finals)
    assert all(len(lines) <= 2 and all(0 < len(line) <= MAX_CHARS for line in lines) for _, _, lines in cues)
    assert all(start < end for start, end, _ in cues)
    assert all(a[1] <= b[0] for a, b in zip(cues, cues[1:]))
    assert cues[0][0] == finals[0]["words"][0]["start_ms"] and cues[-1][1] == finals[-1]["end_ms"]


def test_settled_format_writes_each_finals_words_once_a_final_to_a_line(tmp_path):
    """Two utterances 1 s apart: ``--format settled`` writes each segment's words as they settle and ends its
    line at the final, so its lines are the finals' texts."""
    a = espeak(SENTENCES[0], tmp_path / "a.wav")
    b = espeak(SENTENCES[3], tmp_path / "b.wav")
    sf.write(tmp_path / "two.wav", np.concatenate([a, np.zeros(16000, np.float32), b]), 16000)
    out = run_cli("transcribe", str(tmp_path / "two.wav"), "--json")
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    finals = [e["text"] for e in events if e["type"] == "final" and e["text"]]
    assert len(finals) == 2 and any(e["type"] == "partial" and e["stable_words"] for e in events)
    settled = run_cli("transcribe", str(tmp_path / "two.wav"), "--format", "settled")
    assert settled.returncode == 0, settled.stderr
    assert settled.stdout.splitlines() == finals
