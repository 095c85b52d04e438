"""Best-path CTC decoding, with the same interface as the prefix beam search."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamasr.decoder.ctc_prefix import Hyp, Hypothesis, WordInfo, words_of
from streamasr.tokens import Tokenizer


@dataclass(frozen=True)
class GreedyState:
    tokens: tuple[int, ...]  # collapsed best path
    frames: tuple[int, ...]  # frame of each token
    probs: tuple[float, ...]  # its highest posterior over its run of frames
    last: int  # argmax of the previous frame (0 = blank)
    frame: int  # frames consumed


class GreedyDecoder:
    def __init__(self, tokenizer: Tokenizer, confidence_power: float = 1.0):
        self.tok = tokenizer
        self.power = confidence_power  # as ``DecoderConfig.confidence_power`` (chosen for the beam search)

    def forget(self) -> None:
        """Nothing to drop: the greedy search keeps no caches (``CTCPrefixDecoder.forget``)."""

    def init_state(self, frame: int = 0) -> GreedyState:
        return GreedyState((), (), (), 0, frame)

    def step(self, log_probs: np.ndarray, state: GreedyState) -> GreedyState:
        # log_probs: (T, V)
        toks, frames, probs, last, frame = list(state.tokens), list(state.frames), list(state.probs), \
            state.last, state.frame
        best = np.asarray(log_probs).argmax(-1)  # (T,)
        for t, c in enumerate(best.tolist()):
            if c != 0 and c != last:
                toks.append(c)
                frames.append(frame + t)
                probs.append(float(np.exp(log_probs[t, c])))
            elif c != 0:  # the token's run goes on: its confidence is the run's peak, as the beam search's
                probs[-1] = max(probs[-1], float(np.exp(log_probs[t, c])))
            last = c
        return GreedyState(tuple(toks), tuple(frames), tuple(probs), last, frame + len(best))

    def best_text(self, state: GreedyState) -> str:
        return self.tok.decode(state.tokens)

    def settled_words(self, state: GreedyState) -> int:
        """Every word of ``best_text`` but the last, which may still grow: the best path only ever adds tokens
        (``CTCPrefixDecoder.settled_words``)."""
        return max(0, len(self.best_text(state).split()) - 1)

    def finalize(self, state: GreedyState) -> Hypothesis:
        h = Hyp(state.tokens, state.frames, state.probs, 0.0, 0.0, 0.0, None, "", 0.0)
        return Hypothesis(self.tok.decode(state.tokens), words_of(h, self.tok, self.power), 0.0)

    def nbest(self, state: GreedyState, n: int) -> list[Hypothesis]:
        """The best path is the only text a greedy search has (``CTCPrefixDecoder.nbest``)."""
        return [self.finalize(state)]


__all__ = ["GreedyDecoder", "GreedyState", "WordInfo"]
