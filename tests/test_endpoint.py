"""Endpoints on real speech: a quiet tail ends a segment sooner, whatever the pieces, and stands back in noise."""

import numpy as np

from streamasr.endpoint import EndpointConfig
from streamasr.events import Final

RATE = 16000
OFF = EndpointConfig(tail_floor_db=0.0)  # the same rules without the quiet tail


def feed(session, samples, sizes):
    """[(samples fed when it came out, event)] for pieces of the given sizes, then the rest, then finish()."""
    out, pos = [], 0
    for n in list(sizes) + [len(samples)]:
        piece = samples[pos : pos + n]
        pos += len(piece)
        out += [(pos, e) for e in session.accept(piece)]
    return out + [(pos, e) for e in session.finish()]


def finals(fed):
    return [(pos, e) for pos, e in fed if isinstance(e, Final) and e.text]


def test_a_quiet_tail_brings_the_final_sooner_with_the_same_text(bundled_rec, paused_speech):
    pieces = [RATE // 50] * (len(paused_speech) // (RATE // 50))  # 20 ms, as a real-time client sends
    on = finals(feed(bundled_rec.session(), paused_speech, pieces))
    off = finals(feed(bundled_rec.session(endpoint=OFF), paused_speech, pieces))
    assert len(on) == len(off) == 2
    assert [e.text for _, e in on] == [e.text for _, e in off]
    # the first sentence's final no longer waits for the chunk that covers the pause
    assert on[0][0] <= off[0][0] - RATE // 10
    assert on[0][1].end_ms <= off[0][1].end_ms


def test_events_do_not_depend_on_how_the_audio_is_split(bundled_rec, paused_speech):
    rng = np.random.default_rng(0)
    whole = feed(bundled_rec.session(), paused_speech, [])
    for sizes in ([RATE // 50] * 800, rng.integers(1, 3000, 200).tolist()):
        assert [e for _, e in feed(bundled_rec.session(), paused_speech, sizes)] == [e for _, e in whole]


def test_in_loud_noise_the_tail_stands_back(bundled_rec, paused_speech):
    """At 5 dB SNR no block is quiet against the floor: the CTC rule alone decides, as without the tail."""
    noise = np.random.default_rng(1).standard_normal(len(paused_speech)).astype(np.float32)
    speech_rms = np.sqrt(np.mean(paused_speech[np.abs(paused_speech) > 1e-3] ** 2))
    noisy = paused_speech + noise * speech_rms / 10 ** (5 / 20)
    pieces = [RATE // 50] * (len(paused_speech) // (RATE // 50))
    assert feed(bundled_rec.session(), noisy, pieces) == feed(bundled_rec.session(endpoint=OFF), noisy, pieces)


def test_the_loud_hold_keeps_a_sentence_whole_but_lets_its_last_word_fade(bundled_rec):
    """Festival pauses inside a sentence long enough to end it on the blanks alone; the hold keeps it whole.
    Its words fade out far below the loudest block over near-digital silence: that fade is pause, not speech."""
    from streamasr.data.voices import Voice, speak

    texts = ["go not up for the lord is not among you", "or whether we be sober it is for your cause"]
    voice, gap = Voice("festival", "kal_diphone"), np.zeros(RATE, np.float32)
    x = np.concatenate([y for t in texts for y in (speak(voice, t, 1.0, 1.0), gap)])
    pieces = [RATE // 50] * (len(x) // (RATE // 50))
    default = finals(feed(bundled_rec.session(), x, pieces))
    no_hold = finals(feed(bundled_rec.session(endpoint=EndpointConfig(hold_while_loud=False)), x, pieces))
    no_range = finals(feed(bundled_rec.session(endpoint=EndpointConfig(loud_range_db=500.0)), x, pieces))
    assert len(default) == len(no_range) == 2 and len(no_hold) > 2
    assert [e.text for _, e in default] == [e.text for _, e in no_range]
    # without the range bar the fade holds each final back (by 160 ms here)
    assert all(d <= r - RATE // 20 for (d, _), (r, _) in zip(default, no_range))
