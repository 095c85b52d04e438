"""streamasr beside pocketsphinx, in one process, on the same audio fed in the same 320 ms pieces.

    python benchmarks/peer.py [--corpus work/corpus-engines] [--utts 60]

Every system runs on one thread and gets each utterance as 16 kHz samples in 320 ms pieces,
as a live stream would deliver them. Measured per system: WER on held-out sentences
(seen and unseen voices), real-time factor (compute / audio), compute per piece (what a
piece adds to the latency of the partial that follows it) and the time from the end of
the stream to the final. pocketsphinx runs with the US English model its PyPI package
bundles, once with its own general-English LM and once with our KJV 4-gram (ARPA) so the
language model domain is the same for both. Writes benchmarks/results/peer.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine_line  # noqa: E402
from results_io import publish  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.data.manifest import read_manifest  # noqa: E402
from streamasr.events import transcript  # noqa: E402
from streamasr.metrics import error_rate  # noqa: E402
from streamasr.recognizer import Recognizer  # noqa: E402

PIECE = 16000 * 320 // 1000  # samples per 320 ms piece


class Ours:
    def __init__(self, backend: str):
        self.name = f"streamasr ({backend}, beam + LM)"
        self.rec = Recognizer.from_pretrained(backend=backend)

    def start(self):
        self.s = self.rec.session(chunk_ms=320)
        self.events = []  # a pause inside an utterance ends a segment: its final comes from accept

    def piece(self, x: np.ndarray) -> None:
        self.events += self.s.accept(x)

    def end(self) -> str:
        return transcript(self.events + self.s.finish())


class PocketSphinx:
    def __init__(self, lm: str | None):
        from pocketsphinx import Decoder

        self.name = "pocketsphinx (" + ("KJV 4-gram LM" if lm else "its general English LM") + ")"
        self.d = Decoder(loglevel="FATAL", **({"lm": lm} if lm else {}))

    def start(self):
        self.d.start_utt()

    def piece(self, x: np.ndarray) -> None:
        self.d.process_raw((np.clip(x, -1, 1) * 32767).astype(np.int16).tobytes(), False, False)
        self.d.hyp()  # read the partial, as a live caption would

    def end(self) -> str:
        self.d.end_utt()
        hyp = self.d.hyp()
        return hyp.hypstr.lower() if hyp else ""


def run(system, utts: list[tuple[np.ndarray, str]]) -> dict:
    pieces, ends, hyps, compute = [], [], [], 0.0
    for x, _ in utts:
        system.start()
        for pos in range(0, len(x), PIECE):
            t0 = time.perf_counter()
            system.piece(x[pos : pos + PIECE])
            pieces.append(time.perf_counter() - t0)
            compute += pieces[-1]
        t0 = time.perf_counter()
        hyps.append(system.end())
        ends.append(time.perf_counter() - t0)
        compute += ends[-1]
    audio = sum(len(x) for x, _ in utts) / 16000
    ms = lambda xs, q: float(np.percentile(xs, q) * 1000)  # noqa: E731
    return {"wer": error_rate([t for _, t in utts], hyps), "rtf": compute / audio,
            "piece_p50_ms": ms(pieces, 50), "piece_p95_ms": ms(pieces, 95), "piece_p99_ms": ms(pieces, 99),
            "final_p50_ms": ms(ends, 50), "final_p95_ms": ms(ends, 95), "hyps": hyps}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines")
    p.add_argument("--lm-arpa", default="work/lm/kjv.arpa", help="our LM as ARPA, for pocketsphinx")
    p.add_argument("--utts", type=int, default=60, help="utterances per test split")
    args = p.parse_args()
    torch.set_num_threads(1)
    splits = {s: [(load_audio(u.audio), u.text) for u in read_manifest(Path(args.corpus) / f"{s}.jsonl")[: args.utts]]
              for s in ("test-seen-voices", "test-unseen-voices")}
    systems = [Ours("torch"), Ours("onnx"), PocketSphinx(None), PocketSphinx(args.lm_arpa)]
    rows = []
    for system in systems:
        row = {"system": system.name}
        for split, utts in splits.items():
            r = run(system, utts)
            row[split] = {k: v for k, v in r.items() if k != "hyps"}
        rows.append(row)
        print(row, flush=True)
    lines = ["| system | WER seen / unseen voices | real-time factor | compute per 320 ms piece p50 / p95 / p99 | "
             "end → final p50 / p95 |", "|---|---|---|---|---|"]
    for r in rows:
        seen, unseen = r["test-seen-voices"], r["test-unseen-voices"]
        rtf = (seen["rtf"] + unseen["rtf"]) / 2
        lines.append(f"| {r['system']} | {100 * seen['wer']:.1f}% / {100 * unseen['wer']:.1f}% | {rtf:.3f} | "
                     f"{seen['piece_p50_ms']:.1f} / {seen['piece_p95_ms']:.1f} / {seen['piece_p99_ms']:.1f} ms | "
                     f"{seen['final_p50_ms']:.1f} / {seen['final_p95_ms']:.1f} ms |")
    lines.append(f"\nOne thread each, same process, {args.utts} utterances per split fed in 320 ms pieces; latency "
                 f"columns on the seen-voices split. {machine_line()} Produced by `python benchmarks/peer.py`.")
    publish("peer", rows, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
