"""Soak: many clients streaming at real time for minutes; no errors, server memory flat.

    python benchmarks/soak.py [--streams 32] [--minutes 3] [--processes N]

Each client streams held-out utterances back to back, reconnecting every ~30 s of audio so that
sessions come and go. The server's resident memory (all its processes) is sampled every 10 s. Writes
benchmarks/results/soak.{json,md} and quotes the summary in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from results_io import publish  # noqa: E402
from latency import client_results, one_client, program, tree_rss_mb  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.data.manifest import read_manifest  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines")
    p.add_argument("--streams", type=int, default=32)
    p.add_argument("--minutes", type=float, default=3.0)
    p.add_argument("--backend", default="onnx", help="the server's encoder backend")
    p.add_argument("--processes", type=int, default=1, help="server processes (`serve --processes`)")
    args = p.parse_args()
    utts = [load_audio(u.audio) for u in read_manifest(Path(args.corpus) / "test-unseen-voices.jsonl")[:40]]
    proc = subprocess.Popen([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", "0", "--backend",
                             args.backend, "--max-sessions", "256", "--processes", str(args.processes)],
                            stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[-1] + "/"
    out = client_results()
    samples: list[tuple[float, float]] = []
    sessions = 0
    deadline = time.monotonic() + args.minutes * 60

    async def client(i: int) -> None:
        nonlocal sessions
        k = 0
        while time.monotonic() < deadline:
            audio, ends = program(utts, 30.0, 11 * i + k)
            refused = out["refused"]
            await one_client(url, audio, ends, out)
            sessions += 1
            if out["refused"] > refused:  # the server is behind (--max-backlog-ms): try again in a second
                await asyncio.sleep(1.0)
            k += 1

    async def sampler() -> None:
        t0 = time.monotonic()
        while time.monotonic() < deadline + 5:
            samples.append((time.monotonic() - t0, tree_rss_mb(proc.pid)))
            await asyncio.sleep(10)

    async def run() -> None:
        await asyncio.gather(sampler(), *(client(i) for i in range(args.streams)))

    try:
        asyncio.run(run())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    rss = [r for _, r in samples]
    half = rss[len(rss) // 2 :]
    result = {"streams": args.streams, "minutes": args.minutes, "processes": args.processes, "sessions": sessions,
              "errors": out["errors"], "refused": out["refused"],
              "partial_p95_ms": float(np.percentile(out["partial"], 95) * 1000) if out["partial"] else None,
              "rss_mb": samples, "rss_first_mb": rss[0], "rss_max_mb": max(rss),
              "rss_second_half_growth_mb": max(half) - min(half)}
    text = (f"{args.streams} real-time streams for {args.minutes:g} minutes ({sessions} sessions opened and "
            f"closed): {out['errors']} errors, {out['refused']} refused; p95 partial latency {result['partial_p95_ms']:.0f} ms; server "
            f"memory ({args.processes} process{'es' if args.processes > 1 else ''}, resident, summed) {rss[0]:.0f} MB after start, {max(rss):.0f} MB at most, varying by "
            f"{result['rss_second_half_growth_mb']:.0f} MB over the second half. Produced by "
            f"`python benchmarks/soak.py --streams {args.streams} --minutes {args.minutes:g} --backend {args.backend} "
            f"--processes {args.processes}`.\n")
    publish("soak", result, text)


if __name__ == "__main__":
    main()
