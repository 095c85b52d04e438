"""Real synthesized speech for tests."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from streamasr.audio import load_audio


def espeak(text: str, path: Path, voice: str = "en-us") -> np.ndarray:
    """Speak ``text`` with espeak-ng into ``path``; return 16 kHz samples."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (the README's set-up installs it)")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True)
    return load_audio(path)
