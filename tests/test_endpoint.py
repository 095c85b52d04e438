"""Endpoints on real speech: a quiet tail ends a segment sooner, whatever the pieces, and stands back in noise."""

import numpy as np
import pytest

from streamasr.endpoint import EndpointConfig
from streamasr.events import Final
from streamasr.recognizer import Recognizer

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
    # (the quiet chunks after a pause are skipped by the tail rule's levels: that part is kept out here)
    on = finals(feed(bundled_rec.session(fresh_after_pause=False), paused_speech, pieces))
    off = finals(feed(bundled_rec.session(endpoint=OFF, fresh_after_pause=False), paused_speech, pieces))
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


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_after_a_pause_the_next_segment_is_a_fresh_stream_from_its_first_sound(backend, bundled_rec, paused_speech):
    """The second sentence's segment starts at the chunk where its sound does, its encoder context empty:
    its final is that of a session of its own fed the audio from there (times shifted), which carrying
    the first sentence and the pause in the context would not give."""
    if backend != "torch":
        bundled_rec = Recognizer.from_pretrained(backend=backend)
    pieces = [RATE // 50] * (len(paused_speech) // (RATE // 50))
    first, second = [e for _, e in finals(feed(bundled_rec.session(), paused_speech, pieces))]
    assert second.start_ms > first.end_ms + 320 and second.start_ms % 320 == 0  # quiet chunks skipped
    start = second.start_ms * RATE // 1000
    (alone, *_) = [e for _, e in finals(feed(bundled_rec.session(), paused_speech[start:], pieces))]

    def shifted(final, ms):
        return final.text, [(w.word, w.start_ms + ms, w.end_ms + ms, w.conf) for w in final.words]

    assert shifted(second, 0) == shifted(alone, second.start_ms)
    carried = [e for _, e in finals(feed(bundled_rec.session(fresh_after_pause=False), paused_speech, pieces))]
    assert carried[1].start_ms <= first.end_ms + 320
    assert shifted(carried[1], 0) != shifted(alone, second.start_ms)


def test_a_long_pause_holds_no_growing_state(bundled_rec, paused_speech):
    """Skipped chunks are forgotten as they pass: a minute of silence leaves the session's levels and the
    final pass's features as short as a few seconds would."""
    s = bundled_rec.session(final_pass=True)
    s.accept(paused_speech)
    sizes = []
    for _ in range(60):
        s.accept(np.zeros(RATE, np.float32))
        sizes.append((len(s.levels), sum(len(f) for f in s.seg_feats)))
    assert max(sizes[-10:]) <= max(sizes[:5]) and max(n for n, _ in sizes) < 500
    assert s.frames_done * bundled_rec.frame_ms >= (len(paused_speech) / RATE + 59) * 1000


def test_silence_before_a_streams_first_sound_is_skipped(bundled_rec, paused_speech):
    """A stream that opens on a second of digital silence starts its first segment at the chunk whose frames
    first hear sound, and decodes from there as a session fed the audio from there; audio above
    ``start_quiet_db`` is heard from the first chunk."""
    x = np.concatenate([np.zeros(RATE, np.float32), paused_speech])
    late = [e for _, e in finals(feed(bundled_rec.session(), x, []))]
    start = late[0].start_ms
    assert 640 <= start <= 1000 and start % 320 == 0
    alone = [e for _, e in finals(feed(bundled_rec.session(), x[start * RATE // 1000 :], []))]
    assert [(f.text, f.start_ms, [(w.word, w.start_ms, w.conf) for w in f.words]) for f in late] == \
        [(f.text, f.start_ms + start, [(w.word, w.start_ms + start, w.conf) for w in f.words]) for f in alone]
    noise = (np.random.default_rng(3).standard_normal(RATE) * 3e-3).astype(np.float32)  # about -44 dB
    s = bundled_rec.session()
    s.accept(noise)
    assert s.frames_done > 0 and s.seg_start == 0  # encoded, not skipped
    s = bundled_rec.session()
    s.accept(np.zeros(RATE, np.float32))
    assert s.frames_done > 0 and s.seg_start == s.frames_done  # skipped
