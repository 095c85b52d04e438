"""The synthesizers' own word times, which benchmarks/word_times.py holds ours to."""

import numpy as np

from speech import HELD_OUT_SENTENCES
from streamasr.data.timed import RATE, espeak_timed, festival_timed


def loudness(audio: np.ndarray, start_ms: float, end_ms: float) -> float:
    piece = audio[int(start_ms * RATE / 1000) : int(end_ms * RATE / 1000)]
    return float(np.sqrt(np.mean(piece ** 2))) if len(piece) else 0.0


def check_spoken_in_order(audio, timed, text):
    assert [w.word if w else None for w in timed] == [w if t else None for w, t in zip(text.split(), timed)]
    words = [w for w in timed if w]  # espeak-ng runs some pairs together ("for the"): those are None
    assert len(words) >= 0.75 * len(timed)
    for a, b in zip(words, words[1:]):
        assert a.start_ms < a.end_ms <= b.start_ms
    assert words[-1].end_ms <= 1000 * len(audio) / RATE
    # the words are where the sound is: each is heard, and nothing after the last one is
    assert min(loudness(audio, w.start_ms, w.end_ms) for w in words) > 0.02
    assert loudness(audio, words[-1].end_ms + 30, 1e9) < 0.01


def test_espeak_times_each_word_where_it_is_spoken():
    text = HELD_OUT_SENTENCES[2]
    audio, words = espeak_timed(text, "en-us+m3")
    check_spoken_in_order(audio, words, text)


def test_espeak_words_run_together_are_left_untimed():
    audio, words = espeak_timed("spoil out of the city", "en-us")  # espeak-ng speaks "out of" under one event
    assert [w.word if w else None for w in words] == ["spoil", None, None, "the", "city"]


def test_festival_times_each_word_of_each_text():
    texts = HELD_OUT_SENTENCES[2:]
    spoken = festival_timed(texts, "kal_diphone")
    assert len(spoken) == 2
    for (audio, words), text in zip(spoken, texts):
        check_spoken_in_order(audio, words, text)


def test_festival_words_its_front_end_rewrote_are_left_untimed():
    [(audio, words)] = festival_timed(["in the year 1999 they came"], "kal_diphone")
    assert len(audio) > RATE and words == [None] * 6
