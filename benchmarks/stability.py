"""How soon a word shows in the partials, how soon it stops changing, and how many words the partials take back.

    python benchmarks/stability.py [--corpus work/corpus-engines] [--limit N]

Each test utterance, with 1 s of silence after it so that its final comes at the silence rule as a live
stream's does, goes through a Session in 20 ms pieces, as a real-time client sends them; each event is stamped
with the audio fed when it came out (chunking and look-ahead count, compute does not: that is
``benchmarks/latency.py``'s). For each word of each final, from its end (as the final times it):
*shown*: to the first partial holding it with every word before it as in the final (``metrics.word_emergence``);
*unchanged*: to the first partial from which every later partial of its segment holds it so, or to the final
where none does. *Taken back*: words of a partial that the next partial (or the final) does not hold at their
place, but for a last word that only grew ("beg" before "beginning"), per 100 words of the finals
(``metrics.revised_words``); *before the last*: of those, the ones before their partial's last word (a word
the reader had reason to think settled). Writes benchmarks/results/stability.{json,md}.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine_line  # noqa: E402
from results_io import publish  # noqa: E402
from splits import SPLITS, add_split_args, read_splits  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.endpoint import EndpointConfig  # noqa: E402
from streamasr.events import Final, Partial  # noqa: E402
from streamasr.metrics import revised_words, word_emergence, word_settling  # noqa: E402
from streamasr.recognizer import Recognizer  # noqa: E402

RATE, PIECE_MS, GAP_S = 16000, 20, 1.0
SILENCE_S = EndpointConfig().silence_after_speech_s  # the sessions' own (the default)
SETTINGS = (("160 ms chunks, beam + LM", 160, "beam"), ("320 ms chunks, beam + LM", 320, "beam"),
            ("640 ms chunks, beam + LM", 640, "beam"), ("320 ms chunks, greedy (no LM)", 320, "greedy"))


def stamped_events(rec: Recognizer, audio: np.ndarray, chunk_ms: int, search: str) -> list[tuple[int, object]]:
    """(audio ms fed when it came out, event) for every event of one utterance, ``GAP_S`` of silence after it."""
    x = np.concatenate([audio, np.zeros(int(GAP_S * RATE), np.float32)])
    s = rec.session(chunk_ms=chunk_ms, search=search)
    piece = RATE * PIECE_MS // 1000
    out = []
    for pos in range(0, len(x), piece):
        fed = min(pos + piece, len(x)) * 1000 // RATE
        out += [(fed, e) for e in s.accept(x[pos : pos + piece])]
    return out + [(len(x) * 1000 // RATE, e) for e in s.finish()]


def measure(events: list[tuple[int, object]]) -> dict[str, list[float] | int]:
    """One utterance's figures: each final word's ms to shown (None: no partial showed it), to unchanged, and to
    settled (the first partial whose ``stable_words`` cover it, or the final); words taken back, those before
    their partial's last word, partials whose settled words were not their final's (none, by construction),
    words of the finals, and each partial's words not yet settled.

    >>> from streamasr.events import Word
    >>> words = (Word("in", 0, 200, 0.9), Word("the", 240, 400, 0.9), Word("end", 440, 700, 0.9))
    >>> events = [(380, Partial("in", 320)), (700, Partial("in a", 640)), (1020, Partial("in the e", 960, 1)),
    ...           (1340, Partial("in the", 1280, 1)), (1500, Final(0, "in the end", 0, 1100, words))]
    >>> m = measure(events)
    >>> m["shown"], m["unchanged"], m["settled"]  # "end" shown by the final alone
    ([180, 620, None], [180, 620, 800], [820, 1100, 800])
    >>> m["revised"], m["not_last"], m["broken"], m["words"], m["unsettled"]  # "a" and "e" taken back
    (2, 0, 0, 3, [1, 2, 2, 1])
    """
    out = {"shown": [], "unchanged": [], "settled": [], "revised": 0, "not_last": 0, "broken": 0, "words": 0,
           "unsettled": []}
    partials: list[tuple[int, Partial]] = []  # (fed ms, event) of the open segment's partials
    for fed, e in events:
        if isinstance(e, Partial):
            partials.append((fed, e))
            out["unsettled"].append(len(e.text.split()) - e.stable_words)
        elif isinstance(e, Final):
            words, texts = [w.word for w in e.words], [p.text.split() for _, p in partials]
            settling = word_settling([p.stable_words for _, p in partials], len(words))
            for w, (first, stable), settled in zip(e.words, word_emergence(texts, words), settling):
                out["shown"].append(None if first is None else partials[first][0] - w.end_ms)
                out["unchanged"].append((fed if stable is None else partials[stable][0]) - w.end_ms)
                out["settled"].append((fed if settled is None else partials[settled][0]) - w.end_ms)
            revised, not_last = revised_words(texts, words)
            out["revised"] += revised
            out["not_last"] += not_last
            out["broken"] += sum(t[: p.stable_words] != words[: p.stable_words] for t, (_, p) in zip(texts, partials))
            out["words"] += len(words)
            partials = []
    return out


def row(name: str, split: str, figures: list[dict]) -> dict:
    shown = [ms for f in figures for ms in f["shown"]]
    words = sum(f["words"] for f in figures)
    timed = [ms for ms in shown if ms is not None]
    out = {"setting": name, "split": split, "words": words, "shown_share": len(timed) / max(words, 1),
           "shown_p50": float(np.percentile(timed, 50)), "shown_p95": float(np.percentile(timed, 95))}
    for key in ("unchanged", "settled"):
        ms = [x for f in figures for x in f[key]]
        out[f"{key}_p50"], out[f"{key}_p95"] = float(np.percentile(ms, 50)), float(np.percentile(ms, 95))
    unsettled = [n for f in figures for n in f["unsettled"]]
    out["unsettled_p50"], out["unsettled_p90"] = float(np.median(unsettled)), float(np.percentile(unsettled, 90))
    return out | {"revised_per_100": 100 * sum(f["revised"] for f in figures) / max(words, 1),
                  "not_last_per_100": 100 * sum(f["not_last"] for f in figures) / max(words, 1),
                  "broken": sum(f["broken"] for f in figures)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(p)
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer.from_pretrained()
    data = {split: [load_audio(u.audio) for u in utts] for split, utts in read_splits(args).items()}
    rows = []
    for name, chunk_ms, search in SETTINGS:
        for split, audio in data.items():
            rows.append(row(name, split, [measure(stamped_events(rec, x, chunk_ms, search)) for x in audio]))
            print(rows[-1], flush=True)
    lines = ["| setting | voices | word end → shown in a partial p50 / p95 | word end → unchanged p50 / p95 | "
             "word end → settled (`stable_words`) p50 / p95 | a partial's words not settled, median / p90 | "
             "words shown before their final | words taken back per 100 | of those, before a partial's last word |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['setting']} | {r['split'].removeprefix('test-').replace('-', ' ')} | "
                     f"{r['shown_p50']:.0f} / {r['shown_p95']:.0f} ms | "
                     f"{r['unchanged_p50']:.0f} / {r['unchanged_p95']:.0f} ms | "
                     f"{r['settled_p50']:.0f} / {r['settled_p95']:.0f} ms | "
                     f"{r['unsettled_p50']:.0f} / {r['unsettled_p90']:.0f} | {100 * r['shown_share']:.0f}% | "
                     f"{r['revised_per_100']:.1f} | {r['not_last_per_100']:.1f} |")
    broken = sum(r["broken"] for r in rows)
    n = len(data[SPLITS[0]])
    lines.append(
        f"\n{n} utterances per split, each with {GAP_S:g} s of silence after it, fed in {PIECE_MS} ms pieces; "
        "times are audio fed when the event came out, so chunking, look-ahead and the silence rule "
        f"({SILENCE_S:g} s) count and compute does not. *Shown*: the first partial holding the word with every "
        "word before it as in the final; *unchanged*: the first partial from which every later one of its "
        "segment holds it so, or the final where none does; *settled*: the first partial whose `stable_words` "
        f"cover it, or the final (partials whose settled words were not their final's: {broken}); *taken back*: "
        "words of a partial that the next partial or the final does not hold at their place (a last word that "
        "only grew, \"beg\" before \"beginning\", is not), per 100 words of the finals. "
        f"Bundled model and LM, torch encoder, one thread. {machine_line()} "
        "Produced by `python benchmarks/stability.py`.")
    publish("stability", rows, "\n".join(lines) + "\n", partial=bool(args.limit))


if __name__ == "__main__":
    main()
