"""Admission control under overload: streams arrive and leave, more than the server holds, with and without
`serve --max-backlog-ms`.

    python benchmarks/admission.py [--corpus work/corpus-engines] [--offered 64,96,128] [--bounds 0,300,1000]
                                   [--stream-s 20] [--arrive-s 40] [--processes 3]

Streams arrive evenly for ``--arrive-s`` seconds, each streaming ``--stream-s`` seconds of held-out
utterances at real time and then closing, at the rate that keeps ``--offered`` of them open at once. A
refused stream (close code 1013, ``busy``) does not come back. For each offered load and each bound (0: the
server takes every stream), a fresh server; measured on the client side: streams taken and refused, and the
taken streams' chunk → partial latency (from sending the audio a partial covers to its arrival). A server
without admission control takes every stream and all of them fall behind together once the load passes what
it computes; with it, new streams are refused while the open ones stay behind, so the latency of the ones it
took stays near the bound. Writes benchmarks/results/admission.{json,md} and the README's admission block."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from latency import (LIMIT_MS, RATE, client_results, level_quantiles, one_client, pct, program,  # noqa: E402
                     server_histogram, tree_cpu_seconds)
from results_io import publish  # noqa: E402

BACKLOG = "streamasr_stream_backlog_seconds"  # the server's histogram of its streams' unread audio

from streamasr.audio import load_audio  # noqa: E402
from streamasr.data.manifest import read_manifest  # noqa: E402


def arrivals(offered: int, stream_s: float, arrive_s: float) -> list[float]:
    """Evenly spaced start times that keep ``offered`` streams of ``stream_s`` seconds open at once.

    >>> arrivals(4, 2.0, 3.0)  # two a second for three seconds
    [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    """
    gap = stream_s / offered
    return [i * gap for i in range(round(arrive_s / gap))]


def stream_program(utts: list, seconds: float, offset: int) -> tuple:
    """``latency.program`` cut to ``seconds`` of audio: (samples, the speech ends within them)."""
    audio, ends = program(utts, seconds, offset)
    return audio[: int(seconds * RATE)], [e for e in ends if e < seconds]


def run_load(args, utts: list, offered: int, bound_ms: float) -> dict:
    """One fresh server with ``--max-backlog-ms bound_ms``, ``offered`` streams kept arriving; the row."""
    proc = subprocess.Popen([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", "0", "--backend",
                             args.backend, "--max-sessions", "1024", "--idle-timeout", "120",
                             "--max-backlog-ms", str(bound_ms), "--processes", str(args.processes)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    url = proc.stdout.readline().split()[-1] + "/"
    port = int(url.rsplit(":", 1)[1].strip("/"))
    starts = arrivals(offered, args.stream_s, args.arrive_s)
    progs = [stream_program(utts, args.stream_s, 5 * i) for i in range(len(starts))]
    outs = [client_results() for _ in starts]

    async def client(at: float, prog: tuple, out: dict) -> None:
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        await one_client(url, *prog, out)

    async def load() -> None:
        await asyncio.gather(*(client(at, prog, out) for at, prog, out in zip(starts, progs, outs)))

    try:
        cpu0, t0 = tree_cpu_seconds(proc.pid), time.monotonic()
        asyncio.run(load())
        cores = (tree_cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - t0)
        backlog = server_histogram(port, BACKLOG)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    taken = [o for o in outs if not o["refused"]]
    partial = [x for o in taken for x in o["partial"]]
    row = {"offered": offered, "bound_ms": bound_ms, "arrived": len(starts), "refused": len(starts) - len(taken),
           "taken": len(taken), "errors": sum(o["errors"] for o in outs), "server_cpu_cores": cores,
           "within": sum(pct(o["partial"], 95) <= LIMIT_MS for o in taken),
           "streams": [[at, o["refused"], pct(o["partial"], 50), pct(o["partial"], 95)] for at, o in zip(starts, outs)]}
    row |= {f"partial_p{q}_ms": pct(partial, q) for q in (50, 95, 99)}
    row |= level_quantiles(([(le, 0.0) for le, _ in backlog[0]], 0.0), backlog, "backlog")
    print({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items() if k != "streams"}, flush=True)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines")
    p.add_argument("--offered", default="64,96,128", help="streams kept open at once, were all of them taken")
    p.add_argument("--bounds", default="0,300,1000", help="`serve --max-backlog-ms` values (0: no admission control)")
    p.add_argument("--stream-s", type=float, default=20.0, help="seconds each stream lasts")
    p.add_argument("--arrive-s", type=float, default=40.0, help="seconds over which streams keep arriving")
    p.add_argument("--backend", default="onnx", help="the server's encoder backend")
    p.add_argument("--processes", type=int, default=3, help="server processes (`serve --processes`)")
    args = p.parse_args()
    utts = [load_audio(u.audio) for u in read_manifest(Path(args.corpus) / "test-unseen-voices.jsonl")[:40]]
    rows = [run_load(args, utts, int(n), float(b)) for n in args.offered.split(",") for b in args.bounds.split(",")]
    data = {"stream_s": args.stream_s, "arrive_s": args.arrive_s, "backend": args.backend,
            "processes": args.processes, "offered": args.offered, "bounds": args.bounds, "rows": rows}
    publish("admission", data, table(data))


def table(data: dict) -> str:
    """The README table of a run (``main``'s JSON)."""
    lines = ["| streams offered at once | `--max-backlog-ms` | streams arrived | refused | taken | taken, within "
             f"{LIMIT_MS} ms | lost | chunk → partial p50 / p95 / p99 (taken) | backlog p50 / p95 / p99 | server CPU |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["rows"]:
        bound = f"{r['bound_ms']:g}" if r["bound_ms"] else "0 (takes all)"
        q = lambda key: " / ".join(f"{r[f'{key}_p{p}_ms']:.0f}" for p in (50, 95, 99)) + " ms"  # noqa: E731
        lines.append(f"| {r['offered']} | {bound} | {r['arrived']} | {r['refused']} | {r['taken']} | {r['within']} | "
                     f"{r['errors']} | {q('partial')} | {q('backlog')} | {r['server_cpu_cores']:.2f} cores |")
    lines.append(
        f"\nStreams arrive evenly for {data['arrive_s']:g} s, each streams {data['stream_s']:g} s of held-out "
        "utterances at real time (320 ms chunks, beam search + LM) and closes; *offered at once* is how many "
        "would be open together were all of them taken. A refused stream (1013, `busy`) does not come back. "
        f"*Within {LIMIT_MS} ms*: taken streams whose own p95 chunk → partial latency stayed within chunk + 100 ms. "
        "*Lost*: taken streams that ended in an error or a dropped connection (keepalive pings unanswered). "
        "*Backlog*: the server's samples of its streams' unread audio (`streamasr_stream_backlog_seconds`). "
        f"A fresh `serve --backend {data['backend']} --processes {data['processes']}` per row; the clients run "
        "on the same 2-core machine. Produced by `python benchmarks/admission.py "
        f"--offered {data['offered']} --bounds {data['bounds']}`.")
    return "\n".join(lines) + "\n"

if __name__ == "__main__":
    main()
