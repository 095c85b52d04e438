import dataclasses

import numpy as np
import pytest

from streamasr.endpoint import EndpointConfig
from streamasr.events import Final, Partial
from streamasr.protocol import encode_audio
from streamasr.recognizer import Recognizer


@pytest.fixture(scope="module")
def rec(tiny_model_dir):
    return Recognizer.from_pretrained(tiny_model_dir, lm=None)


def run(session, samples, sizes):
    events, pos = [], 0
    for n in sizes:
        events += session.accept(samples[pos : pos + n])
        pos += n
    events += session.accept(samples[pos:])
    return events + session.finish()


def test_any_split_of_the_audio_gives_the_same_events(rec):
    rng = np.random.default_rng(0)
    samples = (rng.standard_normal(16000 * 4) * 0.1).astype(np.float32)
    whole = run(rec.session(chunk_ms=160), samples, [])
    sizes = rng.integers(1, 4000, 40).tolist()
    pieces = run(rec.session(chunk_ms=160), samples, sizes)
    assert pieces == whole
    assert isinstance(whole[-1], Final)


def test_any_split_of_paused_speech_gives_the_same_events_with_the_bundled_model(bundled_rec, paused_speech):
    """The same on two spoken sentences with a pause after each, through the bundled model, its LM and the
    endpoint rules: every partial, final and word time, whatever the pieces."""
    rng = np.random.default_rng(1)
    whole = run(bundled_rec.session(), paused_speech, [])
    pieces = run(bundled_rec.session(), paused_speech, rng.integers(1, 6000, 60).tolist())
    assert pieces == whole
    finals = [e for e in whole if isinstance(e, Final)]
    assert len(finals) >= 2 and all(f.words for f in finals[:2])  # both sentences heard, each its own final


@pytest.fixture(scope="module")
def whispered_speech(tmp_path_factory):
    """Four held-out sentences whispered (espeak-ng's en-us+whisper), each followed by a second of silence: a
    voice the model is unsure of, whose partials change words before their last."""
    from speech import HELD_OUT_SENTENCES, espeak

    folder = tmp_path_factory.mktemp("whispered")
    gap = np.zeros(16000, np.float32)
    return np.concatenate([x for i, t in enumerate(HELD_OUT_SENTENCES) for x in
                           (espeak(t, folder / f"{i}.wav", "en-us+whisper"), gap)])


@pytest.mark.parametrize("kwargs", [{}, {"search": "greedy"}, {"hotwords": ["the lord", "sober"]}])
def test_a_partials_stable_words_are_in_its_segments_final(bundled_rec, whispered_speech, kwargs):
    """Each partial's first ``stable_words`` words are the first words of its segment's final, whatever came
    after it, where the beam search's partials do change words before their last; the count only grows within
    a segment, and comes well before the final. With the final pass the final is decoded anew, and no partial
    claims any."""
    events = bundled_rec.session(chunk_ms=160, **kwargs).accept(whispered_speech)
    segments, partials = [], []
    for e in events:
        if isinstance(e, Partial):
            partials.append(e)
        elif isinstance(e, Final):
            segments.append((partials, e.text.split()))
            partials = []
    assert len(segments) >= 4
    revised = 0  # partials whose words before their last are not the final's
    for partials, final in segments:
        counts = [p.stable_words for p in partials]
        assert counts == sorted(counts) and max(counts) >= len(final) // 2, (counts, final)
        for p in partials:
            words = p.text.split()
            assert words[: p.stable_words] == final[: p.stable_words], (p, final)
            revised += words[:-1] != final[: len(words) - 1]
    assert revised >= (0 if kwargs.get("search") == "greedy" else 1), revised
    assert not any(e.stable_words for e in bundled_rec.session(chunk_ms=160, final_pass=True, **kwargs
                                                               ).accept(whispered_speech) if isinstance(e, Partial))


def test_the_tail_rule_levels_do_not_depend_on_the_split(rec):
    rng = np.random.default_rng(1)
    samples = (rng.standard_normal(16000) * 0.1).astype(np.float32)
    whole, pieces = rec.session(chunk_ms=160), rec.session(chunk_ms=160)
    whole.feed(samples)
    pos = 0
    for n in [1, 159, 161, 7, 320, 2000]:
        pieces.feed(samples[pos : pos + n])
        pos += n
    pieces.feed(samples[pos:])
    assert len(whole.levels) == 100
    assert np.array_equal(whole.levels, pieces.levels)


def test_a_chunk_is_encoded_as_soon_as_its_last_sample_arrives(rec):
    """Features are computed once per chunk, not per piece received; that must not hold a chunk back."""
    from streamasr.features import num_frames

    samples = (np.random.default_rng(2).standard_normal(16000 * 2) * 0.1).astype(np.float32)
    s, chunk, cfg = rec.session(chunk_ms=160), 4, rec.model.feature_cfg
    win, hop = rec.encoder.chunk_window(chunk)  # feature frames per chunk window, and per step
    for end in range(160, len(samples) + 1, 160):  # 10 ms pieces
        s.accept(samples[end - 160 : end])
        frames = num_frames(end, cfg)
        ready = (frames - win) // hop + 1 if frames >= win else 0  # whole windows received so far
        assert s.frames_done == ready * chunk, end


def test_session_log_probs_equal_full_forward_under_the_chunk_mask(rec):
    """The whole path, features to encoder, streamed vs offline."""
    import torch

    rng = np.random.default_rng(1)
    samples = (rng.standard_normal(16000 * 3) * 0.1).astype(np.float32)
    s = rec.session(chunk_ms=160, left_chunks=2)
    outs = []
    orig = rec.model.encoder.forward_chunk

    def spy(x, state):
        y, st = orig(x, state)
        outs.append(y)
        return y, st

    rec.model.encoder.forward_chunk = spy
    try:
        run(s, samples, rng.integers(100, 3000, 30).tolist())
    finally:
        rec.model.encoder.forward_chunk = orig
    feats = rec.model.normalize(rec.features.logmel(torch.from_numpy(samples)))[None]  # (1, T, F)
    with torch.no_grad():
        full, _ = rec.model(feats, torch.tensor([feats.shape[1]]), chunk=4, left_chunks=2)
    streamed = torch.cat(outs, dim=1)
    assert streamed.shape == full.shape
    assert (streamed - full).abs().max() <= 1e-4


def test_partials_come_with_growing_audio_time(rec):
    rng = np.random.default_rng(2)
    samples = (rng.standard_normal(16000 * 3) * 0.3).astype(np.float32)
    events = run(rec.session(chunk_ms=80), samples, [1600] * 29)
    times = [e.audio_ms for e in events if isinstance(e, Partial)]
    assert times == sorted(times)


def test_endpoint_splits_a_long_stream_into_segments(rec):
    samples = (np.random.default_rng(3).standard_normal(16000 * 10) * 0.01).astype(np.float32)  # not quiet
    ep = EndpointConfig(max_utterance_s=2.0, blank_threshold=2.0, speech_posterior=0.0)  # every frame counts as speech
    events = run(rec.session(chunk_ms=320, endpoint=ep), samples, [1600] * 99)
    finals = [e for e in events if isinstance(e, Final)]
    assert len(finals) >= 5
    assert [f.segment for f in finals] == list(range(len(finals)))
    for a, b in zip(finals, finals[1:]):
        assert a.end_ms == b.start_ms


def test_empty_audio_gives_one_empty_final(rec):
    s = rec.session()
    assert s.accept(np.zeros(0, dtype=np.float32)) == []
    events = s.finish()
    assert len(events) == 1 and events[0].text == "" and events[0].words == ()
    assert s.finish() == []


@pytest.mark.parametrize("bad,message", [
    (np.array([0.0, np.nan], dtype=np.float32), "NaN"),
    (np.zeros((10, 2), dtype=np.float32), "mono"),
])
def test_bad_samples_are_refused_clearly(rec, bad, message):
    with pytest.raises(ValueError, match=message):
        rec.session().accept(bad)


def test_int16_and_int32_pcm_are_read_at_their_full_scale(bundled_rec, paused_speech):
    """PCM arrays as a sound card or WAV reader gives them recognize as their float samples do; taken as floats
    they would clip at every sample and read as noise."""
    pcm16 = np.frombuffer(encode_audio(paused_speech, "pcm_s16le"), "<i2")  # (S,) as 16-bit PCM holds them
    as_float = pcm16.astype(np.float32) / 32768
    expected = run(bundled_rec.session(), as_float, [])
    assert [e for e in expected if isinstance(e, Final) and e.words]  # speech was heard
    assert run(bundled_rec.session(), pcm16, [3000]) == expected
    assert run(bundled_rec.session(), pcm16.astype(np.int32) << 16, [3000]) == expected


@pytest.mark.parametrize("rate", [8000, 44100])
def test_samples_at_their_own_rate_give_what_they_give_resampled_first(bundled_rec, paused_speech, rate):
    """``sample_rate``: a session resamples what it is given as a stream, so 8 kHz (or 44.1 kHz) samples in any
    pieces give the events of the same samples resampled whole to 16 kHz first (as a file is read: soxr)."""
    import soxr

    own = soxr.resample(paused_speech, 16000, rate)  # the speech as a source at that rate holds it
    expected = run(bundled_rec.session(), soxr.resample(own, rate, 16000), [])
    assert [e for e in expected if isinstance(e, Final) and e.words]
    sizes = np.random.default_rng(2).integers(1, rate // 2, 30).tolist()
    assert run(bundled_rec.session(sample_rate=rate), own, sizes) == expected
    assert run(bundled_rec.session(sample_rate=np.int64(rate)), own, []) == expected  # as numpy gives a rate
    assert run(bundled_rec.session(sample_rate=16000), paused_speech, sizes) == run(bundled_rec.session(),
                                                                                       paused_speech, [])


@pytest.mark.parametrize("rate", [0, 999, 192001, 8000.0, "8000", True])
def test_a_sample_rate_out_of_range_is_refused(rec, rate):
    with pytest.raises(ValueError, match="sample_rate must be a whole number of Hz in 1000..192000"):
        rec.session(sample_rate=rate)


@pytest.mark.parametrize("bad", [np.array([1, 2, 3]), np.array([1, 2], np.uint8), np.array([True, False])])
def test_integers_of_no_pcm_width_are_refused(rec, bad):
    with pytest.raises(ValueError, match=f"{bad.dtype} samples: pass floats in \\[-1, 1\\], or int16 or int32 PCM"):
        rec.session().accept(bad)


def test_bytes_are_refused_with_the_way_to_decode_them(rec):
    with pytest.raises(ValueError, match="bytes, not samples: decode them"):
        rec.session().accept(b"\x00\x01" * 800)


def test_clipping_is_tolerated(rec):
    s = rec.session()
    s.accept(np.full(16000, 5.0, dtype=np.float32))
    assert isinstance(s.finish()[-1], Final)


@pytest.mark.parametrize("kwargs", [{"chunk_ms": 100}, {"chunk_ms": -40}, {"search": "magic"}, {"alternatives": -1}])
def test_bad_session_settings_are_refused(rec, kwargs):
    with pytest.raises(ValueError):
        rec.session(**kwargs)


def test_offline_mode_gives_only_a_final(rec):
    samples = (np.random.default_rng(3).standard_normal(16000 * 2) * 0.1).astype(np.float32)
    events = run(rec.session(chunk_ms=0), samples, [5000, 5000])
    assert len(events) == 1 and isinstance(events[0], Final)


def test_chunk_ready_tells_whether_a_window_is_pending(rec):
    """The server decides from ``chunk_ready`` (which computes nothing) whether a frame needs a worker."""
    rng = np.random.default_rng(3)
    samples = (rng.standard_normal(16000 * 3) * 0.1).astype(np.float32)
    s, pos, seen = rec.session(chunk_ms=160), 0, set()
    for n in rng.integers(1, 2500, 60).tolist():
        s.feed(samples[pos : pos + n])
        pos += n
        ready = s.chunk_ready()
        assert ready == (s.pending_window() is not None)
        seen.add(ready)
        s.encode_pending()
        assert not s.chunk_ready()
    assert seen == {True, False}


def _greedy(rec, samples, first: int = 0, n: int | None = None, chunk: int = 0, left_chunks: int = -1):
    """Greedy hypothesis of encoder frames ``first`` .. ``first + n`` (all by default) of ``samples``,
    encoded alone by the model's forward under a chunk mask (``chunk`` 0: full context)."""
    import torch

    from streamasr.recognizer import SUBSAMPLING

    feats = rec.model.normalize(rec.features.logmel(torch.from_numpy(samples)))  # (T, F)
    if n is not None:
        feats = feats[SUBSAMPLING * first : SUBSAMPLING * (first + n) + 3]  # (4n+3, F): exactly n frames
    with torch.no_grad():
        logp, _ = rec.model(feats[None], torch.tensor([feats.shape[0]]), chunk, left_chunks)  # (1, n, V)
    dec = rec.session(search="greedy").decoder
    return dec.finalize(dec.step(logp[0].numpy(), dec.init_state())), logp.shape[1]


def _segment_decode(rec, samples, final):
    """What whole-utterance decoding of ``final``'s segment gives: its features, encoded at full context."""
    frame = int(rec.frame_ms)
    hyp, _ = _greedy(rec, samples, final.start_ms // frame, (final.end_ms - final.start_ms) // frame)
    return hyp.text


def test_final_pass_gives_each_segment_its_full_context_decoding(rec):
    """Finals of a 160 ms stream with the final pass equal whole-utterance decoding of each segment;
    partials are those of the plain stream."""
    samples = (np.random.default_rng(4).standard_normal(16000 * 7) * 0.3).astype(np.float32)
    ep = EndpointConfig(max_utterance_s=2.0, blank_threshold=2.0, speech_posterior=0.0)  # all speech: cut every 2 s
    sizes = np.random.default_rng(5).integers(100, 5000, 30).tolist()
    two_pass = run(rec.session(chunk_ms=160, search="greedy", endpoint=ep, final_pass=True), samples, sizes)
    plain = run(rec.session(chunk_ms=160, search="greedy", endpoint=ep), samples, sizes)
    assert [e for e in two_pass if isinstance(e, Partial)] == [e for e in plain if isinstance(e, Partial)]
    finals = [e for e in two_pass if isinstance(e, Final)]
    assert len(finals) == 4 and [f.start_ms for f in finals] == [f.start_ms for f in plain if isinstance(f, Final)]
    assert [f.text for f in finals] == [_segment_decode(rec, samples, f) for f in finals]
    assert [f.text for f in finals] != [f.text for f in plain if isinstance(f, Final)]  # the pass changed them
    for f in finals:
        assert all(f.start_ms <= w.start_ms <= w.end_ms <= f.end_ms for w in f.words)


def test_final_pass_of_one_segment_equals_offline_decoding(rec):
    samples = (np.random.default_rng(6).standard_normal(16000 * 3) * 0.3).astype(np.float32)
    ep = EndpointConfig(blank_threshold=2.0, speech_posterior=0.0)
    (offline,) = run(rec.session(chunk_ms=0, search="greedy", endpoint=ep), samples, [])
    *_, final = run(rec.session(chunk_ms=320, search="greedy", endpoint=ep, final_pass=True), samples, [777] * 50)
    assert final == offline


def test_final_pass_takes_a_long_segment_in_chunks_that_see_the_one_before(rec, monkeypatch):
    """Beyond FINAL_PASS_CHUNK_S the pass is the chunk-masked forward with that chunk and one chunk of left
    context, so its cost stays linear in the segment."""
    import streamasr.recognizer as recognizer

    monkeypatch.setattr(recognizer, "FINAL_PASS_CHUNK_S", 1.0)  # 25 encoder frames
    samples = (np.random.default_rng(8).standard_normal(16000 * 5) * 0.3).astype(np.float32)
    ep = EndpointConfig(blank_threshold=2.0, speech_posterior=0.0)
    *_, final = run(rec.session(chunk_ms=320, search="greedy", endpoint=ep, final_pass=True), samples, [4000] * 19)
    chunked, frames = _greedy(rec, samples, chunk=25, left_chunks=1)
    assert final.end_ms == frames * 40
    assert final.text == chunked.text and final.text
    # the same posteriors by two routes (the session's encoder step, the masked forward): equal but for rounding
    assert [w.conf for w in final.words] == pytest.approx([w.conf for w in chunked.words], abs=2e-3)
    unchunked, _ = _greedy(rec, samples)  # full context
    assert final.text != unchunked.text  # the chunking shows


def test_finals_carry_ranked_alternatives_when_asked(bundled_rec, tmp_path):
    """Real speech, the bundled model and LM: the first alternative is the final itself, the rest other texts the
    beam holds at the endpoint, ranked; asking changes nothing else, and a session that does not ask gets none."""
    from speech import espeak

    samples = espeak("and the pharisees also who were covetous heard all these things", tmp_path / "a.wav")
    plain = run(bundled_rec.session(), samples, [4000] * 5)
    asked = run(bundled_rec.session(alternatives=4), samples, [4000] * 5)
    finals = [e for e in asked if isinstance(e, Final)]
    assert [e for e in asked if isinstance(e, Partial)] == [e for e in plain if isinstance(e, Partial)]
    assert [dataclasses.replace(f, alternatives=()) for f in finals] == [e for e in plain if isinstance(e, Final)]
    for f in finals:
        assert f.alternatives[0].text == f.text and f.alternatives[0].words == f.words
        assert 2 <= len(f.alternatives) <= 4  # what the pruned beam still holds: a sure model keeps few rivals
        assert len({a.text for a in f.alternatives}) == len(f.alternatives)
        assert [a.score for a in f.alternatives] == sorted((a.score for a in f.alternatives), reverse=True)
        assert f.to_dict()["alternatives"][1]["text"] == f.alternatives[1].text
    assert all("alternatives" not in e.to_dict() for e in plain if isinstance(e, Final))


@pytest.mark.parametrize("sentence, term", [("then came margaret and she sat by the river", "margaret"),
                                            ("and they went unto london in the morning", "london"),
                                            ("and the prophet spake of the telephone unto the people", "telephone")])
def test_a_hotword_the_lm_has_never_seen_is_found(bundled_rec, tmp_path, sentence, term):
    """Real speech, the bundled model and LM: a name outside the LM's vocabulary is spelled as known words
    without hotwords, and found with it as the stream's hotword (and with it among others not said)."""
    from speech import espeak
    from streamasr.events import transcript

    assert term not in bundled_rec.lm.unigrams
    samples = espeak(sentence, tmp_path / "s.wav")
    texts = {hw: transcript(run(bundled_rec.session(hotwords=hw), samples, [6400] * 20))
             for hw in ((), (term,), ("paris", term, "oxford", "victoria"))}
    assert term not in texts[()].split(), texts
    assert term in texts[(term,)].split() and term in texts[("paris", term, "oxford", "victoria")].split(), texts
    assert not {"paris", "oxford", "victoria"} & set(texts[("paris", term, "oxford", "victoria")].split()), texts


def test_a_sessions_hotword_weight_is_its_own(bundled_rec, tmp_path):
    """Real speech, the bundled model and LM: the weight a session asks for is the one its search uses. At 0 a
    name the LM lacks is not found where the recognizer's weight finds it; at 20 a hotword is put where a word
    that sounds like it was said, and the recognizer's weight does not."""
    from speech import espeak
    from streamasr.events import transcript

    def said(sentence, hotword, weight):
        samples = espeak(sentence, tmp_path / "s.wav")
        return transcript(run(bundled_rec.session(hotwords=(hotword,), hotword_weight=weight), samples,
                              [6400] * 20)).split()

    named = {w: said("and they went unto london in the morning", "london", w) for w in (0, None)}
    assert "london" not in named[0] and "london" in named[None], named
    alike = {w: said("the perish shall be rebuilt", "paris", w) for w in (None, 20)}
    assert "paris" not in alike[None] and "paris" in alike[20], alike


def test_phrases_favour_their_common_words_only_together(bundled_rec, tmp_path):
    """Real speech, the bundled model and LM: phrases whose first word is common ("my", "the", "a") change
    nothing in sentences that say those words but not the phrases, and are found where they are said."""
    from speech import espeak
    from streamasr.events import transcript

    phrases = ("my computer", "the beatles", "a railway station")
    for i, (sentence, said) in enumerate([("they shall eat up thy flocks and thine herds", None),
                                          ("and if any man hunger let him eat at home", None),
                                          ("a people whom i have not known shall serve me", None),
                                          ("behold my computer is in the house of the king", "my computer")]):
        samples = espeak(sentence, tmp_path / f"{i}.wav")
        plain = transcript(run(bundled_rec.session(), samples, [6400] * 20))
        given = transcript(run(bundled_rec.session(hotwords=phrases), samples, [6400] * 20))
        if said is None:
            assert given == plain, (plain, given)
        else:
            assert said not in plain and said in given, (plain, given)


@pytest.mark.parametrize("kwargs", [{}, {"search": "greedy"}, {"chunk_ms": 0}])
def test_final_word_times_are_where_the_synthesizer_spoke_the_words(bundled_rec, kwargs):
    # espeak-ng's own word times (streamasr.data.timed); a word's spike comes some 115 ms after it starts, and
    # a word of one piece has one 40 ms frame, so the spikes' own frames miss by about that (word_spans)
    from speech import HELD_OUT_SENTENCES
    from streamasr.data.timed import espeak_timed
    from streamasr.metrics import right_pairs

    start_err, end_err = [], []
    for text in HELD_OUT_SENTENCES[:2]:
        audio, ref = espeak_timed(text, "en-us+m3")
        s = bundled_rec.session(**kwargs)
        finals = [e for e in s.accept(audio) + s.finish() if isinstance(e, Final)]
        words = [w for f in finals for w in f.words]
        for f in finals:
            spans = [(w.start_ms, w.end_ms) for w in f.words]
            assert all(f.start_ms <= a < b <= f.end_ms for a, b in spans)
            assert all(b <= c for (_, b), (c, _) in zip(spans, spans[1:]))
        for i, j in right_pairs(text, [w.word for w in words]):  # the words said right, timed by espeak-ng
            if ref[i] is not None:
                start_err.append(words[j].start_ms - ref[i].start_ms)
                end_err.append(words[j].end_ms - ref[i].end_ms)
    assert len(start_err) >= 12
    assert np.abs(start_err).mean() < 50 and np.abs(end_err).mean() < 50


def noise(seconds: float, kind: int, dbfs: float, seed: int = 0) -> np.ndarray:
    """Coloured noise (0 white, 1 pink) at an RMS of ``dbfs``: (S,) float32 at 16 kHz."""
    from streamasr.data.augment import coloured_noise

    return coloured_noise(int(16000 * seconds), np.random.default_rng(seed), kind, dbfs)


@pytest.mark.parametrize("kind", [0, 1])
def test_noise_alone_gives_no_words(bundled_rec, kind):
    """Steady noise at a quiet room's level: the model hesitates there, its doubt spread over many tokens, and
    the search with the LM spelled words out of it (a dozen in these ten seconds) until frames without a likely
    token stopped counting as speech (``endpoint.speech_frames``)."""
    events = run(bundled_rec.session(), noise(10, kind, -40), [320] * 500)
    assert [e.text for e in events if e.text] == []


@pytest.mark.parametrize("kind, dbfs", [(1, -50), (0, -40)])
@pytest.mark.parametrize("how", [{}, {"final_pass": True}, {"chunk_ms": 0}])
def test_words_after_noise_are_where_they_were_spoken(bundled_rec, paused_speech, kind, dbfs, how):
    """Four seconds of noise before a sentence, and under it: no word is written before the 320 ms chunk the
    sentence begins in (what the search makes of the noise in that chunk stays, but it is one chunk's doubt),
    nor after its last word, in the noise the segment's silence ends in. The final pass and whole-utterance
    decoding search a whole segment at once: only from shortly before the first frame their posteriors hear
    speech in to shortly after the last (``endpoint.speech_span``): pink noise at -50 dBFS made both write a word
    before the sentence ("possessed"), white noise at -40 the final pass one after it ("and")."""
    speech = paused_speech[: 3 * 16000]  # "go not up for the lord is not among you", then silence
    x = noise(4 + len(speech) / 16000, kind, dbfs, seed=1)
    x[4 * 16000 :] += speech
    events = run(bundled_rec.session(**how), x, [320] * 1000)
    assert all(e.audio_ms > 4000 for e in events if isinstance(e, Partial) and e.text)
    words = [w for e in events if isinstance(e, Final) for w in e.words]
    assert words and all(w.start_ms >= 3840 - 120 for w in words)  # the chunk from 3840 ms; a word's lead 120 ms
    assert " ".join(w.word for w in words).endswith("the lord is not among you")
