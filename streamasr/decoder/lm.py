"""Word n-gram language model through the ``kenlm`` module, with a unigram prefix set
for scoring the partial last word."""

from __future__ import annotations

import math
from pathlib import Path

import kenlm

LN10 = math.log(10.0)


def read_arpa_unigrams(path: Path) -> list[str]:
    """Words of the \\1-grams: section of an ARPA file, without <s>, </s>, <unk>."""
    words, inside = [], False
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line == "\\1-grams:":
                inside = True
            elif inside and line.startswith("\\"):
                break
            elif inside and line:
                w = line.split("\t")[1]
                if w not in ("<s>", "</s>", "<unk>"):
                    words.append(w)
    return words


class LanguageModel:
    """A KenLM model and its vocabulary. Scores are log10, as KenLM gives them."""

    def __init__(self, path: str | Path, unigrams: list[str] | None = None):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"language model not found: {path}")
        self.path = path
        self.model = kenlm.Model(str(path))
        if unigrams is None:
            side = path.with_suffix(".unigrams.txt")
            if path.suffix == ".arpa":
                unigrams = read_arpa_unigrams(path)
            elif side.is_file():
                unigrams = side.read_text(encoding="utf-8").split()
            else:
                raise FileNotFoundError(f"{path} is binary: its word list {side} is needed beside it")
        self.unigrams = frozenset(unigrams)
        self.prefixes = frozenset(w[:i] for w in self.unigrams for i in range(1, len(w) + 1))

    def begin(self) -> kenlm.State:
        state = kenlm.State()
        self.model.BeginSentenceWrite(state)
        return state

    def score(self, state: kenlm.State, word: str) -> tuple[float, kenlm.State, bool]:
        """log10 P(word | state), the next state, and whether the word is out of vocabulary."""
        out = kenlm.State()
        logp = self.model.BaseScore(state, word, out)
        return logp, out, word not in self.unigrams

    def end(self, state: kenlm.State) -> float:
        """log10 P(</s> | state)."""
        return self.model.BaseScore(state, "</s>", kenlm.State())
