"""Speech with the synthesizer's own word times: the reference ``benchmarks/word_times.py`` holds ours to.

A TTS engine knows where each word it speaks lies in its audio. espeak-ng says so through its library's
synthesis events (a word event where each word begins, a phoneme event at each phoneme's start; read here
with ctypes); festival keeps every word's segments with their times in the utterance it builds (read with
a Scheme script). A word runs from the start of its first phoneme to where the next word's event comes
(espeak-ng) or to the end of its last segment (festival), and a pause before the next word is not part of
it. These are each engine's own segmentation, not a phonetician's: a stop's closure, for one, may fall on
either side of a boundary.

    audio, words = espeak_timed("in the beginning", "en-us+john")   # (S,) float32 at 16 kHz
    words[0]  # TimedWord(word='in', start_ms=..., end_ms=...), or None where the engine ran it into the next
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import tempfile
from dataclasses import dataclass

import numpy as np

from streamasr.audio import load_whole, resample

RATE = 16000  # what the timed audio comes back at


@dataclass(frozen=True)
class TimedWord:
    word: str
    start_ms: float  # where the engine starts speaking it
    end_ms: float  # where it stops (before any pause that follows)


class _Event(ctypes.Structure):  # espeak_EVENT of speak_lib.h
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_WORD, _PHONEME = 1, 7  # espeakEVENT_WORD, espeakEVENT_PHONEME
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


class _Espeak:
    """libespeak-ng in this process, synthesizing into memory with word and phoneme events."""

    def __init__(self):
        self.lib = ctypes.CDLL("libespeak-ng.so.1")
        # AUDIO_OUTPUT_SYNCHRONOUS (2); espeakINITIALIZE_PHONEME_EVENTS | espeakINITIALIZE_DONT_EXIT
        self.rate = self.lib.espeak_Initialize(2, 0, None, 0x8001)
        if self.rate <= 0:
            raise RuntimeError("libespeak-ng did not initialize")
        self.chunks: list[np.ndarray] = []
        self.events: list[tuple[int, int, int, bytes]] = []  # (type, text position, ms, phoneme name)
        self.callback = _CALLBACK(self._collect)  # kept: the library holds a pointer to it
        self.lib.espeak_SetSynthCallback(self.callback)

    def _collect(self, wav, n, events) -> int:
        if n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())  # (n,) int16
        i = 0
        while events[i].type != 0:  # espeakEVENT_LIST_TERMINATED
            e = events[i]
            self.events.append((e.type, e.text_position, e.audio_position, bytes(e.id).split(b"\0")[0]))
            i += 1
        return 0

    def synth(self, text: str, voice: str) -> tuple[np.ndarray, list[tuple[int, int, int, bytes]]]:
        self.chunks, self.events = [], []
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        data = text.encode()
        if self.lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, 0, None, None) != 0:  # POS_CHARACTER from 0
            raise RuntimeError(f"espeak-ng could not speak {text!r}")
        audio = np.concatenate(self.chunks).astype(np.float32) / 32768.0 if self.chunks else np.zeros(0, np.float32)
        return audio, self.events


_espeak: _Espeak | None = None


def espeak_word_times(text: str, events: list[tuple[int, int, int, bytes]]) -> list[TimedWord | None]:
    """Each word of ``text`` (split on spaces) timed from espeak-ng's events: (type, 1-based character
    position, ms, phoneme name). A word without an event of its own (espeak-ng speaks "out of" as one) is
    None, and so is the word it was run into.

    >>> ev = [(1, 1, 0, b""), (7, 1, 10, b"I"), (7, 1, 60, b"n"), (1, 4, 100, b""), (7, 4, 110, b"D"),
    ...       (7, 4, 150, b"@"), (7, 6, 200, b"_:")]
    >>> espeak_word_times("in the", ev)
    [TimedWord(word='in', start_ms=10, end_ms=100), TimedWord(word='the', start_ms=110, end_ms=200)]
    """
    words = text.split()
    at, pos = {}, 1
    for i, w in enumerate(words):  # the 1-based character position where each word starts
        pos = text.index(w, pos - 1) + 1
        at[pos] = i
        pos += len(w)
    spans: list[list] = []  # [word index, start, end] in event order
    for kind, p, ms, name in events:
        if kind == _WORD:
            if spans and spans[-1][2] is None:
                spans[-1][2] = ms  # the word before ends where this one's event comes
            spans.append([at.get(p), None, None])
        elif kind == _PHONEME and spans:
            if name.startswith(b"_"):  # a pause: the word before it has ended
                if spans[-1][1] is not None and spans[-1][2] is None:
                    spans[-1][2] = ms
            elif spans[-1][1] is None:
                spans[-1][1] = ms  # the word's first phoneme
    out: list[TimedWord | None] = [None] * len(words)
    for k, (i, start, end) in enumerate(spans):
        run_on = k + 1 < len(spans) and spans[k + 1][0] is None
        if i is not None and start is not None and end is not None and not run_on:
            out[i] = TimedWord(words[i], start, end)
    named = [s[0] for s in spans if s[0] is not None]
    for i in range(len(words)):
        if i not in named and i > 0:
            out[i - 1] = None  # spoken with the word before, under its event
    return out


def espeak_timed(text: str, voice: str) -> tuple[np.ndarray, list[TimedWord | None]]:
    """``text`` spoken by espeak-ng's ``voice`` ("en-us+john"): (S,) float32 at 16 kHz, and each word's times."""
    global _espeak
    if _espeak is None:
        _espeak = _Espeak()
    audio, events = _espeak.synth(text, voice)
    return resample(audio, _espeak.rate, RATE), espeak_word_times(text, events)


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival_timed(texts: list[str], voice: str) -> list[tuple[np.ndarray, list[TimedWord | None]]]:
    """Each of ``texts`` spoken by festival's ``voice`` ("kal_diphone"), in one festival process: (S,)
    float32 at 16 kHz and each word's times, from its first segment's start to its last one's end."""
    with tempfile.TemporaryDirectory(prefix="streamasr-festival-") as tmp:
        lines = [f"(voice_{voice})"]
        for i, text in enumerate(texts):
            lines.append(f"(set! utt (utt.synth (Utterance Text {_scheme_string(text)})))")
            lines.append(f'(utt.save.wave utt "{tmp}/{i}.wav" \'riff)')
            lines.append(f'(set! fd (fopen "{tmp}/{i}.txt" "w"))')
            lines.append("(mapcar (lambda (w) (format fd \"%s %f %f\\n\" (item.name w)"
                         ' (item.feat w "R:SylStructure.daughter1.daughter1.segment_start")'
                         ' (item.feat w "R:SylStructure.daughtern.daughtern.segment_end")))'
                         " (utt.relation.items utt 'Word))")
            lines.append("(fclose fd)")
        script = os.path.join(tmp, "run.scm")
        with open(script, "w") as f:
            f.write("\n".join(lines) + "\n")
        subprocess.run(["festival", "-b", script], check=True, capture_output=True, timeout=60 + 5 * len(texts))
        out = []
        for i, text in enumerate(texts):
            with open(os.path.join(tmp, f"{i}.txt")) as f:
                rows = [line.split() for line in f if line.strip()]
            said = [r[0] for r in rows]
            timed = [TimedWord(w, 1000 * float(s), 1000 * float(e)) for w, s, e in rows]
            # festival's words are the text's unless its front end rewrote some (numbers, abbreviations)
            out.append((load_whole(os.path.join(tmp, f"{i}.wav"), RATE),
                        timed if said == text.split() else [None] * len(text.split())))
        return out
