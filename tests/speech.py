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


def conversation(folder: Path) -> np.ndarray:
    """A call recorded in stereo, (S, 2) float32 at 16 kHz. Channel 0 speaks two sentences as one long turn
    from the start. Channel 1 says a short sentence from 1 s in, whose end (and final) comes seconds before
    channel 0's, then cuts in with another from 5.5 s, which ends after channel 0's turn; 1 s of silence after."""
    long_turn = espeak(" ".join(HELD_OUT_SENTENCES[:2]), folder / "turn0.wav")
    short = espeak(HELD_OUT_SENTENCES[2], folder / "turn1.wav", voice="en-gb-x-rp")
    reply = espeak(HELD_OUT_SENTENCES[3], folder / "turn2.wav", voice="en-gb-x-rp")
    rate = 16000
    x = np.zeros((max(len(long_turn), int(5.5 * rate) + len(reply)) + rate, 2), np.float32)
    x[: len(long_turn), 0] = long_turn
    x[rate : rate + len(short), 1] = short
    x[int(5.5 * rate) : int(5.5 * rate) + len(reply), 1] = reply
    return x
