"""The README's Python example, run as a user would paste it, on synthesized speech."""

import re
from pathlib import Path

import numpy as np
import soxr

from speech import HELD_OUT_SENTENCES, espeak
from streamasr.metrics import error_rate
from streamasr.protocol import encode_audio

README = Path(__file__).parent.parent / "README.md"
MAX_WER = 0.35  # test_end_to_end's bar for these sentences


def python_example() -> str:
    """The first ```python block after "From Python" in the README."""
    text = README.read_text()
    return re.search(r"^From Python.*?^```python\n(.*?)^```", text, re.S | re.M)[1]


def test_the_readme_python_example_runs_and_recognizes(tmp_path, capsys):
    first, second = (espeak(s, tmp_path / f"{i}.wav") for i, s in enumerate(HELD_OUT_SENTENCES[:2]))
    at_8k = soxr.resample(first, 16000, 8000)
    n = max(len(first), len(second))
    names = {
        "samples_float32_16k": first,
        "samples_int16_8k": np.frombuffer(encode_audio(at_8k, "pcm_s16le"), "<i2"),
        "payload": encode_audio(at_8k, "mulaw"),
        "samples_float32_16k_2ch": np.stack([np.pad(first, (0, n - len(first))),
                                             np.pad(second, (0, n - len(second)))], axis=1),  # (S, 2)
    }
    exec(compile(python_example(), str(README), "exec"), dict(names))
    lines = capsys.readouterr().out.splitlines()
    dicts = [line for line in lines if line.startswith("{")]
    assert dicts and "'type': 'final'" in dicts[-1]
    transcripts = [line for line in lines if not line.startswith("{") and line[:2] not in ("0 ", "1 ")]
    assert len(transcripts) == 3, lines  # 16 kHz floats, 8 kHz int16, 8 kHz mu-law bytes
    for hyp in transcripts:
        assert error_rate([HELD_OUT_SENTENCES[0]], [hyp]) <= MAX_WER, hyp
    by_channel = {c: " ".join(line[2:] for line in lines if line.startswith(f"{c} ")) for c in (0, 1)}
    for c in (0, 1):
        assert error_rate([HELD_OUT_SENTENCES[c]], [by_channel[c]]) <= MAX_WER, by_channel
