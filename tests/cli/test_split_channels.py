"""`streamasr transcribe --split-channels`: a stereo call, each channel recognized on its own, real processes."""

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from speech import conversation
from test_pipes import transcribe


@pytest.fixture(scope="module")
def call(tmp_path_factory):
    """The stereo call as a 16-bit WAV file: (its path, its samples (S, 2) as the file holds them)."""
    path = tmp_path_factory.mktemp("call") / "call.wav"
    sf.write(path, conversation(path.parent), 16000, subtype="PCM_16")
    return path, sf.read(path, dtype="int16")[0]


def events(out: subprocess.CompletedProcess) -> list[dict]:
    assert out.returncode == 0, out.stderr.decode()
    return [json.loads(line) for line in out.stdout.decode().splitlines()]


def test_each_channel_is_recognized_as_a_file_of_its_own(bundled_rec, call):
    path, samples = call
    got = events(transcribe(str(path), "--split-channels", "--json"))
    assert {e["channel"] for e in got} == {0, 1}
    for c in range(2):
        s = bundled_rec.session()
        own = s.accept(samples[:, c].astype(np.float32) / 32768) + s.finish()
        assert [e for e in got if e["channel"] == c and e["type"] == "final"] == \
            [e.to_dict() | {"channel": c} for e in own if e.type == "final"]
    starts = [e["start_ms"] for e in got if e["type"] == "final"]
    assert starts == sorted(starts)


def test_text_marks_each_line_with_its_channel(call):
    out = transcribe(str(call[0]), "--split-channels")
    assert out.returncode == 0, out.stderr.decode()
    lines = out.stdout.decode().splitlines()
    assert [line[:5] for line in lines] == ["ch0: ", "ch1: ", "ch1: "], lines
    assert lines[1].startswith("ch1: go not up")


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_of_both_channels_are_written_in_the_order_of_their_starts(call, fmt):
    """Channel 0's long turn makes two cues, and channel 1's first turn starts between them."""
    out = transcribe(str(call[0]), "--split-channels", "--format", fmt)
    assert out.returncode == 0, out.stderr.decode()
    cues = [block.splitlines() for block in out.stdout.decode().split("\n\n") if "-->" in block]
    timing = [next(line for line in cue if "-->" in line) for cue in cues]
    starts = [t.split(" --> ")[0].replace(",", ".") for t in timing]
    assert starts == sorted(starts) and len(cues) >= 4
    speakers = [cue[cue.index(t) + 1][:4] for cue, t in zip(cues, timing)]
    assert speakers[:3] == ["ch0:", "ch1:", "ch0:"], speakers
    if fmt == "srt":
        assert [cue[0] for cue in cues] == [str(i) for i in range(1, len(cues) + 1)]
    assert all(len(line) <= 42 for cue in cues for line in cue)


def test_raw_stereo_from_a_pipe_gives_the_events_the_file_gives(call):
    path, samples = call
    piped = events(transcribe("-", "--channels", "2", "--split-channels", "--json", stdin=samples.tobytes()))
    assert piped == events(transcribe(str(path), "--split-channels", "--json"))


def test_settled_is_refused_with_split_channels(call):
    out = transcribe(str(call[0]), "--split-channels", "--format", "settled")
    assert out.returncode == 2 and b"--format settled" in out.stderr and not out.stdout


def test_a_dead_channel_is_warned_of_by_its_number_and_the_other_is_heard_as_before(call, tmp_path):
    """A call whose second channel holds only digital silence: one warning on stderr, naming that channel of
    the file (the loud channel beside it does not hide it); channel 0's finals as with both alive."""
    path, samples = call
    dead = samples.copy()
    dead[:, 1] = 0
    sf.write(tmp_path / "dead.wav", dead, 16000, subtype="PCM_16")
    out = transcribe(str(tmp_path / "dead.wav"), "--split-channels", "--json")
    got = events(out)
    said = [line for line in out.stderr.decode().splitlines() if "warning" in line]
    assert said == [f"streamasr: warning: channel 1 of {tmp_path / 'dead.wav'} has sent only digital silence "
                    "(every sample 0) for 3 s: it may be muted"], said
    assert [e["channel"] for e in got if e["type"] == "warning"] == [1]
    finals = [e for e in events(transcribe(str(path), "--split-channels", "--json")) if e["type"] == "final"]
    assert [e for e in got if e["type"] == "final" and e["channel"] == 0] == [e for e in finals if e["channel"] == 0]
