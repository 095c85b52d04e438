"""What a Session emits. Plain frozen dataclasses; ``to_dict`` gives the JSON shape."""

from __future__ import annotations

import dataclasses
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
    type: str = "partial"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"type": self.type}


@dataclass(frozen=True)
class Final:
    segment: int  # 0, 1, 2, ... within the session
    text: str
    start_ms: int
    end_ms: int
    words: tuple[Word, ...]
    type: str = "final"

    def to_dict(self) -> dict:
        return {"type": self.type, "segment": self.segment, "text": self.text, "start_ms": self.start_ms,
                "end_ms": self.end_ms, "words": [dataclasses.asdict(w) for w in self.words]}


Event = Partial | Final
