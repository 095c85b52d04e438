"""English spoken through other languages' diphone voices: new human speakers, with an accent.

Debian packages diphone voices of Italian (festvox-italp16k, -itapc16k) and Finnish (festvox-suopuhe-lj,
-mv) speakers: their recorded diphones, concatenated by festival's residual-excited LPC synthesizer.
Here flite (a training engine) makes the English: its phones, their durations (``-psdur``) and, from its
own audio, the pitch; each English phone becomes the nearest phone (or two) of the voice's language, and
festival renders those segments with the foreign voice (an utterance of type ``Segments``: no festival
front end, lexicon or prosody is used, and none of its English voices, which stay held out).
"""

from __future__ import annotations

import os
import subprocess
import tempfile

import numpy as np

from streamasr.data.convert import pitch_factor

FRONT_ENDS = ("kal16", "awb", "rms")  # flite's training voices, whose phones and timing the foreign voice speaks

# English (festival/flite radio phones) -> the nearest phones of each language; () drops the phone.
_COMMON = {p: (p,) for p in ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z")}
ITALIAN = {**_COMMON, "aa": ("a",), "ae": ("E",), "ah": ("a",), "ao": ("O",), "aw": ("a", "u"), "ax": ("e",),
           "axr": ("e", "r"), "ay": ("a", "i"), "ch": ("tS",), "dh": ("d",), "eh": ("E",), "er": ("e", "r"),
           "ey": ("e", "i"), "hh": (), "ih": ("i",), "iy": ("i",), "jh": ("dZ",), "ng": ("n", "g"), "ow": ("o", "u"),
           "oy": ("O", "i"), "sh": ("S",), "th": ("t",), "uh": ("u",), "uw": ("u",), "y": ("j",), "zh": ("Z",),
           "pau": ("#",)}
FINNISH = {**_COMMON, "aa": ("a",), "ae": ("@",), "ah": ("a",), "ao": ("o",), "aw": ("a", "u"), "ax": ("e",),
           "axr": ("e", "r"), "ay": ("a", "i"), "ch": ("t", "s"), "dh": ("d",), "eh": ("e",), "er": ("7", "r"),
           "ey": ("e", "i"), "hh": ("h",), "ih": ("i",), "iy": ("i:",), "jh": ("d", "s"), "ng": ("n", "g"),
           "ow": ("o", "u"), "oy": ("o", "i"), "sh": ("s",), "th": ("t",), "uh": ("u",), "uw": ("u:",),
           "w": ("v",), "y": ("j",), "z": ("s",), "zh": ("s",), "pau": ("#",)}
# (each voice's diphones were checked for every phone these tables give: the Finnish voices have no schwa,
# dh, z, zh or w, nor, for suo_fi_lj, sh; the Italian ones no velar nasal before a vowel)
# festival voice -> (its language's phones, the speaker's median pitch in Hz)
VOICES = {"lp_diphone": (ITALIAN, 210.0), "pc_diphone": (ITALIAN, 115.0),
          "suo_fi_lj_diphone": (FINNISH, 200.0), "hy_fi_mv_diphone": (FINNISH, 110.0)}


def parse_psdur(text: str) -> list[tuple[str, float]]:
    """flite's ``-psdur`` line -> (phone, end time in seconds) pairs.

    >>> parse_psdur("pau:0.220 ae:0.297 n:0.337 \\n")
    [('pau', 0.22), ('ae', 0.297), ('n', 0.337)]
    """
    return [(p, float(t)) for p, t in (tok.rsplit(":", 1) for tok in text.split())]


def segments(phones: list[tuple[str, float]], table: dict[str, tuple[str, ...]]) -> list[tuple[str, float, float]]:
    """English (phone, end) -> the language's (phone, start, end): a phone mapped to two splits its time, a
    dropped one gives its time to the next.

    >>> segments([("pau", 0.2), ("hh", 0.25), ("ay", 0.45)], ITALIAN)
    [('#', 0.0, 0.2), ('a', 0.2, 0.325), ('i', 0.325, 0.45)]
    """
    out, start = [], 0.0
    for phone, end in phones:
        mapped = table.get(phone)
        if mapped is None:
            raise ValueError(f"no mapping for flite's phone {phone!r}")
        if not mapped:
            continue  # start stays: the next phone takes this one's time
        step = (end - start) / len(mapped)
        for i, p in enumerate(mapped):
            out.append((p, round(start + i * step, 4), round(start + (i + 1) * step, 4)))
        start = end
    return out


def fill_gaps(hz: np.ndarray, default: float) -> np.ndarray:
    """Each unvoiced (NaN) value takes the nearest voiced one's, or ``default`` if none is voiced: festival's
    diphone synthesizer needs a pitch for every segment (it crashes on an utterance without one).

    >>> fill_gaps(np.array([np.nan, 100.0, np.nan, np.nan, 120.0]), 90.0).tolist()
    [100.0, 100.0, 100.0, 120.0, 120.0]
    >>> fill_gaps(np.array([np.nan, np.nan]), 90.0).tolist()
    [90.0, 90.0]
    """
    voiced = np.flatnonzero(np.isfinite(hz))
    if not len(voiced):
        return np.full(len(hz), default)
    nearest = voiced[np.abs(np.arange(len(hz))[:, None] - voiced[None, :]).argmin(1)]
    return hz[nearest]


def scheme(voice: str, segs: list[tuple[str, float, float]], f0: list[float | None], wav: str) -> str:
    """The festival script that renders ``segs`` (with a pitch target at each voiced one's middle) to ``wav``."""
    items = []
    for (p, start, end), hz in zip(segs, f0):
        dur = max(end - start, 0.005)
        target = f" ({dur / 2:.4f} {hz:.1f})" if hz else ""
        items.append(f"({p} {dur:.4f}{target})")
    return (f"(voice_{voice})\n(set! u (Utterance Segments ({' '.join(items)})))\n(utt.synth u)\n"
            f'(utt.save.wave u "{wav}")\n')


def speak_diphone(voice: str, front_end: str, text: str, rate: float, pitch: float, sample_rate: int) -> np.ndarray:
    """``text`` in ``voice`` (a key of VOICES), with flite voice ``front_end``'s phones and timing -> (S,) float32."""
    import parselmouth
    from parselmouth.praat import call

    from streamasr.audio import load_audio

    table, median = VOICES[voice]
    with tempfile.TemporaryDirectory() as tmp:
        english, out = os.path.join(tmp, "en.wav"), os.path.join(tmp, "out.wav")
        ps = subprocess.run(["flite", "-voice", front_end, "-psdur", "--setf", f"duration_stretch={1.0 / rate:.3f}",
                             "-t", text, "-o", english], check=True, capture_output=True, text=True, timeout=120)
        segs = segments(parse_psdur(ps.stdout), table)
        sound = parselmouth.Sound(english)
        track = sound.to_pitch()
        own = call(track, "Get quantile", 0, 0, 0.5, "Hertz")  # flite's median pitch (NaN: nothing voiced)
        own = own if np.isfinite(own) and own > 0 else median
        hz = np.array([call(track, "Get value at time", (a + b) / 2, "Hertz", "linear") for _, a, b in segs])
        hz[(hz > 1.7 * own) | (hz < own / 1.7)] = np.nan  # the tracker's octave jumps
        scale = median * pitch_factor(pitch) / own  # to the speaker's median, moved by the job's pitch draw
        f0 = [None if p == "#" else v for (p, _, _), v in zip(segs, scale * fill_gaps(hz, own))]
        script = os.path.join(tmp, "say.scm")
        with open(script, "w") as f:
            f.write(scheme(voice, segs, f0, out))
        subprocess.run(["festival", "-b", script], check=True, capture_output=True, timeout=120)
        return load_audio(out, sample_rate)
