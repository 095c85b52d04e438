"""Word and character error rates (through jiwer), which words are right, and how the partials of a segment led
to its final."""

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


def right_pairs(ref: str, hyp: list[str]) -> list[tuple[int, int]]:
    """(index in ``ref``'s words, index in ``hyp``) of each word that the word alignment (the one WER counts
    by) makes right: neither a substitution nor an insertion.

    >>> right_pairs("in the beginning god created", ["in", "a", "beginning", "god", "and", "created"])
    [(0, 0), (2, 2), (3, 3), (4, 5)]
    >>> right_pairs("in the beginning", [])
    []
    """
    if not hyp:
        return []
    return [(chunk.ref_start_idx + k, chunk.hyp_start_idx + k)
            for chunk in jiwer.process_words(ref, " ".join(hyp)).alignments[0] if chunk.type == "equal"
            for k in range(chunk.hyp_end_idx - chunk.hyp_start_idx)]


def word_emergence(partials: list[list[str]], final: list[str]) -> list[tuple[int | None, int | None]]:
    """When each word of a segment's final showed among the segment's partials (each a list of words, in the
    order they came): for word i, the index of the first partial that holds it with every word before it as in
    the final (``final[:i + 1]`` its first words), and of the first from which every later partial does (it
    stopped changing there). None where no partial does: the final itself shows it, or ends its changes.

    >>> word_emergence([["in"], ["in", "a"], ["in", "the"], ["in", "the", "beg"]], ["in", "the", "beginning"])
    [(0, 0), (2, 2), (None, None)]
    >>> word_emergence([["and"], ["an"], ["and", "he"]], ["and", "he"])  # shown, taken back, shown again
    [(0, 2), (2, 2)]
    >>> word_emergence([["and", "he"], ["and", "be"]], ["and", "he"])  # the final takes it back again
    [(0, 0), (0, None)]
    """
    out = []
    for i in range(len(final)):
        head = final[: i + 1]
        holds = [p[: i + 1] == head for p in partials]
        first = holds.index(True) if True in holds else None
        stable = len(holds)
        while stable > 0 and holds[stable - 1]:
            stable -= 1  # back over the run of partials at the end that all hold it
        out.append((first, stable if stable < len(holds) else None))
    return out


def word_settling(stable_words: list[int], n: int) -> list[int | None]:
    """For each of the ``n`` words of a segment's final, the index of the first of the segment's partials whose
    ``stable_words`` (in order) cover it; None where none did (the final settles it).

    >>> word_settling([0, 1, 1, 3], 4)
    [1, 3, 3, None]
    """
    return [next((j for j, k in enumerate(stable_words) if k > i), None) for i in range(n)]


def revised_words(partials: list[list[str]], final: list[str]) -> tuple[int, int]:
    """Words a reader saw taken back in one segment: each partial's words that what came next (the next partial;
    the final after the last) does not hold at their place, but for a last word that only grew there ("beg"
    before "beginning": a word still being said); and of those, the ones before their partial's last word.

    >>> revised_words([["in"], ["in", "a"], ["in", "the", "beg"]], ["in", "the", "beginning"])  # "a" goes
    (1, 0)
    >>> revised_words([["and", "he", "said"], ["and", "be"]], ["and", "be", "sad"])  # "he said" goes
    (2, 1)
    """
    revised = before_last = 0
    for p, q in zip(partials, partials[1:] + [final]):
        shared = next((k for k, (a, b) in enumerate(zip(p, q)) if a != b), min(len(p), len(q)))
        taken = len(p) - shared
        if taken == 1 and shared < len(q) and q[shared].startswith(p[-1]):
            taken = 0  # its last word grew
        revised += taken
        before_last += max(0, len(p) - 1 - shared)
    return revised, before_last
