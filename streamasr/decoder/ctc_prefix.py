"""CTC prefix beam search, carried across chunks, with KenLM shallow fusion.

``state = decoder.step(log_probs, state)`` consumes frames; the search runs a
frame at a time, so any split of the frames into chunks gives the same result.
A hypothesis' score is its CTC prefix log-probability plus, for each finished
word, ``alpha * ln P_lm(word | history) + beta`` (plus ``unk_offset`` in log10
for out-of-vocabulary words, as pyctcdecode does), plus a penalty for a partial
last word that begins no known word, plus hotword bonuses (``hotwords.py``: a
phrase's words earn theirs together). Hotwords are known words: one the LM
lacks is scored as its unknown word without ``unk_offset``, and the letters that
begin one are not penalized. Of prefixes that agree on all that decides their
future (LM state and hotword match, unfinished word, last token) only the best
stays in the beam (``_future``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from operator import itemgetter
from typing import NamedTuple

import numpy as np

from streamasr.decoder.hotwords import NO_MATCH, Hotwords
from streamasr.decoder.lm import LN10, LanguageModel
from streamasr.tokens import Tokenizer

NEG_INF = float("-inf")


def logaddexp(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for Python floats.

    >>> round(logaddexp(math.log(0.25), math.log(0.5)), 6) == round(math.log(0.75), 6)
    True
    >>> logaddexp(NEG_INF, -1.0)
    -1.0
    """
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


def search_log_probs(log_probs: np.ndarray, temperature: float, blank_penalty: float) -> np.ndarray:
    """(T, V) CTC log-posteriors -> (T, V) the log-probabilities the search scores: each frame's logits divided
    by ``temperature``, the blank's (index 0) less ``blank_penalty``, renormalized. A model trained on a few
    voices is over-sure of itself, of its blanks most; flattening both lets the LM weigh in where the model
    hesitates and leaves fewer words out (the README's *LM weights*).

    >>> p = np.log(np.array([[0.7, 0.2, 0.1]]))  # (T=1, V=3), blank first
    >>> np.round(np.exp(search_log_probs(p, 1.0, 0.0)), 3)
    array([[0.7, 0.2, 0.1]])
    >>> np.round(np.exp(search_log_probs(p, 1.0, math.log(3.5))), 3)   # the blank down to the first token's odds
    array([[0.4, 0.4, 0.2]])
    >>> np.round(np.exp(search_log_probs(p, 2.0, 0.0)), 3)   # temperature 2: square roots, renormalized
    array([[0.523, 0.279, 0.198]])
    """
    if temperature == 1.0 and blank_penalty == 0.0:
        return log_probs
    x = log_probs / temperature  # (T, V)
    x[:, 0] -= blank_penalty
    return x - np.logaddexp.reduce(x, axis=1, keepdims=True)  # (T, V), each row a distribution again


@dataclass(frozen=True)
class DecoderConfig:
    beam: int = 64  # hypotheses kept after each frame (distinct futures: see _future); chosen on dev by tune_lm.py
    token_min_logp: float = -6.0  # tokens the model gives less than this log-probability in a frame are not tried
    beam_prune_logp: float = -7.0  # hypotheses this far below the best are dropped; chosen on dev with beam
    alpha: float = 0.6  # LM weight (on natural-log probabilities); chosen on dev by benchmarks/tune_lm.py
    beta: float = 0.5  # bonus per finished word; chosen with alpha
    unk_offset: float = -10.0  # log10 penalty for a word outside the LM vocabulary
    hotword_weight: float = 7.5  # bonus for each word of a finished hotword phrase, earned on the way (hotwords.py);
    # chosen on dev by benchmarks/hotwords.py --tune
    temperature: float = 1.5  # with an LM the search scores softmax(logits / temperature); chosen on dev by tune_lm.py
    blank_penalty: float = 2.0  # with an LM, taken off the blank's logit (after the temperature); chosen with it
    confidence_power: float = 0.5  # a word's conf is the mean of its pieces' peak posteriors to this power, which
    # calibrates it (a word at conf c is right about c of the time); chosen on dev by benchmarks/confidence.py --tune
    word_lead_ms: int = 120  # a final's word starts this long before its first piece's spike (word_times.py)
    word_lag_ms: int = 40  # and ends this long after its last piece's frame, or where the next word starts;
    # both chosen on dev by benchmarks/word_times.py --tune


class Hyp(NamedTuple):
    """One prefix of the beam. A NamedTuple, not a frozen dataclass: the search builds one for every prefix it
    keeps at every frame, and a frozen dataclass takes several times a tuple's time to build."""

    tokens: tuple[int, ...]  # emitted tokens, blanks and repeats collapsed
    frames: tuple[int, ...]  # frame at which each token was first emitted
    probs: tuple[float, ...]  # its highest posterior from that frame on while repeated (its spike's peak: _hyp)
    p_b: float  # log P(prefix, path ends in blank)
    p_nb: float  # log P(prefix, path ends in its last token)
    lm: float  # fused score of finished words
    lm_state: object  # KenLM state after the finished words (None without LM); with hotwords (that, Match)
    word: str  # letters of the unfinished last word
    partial: float  # score of the unfinished word (OOV-prefix penalty, hotword bonus)
    text: str = ""  # the prefix's text, each word led by a space

    @property
    def key(self) -> tuple[str, int]:
        """What makes two prefixes one: their text and last token. For characters that is the token sequence
        itself; BPE can spell one text several ways (" the" or " th" "e"), and those are summed as one."""
        return self.text, self.last

    @property
    def last(self) -> int:
        """Its last token (-1 before the first)."""
        return self.tokens[-1] if self.tokens else -1

    @property
    def acoustic(self) -> float:
        return logaddexp(self.p_b, self.p_nb)

    @property
    def score(self) -> float:
        return self.acoustic + self.lm + self.partial


@dataclass(frozen=True)
class BeamState:
    hyps: tuple[Hyp, ...]  # best first
    frame: int  # frames consumed so far


@dataclass(frozen=True)
class WordInfo:
    word: str
    start: int  # the frame its first piece was written in (its spike)
    end: int  # one past its last piece's frame
    conf: float  # the mean of its pieces' peak posteriors to DecoderConfig.confidence_power, in [0, 1]


@dataclass(frozen=True)
class Hypothesis:
    text: str
    words: tuple[WordInfo, ...]
    score: float = field(default=0.0)


class CTCPrefixDecoder:
    """Shared, read-only search settings; all per-stream data lives in BeamState."""

    def __init__(self, cfg: DecoderConfig, tokenizer: Tokenizer, lm: LanguageModel | None = None,
                 hotwords: tuple[str, ...] = ()):
        if not any(tokenizer.word_start):
            raise ValueError("the CTC prefix decoder needs tokens that begin words (a space, or BPE pieces)")
        self.cfg = cfg
        self.tok = tokenizer
        self.lm = lm
        # (temperature, blank penalty) of search_log_probs: they weigh the model against the LM, as alpha and
        # beta do, and without an LM the model's own posteriors are searched (shaped, they only add noise)
        self.shape = (cfg.temperature, cfg.blank_penalty) if lm is not None else (1.0, 0.0)
        # With hotwords a hypothesis' lm_state is a pair (KenLM state, Match): where it stands in the phrases
        self.hot = Hotwords(hotwords, cfg.hotword_weight) if any(h.split() for h in hotwords) else None
        # (prefix text, token) -> (lm, lm_state, word, partial, text): the language part of an extension is a
        # pure function of the prefix's text, and the same extensions are tried frame after frame.
        self._lang_cache: dict[tuple[str, int], tuple | None] = {}
        self._partial_cache: dict = {}  # unfinished word (and with hotwords its Match) -> its score (``_partial_of``)

    def forget(self) -> None:
        """Drop the caches of language scores. A stream calls it at each endpoint: the caches are keyed by the
        prefixes' texts, which start over with the next segment, and a wide beam fills them fast (at the
        default beam of 64 about 700 entries per second of speech, up to ``CACHE_LIMIT``), so a long stream
        would otherwise hold tens of MB of keys its search no longer meets. Results do not change; only what
        the next frames cost."""
        self._lang_cache.clear()
        self._partial_cache.clear()

    def init_state(self, frame: int = 0) -> BeamState:
        """A search with no text yet, ``frame`` frames into its segment (the frame its words' times count from)."""
        lm_state = self.lm.begin() if self.lm else None
        root = Hyp((), (), (), 0.0, NEG_INF, 0.0, lm_state if self.hot is None else (lm_state, NO_MATCH), "", 0.0, "")
        return BeamState((root,), frame)

    # --- scoring of words -------------------------------------------------
    def _partial_score(self, word: str, state) -> float:
        key = word if self.hot is None else (word, state[1])
        s = self._partial_cache.get(key)
        return _remember(self._partial_cache, key, self._partial_of(word, state)) if s is None else s

    def _partial_of(self, word: str, state) -> float:
        s, known = 0.0, False  # known: letters that begin a hotword are in the search's vocabulary
        if self.hot is not None:
            s, known = self.hot.partial(state[1], word), self.hot.begins_a_word(word)
        if self.lm is not None and not known and word not in self.lm.prefixes:
            s += self.cfg.unk_offset * max(1.0, len(word) / 6)
        return s

    def _word_score(self, state, word: str) -> tuple[float, object]:
        """The score a finished ``word`` adds after ``state`` (a KenLM state, or with hotwords the pair of one
        and a Match), and the state after it."""
        if self.hot is None:
            return self._lm_score(state, word)
        lm_state, match = state
        s, lm_state = self._lm_score(lm_state, word)
        earned, match = self.hot.advance(match, word)
        return s + earned, (lm_state, match)

    def _lm_score(self, lm_state, word: str) -> tuple[float, object]:
        if self.lm is None:
            return 0.0, lm_state
        logp, lm_state, oov = self.lm.score(lm_state, word)
        if oov and not (self.hot is not None and word in self.hot.words):  # a hotword is a word all the same
            logp += self.cfg.unk_offset
        return self.cfg.alpha * logp * LN10 + self.cfg.beta, lm_state

    def _learn_language(self, h: Hyp, token: int) -> tuple | None:
        """``_language`` of h + token, remembered in ``_lang_cache`` (where ``step`` looks first)."""
        return _remember(self._lang_cache, (h.text, token), self._language(h, token))

    def _language(self, h: Hyp, token: int) -> tuple | None:
        """(lm, lm_state, word, partial, text) after appending ``token`` to ``h``; None if not allowed."""
        text = self.tok.tokens[token]
        lm, state = h.lm, h.lm_state
        if self.tok.word_start[token]:
            if text == " " and not h.word and (h.text or not self.tok.pieces):
                return None  # no empty words: no doubled spaces; a leading one only where BPE spells "▁" "x"
            if h.word:  # the previous word is finished
                ws, state = self._word_score(h.lm_state, h.word)
                lm += ws
            word = text[1:]
            full = h.text + text if h.word or not h.text else h.text + text[1:]  # " " then " the": one space
        else:
            word = h.word + text
            full = h.text + text if h.text else " " + text  # a first piece without "▁" still begins a word
        return lm, state, word, self._partial_score(word, state) if word else 0.0, full

    # --- the search -----------------------------------------------------------
    def step(self, log_probs: np.ndarray, state: BeamState) -> BeamState:
        """Consume frames. log_probs: (T, V) natural-log CTC posteriors, as the model gives them. With an LM the
        search scores them through ``search_log_probs``; which tokens it tries, and the posteriors it reports
        as confidence, are the model's own."""
        hyps, frame = state.hyps, state.frame
        model = np.asarray(log_probs, dtype=np.float64)  # (T, V)
        rows = search_log_probs(model, *self.shape)  # (T, V)
        frames, tokens = np.nonzero(model[:, 1:] >= self.cfg.token_min_logp)  # the tokens worth trying, frame by frame
        tried = np.split(tokens + 1, np.searchsorted(frames, np.arange(1, len(rows))))  # T x (n_t,)
        for row, model_row, cands in zip(rows, model, tried):
            if len(cands) == 0:  # only blank: no prefix is born, every one goes on through the blank
                hyps = self._through_blank(hyps, float(row[0]), frame)
            else:
                lp = row.tolist()
                posterior = lp if rows is model else model_row.tolist()  # the model's own, for confidence
                hyps = self._prune(self._extend(hyps, lp, posterior, cands.tolist()), frame)
            frame += 1
        return BeamState(hyps, frame)

    def _extend(self, hyps: tuple[Hyp, ...], lp: list[float], posterior: list[float], cands: list[int]
                ) -> dict[tuple[str, int], list]:
        """One frame's paths out of the beam: each prefix through the blank, by a repeat of its last token, and
        extended by each token in ``cands``. lp: (V,) the frame's search scores; posterior: (V,) the model's
        own. -> prefix key -> [hyp it extends or continues, extension (token, posterior, language) or None,
        p_b, p_nb, the last token's posterior in this frame where a repeat continues it (else None)]; the beam's
        own prefixes first, so they keep their emission times. Extensions become Hyps only if they survive
        ``_prune``."""
        lang_cache, blank = self._lang_cache, lp[0]
        nxt: dict[tuple[str, int], list] = {h.key: [h, None, NEG_INF, NEG_INF, None] for h in hyps}
        for h in hyps:
            total, text, last = h.acoustic, h.text, h.last
            s = nxt[h.key]
            s[2] = total + blank  # the first and only path into s[2]: keys in the beam are distinct
            for c in cands:
                p = lp[c]
                if c == last:
                    x, v = h.p_nb + p, s[3]  # repeat collapses into the same prefix
                    s[3] = x if v == NEG_INF else logaddexp(v, x)
                    s[4] = posterior[c]  # the token's spike goes on: its confidence is the spike's peak (_hyp)
                    from_prev = h.p_b + p  # a blank between makes a new token
                else:
                    from_prev = total + p
                if from_prev == NEG_INF:
                    continue
                lang = lang_cache.get((text, c), False)
                if lang is False:
                    lang = self._learn_language(h, c)
                if lang is None:
                    continue
                key = (lang[4], c)
                t = nxt.get(key)
                if t is None:
                    nxt[key] = [h, (c, posterior[c], lang), NEG_INF, from_prev, None]
                else:
                    v = t[3]
                    t[3] = from_prev if v == NEG_INF else logaddexp(v, from_prev)
        return nxt

    def _prune(self, nxt: dict[tuple[str, int], list], frame: int) -> tuple[Hyp, ...]:
        """The beam after ``frame``: ``_extend``'s prefixes ranked by acoustic + language score, at most ``beam``
        of them within ``beam_prune_logp`` of the best, and of those sharing a future (``_future``) only the
        best."""
        cfg = self.cfg
        ranked = []  # (score, entry), in insertion order before the stable sort
        for e in nxt.values():
            base, ext, p_b, p_nb, _ = e
            if p_b == NEG_INF and p_nb == NEG_INF:
                continue
            lm, partial = (ext[2][0], ext[2][3]) if ext else (base.lm, base.partial)
            ranked.append((logaddexp(p_b, p_nb) + lm + partial, e))
        ranked.sort(key=_first, reverse=True)  # stable: ties keep insertion order
        best = ranked[0][0]
        kept, futures = [], set()
        for score, e in ranked:
            if len(kept) == cfg.beam or score < best + cfg.beam_prune_logp:
                break
            future = _future(e)
            if future not in futures:  # else a better prefix with the same future is kept already
                futures.add(future)
                kept.append(e)
        if self.hot is not None:  # and the best that holds no hotword bonus, whatever its rank (_holds_bonus)
            plain = next((e for _, e in ranked if not self._holds_bonus(*_future(e)[:2])), None)
            if plain is not None and all(e is not plain for e in kept):
                kept.append(plain)
        return tuple(_hyp(e, frame) for e in kept)

    def _holds_bonus(self, state, word: str) -> bool:
        """Whether a prefix (its state: KenLM's and its Match; its unfinished word) holds hotword bonus it could
        give back.

        The beam keeps its best prefix that holds none, whatever its rank. A prefix inside a hotword it has not
        finished ("... into edinbur" while "that day" is said) pays no LM score for the word and holds up to a
        weight of bonus, so it can outrank every prefix that spells what is said until they fall out of the
        beam, and then nothing but its kind is left to choose from when it gives the bonus back at the
        segment's end (``nbest``)."""
        return bool(state[1].pending or (word and self.hot.partial(state[1], word)))

    def _through_blank(self, hyps: tuple[Hyp, ...], blank: float, frame: int) -> tuple[Hyp, ...]:
        """The beam after a frame in which no token is tried: each prefix only goes on through the blank
        (p_b = its total + blank, p_nb = -inf), none is born and none merges, so only the order (by the
        same scores as ``step`` ranks) and the prune threshold can change."""
        nxt = [_hyp([h, None, h.acoustic + blank, NEG_INF, None], frame) for h in hyps]
        ranked = sorted(((h.score, h) for h in nxt), key=_first, reverse=True)
        best = ranked[0][0]
        kept = tuple(h for score, h in ranked if score >= best + self.cfg.beam_prune_logp)
        if self.hot is not None:  # and the best that holds no hotword bonus, as ``_prune`` keeps it
            plain = next((h for _, h in ranked if not self._holds_bonus(h.lm_state, h.word)), None)
            if plain is not None and all(h is not plain for h in kept):
                kept += (plain,)
        return kept

    # --- results ------------------------------------------------------------------
    def best_text(self, state: BeamState) -> str:
        return self.tok.decode(state.hyps[0].tokens)

    def settled_words(self, state: BeamState) -> int:
        """How many words at the start of ``best_text`` this segment's final will hold, whatever comes: those
        every prefix of the beam holds, finished (a later word begun after them). Every prefix the search will
        hold descends from one in the beam now, and the final is one of them, so those words can no longer
        change; the count only grows. ``state`` is the beam after the frames so far.

        >>> h = lambda text, word: Hyp((), (), (), 0.0, 0.0, 0.0, None, word, 0.0, text)
        >>> dec = CTCPrefixDecoder(DecoderConfig(), Tokenizer.characters())
        >>> dec.settled_words(BeamState((h(" in the beg", "beg"), h(" in the bed", "bed"), h(" in a", "a")), 9))
        1
        >>> dec.settled_words(BeamState((h(" in the beg", "beg"), h(" in the beg", "beg")), 9))  # "beg" may grow
        2
        """
        finished = [h.text.split()[: -1 if h.word else None] for h in state.hyps]
        shortest = min(len(w) for w in finished)
        return next((k for k in range(shortest) if len({w[k] for w in finished}) > 1), shortest)

    def finalize(self, state: BeamState) -> Hypothesis:
        """Best hypothesis once the last word is scored as finished and the sentence end is added. Prefixes of
        one text that differ in their last token (BPE's " the" and " th" "e") are summed here."""
        return self.nbest(state, 1)[0]

    def nbest(self, state: BeamState, n: int) -> list[Hypothesis]:
        """The ``n`` best distinct texts of the beam, best first, each scored as ``finalize`` scores the best
        (its last word finished, the sentence end added, the spellings of one text summed); the first is
        ``finalize``'s. Fewer than ``n`` when the beam holds fewer texts."""
        acoustic: dict[str, float] = {}  # text -> summed log-probability; the first hyp of each text stands
        first: dict[str, Hyp] = {}
        for h in state.hyps:
            acoustic[h.text] = logaddexp(acoustic.get(h.text, NEG_INF), h.acoustic)
            first.setdefault(h.text, h)
        ranked = []
        for text, h in first.items():
            score, state = acoustic[text] + h.lm, h.lm_state
            if h.word:
                ws, state = self._word_score(h.lm_state, h.word)
                score += ws
            if self.hot is not None:  # a phrase left unfinished gives back what it had earned
                state, match = state
                score -= match.pending
            if self.lm is not None:
                score += self.cfg.alpha * self.lm.end(state) * LN10
            ranked.append((score, h))
        ranked.sort(key=_first, reverse=True)  # stable: of equal scores, the one the beam ranked first leads
        return [Hypothesis(self.tok.decode(h.tokens), words_of(h, self.tok, self.cfg.confidence_power), score)
                for score, h in ranked[:n]]


_first = itemgetter(0)  # the sort key of (score, entry) pairs
CACHE_LIMIT = 100_000  # entries a decoder's cache holds before it starts over (a long stream's memory stays bounded)


def _remember(cache: dict, key, value):
    """Store ``value`` under ``key`` and return it; a cache that has reached CACHE_LIMIT starts over first.

    >>> c = {}
    >>> _remember(c, "the", -1.0), c
    (-1.0, {'the': -1.0})
    """
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def _future(entry: list) -> tuple:
    """What decides all that a search entry [base, extension or None, p_b, p_nb, peak] can still gain: the LM state
    after its finished words, its unfinished word and its last token.

    Prefixes that differ only further back than the LM's order ("the hooks of the pillars and their phil"
    and "the who of the pillars and their phil" under a 4-gram model) gain the same from every frame to
    come (all but a repeat of the last token, which only their blank-ended paths can emit anew), so the
    worse one all but never ends up best. The search keeps the better (hypothesis recombination) and gives
    the other's place in the beam to an alternative that can still win. Without an LM the unfinished word
    and the last token alone decide the future.
    """
    base, ext = entry[0], entry[1]
    if ext is not None:
        token, _, (_, lm_state, word, _, _) = ext
        return lm_state, word, token
    return base.lm_state, base.word, base.last


def _hyp(entry: list, frame: int) -> Hyp:
    """The Hyp of a search entry [base, extension or None, p_b, p_nb, the last token's posterior where a repeat
    continued it, or None] at ``frame``. A token's confidence is the highest posterior of its spike: from the
    frame its prefix was born (often the spike's rising edge) through the frames that repeat it."""
    base, ext, p_b, p_nb, peak = entry
    if ext is None:
        probs = base.probs
        if peak is not None and (q := math.exp(peak)) > probs[-1]:
            probs = probs[:-1] + (q,)
        return Hyp(base.tokens, base.frames, probs, p_b, p_nb, base.lm, base.lm_state, base.word, base.partial,
                   base.text)
    token, logp, lang = ext
    return Hyp(base.tokens + (token,), base.frames + (frame,), base.probs + (math.exp(logp),), p_b, p_nb, *lang)


def words_of(h: Hyp, tok: Tokenizer, power: float = 1.0) -> tuple[WordInfo, ...]:
    """Split a hypothesis into words with first/last frames and confidence: the mean of their tokens' (peak)
    posteriors to ``power`` (``DecoderConfig.confidence_power``)."""
    words, cur = [], []  # cur: (text, frame, prob) of the tokens of the open word
    for t, fr, pr in zip(h.tokens, h.frames, h.probs):
        text = tok.tokens[t]
        if tok.word_start[t]:
            if cur:
                words.append(_word(cur, power))
            cur = [(text[1:], fr, pr)] if text != " " else []
        else:
            cur.append((text, fr, pr))
    if cur:
        words.append(_word(cur, power))
    return tuple(words)


def _word(cur: list[tuple[str, int, float]], power: float) -> WordInfo:
    text = "".join(t for t, _, _ in cur)
    return WordInfo(text, cur[0][1], cur[-1][1] + 1, round((sum(p for _, _, p in cur) / len(cur)) ** power, 3))
