"""Accuracy by input level: the test splits played quieter and louder, as a microphone's volume sets them.

    python benchmarks/levels.py [--corpus work/corpus-engines] [--limit N]

Each utterance is scaled by a gain, clipped at full scale as a device clips, and streamed through a
session as ``streamasr mic`` runs one (torch encoder, 320 ms chunks, beam search + LM). Its level is
measured as ``streamasr mic``'s input check measures a microphone's (``streamasr.levels.InputCheck``): the
RMS of 100 ms blocks in dB against full scale (dBFS). The table gives each gain's median utterance RMS,
its median loudest block, the share of utterances whose loudest block stays under the check's line
(``QUIET_DBFS``): those a microphone that quiet would be warned of, and the share of samples clipped.
Writes benchmarks/results/levels.{json,md} and the README block.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from streamasr.audio import load_audio
from streamasr.events import transcript
from streamasr.metrics import error_rate
from streamasr.levels import FULL_SCALE, QUIET_DBFS, block_dbfs
from streamasr.recognizer import Recognizer

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine_line  # noqa: E402
from results_io import publish  # noqa: E402
from splits import SPLITS, add_split_args, read_splits  # noqa: E402

GAINS_DB = (20, 10, 6, 0, -10, -20, -30, -35, -40, -45)  # against the corpus's own level
BLOCK = 1600  # samples: the microphone's 100 ms blocks at 16 kHz


def levels_dbfs(x: np.ndarray) -> tuple[float, float]:
    """(RMS of the whole, RMS of the loudest whole 100 ms block) of samples x (S,), in dBFS, each measured as
    ``mic``'s input check measures a block (``block_dbfs``).

    >>> [round(v, 1) for v in levels_dbfs(np.r_[np.full(1600, 0.1), np.zeros(1600)].astype(np.float32))]
    [-23.0, -20.0]
    """
    return block_dbfs(x), max(block_dbfs(x[i : i + BLOCK]) for i in range(0, max(len(x) - BLOCK + 1, 1), BLOCK))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(p)
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer.from_pretrained()
    tests = {split: ([u.text for u in utts], [load_audio(u.audio) for u in utts])  # split -> (references, audio)
             for split, utts in read_splits(args).items()}
    rows = []
    for db in GAINS_DB:
        row: dict = {"gain_db": db}
        measured, clipped, samples = [], 0, 0  # (whole, loudest) dBFS of every utterance of both splits
        for split, (refs, audio) in tests.items():
            hyps = []
            for x in audio:
                y = np.clip(x * 10 ** (db / 20), -1.0, 1.0).astype(np.float32)  # (S,)
                measured.append(levels_dbfs(y))
                clipped, samples = clipped + int(np.sum(np.abs(y) >= FULL_SCALE)), samples + len(y)
                s = rec.session(chunk_ms=320)
                hyps.append(transcript(s.accept(y) + s.finish()))
            row[split] = {"wer": error_rate(refs, hyps), "utterances": len(refs)}
        whole, loudest = np.array(measured).T  # (U,) each
        row |= {"rms_dbfs": float(np.median(whole)), "loudest_dbfs": float(np.median(loudest)),
                "under_line": float(np.mean(loudest < QUIET_DBFS)), "clipped": clipped / samples}
        rows.append(row)
        print(json.dumps(row), flush=True)
    lines = ["| gain | utterance RMS (median) | loudest 100 ms (median) | loudest under "
             f"{QUIET_DBFS:.0f} dBFS | samples at full scale | WER seen voices | WER unseen voices |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        gain = f"{r['gain_db']:+d} dB" if r["gain_db"] else "0 (as synthesized)"
        lines.append(f"| {gain} | {r['rms_dbfs']:.0f} dBFS | {r['loudest_dbfs']:.0f} dBFS | "
                     f"{100 * r['under_line']:.0f}% | {100 * r['clipped']:.2f}% | {100 * r[SPLITS[0]]['wer']:.1f}% | "
                     f"{100 * r[SPLITS[1]]['wer']:.1f}% |")
    n = rows[0][SPLITS[0]]["utterances"]
    lines.append(f"\n{n} utterances per split, each scaled by the gain (clipped at full scale) and streamed through "
                 "a session as `streamasr mic` runs one (torch encoder, 320 ms chunks, beam search + LM); levels are "
                 f"RMS in dB against full scale, a block being 100 ms as the microphone sends them; the fourth column "
                 f"is the share of utterances (both splits) whose loudest block stays under the line of `mic`'s input "
                 f"check, the fifth the share of samples at full scale (|x| ≥ {FULL_SCALE:g}). {machine_line()} "
                 "Produced by `python benchmarks/levels.py`.")
    publish("levels", rows, "\n".join(lines) + "\n", partial=bool(args.limit))


if __name__ == "__main__":
    main()
