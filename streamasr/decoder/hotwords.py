"""Hotwords: the words and phrases a stream favours, as a small pure matcher the beam search consults.

A phrase of n words earns ``weight`` for each, n times ``weight`` in all, once it is complete. On the way it
earns its share of that as it goes - k of its n words finished, and the letters of the next, earn
``weight * (k + letters' share of the word) / n`` - and a phrase that breaks off gives that back, from the
first letter that leaves it. What is not yet confirmed therefore never exceeds one ``weight``, whatever the
phrase's length, so a hypothesis on its way into a phrase can only push out of the beam those it could have
pushed out as a single hotword; and of "the beatles" only "the" on its way to "beatles" is favoured, never
"the" on its own (WeNet's context graph follows a phrase token by token in the same way). A phrase that
begins a longer one ("john", "john smith") keeps what it earned, and the longer one earns the rest on the
same terms; where two phrases overlap ("a b" and "b c", said as "a b c") their shared word counts for both.
"""

from __future__ import annotations

from typing import NamedTuple


class Match(NamedTuple):
    """Where a hypothesis stands: the words at its end that begin a phrase, and what they have earned that
    breaking off would give back (nothing, once a phrase is complete)."""

    words: tuple[str, ...] = ()
    pending: float = 0.0


NO_MATCH = Match()


class Hotwords:
    """Phrases of one or more words (``"london"``, ``"the beatles"``). Its answers never change once built."""

    def __init__(self, phrases: tuple[str, ...] | list[str], weight: float):
        self.weight = weight
        self.phrases = frozenset(tuple(p.lower().split()) for p in phrases if p.split())
        self.span: dict[tuple[str, ...], int] = {}  # words that begin a phrase -> the longest such phrase's length
        for p in self.phrases:
            for i in range(1, len(p) + 1):
                self.span[p[:i]] = max(self.span.get(p[:i], 0), len(p))
        self.words = frozenset(w for p in self.phrases for w in p)
        self._letters = frozenset(w[:i] for w in self.words for i in range(1, len(w) + 1))  # that begin a word
        self._next: dict[tuple[str, ...], dict[str, float]] = {}  # match words -> letters -> value (``_spelled``)

    def advance(self, match: Match, word: str) -> tuple[float, Match]:
        """What a finished ``word`` earns, less what a phrase it breaks off had earned; and the match after it.

        >>> hw = Hotwords(["the beatles", "london"], 2.0)
        >>> hw.advance(NO_MATCH, "the")  # 1 of 2 words: half of one weight, for now
        (1.0, Match(words=('the',), pending=1.0))
        >>> hw.advance(Match(("the",), 1.0), "beatles")  # complete: two weights in all, kept
        (3.0, Match(words=(), pending=0.0))
        >>> hw.advance(Match(("the",), 1.0), "flocks")  # broken off: given back
        (-1.0, Match(words=(), pending=0.0))
        >>> hw.advance(Match(("the",), 1.0), "london")  # broken off, and another phrase completed
        (1.0, Match(words=(), pending=0.0))
        >>> Hotwords(["john", "john smith"], 2.0).advance(NO_MATCH, "john")  # kept, and a longer one may follow
        (2.0, Match(words=('john',), pending=0.0))
        """
        run = match.words + (word,)
        while run and run not in self.span:  # the longest run of last words that begins a phrase
            run = run[1:]
        if not run:
            return -match.pending, NO_MATCH
        value, pending = self._value(run)
        # Going on, the run's value so far is already earned; starting afresh, the old run's pending goes back
        earned = value - self._value(match.words)[0] if len(run) == len(match.words) + 1 else value - match.pending
        if run in self.phrases and self.span[run] == len(run):  # complete, and no longer phrase goes on from it
            return earned, NO_MATCH
        return earned, Match(run, pending)

    def _value(self, run: tuple[str, ...]) -> tuple[float, float]:
        """What a run of words that begins a phrase has earned, and of that what is not yet confirmed: a
        weight for each word up to its longest complete phrase (``banked``), and for the words after it their
        share of the way to the longest phrase it begins.

        >>> Hotwords(["john", "john smith jones"], 2.0)._value(("john", "smith"))  # "john" banked, then 1 of 2
        (3.0, 1.0)
        """
        if not run:
            return 0.0, 0.0
        banked = self._banked(run)
        if banked == len(run):
            return self.weight * banked, 0.0
        pending = self.weight * (len(run) - banked) / (self.span[run] - banked)
        return self.weight * banked + pending, pending

    def _banked(self, words: tuple[str, ...]) -> int:
        """How many of ``words`` its longest complete phrase at their start holds (0: none).

        >>> Hotwords(["john", "john smith jones"], 2.0)._banked(("john", "smith"))
        1
        """
        return max((k for k in range(1, len(words) + 1) if words[:k] in self.phrases), default=0)

    def partial(self, match: Match, letters: str) -> float:
        """What the unfinished word ``letters`` earns for now, beyond what the match has earned: its share of
        a word that goes on with the phrase under way; else, that phrase given back, its share of a word that
        begins one.

        >>> hw = Hotwords(["the beatles", "london"], 2.0)
        >>> hw.partial(NO_MATCH, "lon"), hw.partial(NO_MATCH, "th")  # 3 of 6 letters of 1 word; 2 of 3 of 2
        (1.0, 0.6666666666666666)
        >>> hw.partial(Match(("the",), 1.0), "beatl")  # 5 of 7 letters of the second of 2 words
        0.7142857142857143
        >>> hw.partial(Match(("the",), 1.0), "fl"), hw.partial(Match(("the",), 1.0), "lond")  # 1 back; less 4/6
        (-1.0, 0.33333333333333326)
        """
        going_on = self._spelled(match.words).get(letters) if match.words else None
        if going_on is not None:
            return self.weight * going_on
        return self.weight * self._spelled(()).get(letters, 0.0) - match.pending

    def begins_a_word(self, letters: str) -> bool:
        """Whether ``letters`` begin (or are) one of the hotwords' words: the search's vocabulary has them.

        >>> Hotwords(["the beatles"], 2.0).begins_a_word("beat"), Hotwords(["the beatles"], 2.0).begins_a_word("x")
        (True, False)
        """
        return letters in self._letters

    def _spelled(self, words: tuple[str, ...]) -> dict[str, float]:
        """Letters -> the most they earn (in weights) as the start of a word that goes on from ``words`` (the
        first words of every phrase, for none): their share of that word over the words left to confirm."""
        table = self._next.get(words)
        if table is None:
            table = {}
            banked = self._banked(words)
            for p in self.phrases:
                if len(p) > len(words) and p[: len(words)] == words:
                    w, n = p[len(words)], self.span[p[: len(words) + 1]]
                    for i in range(1, len(w) + 1):
                        table[w[:i]] = max(table.get(w[:i], 0.0), i / len(w) / (n - banked))
            self._next[words] = table
        return table
