"""English voices of Debian's TTS engines, and speaking text with them."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from streamasr.audio import load_audio

ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                  "en-us-nyc", "en-029"]
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "klatt4", "adam", "Alex", "Andy", "Annie", "aunty", "belinda",
                   "benjamin", "boris", "caleb", "david", "ed", "edward", "Gene", "iven", "john", "linda",
                   "max", "Michael", "Mike", "norbert", "paul", "quincy", "rob", "robert", "steph", "travis",
                   "victor", "zac", "grandma", "grandpa"]
FLITE_VOICES = ["kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]

# Held out of training entirely: the festival engine, one espeak accent, some
# espeak variants, and one flite voice. They make up test-unseen-voices.
HELDOUT_ACCENTS = {"en-029"}
HELDOUT_VARIANTS = {"f5", "m7", "klatt4", "steph", "grandma", "travis"}
HELDOUT_FLITE = {"slt"}


@dataclass(frozen=True)
class Voice:
    engine: str  # "espeak-ng" | "flite" | "festival"
    name: str  # accent+variant for espeak-ng, voice name otherwise

    def __str__(self) -> str:
        return f"{self.engine}:{self.name}"


def all_voices() -> list[Voice]:
    voices = [Voice("espeak-ng", f"{a}+{v}") for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS]
    voices += [Voice("flite", v) for v in FLITE_VOICES]
    voices += [Voice("festival", v) for v in FESTIVAL_VOICES if festival_has(v)]
    return voices


def is_heldout(v: Voice) -> bool:
    if v.engine == "festival":
        return True
    if v.engine == "flite":
        return v.name in HELDOUT_FLITE
    accent, variant = v.name.split("+")
    return accent in HELDOUT_ACCENTS or variant in HELDOUT_VARIANTS


def festival_has(name: str) -> bool:
    return any(os.path.isdir(os.path.join("/usr/share/festival/voices", lang, name))
               for lang in ("english", "us"))


def speak(voice: Voice, text: str, rate: float, pitch: float, sample_rate: int = 16000) -> np.ndarray:
    """Speak ``text``; rate is a speed factor around 1.0, pitch a value in [0, 1]. -> (S,) float32."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "out.wav")
        if voice.engine == "espeak-ng":
            cmd = ["espeak-ng", "-v", voice.name, "-s", str(int(170 * rate)), "-p", str(int(20 + 60 * pitch)),
                   "-w", wav, text]
        elif voice.engine == "flite":
            cmd = ["flite", "-voice", voice.name, "--setf", f"duration_stretch={1.0 / rate:.3f}",
                   "--setf", f"int_f0_target_mean={int(90 + 100 * pitch)}", "-t", text, "-o", wav]
        elif voice.engine == "festival":
            txt = os.path.join(tmp, "in.txt")
            with open(txt, "w") as f:
                f.write(text)
            cmd = ["text2wave", "-eval", f"(voice_{voice.name})",
                   "-eval", f"(Parameter.set 'Duration_Stretch {1.0 / rate:.3f})", txt, "-o", wav]
        else:
            raise ValueError(f"unknown engine {voice.engine}")
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)
        return load_audio(wav, sample_rate)
