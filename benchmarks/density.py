"""Where the bundled model's errors come from: errors against CTC token density. Writes
benchmarks/results/density.{json,md}.

    python benchmarks/density.py [--corpus work/corpus-engines] [--model DIR]

A CTC model must spend one encoder frame on every token of the transcript, and one more on a blank
between two equal tokens ("ll" in "all"), so an utterance whose tokens need more frames than it has
cannot be transcribed whole. The density of an utterance is what its transcript needs in characters
over the encoder frames its audio gives (40 ms each, silence included); it is measured in characters
for every model, so that a model with other tokens (BPE pieces) is compared on the same quarters. The
test utterances of both splits are cut into quarters by density and each quarter's character errors
are split into substitutions, deletions and insertions (per reference character), for the streaming setting the README quotes
(320 ms chunks) with greedy search (the acoustic model alone) and with beam search + LM.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jiwer
import numpy as np
import torch

from streamasr.audio import load_audio
from streamasr.encoder.masks import subsampled_length
from streamasr.features import num_frames
from streamasr.metrics import error_rate
from streamasr.recognizer import Recognizer
from streamasr.tokens import Tokenizer

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import run  # noqa: E402
from results_io import model_result_name, publish  # noqa: E402
from splits import SPLITS, read_splits  # noqa: E402

SEARCHES = (("greedy", "320 ms chunks, greedy"), ("beam", "320 ms chunks, beam + LM"))


def frames_needed(ids: list[int]) -> int:
    """Encoder frames a CTC path for ``ids`` needs at least: one a token, plus a blank between repeats.

    >>> frames_needed([1, 2, 2, 3]), frames_needed([])
    (5, 0)
    """
    return len(ids) + sum(a == b for a, b in zip(ids, ids[1:]))


def quarter_rows(density: np.ndarray, refs: list[str], hyps: list[str]) -> list[dict]:
    """Per density quarter: its range, utterances, WER, and character edits per reference character."""
    edges = np.quantile(density, [0, 0.25, 0.5, 0.75, 1])
    which = np.clip(np.searchsorted(edges, density, side="right") - 1, 0, 3)  # (U,) quarter of each utterance
    rows = []
    for q in range(4):
        r = [x for x, w in zip(refs, which) if w == q]
        h = [x for x, w in zip(hyps, which) if w == q]
        chars = jiwer.process_characters(r, h)
        n = sum(len(x) for x in r)
        rows.append({"low": float(edges[q]), "high": float(edges[q + 1]), "utterances": len(r),
                     "wer": error_rate(r, h), "substitutions": chars.substitutions / n,
                     "deletions": chars.deletions / n, "insertions": chars.insertions / n})
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines", help="folder written by `streamasr data synth`")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer.from_pretrained(args.model)
    utts = [u for split in read_splits(args).values() for u in split]
    audio, refs = [load_audio(u.audio) for u in utts], [u.text for u in utts]
    cfg = rec.model.feature_cfg
    chars = Tokenizer.characters()  # the same measure whatever the model's tokens: quarters hold the same utterances
    density = np.array([frames_needed(chars.encode(r)) / subsampled_length(num_frames(len(a), cfg))
                        for r, a in zip(refs, audio)])  # (U,)
    results = []
    for search, label in SEARCHES:
        hyps = run(rec, audio, refs, 320, search)["hyps"]
        results.append({"setting": label, "quarters": quarter_rows(density, refs, hyps)})
        print(label, flush=True)
    lines = ["| density | utterances | setting | WER | char. substitutions | deletions | insertions |",
             "|---|---|---|---|---|---|---|"]
    for q in range(4):
        for r in results:
            row = r["quarters"][q]
            lines.append(f"| {row['low']:.2f}–{row['high']:.2f} | {row['utterances']} | {r['setting']} | "
                         f"{100 * row['wer']:.1f}% | {100 * row['substitutions']:.1f}% | "
                         f"{100 * row['deletions']:.1f}% | {100 * row['insertions']:.1f}% |")
    lm_rows = results[-1]["quarters"]
    lines.append(f"\nWith {results[-1]['setting']}, the densest quarter loses "
                 f"{lm_rows[3]['deletions'] / lm_rows[0]['deletions']:.1f}x the characters to deletion that the "
                 f"sparsest does ({100 * lm_rows[3]['deletions']:.1f}% against {100 * lm_rows[0]['deletions']:.1f}%), "
                 f"substitutions {100 * lm_rows[3]['substitutions']:.1f}% against "
                 f"{100 * lm_rows[0]['substitutions']:.1f}%; WER {lm_rows[3]['wer'] / lm_rows[0]['wer']:.1f}x.")
    over = float((density > 1).mean())
    command = "python benchmarks/density.py" + (f" --model {args.model}" if args.model else "")
    lines.append(f"\nDensity: encoder frames the transcript needs in characters (one each, a blank between repeats) over "
                 f"the frames of the audio (40 ms each, silence included); median {np.median(density):.2f}, "
                 f"{100 * over:.1f}% of utterances above 1. Edits per reference character. {len(utts)} utterances "
                 f"({' and '.join(SPLITS)}), model `{args.model or 'bundled'}`; produced by `{command}`.")
    data = {"model": args.model or "bundled", "median_density": float(np.median(density)),
            "share_over_one": over, "results": results}
    name = "density" if args.model is None else model_result_name("density", args.model)
    publish(name, data, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
