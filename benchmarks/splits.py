"""The held-out test splits most benchmarks read, and the two arguments that choose them: ``--corpus``
(the folder ``streamasr data synth`` wrote) and ``--limit`` (the first N utterances of each split)."""

from __future__ import annotations

import argparse
from pathlib import Path

from streamasr.data.manifest import Utterance, read_manifest

SPLITS = ("test-seen-voices", "test-unseen-voices")


def add_split_args(p: argparse.ArgumentParser) -> None:
    """``--corpus`` and ``--limit``, as ``read_splits`` takes them."""
    p.add_argument("--corpus", default="work/corpus-engines", help="folder written by `streamasr data synth`")
    p.add_argument("--limit", type=int, default=0, help="utterances per split (0: all)")


def read_splits(args: argparse.Namespace) -> dict[str, list[Utterance]]:
    """Each test split's utterances (``args.corpus``/SPLIT.jsonl), the first ``args.limit`` of each if set."""
    out = {}
    for split in SPLITS:
        utts = read_manifest(Path(args.corpus) / f"{split}.jsonl")
        out[split] = utts[: args.limit] if getattr(args, "limit", 0) else utts
    return out
