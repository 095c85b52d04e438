"""What a Session emits. Plain frozen dataclasses; ``to_dict`` gives the JSON shape."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Word:
    word: str
    start_ms: int
    end_ms: int
    conf: float  # in [0, 1]


@dataclass(frozen=True)
class Partial:
    text: str  # best hypothesis of the current segment so far
    audio_ms: int  # audio consumed by the encoder when this was produced
    stable_words: int = 0  # its first this many words are in the segment's final, whatever comes (0 with final_pass)
    type: str = "partial"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"type": self.type}


@dataclass(frozen=True)
class Alternative:
    """One of a final's ranked texts (``SessionConfig.alternatives``); the first is the final's own."""

    text: str
    score: float  # the search's log score (acoustic, LM and word bonuses): comparable within one final only
    words: tuple[Word, ...]

    def to_dict(self) -> dict:
        return {"text": self.text, "score": self.score, "words": [dataclasses.asdict(w) for w in self.words]}


@dataclass(frozen=True)
class Final:
    segment: int  # 0, 1, 2, ... within the session
    text: str
    start_ms: int
    end_ms: int
    words: tuple[Word, ...]
    alternatives: tuple[Alternative, ...] = ()  # best first, when the session asks for them
    type: str = "final"

    def to_dict(self) -> dict:
        d = {"type": self.type, "segment": self.segment, "text": self.text, "start_ms": self.start_ms,
             "end_ms": self.end_ms, "words": [dataclasses.asdict(w) for w in self.words]}
        if self.alternatives:
            d["alternatives"] = [a.to_dict() for a in self.alternatives]
        return d


Event = Partial | Final


def transcript(events: Iterable[Event]) -> str:
    """What a stream said: the texts of the finals among ``events``, in order, joined by spaces (a final
    with no words, as a segment of noise gives, adds nothing).

    >>> transcript([Partial("in the", 320), Final(0, "in the beginning", 0, 960, ()), Final(1, "", 960, 1600, ()),
    ...             Final(2, "god created", 1600, 2400, ())])
    'in the beginning god created'
    """
    return " ".join(e.text for e in events if e.type == "final" and e.text)
