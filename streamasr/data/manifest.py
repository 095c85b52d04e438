"""JSON-lines manifests: one utterance a line with ``audio``, ``duration``, ``text``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Utterance:
    audio: Path  # absolute path
    duration: float  # seconds
    text: str  # transcript
    voice: str = ""  # speaker or TTS voice, when known


def read_manifest(path: str | Path) -> list[Utterance]:
    path = Path(path)
    out = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            audio = Path(row["audio"])
            out.append(Utterance(audio if audio.is_absolute() else path.parent / audio, float(row["duration"]),
                                 row["text"], row.get("voice", "")))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}:{n}: not a manifest line ({e})") from None
    return out
