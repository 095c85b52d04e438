"""The CTC prefix beam search: fed chunk by chunk it equals fed at once; word times, greedy agreement, hotwords, BPE."""

import dataclasses

import numpy as np
import pytest

from streamasr.decoder import CTCPrefixDecoder, DecoderConfig
from streamasr.decoder.ctc_prefix import search_log_probs
from streamasr.decoder.greedy import GreedyDecoder
from streamasr.tokens import Tokenizer

TOK = Tokenizer.characters()


def peaky_log_probs(text: str, rng: np.random.Generator, frames_per_char: int = 3, noise: float = 1.5) -> np.ndarray:
    """Log-probs of a noisy CTC model saying ``text``: (T, V)."""
    rows = []
    for c in TOK.encode(text):
        for k in range(frames_per_char):
            logits = rng.normal(0, noise, len(TOK))
            logits[c if k == 0 else 0] += 6.0
            rows.append(logits)
    logits = np.array(rows)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


@pytest.mark.parametrize("seed", range(5))
def test_chunk_by_chunk_equals_all_at_once(seed):
    rng = np.random.default_rng(seed)
    logp = peaky_log_probs("the lord is my shepherd i shall not want", rng)
    dec = CTCPrefixDecoder(DecoderConfig(beam=6), TOK)
    whole = dec.step(logp, dec.init_state())
    state, pos = dec.init_state(), 0
    while pos < len(logp):
        n = int(rng.integers(1, 9))
        state = dec.step(logp[pos : pos + n], state)
        pos += n
    assert state == whole
    assert dec.finalize(state) == dec.finalize(whole)


@pytest.mark.parametrize("hot", [False, True])
@pytest.mark.parametrize("seed", range(3))
def test_chunk_by_chunk_equals_all_at_once_on_speech_with_the_bundled_lm(bundled_rec, tmp_path, seed, hot):
    """The search as a session runs it (the bundled BPE pieces, KenLM model and ``DecoderConfig``) on the
    bundled model's log-probs of synthesized speech under the 320 ms chunk mask: fed in pieces of any size,
    with the caches dropped between some of them, it ends in the beam it reaches when fed all at once; also
    with hotwords (a phrase of the sentence's own words, one that begins with a word it has, one it lacks)."""
    import torch

    from speech import HELD_OUT_SENTENCES, espeak

    rec, rng = bundled_rec, np.random.default_rng(seed)
    samples = espeak(HELD_OUT_SENTENCES[seed], tmp_path / "s.wav")
    feats = rec.model.normalize(rec.features.logmel(torch.from_numpy(samples)))[None]  # (1, T, F)
    with torch.no_grad():
        lp, _ = rec.model(feats, torch.tensor([feats.shape[1]]), chunk=8, left_chunks=8)  # (1, T', V)
    logp = lp[0].numpy()  # (T', V)
    words = HELD_OUT_SENTENCES[seed].split()
    hotwords = (" ".join(words[1:3]), f"{words[0]} beatles", "london") if hot else ()
    dec = CTCPrefixDecoder(rec.decoder_cfg, rec.tokenizer, rec.lm, hotwords)
    pieces = CTCPrefixDecoder(rec.decoder_cfg, rec.tokenizer, rec.lm, hotwords)
    state, pos, widest = pieces.init_state(), 0, 0
    while pos < len(logp):
        n = int(rng.integers(1, 17))
        if rng.random() < 0.3:
            pieces.forget()
        state = pieces.step(logp[pos : pos + n], state)
        pos += n
        assert state == dec.step(logp[:pos], dec.init_state())  # the beam so far, fed at once
        widest = max(widest, len(state.hyps))
    whole = dec.step(logp, dec.init_state())
    assert state == whole and widest > 1
    final = pieces.finalize(state)
    assert final == dec.finalize(whole)
    assert set(final.text.split()) & set(HELD_OUT_SENTENCES[seed].split())  # the search found speech
    assert pieces.nbest(state, 4) == dec.nbest(whole, 4)


def test_forgetting_the_caches_changes_no_result():
    """A stream drops the decoder's caches at each endpoint (``forget``); a search that forgets them between
    any two chunks ends where one that kept them does."""
    rng = np.random.default_rng(3)
    logp = peaky_log_probs("the lord is my shepherd", rng)
    dec = CTCPrefixDecoder(DecoderConfig(beam=6), TOK)
    whole = dec.step(logp, dec.init_state())
    assert dec._lang_cache
    state = dec.init_state()
    for pos in range(0, len(logp), 5):
        dec.forget()
        assert not dec._lang_cache and not dec._partial_cache
        state = dec.step(logp[pos : pos + 5], state)
    assert state == whole and dec.finalize(state) == dec.finalize(whole)


def test_a_frame_of_blank_alone_moves_every_prefix_to_blank():
    """A frame in which no token reaches token_min_logp takes a short path: each prefix's paths all end in
    the blank (p_b = its total + blank, p_nb = -inf), ranked by score, the weak pruned; nothing else moves."""
    rng = np.random.default_rng(1)
    dec = CTCPrefixDecoder(DecoderConfig(beam=6, beam_prune_logp=-12.0), TOK)
    state = dec.step(peaky_log_probs("the lord", rng), dec.init_state())
    blank_only = np.full((1, len(TOK)), -30.0)
    blank_only[0, 0] = -0.01
    after = dec.step(blank_only, state)
    blank = search_log_probs(blank_only, *dec.shape)[0, 0]  # as the search scores it
    best = max(h.score for h in state.hyps) + blank
    kept = [h for h in state.hyps if h.score + blank >= best - 12.0]
    assert len(kept) > 1 and after.frame == state.frame + 1
    assert [(h.tokens, h.frames, h.text) for h in after.hyps] == [(h.tokens, h.frames, h.text) for h in kept]
    for h, was in zip(after.hyps, kept):
        assert h.p_nb == float("-inf") and h.p_b == pytest.approx(was.acoustic + blank)


def test_clean_input_is_decoded_with_word_times():
    rng = np.random.default_rng(0)
    logp = peaky_log_probs("in the beginning", rng)
    dec = CTCPrefixDecoder(DecoderConfig(), TOK)
    hyp = dec.finalize(dec.step(logp, dec.init_state()))
    assert hyp.text == "in the beginning"
    assert [w.word for w in hyp.words] == ["in", "the", "beginning"]
    starts = [w.start for w in hyp.words]
    assert starts == sorted(starts) and all(w.end > w.start for w in hyp.words)
    assert all(0.0 < w.conf <= 1.0 for w in hyp.words)


def unsure_word(word: str, p_letter: float) -> np.ndarray:
    """(T, V) log-probs: each letter of ``word`` in a frame of its own at ``p_letter``, the rest of the frame
    blank, then a frame of blank."""
    rows = []
    for ch in word:
        p = np.full(len(TOK), 1e-6)
        p[TOK.index[ch]], p[0] = p_letter, 1.0 - p_letter
        rows += [p / p.sum(), np.eye(len(TOK))[0] * 0.99 + 0.01 / len(TOK)]
    return np.log(np.array(rows))


# one word, "no"; at alpha 0 and beta 0 the LM only switches the shaping on
NO_ARPA = "\n".join(["\\data\\", "ngram 1=3", "ngram 2=1", "", "\\1-grams:", "-0.5\t</s>", "-99\t<s>\t0",
                     "-0.5\tno\t0", "", "\\2-grams:", "-0.1\tno </s>", "", "\\end\\", ""])


def test_blank_penalty_keeps_a_word_the_model_is_unsure_of_and_reports_its_own_posterior(tmp_path):
    """Each letter of "no" at 0.3 against the blank's 0.7: the plain search leaves the word out (0.49 for no
    word against 0.09 for "no"). With the blank's odds cut by 3 (as though it were 0.44 against 0.56) it keeps
    it, and the word's confidence is still the model's 0.3, not the search's flattened view. Without an LM
    the posteriors are searched as they are."""
    from streamasr.decoder.lm import LanguageModel

    (tmp_path / "lm.arpa").write_text(NO_ARPA)
    lm = LanguageModel(tmp_path / "lm.arpa")
    logp = unsure_word("no", 0.3)

    def text(cfg: DecoderConfig, lm) -> CTCPrefixDecoder:
        dec = CTCPrefixDecoder(dataclasses.replace(cfg, alpha=0.0, beta=0.0, confidence_power=1.0), TOK, lm)
        return dec.finalize(dec.step(logp, dec.init_state()))

    assert text(DecoderConfig(temperature=1.0, blank_penalty=0.0), lm).text == ""
    assert text(DecoderConfig(temperature=1.0, blank_penalty=np.log(3.0)), None).text == ""  # no LM: not shaped
    for temperature in (1.0, 1.5):
        hyp = text(DecoderConfig(temperature=temperature, blank_penalty=np.log(3.0)), lm)
        assert hyp.text == "no"
        assert hyp.words[0].conf == pytest.approx(0.3, abs=1e-3)


def test_a_tokens_confidence_is_its_spikes_peak():
    """Each letter of "no" spikes over three frames (0.6, 0.9, 0.3, the blank then above it), then a blank
    frame: its prefix is born on the rising edge, and the word's confidence is the peak, 0.9, not the 0.6 of
    that first frame (the texts and word times are not changed by it); the greedy search's too. The word's
    conf is that to ``confidence_power``."""
    rows = []
    for c in TOK.encode("no"):
        for p in (0.6, 0.9, 0.3):
            row = np.full(len(TOK), (1.0 - p) * 0.01 / (len(TOK) - 2))
            row[c], row[0] = p, (1.0 - p) * 0.99
            rows.append(row)
        rows.append(np.full(len(TOK), 0.01 / (len(TOK) - 1)))
        rows[-1][0] = 0.99
    logp = np.log(np.array(rows))  # (8, V)
    for dec in (CTCPrefixDecoder(DecoderConfig(confidence_power=1.0), TOK, None), GreedyDecoder(TOK)):
        hyp = dec.finalize(dec.step(logp, dec.init_state()))
        assert hyp.text == "no" and (hyp.words[0].start, hyp.words[0].end) == (0, 5)
        assert hyp.words[0].conf == pytest.approx(0.9, abs=1e-3)
    for dec in (CTCPrefixDecoder(DecoderConfig(confidence_power=0.5), TOK, None), GreedyDecoder(TOK, 0.5)):
        assert dec.finalize(dec.step(logp, dec.init_state())).words[0].conf == pytest.approx(0.9 ** 0.5, abs=1e-3)


def test_greedy_agrees_on_clean_input():
    rng = np.random.default_rng(1)
    logp = peaky_log_probs("and there was light", rng, noise=0.5)
    g = GreedyDecoder(TOK)
    assert g.finalize(g.step(logp, g.init_state())).text == "and there was light"


def test_a_phrase_favours_its_words_only_together():
    """Frames split between 'the' and 'thy', then 'cat' and 'cot': of the phrase "thy cot", 'thy' is favoured on
    its way to 'cot', and given back when 'cat' follows; the phrase wins where its words come together."""
    def frames(*choices):
        rows = []
        for letters in choices:
            p = np.full(len(TOK), 1e-4)
            for ch in letters:
                p[TOK.index[ch]] = 0.8 / len(letters) + (0.01 if ch in "ea" else 0.0)  # 'the', 'cat' ahead
            p[0] = 0.2
            rows += [p / p.sum(), np.eye(len(TOK))[0] * 0.98 + 0.02 / len(TOK)]
        return rows

    space = [np.log(np.eye(len(TOK))[TOK.index[" "]] * 0.98 + 0.02 / len(TOK))]
    word_pair = np.log(np.array(frames(["t"], ["h"], ["e", "y"]) + [np.exp(space[0])]
                                + frames(["c"], ["a", "o"], ["t"])))
    plain = CTCPrefixDecoder(DecoderConfig(), TOK)
    phrase = CTCPrefixDecoder(DecoderConfig(), TOK, hotwords=("thy cot",))
    words = CTCPrefixDecoder(DecoderConfig(), TOK, hotwords=("thy", "cot"))
    assert plain.finalize(plain.step(word_pair, plain.init_state())).text == "the cat"
    assert phrase.finalize(phrase.step(word_pair, phrase.init_state())).text == "thy cot"
    assert words.finalize(words.step(word_pair, words.init_state())).text == "thy cot"
    first = np.log(np.array(frames(["t"], ["h"], ["e", "y"])))  # 'the' or 'thy' alone: the phrase does not decide
    assert phrase.finalize(phrase.step(first, phrase.init_state())).text == "the"
    assert words.finalize(words.step(first, words.init_state())).text == "thy"


def test_hotword_flips_an_ambiguous_word():
    """Frames equally split between 'cat' and 'cot': the hotword decides."""
    rows = []
    for letters in (["c"], ["a", "o"], ["t"]):
        p = np.full(len(TOK), 1e-4)
        for ch in letters:
            p[TOK.index[ch]] = 0.8 / len(letters) + (0.01 if ch == "a" else 0.0)
        p[0] = 0.2
        rows += [p / p.sum(), np.eye(len(TOK))[0] * 0.98 + 0.02 / len(TOK)]
    logp = np.log(np.array(rows))
    plain = CTCPrefixDecoder(DecoderConfig(), TOK)
    boosted = CTCPrefixDecoder(DecoderConfig(), TOK, hotwords=("cot",))
    assert plain.finalize(plain.step(logp, plain.init_state())).text == "cat"
    assert boosted.finalize(boosted.step(logp, boosted.init_state())).text == "cot"


def test_a_prefix_inside_a_hotword_cannot_take_the_rest_of_the_segment():
    """'edin that day' said, "edinburgh" a hotword, a beam of one. The prefix 'edin', on its way into the
    hotword and holding its share of the bonus, outranks at every frame the prefixes that spell what follows
    (to it each letter after is a blank: 0.42 where the letter has 0.58). The beam keeps the best prefix that
    holds no bonus all the same, so the final, where 'edin' gives its share back, is what was said."""
    rows = []
    for ch in "edin that day":
        p = np.full(len(TOK), 1e-4)
        p[TOK.index[ch]], p[0] = 0.58, 0.42
        rows += [p / p.sum(), np.eye(len(TOK))[0] * 0.98 + 0.02 / len(TOK)]
    logp = np.log(np.array(rows))
    cfg = DecoderConfig(beam=1)
    dec = CTCPrefixDecoder(cfg, TOK, hotwords=("edinburgh",))
    state = dec.step(logp, dec.init_state())
    assert dec.best_text(state) == "edin"  # the prefix in the hotword leads to the end
    assert dec.finalize(state).text == "edin that day"
    plain = CTCPrefixDecoder(cfg, TOK)
    assert plain.finalize(plain.step(logp, plain.init_state())).text == "edin that day"


def test_bpe_pieces_give_words_and_times(tmp_path):
    from streamasr.tokens_bpe import train_bpe

    texts = ["the lord is my shepherd", "the lord said unto moses", "and there was light"] * 20
    tok = train_bpe(texts, 40, tmp_path)
    ids = tok.encode("the lord is my shepherd")
    assert tok.decode(ids) == "the lord is my shepherd"
    assert any(len(tok.tokens[i].strip()) > 1 for i in ids)  # real multi-letter pieces
    rows = []
    for i in ids:
        rows += [np.eye(len(tok))[i] * 0.9 + 0.1 / len(tok), np.eye(len(tok))[0] * 0.9 + 0.1 / len(tok)]
    logp = np.log(np.array(rows))
    dec = CTCPrefixDecoder(DecoderConfig(), tok)
    hyp = dec.finalize(dec.step(logp, dec.init_state()))
    assert hyp.text == "the lord is my shepherd"
    assert [w.word for w in hyp.words] == hyp.text.split()
    assert [w.start for w in hyp.words] == sorted(w.start for w in hyp.words)


def test_bpe_spellings_of_one_text_are_summed():
    """" the" and " th" "e" are one text: the search sums them, as CTC sums the paths of one prefix.
    Apart, each (0.18 and 0.12) loses to " a" (0.24); together (0.30) they win."""
    tok = Tokenizer(["<blk>", " the", " th", "e", " a"])
    p = np.full((2, 5), 1e-9)
    p[0, [1, 2, 4]] = [0.3, 0.3, 0.4]  # frame 0: " the", " th" or " a"
    p[1, [0, 3]] = [0.6, 0.4]  # frame 1: blank or "e"
    dec = CTCPrefixDecoder(DecoderConfig(beam=8), tok)
    hyp = dec.finalize(dec.step(np.log(p), dec.init_state()))
    assert hyp.text == "the" and hyp.score == pytest.approx(np.log(0.3), abs=1e-6)


def test_bpe_word_may_begin_with_a_lone_word_start_piece():
    """Sentencepiece spells rare words "▁" "x...": a lone "▁" may open the first word (not for characters)."""
    tok = Tokenizer(["<blk>", " ", "ned", "ab", " a"])
    p = np.full((3, 5), 1e-9)
    p[[0, 1, 2], [1, 2, 3]] = 1.0
    dec = CTCPrefixDecoder(DecoderConfig(beam=4), tok)
    assert dec.finalize(dec.step(np.log(p), dec.init_state())).text == "nedab"


BIGRAM_ARPA = "\n".join([
    "\\data\\", "ngram 1=8", "ngram 2=8", "",
    "\\1-grams:", "-99\t<s>\t-0.3", "-1.0\t</s>", "-2.0\t<unk>",
    *(f"-0.5\t{w}\t-0.3" for w in "abcxz"), "",
    "\\2-grams:", "-0.3\t<s> a", "-0.3\t<s> c", "-0.1\ta b", "-0.1\tc b", "-0.3\tb x", "-0.3\tb z",
    "-3.0\tx </s>", "-0.1\tz </s>", "",
    "\\end\\", "",
])  # a bigram model: after "b" the history before it is forgotten; a sentence ends on "z", seldom on "x"


def test_prefixes_with_one_future_take_one_place_in_the_beam(tmp_path):
    """Under a bigram LM "a b" and "c b" have the same future. Apart they fill a beam of two, and when the
    last word is "x" or "z" (x a little likelier to the ear) both places go to "... x", though the LM ends
    a sentence on "z" far likelier. Kept once, they leave a place for "a b z", which wins."""
    from streamasr.decoder.lm import LanguageModel

    (tmp_path / "lm.arpa").write_text(BIGRAM_ARPA)
    lm = LanguageModel(tmp_path / "lm.arpa")
    tok = Tokenizer(["<blk>", " ", "a", "b", "c", "x", "z"])
    frames = [{"a": 0.5, "c": 0.45}, {" ": 0.98}, {"b": 0.98}, {" ": 0.98}, {"x": 0.54, "z": 0.44}]
    p = np.full((len(frames), len(tok)), 1e-6)
    for t, row in enumerate(frames):
        for ch, prob in row.items():
            p[t, tok.index[ch]] = prob
        p[t, 0] = 1.0 - sum(row.values())
    dec = CTCPrefixDecoder(DecoderConfig(beam=2, alpha=1.0, beta=0.0), tok, lm)
    state = dec.step(np.log(p), dec.init_state())
    assert [h.text for h in state.hyps] == [" a b x", " a b z"]
    assert dec.finalize(state).text == "a b z"


@pytest.mark.parametrize("seed", range(3))
def test_nbest_ranks_distinct_texts_and_leads_with_the_final(seed):
    rng = np.random.default_rng(seed)
    logp = peaky_log_probs("the lord is my shepherd", rng, noise=3.0)  # noisy: the beam holds rivals
    dec = CTCPrefixDecoder(DecoderConfig(beam=8), TOK)
    state = dec.step(logp, dec.init_state())
    ranked = dec.nbest(state, 5)
    assert ranked[0] == dec.finalize(state) and dec.nbest(state, 1) == [ranked[0]]
    assert len(ranked) == 5 and len({h.text for h in ranked}) == 5
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
    assert len(dec.nbest(state, 1000)) == len({h.text for h in state.hyps})  # no more texts than the beam holds
    greedy = GreedyDecoder(TOK)
    g = greedy.step(logp, greedy.init_state())
    assert greedy.nbest(g, 5) == [greedy.finalize(g)]
