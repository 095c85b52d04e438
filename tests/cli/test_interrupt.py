"""Ctrl-C (streamasr/cli/interrupt.py) on a file replayed at real time: the audio ends there, its last final
comes, exit 0. (A live pipe's Ctrl-C is in test_pipes.py, the microphone's in test_mic.py.)"""

import signal
import subprocess
import time

import numpy as np
import soundfile as sf

from speech import HELD_OUT_SENTENCES, conversation, espeak
from streamasr.metrics import error_rate
from test_pipes import CLI, read_events, rest_of


def interrupted(args: list[str], words: int) -> tuple[list[dict], float]:
    """Run ``transcribe ARGS --json --realtime``; Ctrl-C once a partial holds ``words`` words and a second more
    has been heard. -> every event, and how long after Ctrl-C the process was gone."""
    proc = subprocess.Popen([*CLI, "transcribe", *args, "--json", "--realtime", "--silence", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines, reader = read_events(proc)
    try:
        while (ev := lines.get(timeout=120))["type"] != "partial" or len(ev["text"].split()) < words:
            pass
        time.sleep(1.0)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
        took = time.monotonic() - t0
    finally:
        proc.kill()
    return rest_of(lines, reader), took


def test_ctrl_c_ends_a_realtime_replay_with_the_final_of_what_was_heard(tmp_path):
    """The sentence, then 20 s of silence: Ctrl-C after the words, long before the file's end."""
    x = espeak(HELD_OUT_SENTENCES[3], tmp_path / "s.wav")
    sf.write(tmp_path / "long.wav", np.concatenate([x, np.zeros(20 * 16000, np.float32)]), 16000)
    events, took = interrupted([str(tmp_path / "long.wav")], words=4)
    finals = [e for e in events if e["type"] == "final"]
    assert finals and error_rate([HELD_OUT_SENTENCES[3]], [" ".join(f["text"] for f in finals)]) <= 0.2, events
    assert took < 5 and finals[-1]["end_ms"] < 12000  # it stopped where Ctrl-C came, not at the file's end


def test_ctrl_c_ends_every_channel_of_a_split_replay(tmp_path):
    """--split-channels: each channel's open segment is closed with its final, in the order they began."""
    path = tmp_path / "call.wav"
    sf.write(path, conversation(tmp_path), 16000)
    events, _ = interrupted([str(path), "--split-channels"], words=5)  # channel 0's long turn, well under way
    finals = [e for e in events if e["type"] == "final"]
    assert {f["channel"] for f in finals} == {0, 1}
    assert [f["start_ms"] for f in finals] == sorted(f["start_ms"] for f in finals)
