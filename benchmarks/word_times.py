"""How close a final's word times come to where the words were spoken, as the synthesizer that spoke them says.

    python benchmarks/word_times.py [--sentences N]
    python benchmarks/word_times.py --tune [--sentences N]

Sentences of the corpus are spoken afresh by espeak-ng (a voice drawn from its accents and variants) and by
festival (the held-out engine: its three voices in turn), each with its own word times
(``streamasr.data.timed``); each goes through a session (beam search + LM, the defaults), and every final
word that the alignment to the reference makes right is held to the synthesizer's: start error (ours less
theirs; positive is late) and end error, their median (the bias), mean absolute value, and the share within
50 and 100 ms. The test sentences are the first N of each test split; at 320 ms chunks the words are read
twice, as shipped and as the spikes' own frames (``word_lead_ms`` = ``word_lag_ms`` = 0, the times before
they were moved), and at 160 and 640 ms and whole utterances as shipped. Writes
benchmarks/results/word_times.{json,md} and the README's block.

``--tune`` chooses ``DecoderConfig.word_lead_ms`` and ``word_lag_ms`` instead, on the first N dev sentences
(never the tests), at 320 ms chunks: every pair of a grid (0 to 200 ms in steps of 10) is applied to the
spikes' own frames as the session would (``word_spans``), and the pair of least mean absolute error, starts
and ends together, averaged over the two engines, wins; within 1 ms of it, the smallest shifts. Writes
word_times_tune.{json,md} and its README block.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from call_audio import media_frames, replies  # noqa: E402
from results_io import publish  # noqa: E402
from splits import SPLITS  # noqa: E402

from streamasr.data.augment import phone_channel  # noqa: E402
from streamasr.data.manifest import read_manifest  # noqa: E402
from streamasr.data.timed import TimedWord, espeak_timed, festival_timed  # noqa: E402
from streamasr.data.voices import ESPEAK_ACCENTS, ESPEAK_VARIANTS, FESTIVAL_VOICES  # noqa: E402
from streamasr.decoder import DecoderConfig  # noqa: E402
from streamasr.decoder.word_times import word_spans  # noqa: E402
from streamasr.events import Final, Word  # noqa: E402
from streamasr.metrics import right_pairs  # noqa: E402
from streamasr.recognizer import Recognizer  # noqa: E402

ENGINES = ("espeak-ng", "festival")
CHUNKS = (320, 160, 640, 0)  # the first is the default, read as shipped and raw
GRID = tuple(range(0, 201, 10))  # ms, both shifts


def speak(texts: list[str]) -> dict[str, list[tuple[np.ndarray, list[TimedWord | None], str, str]]]:
    """Each text spoken by an espeak-ng voice (drawn by its index) and by festival's voices in turn:
    engine -> [(audio, reference word times, voice, text)]."""
    out: dict[str, list] = {"espeak-ng": [], "festival": []}
    for i, text in enumerate(texts):
        rng = random.Random(f"word-times:{i}")
        accent = rng.choice(ESPEAK_ACCENTS)  # the library knows "en-gb" by the name "en" (voices.py)
        voice = f"{'en' if accent == 'en-gb' else accent}+{rng.choice(ESPEAK_VARIANTS)}"
        out["espeak-ng"].append((*espeak_timed(text, voice), voice, text))
    festival = [None] * len(texts)
    for k, voice in enumerate(FESTIVAL_VOICES):
        idx = list(range(k, len(texts), len(FESTIVAL_VOICES)))
        for i, (audio, words) in zip(idx, festival_timed([texts[i] for i in idx], voice)):
            festival[i] = (audio, words, voice, texts[i])
    out["festival"] = festival
    return out


def matched(text: str, ref: list[TimedWord | None], finals: list[Final]) -> list[tuple[TimedWord, object, Final]]:
    """(reference word, our word, its final) for each word of ``text`` that the alignment makes right and the
    engine timed (``ref``: its words' times, None where untimed)."""
    words = [(w, f) for f in finals for w in f.words]
    return [(ref[i], *words[j]) for i, j in right_pairs(text, [w.word for w, _ in words]) if ref[i] is not None]


def finals_of(rec: Recognizer, audio: np.ndarray, chunk_ms: int) -> list[Final]:
    session = rec.session(chunk_ms=chunk_ms)
    return [e for e in session.accept(audio) + session.finish() if isinstance(e, Final)]


def call_finals(rec: Recognizer, audio: np.ndarray) -> list[Final]:
    """The finals of ``audio`` (16 kHz) carried as a phone call carries it (8 kHz, the 300-3400 Hz band, mu-law)
    and fed to a server connection in 20 ms media events, as ``call_audio.py`` feeds it."""
    return [Final(m["segment"], m["text"], m["start_ms"], m["end_ms"], tuple(Word(**w) for w in m["words"]))
            for m in replies(rec, "media", media_frames(phone_channel(audio))) if m.get("type") == "final"]


def errors(pairs: list[tuple[float, float, float, float]]) -> dict:
    """Start and end errors (ms, ours less the reference's) of (ref start, ref end, our start, our end) rows."""
    a = np.array(pairs, dtype=float).reshape(-1, 4)
    out = {"words": len(a)}
    for name, d in (("start", a[:, 2] - a[:, 0]), ("end", a[:, 3] - a[:, 1])):
        out[name] = {"median": float(np.median(d)), "mean_abs": float(np.abs(d).mean()),
                     "within_50": float((np.abs(d) <= 50).mean()), "within_100": float((np.abs(d) <= 100).mean())}
    return out


def timed_pairs(utts: list[tuple], finals: Callable[[np.ndarray], list[Final]]) -> list[tuple]:
    """(ref start, ref end, our start, our end) of every right, timed word of ``speak``'s utterances of one
    engine, their finals made by ``finals`` (audio -> finals)."""
    return [(r.start_ms, r.end_ms, w.start_ms, w.end_ms) for audio, ref, _, text in utts
            for r, w, _ in matched(text, ref, finals(audio))]


def spikes_recognizer(rec: Recognizer) -> Recognizer:
    """``rec`` with its words at the spikes' own frames (word_lead_ms = word_lag_ms = 0): the times before they
    were moved."""
    return Recognizer(rec.model, rec.tokenizer, rec.lm, replace(rec.decoder_cfg, word_lead_ms=0, word_lag_ms=0),
                      rec.encoder)


def shifted(rows: list[tuple[TimedWord, object, Final]], lead: float, lag: float, frame_ms: float) -> list[tuple]:
    """(ref start, ref end, start, end) with raw words (lead = lag = 0) moved as a session would move them."""
    by_final: dict[int, list] = {}
    for r, w, f in rows:
        by_final.setdefault(id(f), [f, []])[1].append((r, w))
    out = []
    for f, pairs in by_final.values():
        spans = word_spans([(w.start_ms // frame_ms, w.end_ms // frame_ms) for w in f.words], frame_ms, lead, lag,
                           f.start_ms, f.end_ms)
        at = {id(w): s for w, s in zip(f.words, spans)}
        out += [(r.start_ms, r.end_ms, *at[id(w)]) for r, w in pairs]
    return out


def measure(texts: list[str]) -> dict:
    spoken = speak(texts)
    shipped = Recognizer.from_pretrained()
    raw = spikes_recognizer(shipped)
    results: dict = {"sentences": len(texts), "lead_ms": DecoderConfig().word_lead_ms,
                     "lag_ms": DecoderConfig().word_lag_ms, "engines": {}}
    for engine, utts in spoken.items():
        timed = sum(sum(w is not None for w in ref) for _, ref, _, _ in utts)
        total = sum(len(ref) for _, ref, _, _ in utts)
        rows = {str(chunk): errors(timed_pairs(utts, lambda a, c=chunk: finals_of(shipped, a, c))) for chunk in CHUNKS}
        rows["320-spikes"] = errors(timed_pairs(utts, lambda a: finals_of(raw, a, 320)))
        rows["320-call"] = errors(timed_pairs(utts, lambda a: call_finals(shipped, a)))
        results["engines"][engine] = {"timed_words": timed, "words": total, "rows": rows,
                                      "voices": sorted({v for _, _, v, _ in utts})}
    return results


def table(results: dict) -> str:
    lines = ["| engine | chunk | words | start: median / mean abs. error | start within 50 / 100 ms "
             "| end: median / mean abs. error | end within 50 / 100 ms |", "|---|---|---|---|---|---|---|"]
    for engine, r in results["engines"].items():
        for key in ("320-spikes", *map(str, CHUNKS), "320-call"):
            e = r["rows"][key]
            chunk = {"320-spikes": "320 ms, the spikes' own frames", "0": "whole utterance",
                     "320-call": "320 ms, call audio"}.get(key, f"{key} ms")
            cells = []
            for part in ("start", "end"):
                p = e[part]
                cells += [f"{p['median']:+.0f} / {p['mean_abs']:.0f} ms",
                          f"{100 * p['within_50']:.0f}% / {100 * p['within_100']:.0f}%"]
            lines.append(f"| {engine} | {chunk} | {e['words']} | " + " | ".join(cells) + " |")
    n = results["sentences"]
    lines.append(f"\nThe first {n // 2} sentences of each test split, spoken afresh by espeak-ng (a voice drawn from "
                 "its accents and variants for each) and by festival (kal_diphone, ked_diphone, cmu_us_slt_arctic_hts "
                 "in turn, the held-out engine), each engine timing its own words; beam search + LM, the words the "
                 "alignment makes right (*words*). Errors are ours less the engine's, positive is late. As shipped, a "
                 f"word starts {results['lead_ms']} ms before its first spike and ends {results['lag_ms']} ms after "
                 "its last one's frame (or where the next word starts); *the spikes' own frames* are the times "
                 "before that; *call audio*: carried as a phone call (8 kHz, the 300–3400 Hz band, μ-law) to a "
                 "server connection's media dialect, as `call_audio.py` carries it. Produced by "
                 "`python benchmarks/word_times.py`.")
    return "\n".join(lines) + "\n"


def best_shifts(scores: dict[tuple[int, int], float], margin: float = 1.0) -> tuple[int, int]:
    """The (lead, lag) of least score; within ``margin`` of it, the smallest shifts.

    >>> best_shifts({(0, 0): 90.0, (100, 40): 30.2, (110, 40): 29.8, (120, 60): 35.0})
    (100, 40)
    """
    least = min(scores.values())
    return min((k for k, s in scores.items() if s <= least + margin), key=lambda k: (k[0] + k[1], k))


def tune(args: argparse.Namespace) -> None:
    texts = [u.text for u in read_manifest(Path(args.corpus) / "dev.jsonl")[: args.sentences]]
    spoken = speak(texts)
    raw = spikes_recognizer(Recognizer.from_pretrained())
    rows = {engine: [m for audio, ref, _, text in utts for m in matched(text, ref, finals_of(raw, audio, 320))]
            for engine, utts in spoken.items()}
    scores, per = {}, {}
    for lead in GRID:
        for lag in GRID:
            e = {engine: errors(shifted(r, lead, lag, raw.frame_ms)) for engine, r in rows.items()}
            per[(lead, lag)] = e
            scores[(lead, lag)] = float(np.mean([x["start"]["mean_abs"] + x["end"]["mean_abs"] for x in e.values()]))
    best = best_shifts(scores)
    held = (DecoderConfig().word_lead_ms, DecoderConfig().word_lag_ms)
    show = sorted({(0, 0), best, held, *sorted(scores, key=scores.get)[:5]})
    lines = ["| lead / lag | " + " | ".join(f"{e}: start / end mean abs. error" for e in ENGINES) + " | score |",
             "|---|" + "---|" * (len(ENGINES) + 1)]
    for k in show:
        cells = [f"{per[k][e]['start']['mean_abs']:.1f} / {per[k][e]['end']['mean_abs']:.1f} ms" for e in ENGINES]
        row = f"| {k[0]} / {k[1]} ms | " + " | ".join(cells) + f" | {scores[k]:.1f} |"
        lines.append(row.replace("| ", "| **", 1).replace(" |", "** |", 1) if k == best else row)
    words = {e: per[best][e]["words"] for e in ENGINES}
    lines.append(f"\nThe first {len(texts)} dev sentences, spoken by both engines as in the test table "
                 f"({words['espeak-ng']} and {words['festival']} right words), 320 ms chunks, beam search + LM; "
                 "each (lead, lag) applied to the spikes' own frames as a session applies it. *score*: start and "
                 "end mean absolute error summed, averaged over the engines; the grid runs 0 to 200 ms in steps of "
                 "10, and the rows shown are no shift, the five best and what is held. Best: "
                 f"{best[0]} / {best[1]} ms (least score; within 1 ms of it, the smallest shifts); `DecoderConfig` "
                 f"holds {held[0]} / {held[1]} ms{'' if held == best else f' (it should hold {best[0]} / {best[1]})'}. "
                 "Produced by `python benchmarks/word_times.py --tune`.")
    data = {"sentences": len(texts), "best": list(best), "held": list(held),
            "scores": {f"{a}/{b}": s for (a, b), s in scores.items()}}
    publish("word_times_tune", data, "\n".join(lines) + "\n", partial=args.sentences != DEV_SENTENCES)


DEV_SENTENCES = 200


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines", help="folder written by `streamasr data synth`")
    p.add_argument("--sentences", type=int, default=DEV_SENTENCES,
                   help="sentences (with --tune: of dev; else half from each test split)")
    p.add_argument("--tune", action="store_true", help="choose DecoderConfig.word_lead_ms and word_lag_ms on dev")
    args = p.parse_args()
    torch.set_num_threads(1)
    if args.tune:
        return tune(args)
    half = args.sentences // 2
    texts = [u.text for s in SPLITS for u in read_manifest(Path(args.corpus) / f"{s}.jsonl")[:half]]
    results = measure(texts)
    publish("word_times", results, table(results), partial=args.sentences != DEV_SENTENCES)


if __name__ == "__main__":
    main()
