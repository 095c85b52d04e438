"""Many files in one run: `streamasr transcribe FILES --jobs N` against one job, wall time from start to exit.

    python benchmarks/jobs.py [--corpus work/corpus-engines] [--files 200] [--jobs 2] [--rounds 3]

The first FILES utterances of test-unseen-voices through the real command line, as a user starts it (the
model and LM loaded, then every file, JSON events to stdout): with one job and with N, back to back, ROUNDS
times, each round's pair taking turns at going first, so that a ratio is taken between two runs that shared
the host's mood. Each run's stdout must be the same (checked: the jobs only change who does the work).
Writes benchmarks/results/jobs.{json,md}.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from machine import machine_line  # noqa: E402
from results_io import publish  # noqa: E402

from streamasr.data.manifest import read_manifest  # noqa: E402


def run(files: list[str], jobs: int) -> tuple[float, str]:
    """Wall seconds of one `streamasr transcribe FILES --json --jobs JOBS`, and its stdout."""
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "transcribe", *files, "--json",
                          "--jobs", str(jobs)], capture_output=True, text=True, check=True)
    return time.monotonic() - t0, out.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines")
    p.add_argument("--files", type=int, default=200, help="how many test-unseen-voices utterances")
    p.add_argument("--jobs", type=int, default=2, help="the jobs set against one")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    utts = read_manifest(Path(args.corpus) / "test-unseen-voices.jsonl")[: args.files]
    files, audio_s = [u.audio for u in utts], sum(u.duration for u in utts)
    rounds = []
    for r in range(args.rounds):
        order = (1, args.jobs) if r % 2 == 0 else (args.jobs, 1)
        walls, outs = {}, {}
        for jobs in order:
            walls[jobs], outs[jobs] = run(files, jobs)
        if outs[1] != outs[args.jobs]:
            raise SystemExit(f"round {r}: --jobs {args.jobs} printed other events than one job")
        rounds.append({"one_s": walls[1], "jobs_s": walls[args.jobs], "ratio": walls[1] / walls[args.jobs]})
        print(rounds[-1], flush=True)
    ratios = [x["ratio"] for x in rounds]
    data = {"files": len(files), "audio_s": audio_s, "jobs": args.jobs, "rounds": rounds}
    lines = [f"| run | one job | --jobs {args.jobs} | one job's time / {args.jobs} jobs' |", "|---|---|---|---|"]
    for i, x in enumerate(rounds):
        lines.append(f"| {i + 1} | {x['one_s']:.1f} s | {x['jobs_s']:.1f} s | {x['ratio']:.2f}× |")
    lines.append(
        f"\n{len(files)} files of test-unseen-voices ({audio_s / 60:.1f} min of audio), `streamasr transcribe FILES "
        f"--json` with one job and with `--jobs {args.jobs}`, wall time from start to exit (the model loaded by the "
        f"command, and by each job); the two runs of a round back to back, taking turns at going first, their "
        f"stdout the same. Median ratio {np.median(ratios):.2f}×. {machine_line()} "
        f"Produced by `python benchmarks/jobs.py --files {args.files} --jobs {args.jobs} --rounds {args.rounds}`.")
    publish("jobs", data, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
