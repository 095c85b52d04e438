"""How far a final's word confidences (``conf``) can be trusted: do wrong words get lower ones?

    python benchmarks/confidence.py [--corpus work/corpus-engines] [--limit N]
    python benchmarks/confidence.py --tune [--corpus work/corpus-engines] [--limit N]

Each test utterance goes through a session (320 ms chunks, beam search + LM, the defaults); each word of its
finals is aligned to the reference (jiwer's word alignment) and is right (the same word) or wrong (a
substitution or an insertion; deleted words have no confidence to judge). Per split: how often a wrong word
has a lower confidence than a right one (the ROC curve's area, AUC: 0.5 is no better than chance); what a
threshold would flag (words under it, share of the wrong words among those, share of all wrong words it
catches); and calibration: per confidence band, the share of its words that are right (a calibrated
confidence of 0.8 is right 80% of the time), and the expected calibration error (ECE, the mean gap,
weighted by words). Writes benchmarks/results/confidence.{json,md} and the README's confidence block.

``--tune`` chooses ``DecoderConfig.confidence_power`` instead: a word's confidence is the mean of its pieces'
peak posteriors to that power, and a monotone map changes no ranking (AUC) but the calibration; on the two
dev splits (the first 200 utterances of each; never the tests) each power of a grid is read by its ECE, and
the least mean of the two wins (within 0.001 of it, the one nearest 1: the least change). Writes
confidence_tune.{json,md} and its README block.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from results_io import publish  # noqa: E402
from splits import add_split_args, read_splits  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.data.manifest import read_manifest  # noqa: E402
from streamasr.decoder import DecoderConfig  # noqa: E402
from streamasr.events import Final  # noqa: E402
from streamasr.metrics import right_pairs  # noqa: E402
from streamasr.recognizer import Recognizer  # noqa: E402

THRESHOLDS = (0.5, 0.7, 0.8, 0.9)
POWERS = (1.0, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)
DEV_SPLITS, DEV_UTTERANCES = ("dev", "dev-unseen-voices"), 200
BANDS = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 1.0)


def right_words(ref: str, hyp: list[str]) -> list[bool]:
    """For each word of ``hyp``, whether the word alignment to ``ref`` makes it right (not a substitution or an
    insertion).

    >>> right_words("in the beginning god created", ["in", "a", "beginning", "god", "and", "created"])
    [True, False, True, True, False, True]
    >>> right_words("in the beginning", [])
    []
    """
    right = [False] * len(hyp)
    for _, j in right_pairs(ref, hyp):
        right[j] = True
    return right


def auc(conf: np.ndarray, right: np.ndarray) -> float:
    """The probability that a random wrong word's confidence is below a random right word's (ties count half):
    the ROC curve's area for telling wrong words by low confidence.

    >>> auc(np.array([0.9, 0.8, 0.3, 0.6]), np.array([True, True, False, False]))
    1.0
    >>> auc(np.array([0.5, 0.5]), np.array([True, False]))
    0.5
    """
    good, bad = conf[right], conf[~right]
    if not len(good) or not len(bad):
        return float("nan")
    below = (bad[:, None] < good[None, :]).sum() + 0.5 * (bad[:, None] == good[None, :]).sum()
    return float(below / (len(good) * len(bad)))


def flagged(conf: np.ndarray, right: np.ndarray, threshold: float) -> dict:
    """What flagging the words under ``threshold`` would do: share of words flagged, share of the flagged that
    are wrong (precision), share of the wrong words flagged (recall).

    >>> flagged(np.array([0.9, 0.4, 0.3, 0.8]), np.array([True, True, False, False]), 0.5)
    {'threshold': 0.5, 'flagged': 0.5, 'wrong_of_flagged': 0.5, 'wrong_caught': 0.5}
    """
    low = conf < threshold
    return {"threshold": threshold, "flagged": float(low.mean()),
            "wrong_of_flagged": float((~right[low]).mean()) if low.any() else float("nan"),
            "wrong_caught": float(low[~right].mean()) if (~right).any() else float("nan")}


def bands(conf: np.ndarray, right: np.ndarray, edges: tuple[float, ...] = BANDS) -> list[dict]:
    """Per confidence band [lo, hi) (the last one closed), its words, their mean confidence and the share right.

    >>> [(b["words"], b["right"]) for b in bands(np.array([0.2, 0.9, 0.95, 1.0]), np.array([False, True, True, True]),
    ...                                         (0.0, 0.5, 0.95, 1.0))]
    [(1, 0.0), (1, 1.0), (2, 1.0)]
    """
    out = []
    for lo, hi in zip(edges, edges[1:]):
        inside = (conf >= lo) & ((conf < hi) if hi < edges[-1] else (conf <= hi))
        out.append({"lo": lo, "hi": hi, "words": int(inside.sum()),
                    "mean_conf": float(conf[inside].mean()) if inside.any() else float("nan"),
                    "right": float(right[inside].mean()) if inside.any() else float("nan")})
    return out


def ece(conf: np.ndarray, right: np.ndarray, n: int = 10) -> float:
    """Expected calibration error: over ``n`` equal-width bands, the gap between mean confidence and the share
    right, weighted by the band's words.

    >>> round(ece(np.array([0.95, 0.95, 0.15, 0.15]), np.array([True, True, False, False])), 3)
    0.1
    """
    rows = bands(conf, right, tuple(np.linspace(0.0, 1.0, n + 1)))
    return float(sum(abs(b["mean_conf"] - b["right"]) * b["words"] for b in rows if b["words"]) / len(conf))


def judged_words(rec: Recognizer, utts: list) -> tuple[np.ndarray, np.ndarray]:
    """(W,) confidence and (W,) rightness of every final word of the utterances."""
    confs, rights = [], []
    for u in utts:
        session = rec.session()
        events = session.accept(load_audio(u.audio)) + session.finish()
        words = [w for e in events if isinstance(e, Final) for w in e.words]
        rights += right_words(u.text, [w.word for w in words])
        confs += [w.conf for w in words]
    return np.array(confs), np.array(rights, dtype=bool)


def best_power(eces: dict[float, float], margin: float = 0.001) -> float:
    """The power of least ECE (``eces``: power -> mean ECE over the dev splits); within ``margin`` of it, the
    one nearest 1 (the least change to the posteriors).

    >>> best_power({1.0: 0.07, 0.5: 0.0262, 0.4: 0.0258})
    0.5
    """
    least = min(eces.values())
    return min((p for p, e in eces.items() if e <= least + margin), key=lambda p: abs(1.0 - p))


def measure(rec: Recognizer, utts: list) -> dict:
    """Every final word of the utterances with its confidence and whether it is right."""
    conf, right = judged_words(rec, utts)
    return {"utterances": len(utts), "words": len(conf), "wrong": float((~right).mean()),
            "conf_right": float(conf[right].mean()), "conf_wrong": float(conf[~right].mean()),
            "auc": auc(conf, right), "ece": ece(conf, right),
            "thresholds": [flagged(conf, right, t) for t in THRESHOLDS], "bands": bands(conf, right)}


def table(results: dict) -> str:
    """The README block: a summary per split, what thresholds would flag, and calibration by band."""
    splits = list(results)
    pc = lambda x: "–" if np.isnan(x) else f"{100 * x:.0f}%"  # noqa: E731
    lines = ["| split | words | wrong | mean conf, right / wrong words | AUC | ECE |", "|---|---|---|---|---|---|"]
    for s, r in results.items():
        lines.append(f"| {s} | {r['words']} | {100 * r['wrong']:.1f}% | {r['conf_right']:.2f} / {r['conf_wrong']:.2f} "
                     f"| {r['auc']:.2f} | {r['ece']:.3f} |")
    lines += ["", "| flag words with conf under | " + " | ".join(f"{s}: flagged / wrong of those / wrong caught"
                                                            for s in splits) + " |",
              "|---|" + "---|" * len(splits)]
    for i, t in enumerate(THRESHOLDS):
        cells = [" / ".join(pc(results[s]["thresholds"][i][k]) for k in ("flagged", "wrong_of_flagged", "wrong_caught"))
                 for s in splits]
        lines.append(f"| {t:g} | " + " | ".join(cells) + " |")
    lines += ["", "| conf band | " + " | ".join(f"{s}: words / mean conf / right" for s in splits) + " |",
              "|---|" + "---|" * len(splits)]
    for i, b in enumerate(results[splits[0]]["bands"]):
        cells = []
        for s in splits:
            c = results[s]["bands"][i]
            cells.append(f"{c['words']} / {c['mean_conf']:.2f} / {pc(c['right'])}" if c["words"] else "0")
        closed = "]" if b["hi"] == BANDS[-1] else ")"
        lines.append(f"| [{b['lo']:g}, {b['hi']:g}{closed} | " + " | ".join(cells) + " |")
    n = results[splits[0]]["utterances"]
    lines.append(f"\n{n} utterances per split, 320 ms chunks, beam search + LM (the defaults: confidence_power "
                 f"{DecoderConfig().confidence_power:g}); a word is wrong where "
                 "the alignment to the reference makes it a substitution or an insertion. *AUC*: how often a wrong "
                 "word's confidence is below a right one's (0.5: chance). *ECE*: the mean gap between a band's "
                 "confidence and its share of right words (ten bands), weighted by words. Produced by "
                 "`python benchmarks/confidence.py`.")
    return "\n".join(lines) + "\n"


def tune(args: argparse.Namespace) -> None:
    """``--tune``: each power's ECE on the dev splits, the winner, and what ``DecoderConfig`` holds."""
    held = DecoderConfig().confidence_power
    rec = Recognizer.from_pretrained(decoder=DecoderConfig(confidence_power=1.0))  # the means, raw
    n = args.limit or DEV_UTTERANCES
    judged = {s: judged_words(rec, read_manifest(Path(args.corpus) / f"{s}.jsonl")[:n]) for s in DEV_SPLITS}
    eces = {p: {s: ece(conf ** p, right) for s, (conf, right) in judged.items()} for p in POWERS}
    best = best_power({p: float(np.mean(list(e.values()))) for p, e in eces.items()})
    lines = ["| power | " + " | ".join(f"ECE {s}" for s in DEV_SPLITS) + " | mean |",
             "|---|" + "---|" * (len(DEV_SPLITS) + 1)]
    for p, e in eces.items():
        cells = [*(e[s] for s in DEV_SPLITS), float(np.mean(list(e.values())))]
        lines.append(f"| {p:g} | " + " | ".join(f"**{x:.3f}**" if p == best else f"{x:.3f}" for x in cells) + " |")
    lines.append(f"\nThe first {n} utterances of each dev split, 320 ms chunks, beam search + LM; a word's confidence "
                 f"is the mean of its pieces' peak posteriors to the power. Best: {best:g} (least mean ECE; within "
                 f"0.001 of it, the nearest 1); `DecoderConfig.confidence_power` holds {held:g}"
                 f"{'' if held == best else f' (it should hold {best:g})'}. Produced by "
                 "`python benchmarks/confidence.py --tune`.")
    data = {"powers": {str(p): e for p, e in eces.items()}, "best": best, "held": held, "utterances": n}
    publish("confidence_tune", data, "\n".join(lines) + "\n", partial=bool(args.limit))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(p)
    p.add_argument("--tune", action="store_true", help="choose DecoderConfig.confidence_power on the dev splits")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.tune:
        return tune(args)
    rec = Recognizer.from_pretrained()
    results = {split: measure(rec, utts) for split, utts in read_splits(args).items()}
    publish("confidence", results, table(results), partial=bool(args.limit))


if __name__ == "__main__":
    main()
