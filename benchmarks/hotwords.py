"""Hotwords: words the LM has never seen, found when a stream names them, and not found where it does not.

    python benchmarks/hotwords.py [--corpus work/corpus-engines] [--limit N]
    python benchmarks/hotwords.py --tune [--weights 2.5,5,7.5,10]

Each utterance is spoken again by its own voice (engine, rate and pitch from the corpus plan) with its
longest word replaced by one of ``TERMS``: names, places and modern words, none of them in the bundled LM's
vocabulary (checked). On the test splits, those utterances are decoded without hotwords, with their term as
the one hotword, and with all of ``TERMS`` as hotwords (a stream's list of names, most of them not said);
the original utterances without hotwords and with all of ``TERMS`` (where none is said: false alarms).
*Found*: the term is among the final's words. ``--tune`` runs dev instead, at each ``--weights`` of
``DecoderConfig.hotword_weight``, every stream with all of ``TERMS``: terms found and false alarms; the rule
takes the largest weight with no false alarm. The bundled model and LM, the encoder on onnxruntime, 320 ms
chunks, beam search, one thread. Writes benchmarks/results/hotwords.{json,md} (``--tune``:
hotwords-tune.{json,md}) and the README block.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from streamasr.audio import load_audio
from streamasr.data.manifest import read_manifest
from streamasr.data.voices import Voice, speak
from streamasr.events import transcript
from streamasr.metrics import error_rate
from streamasr.recognizer import Recognizer

sys.path.insert(0, str(Path(__file__).parent))
from results_io import publish  # noqa: E402

TERMS = ("margaret", "london", "telephone", "computer", "robert", "paris", "oxford", "elizabeth", "chicago",
         "william", "edinburgh", "victoria", "catherine", "napoleon", "amsterdam", "brazil", "darwin",
         "shakespeare", "tuesday", "railway", "electric", "newton", "beethoven", "harvard")
# Phrases of two or three words, most of them with a word the LM knows well ("the", "my", "new"): a list of them must
# not favour those words on their own.
PHRASES = ("new york", "the beatles", "my computer", "san francisco", "margaret thatcher", "united nations",
           "the railway station", "prime minister")
SPLITS = ("test-seen-voices", "test-unseen-voices")


def with_term(text: str, term: str) -> str:
    """The sentence with its longest word (the first, of equals) replaced by ``term``.

    >>> with_term("and they sang together by course", "london")
    'and they sang london by course'
    """
    words = text.split()
    i = max(range(len(words)), key=lambda j: (len(words[j]), -j))
    return " ".join(words[:i] + [term] + words[i + 1:])


def found(hotword: str, hyp: str) -> bool:
    """Whether the hotword's words come one after another among the hypothesis' words.

    >>> found("paris", "go thou to paris"), found("paris", "go thou to perish"), found("new york", "a new york")
    (True, False, True)
    """
    want, words = hotword.split(), hyp.split()
    return any(words[i : i + len(want)] == want for i in range(len(words) - len(want) + 1))


def decode(rec: Recognizer, audio: np.ndarray, hotwords: tuple[str, ...]) -> str:
    """The finals of (S,) 16 kHz samples streamed through one session, joined."""
    s = rec.session(chunk_ms=320, hotwords=hotwords)
    return transcript(s.accept(audio) + s.finish())


@dataclass
class Said:
    """A corpus sentence with its longest word replaced by a hotword, spoken again by the sentence's voice."""

    hotword: str  # a term or phrase
    text: str
    audio: np.ndarray  # (S,)


@dataclass
class Utterance:
    text: str  # as the corpus has it
    audio: np.ndarray  # (S,) the corpus's recording of text
    term: Said  # with one of TERMS
    phrase: Said | None  # with one of PHRASES (not made for --tune)


def utterances(corpus: Path, split: str, limit: int, phrases: bool = True) -> list[Utterance]:
    plan = {}
    with open(corpus / "plan.jsonl") as f:
        for line in f:
            j = json.loads(line)
            if j["split"] == split:
                plan[j["uid"]] = j
    utts = read_manifest(corpus / f"{split}.jsonl")
    out = []
    for i, u in enumerate(utts[:limit] if limit else utts):
        p = plan[Path(u.audio).stem]
        voice = Voice(*p["voice"].split(":", 1))

        def said(hotword: str) -> Said:
            text = with_term(u.text, hotword)
            return Said(hotword, text, speak(voice, text, p["rate"], p["pitch"]))

        out.append(Utterance(u.text, load_audio(u.audio), said(TERMS[i % len(TERMS)]),
                             said(PHRASES[i % len(PHRASES)]) if phrases else None))
    return out


def false_alarms(hyps: list[str], hotwords: tuple[str, ...]) -> int:
    """Finals holding any of ``hotwords``, on utterances that say none."""
    return sum(any(found(t, h) for t in hotwords) for h in hyps)


CONDITIONS = (  # label, what is spoken ("original", "term", "phrase"), the hotwords given: "its own" or a list
    ("original, no hotwords", "original", ()),
    ("original, all terms", "original", TERMS),
    ("original, all terms and phrases", "original", TERMS + PHRASES),
    ("with a term, no hotwords", "term", ()),
    ("with a term, its term", "term", "its own"),
    ("with a term, all terms", "term", TERMS),
    ("with a phrase, no hotwords", "phrase", ()),
    ("with a phrase, its phrase", "phrase", "its own"),
)


def split_rows(rec: Recognizer, utts: list[Utterance], split: str) -> dict[str, dict]:
    """Condition -> its figures on one split."""
    rows = {}
    for label, spoken, given in CONDITIONS:
        if spoken == "original":
            hyps = [decode(rec, u.audio, given) for u in utts]
            row = {"wer": error_rate([u.text for u in utts], hyps), "false_alarms": false_alarms(hyps, given)}
        else:
            says = [getattr(u, spoken) for u in utts]
            hyps = [decode(rec, x.audio, (x.hotword,) if given == "its own" else given) for x in says]
            hits = [found(x.hotword, h) for x, h in zip(says, hyps)]
            row = {"wer": error_rate([x.text for x in says], hyps), "found": sum(hits),
                   "by_term": {t: [sum(h for x, h in zip(says, hits) if x.hotword == t),
                                   sum(x.hotword == t for x in says)] for t in sorted({x.hotword for x in says})}}
        rows[label] = row | {"utterances": len(utts)}
        print(split, label, json.dumps({k: v for k, v in rows[label].items() if k != "by_term"}), flush=True)
    return rows


def tune_rows(base: Recognizer, utts: list[Utterance], weights: list[float]) -> list[dict]:
    """Per hotword weight, every stream given all of TERMS: terms found, and false alarms where none is said."""
    rows = []
    for w in weights:
        rec = Recognizer(base.model, base.tokenizer, base.lm, replace(base.decoder_cfg, hotword_weight=w),
                         base.encoder)
        row = {"weight": w, "utterances": len(utts),
               "found": sum(found(u.term.hotword, decode(rec, u.term.audio, TERMS)) for u in utts),
               "false_alarms": false_alarms([decode(rec, u.audio, TERMS) for u in utts], TERMS)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def chosen(rows: list[dict]) -> float:
    """The rule: the largest weight tried with no false alarm.

    >>> chosen([{"weight": 5.0, "false_alarms": 0}, {"weight": 7.5, "false_alarms": 0},
    ...         {"weight": 10.0, "false_alarms": 3}])
    7.5
    """
    return max(r["weight"] for r in rows if r["false_alarms"] == 0)


def tune_table(rows: list[dict], current: float, limit: int) -> str:
    lines = ["| hotword weight | terms found | utterances with a false alarm |", "|---|---|---|"]
    for r in rows:
        mark = " (DecoderConfig's)" if r["weight"] == current else ""
        lines.append(f"| {r['weight']:g}{mark} | {r['found']}/{r['utterances']} "
                     f"({100 * r['found'] / r['utterances']:.1f}%) | {r['false_alarms']} |")
    if any(r["false_alarms"] == 0 for r in rows):
        pick = chosen(rows)
        verdict = (f"the rule, the largest weight with no false alarm, takes {pick:g}: "
                   + ("DecoderConfig keeps it" if pick == current else f"DecoderConfig has {current:g}"))
    else:
        verdict = "no weight tried is free of false alarms"
    lines.append(f"\ndev, {rows[0]['utterances']} utterances{' (--limit)' if limit else ''}, every stream given all "
                 f"{len(TERMS)} terms of the test table; {verdict}. Produced by "
                 "`python benchmarks/hotwords.py --tune`.\n")
    return "\n".join(lines)


def each_found(seen: dict, unseen: dict, label: str) -> str:
    """How often each hotword was found under condition ``label``, both splits together, most often first.

    >>> each_found({"c": {"by_term": {"paris": [3, 4]}}}, {"c": {"by_term": {"paris": [1, 4], "oxford": [2, 2]}}}, "c")
    'oxford 2/2, paris 4/8'
    """
    counts: dict[str, list[int]] = {}
    for split in (seen, unseen):
        for t, (k, total) in split[label]["by_term"].items():
            counts[t] = [a + b for a, b in zip(counts.get(t, [0, 0]), (k, total))]
    ranked = sorted(counts.items(), key=lambda item: -item[1][0] / item[1][1])
    return ", ".join(f"{t} {k}/{total}" for t, (k, total) in ranked)


def table(results: dict[str, dict[str, dict]], limit: int) -> str:
    seen, unseen = (results[s] for s in SPLITS)
    lines = ["| audio | hotwords | found, seen / unseen voices | utterances with a false alarm | "
             "WER seen / unseen |", "|---|---|---|---|---|"]
    for label in seen:
        audio, hotwords = label.split(", ", 1)
        a, b = seen[label], unseen[label]
        hit = (f"{a['found']}/{a['utterances']} / {b['found']}/{b['utterances']}" if "found" in a else "–")
        alarms = f"{a['false_alarms']} / {b['false_alarms']}" if "false_alarms" in a else "–"
        lines.append(f"| {audio} | {hotwords} | {hit} | {alarms} | {100 * a['wer']:.1f}% / {100 * b['wer']:.1f}% |")
    n = seen[next(iter(seen))]["utterances"]
    lines.append("\nEach found with it as the one hotword, both splits: "
                 + each_found(seen, unseen, "with a term, its term") + "; "
                 + each_found(seen, unseen, "with a phrase, its phrase") + ".")
    lines.append(f"\n{n} utterances per test split{' (--limit)' if limit else ''}; {len(TERMS)} terms, each outside "
                 "the LM's vocabulary: " + ", ".join(TERMS) + f"; {len(PHRASES)} phrases, most of them with a word "
                 "the LM knows well: " + ", ".join(PHRASES) + ". *With a term* (*phrase*): the utterance's longest "
                 "word replaced by a term (phrase) and spoken again by its voice; *all terms*: every stream given "
                 "the whole list; *found*: the words of the term or phrase one after another in the finals. The "
                 "bundled model and LM, onnxruntime encoder, 320 ms chunks, beam search, one thread. Produced by "
                 "`python benchmarks/hotwords.py`.\n")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines", help="folder written by `streamasr data synth`")
    p.add_argument("--limit", type=int, default=0, help="utterances per split (0: all)")
    p.add_argument("--tune", action="store_true", help="on dev: terms found and false alarms per hotword weight")
    p.add_argument("--weights", default="2.5,5,7.5,10", help="hotword weights --tune tries")
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer.from_pretrained(backend="onnx")
    known = [t for t in TERMS if t in rec.lm.unigrams]
    if known:
        sys.exit(f"these terms are in the LM's vocabulary, so they test nothing here: {known}")
    corpus = Path(args.corpus)
    if args.tune:
        utts = utterances(corpus, "dev", args.limit, phrases=False)
        rows = tune_rows(rec, utts, [float(w) for w in args.weights.split(",")])
        current = rec.decoder_cfg.hotword_weight
        publish("hotwords-tune", {"rows": rows, "current": current}, tune_table(rows, current, args.limit),
                partial=bool(args.limit))
        return
    results = {s: split_rows(rec, utterances(corpus, s, args.limit), s) for s in SPLITS}
    publish("hotwords", {"terms": TERMS, "splits": results}, table(results, args.limit), partial=bool(args.limit))


if __name__ == "__main__":
    main()
