"""Noise without speech, and speech after it: what a microphone in a quiet room, or a call's line noise, makes
the recognizer write.

    python benchmarks/noise.py [--corpus work/corpus-engines] [--utts 100]

Noise alone: 30 s of steady white, pink and brown noise (``streamasr.data.augment.coloured_noise``) at RMS
levels from -30 to -60 dBFS, streamed through a default session (320 ms chunks, beam search + LM): the words
it writes a minute. Speech after noise: the first ``--utts`` utterances of each test split, each one alone in
a session, with pink noise at -45 dBFS (speech 20-25 dB above it) before it for a time (the lead) and under
it, and 2 s of the noise after it; without noise for reference. Each runs twice: as the session is now, and
with every frame the model is unsure of a blank counted as speech (``EndpointConfig.speech_posterior`` 0),
as it was before ``endpoint.speech_frames`` asked for a likely token too.
Writes benchmarks/results/noise.{json,md} and the README block.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from streamasr.audio import load_audio
from streamasr.data.augment import coloured_noise
from streamasr.endpoint import EndpointConfig
from streamasr.events import transcript
from streamasr.metrics import error_rate
from streamasr.recognizer import Recognizer

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine_line  # noqa: E402
from results_io import publish  # noqa: E402
from splits import SPLITS, read_splits  # noqa: E402

RATE = 16000
KINDS = {0: "white", 1: "pink", 2: "brown"}
NOISE_DBFS = (-30, -40, -50, -60)  # RMS of the noise alone
NOISE_S = 30  # seconds of each noise alone
SPEECH_NOISE_DBFS = -45  # pink, under and before the speech
LEADS_S = (None, 0.0, 0.5, 6.0)  # None: no noise at all
UTTS = 100  # utterances of each test split (fewer: a partial run, printed only)
SETTINGS = {"now": EndpointConfig(), "before": EndpointConfig(speech_posterior=0.0)}


def noise(seconds: float, kind: int, dbfs: float, seed: int) -> np.ndarray:
    """(S,) float32 coloured noise at an RMS of ``dbfs``."""
    return coloured_noise(int(RATE * seconds), np.random.default_rng(seed), kind, dbfs)


def with_noise(x: np.ndarray, lead_s: float | None, seed: int) -> np.ndarray:
    """Speech x (S,) after ``lead_s`` of pink noise, the noise going on under it and 2 s after (None: x alone)."""
    if lead_s is None:
        return x
    lead = int(RATE * lead_s)
    y = noise(lead_s + len(x) / RATE + 2.0, 1, SPEECH_NOISE_DBFS, seed)  # (lead + S + 2 s,)
    y[lead : lead + len(x)] += x
    return y


def text_of(rec: Recognizer, endpoint: EndpointConfig, x: np.ndarray) -> str:
    s = rec.session(endpoint=endpoint)
    return transcript(s.accept(x) + s.finish())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines", help="folder written by `streamasr data synth`")
    p.add_argument("--utts", type=int, default=UTTS, help="utterances of each test split")
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer.from_pretrained()
    alone = []
    for kind, name in KINDS.items():
        for db in NOISE_DBFS:
            x = noise(NOISE_S, kind, db, seed=kind * 100 - db)
            row = {"noise": name, "dbfs": db} | {k: len(text_of(rec, ep, x).split()) * 60 / NOISE_S
                                                 for k, ep in SETTINGS.items()}
            alone.append(row)
            print(json.dumps(row), flush=True)
    tests = {split: [(u.text, load_audio(u.audio)) for u in utts[: args.utts]]
             for split, utts in read_splits(args).items()}
    speech = []
    for lead in LEADS_S:
        row: dict = {"lead_s": lead}
        for k, ep in SETTINGS.items():
            for split, utts in tests.items():
                hyps = [text_of(rec, ep, with_noise(x, lead, seed=i)) for i, (_, x) in enumerate(utts)]
                row[f"{k} {split}"] = error_rate([t for t, _ in utts], hyps)
        speech.append(row)
        print(json.dumps(row), flush=True)
    publish("noise", {"alone": alone, "speech": speech, "utterances": args.utts}, report(alone, speech, args.utts),
            partial=args.utts != UTTS)


def report(alone: list[dict], speech: list[dict], utts: int) -> str:
    lines = ["| noise alone | RMS | words a minute | before (`speech_posterior` 0) |", "|---|---|---|---|"]
    lines += [f"| {r['noise']} | {r['dbfs']} dBFS | {r['now']:.0f} | {r['before']:.0f} |" for r in alone]
    lines += ["", "| speech (WER) | seen voices | unseen voices | before: seen | before: unseen |",
              "|---|---|---|---|---|"]
    for r in speech:
        what = ("no noise" if r["lead_s"] is None else
                f"pink noise {SPEECH_NOISE_DBFS} dBFS, from {r['lead_s']:g} s before the speech")
        lines.append(f"| {what} | " + " | ".join(f"{100 * r[f'{k} {s}']:.1f}%" for k in SETTINGS for s in SPLITS)
                     + " |")
    lines.append(f"\nNoise alone: {NOISE_S} s of each, streamed through a default session (320 ms chunks, beam search "
                 f"+ LM). Speech: the first {utts} utterances of each test split, each in a session of its own, the "
                 "noise going on 2 s after it. *Before*: every frame where the model is unsure of a blank counts as "
                 "speech (`EndpointConfig(speech_posterior=0)`), as before frames without a likely token stopped "
                 f"counting. {machine_line()} Produced by `python benchmarks/noise.py`.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
