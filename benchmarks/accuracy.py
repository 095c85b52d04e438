"""Accuracy table for the README: WER/CER on the test splits, full context vs streaming,
greedy vs beam vs beam + LM. Writes benchmarks/results/accuracy.{json,md}.

    python benchmarks/accuracy.py [--corpus work/corpus-engines] [--limit N] [--model DIR] [--lm PATH]

With ``--model`` (another model than the bundled one, e.g. an earlier training stage) the table is
printed and written to benchmarks/results/accuracy-<folder name>.{json,md}, with ``--lm`` (another
KenLM file) to accuracy[-<folder name>]-lm-<file stem>.{json,md}; the README is left alone.

The test splits come from `streamasr data synth --out work/corpus-engines --hours 10 --seed 0`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from streamasr.audio import load_audio, with_silence_before
from streamasr.data.voices import HELDOUT_ACCENTS
from streamasr.events import transcript
from streamasr.metrics import error_rate
from streamasr.recognizer import Recognizer

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine_line  # noqa: E402
from results_io import candidate_command, candidate_result_name, publish  # noqa: E402
from splits import add_split_args, read_splits  # noqa: E402

SETTINGS = [  # (label, chunk_ms, search, with LM, final pass, seconds of silence before)
    ("full context, greedy", 0, "greedy", False, False, 0.0),
    ("full context, beam", 0, "beam", False, False, 0.0),
    ("full context, beam + LM", 0, "beam", True, False, 0.0),
    ("640 ms chunks, greedy", 640, "greedy", False, False, 0.0),
    ("640 ms chunks, beam + LM", 640, "beam", True, False, 0.0),
    ("320 ms chunks, greedy", 320, "greedy", False, False, 0.0),
    ("320 ms chunks, beam", 320, "beam", False, False, 0.0),
    ("320 ms chunks, beam + LM", 320, "beam", True, False, 0.0),
    ("320 ms chunks, beam + LM, final pass", 320, "beam", True, True, 0.0),
    ("320 ms chunks, beam + LM, after 1 s of silence", 320, "beam", True, False, 1.0),
    ("160 ms chunks, beam + LM", 160, "beam", True, False, 0.0),
]
BY_VOICE = "320 ms chunks, beam + LM"  # the setting broken down by voice


def run(rec: Recognizer, audio: list, refs: list[str], chunk_ms: int, search: str, final_pass: bool = False) -> dict:
    hyps, t0 = [], time.process_time()
    for samples in audio:
        s = rec.session(chunk_ms=chunk_ms, search=search, final_pass=final_pass)
        hyps.append(transcript(s.accept(samples) + s.finish()))
    cpu = time.process_time() - t0
    seconds = sum(len(a) for a in audio) / rec.sample_rate
    return {"wer": error_rate(refs, hyps), "cer": error_rate(refs, hyps, chars=True), "rtf_cpu": cpu / seconds,
            "hyps": hyps}


def voice_group(voice: str) -> str:
    """The by-voice table's row of a manifest's voice: its engine, festival per voice, and espeak-ng's
    held-out accent apart from its other voices.

    >>> [voice_group(v) for v in ("festival:kal_diphone", "flite:slt", "espeak-ng:en-us+f5", "espeak-ng:en-029+m3")]
    ['festival:kal_diphone', 'flite', 'espeak-ng', 'espeak-ng, en-029 accent']
    """
    engine, name = voice.split(":", 1)
    if engine == "festival":
        return voice
    if engine == "espeak-ng" and name.split("+")[0] in HELDOUT_ACCENTS:
        return f"{engine}, {name.split('+')[0]} accent"
    return engine


def by_engine(utts, hyps) -> dict[str, tuple[int, float]]:
    """Utterances and WER per row of ``voice_group``."""
    groups: dict[str, tuple[list, list]] = {}
    for u, h in zip(utts, hyps):
        key = voice_group(u.voice)
        groups.setdefault(key, ([], []))
        groups[key][0].append(u.text)
        groups[key][1].append(h)
    return {k: (len(r), error_rate(r, h)) for k, (r, h) in sorted(groups.items())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(p)
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--lm", default="default", help="KenLM file for the LM rows (default: the bundled LM)")
    args = p.parse_args()
    torch.set_num_threads(1)  # real-time factors are for one stream on one thread
    with_lm = Recognizer.from_pretrained(args.model, lm=args.lm)
    no_lm = Recognizer(with_lm.model, with_lm.tokenizer, None, with_lm.decoder_cfg)
    results, engines = [], {}
    for split, utts in read_splits(args).items():
        audio = [load_audio(u.audio) for u in utts]
        refs = [u.text for u in utts]
        for label, chunk_ms, search, lm, final_pass, lead_s in SETTINGS:
            heard = [with_silence_before(a, lead_s, with_lm.sample_rate) for a in audio]
            r = run(with_lm if lm else no_lm, heard, refs, chunk_ms, search, final_pass)
            if label == BY_VOICE:
                engines[split] = by_engine(utts, r["hyps"])
            r |= {"split": split, "setting": label, "utterances": len(utts)}
            results.append(r)
            print(f"{split:20s} {label:28s} WER {100 * r['wer']:6.2f}%  CER {100 * r['cer']:6.2f}%  "
                  f"RTF {r['rtf_cpu']:.3f}", flush=True)
    data = [{k: v for k, v in r.items() if k != "hyps"} for r in results] + [{"by_voice": engines}]
    lines = ["| setting | WER seen voices | WER unseen voices | CER seen | CER unseen | RTF (1 thread) |",
             "|---|---|---|---|---|---|"]
    for label, *_ in SETTINGS:
        seen = next(r for r in results if r["setting"] == label and r["split"] == "test-seen-voices")
        unseen = next(r for r in results if r["setting"] == label and r["split"] == "test-unseen-voices")
        lines.append(f"| {label} | {100 * seen['wer']:.1f}% | {100 * unseen['wer']:.1f}% | "
                     f"{100 * seen['cer']:.1f}% | {100 * unseen['cer']:.1f}% | "
                     f"{(seen['rtf_cpu'] + unseen['rtf_cpu']) / 2:.3f} |")
    n = results[0]["utterances"]
    lines += ["", f"By voice, {BY_VOICE}:", "", "| split | voices | utterances | WER |", "|---|---|---|---|"]
    for split, groups in engines.items():
        for key, (count, wer) in groups.items():
            lines.append(f"| {split} | {key} | {count} | {100 * wer:.1f}% |")
    name = candidate_result_name("accuracy", args.model, args.lm)
    command = candidate_command("accuracy", args.model, args.lm)
    what = "" if name == "accuracy" else f", model `{args.model or 'bundled'}`, LM `{args.lm}`"
    lines.append(f"\n{n} utterances per split{what}. {machine_line()} Produced by `{command}`.")
    publish(name, data, "\n".join(lines) + "\n", partial=bool(args.limit))  # a candidate's own files; only the bundled pair's reach the README


if __name__ == "__main__":
    main()
