"""Import a LibriSpeech-style folder (SPEAKER/CHAPTER/*.trans.txt + *.flac) as a manifest."""

from __future__ import annotations

import json
from pathlib import Path

import soundfile as sf


def import_librispeech(root: str | Path, out: str | Path) -> int:
    """Write a manifest with absolute paths for every utterance under ``root``; return the count."""
    root, n = Path(root).resolve(), 0
    with open(out, "w") as f:
        for trans in sorted(root.rglob("*.trans.txt")):
            for line in trans.read_text().splitlines():
                uid, _, text = line.partition(" ")
                audio = trans.parent / f"{uid}.flac"
                if not audio.is_file() or not text:
                    continue
                info = sf.info(str(audio))
                f.write(json.dumps({"audio": str(audio), "duration": round(info.frames / info.samplerate, 3),
                                    "text": text.lower(), "voice": uid.split("-")[0]}) + "\n")
                n += 1
    return n
