"""Real synthesized speech for tests."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from streamasr.audio import load_audio


# Held out of training and of the LM text (test-seen-voices of `data synth --seed 0`).
HELD_OUT_SENTENCES = [
    "and they sang together by course in praising and giving thanks unto the lord",
    "i gave ear to your reasons whilst ye searched out what to say",
    "go not up for the lord is not among you",
    "or whether we be sober it is for your cause",
]


def espeak(text: str, path: Path, voice: str = "en-us") -> np.ndarray:
    """Speak ``text`` with espeak-ng into ``path``; return 16 kHz samples."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (the README's set-up installs it)")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return load_audio(path)
