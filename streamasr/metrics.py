"""Word and character error rates (through jiwer)."""

from __future__ import annotations

import jiwer


def error_rate(refs: list[str], hyps: list[str], chars: bool = False) -> float:
    """Corpus WER (or CER with ``chars``): edits / reference length.

    >>> error_rate(["a b c"], ["a c"]), error_rate(["abcd"], ["abed"], chars=True)
    (0.3333333333333333, 0.25)
    """
    if not refs:
        return 0.0
    hyps = [h if h.strip() else "" for h in hyps]
    measure = jiwer.cer if chars else jiwer.wer
    return float(measure(refs, hyps))
