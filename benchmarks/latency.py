"""Latency and capacity through the real server on loopback, clients pacing audio in real time.

    python benchmarks/latency.py [--corpus work/corpus] [--streams 1,4,8,16,24,32] [--seconds 20]

Per level of concurrency N, N clients each stream held-out utterances back to back (with 1 s of
silence between them) at real time, for about ``--seconds``. Measured on the client side:
- partial latency: arrival of a partial minus the moment the audio it covers (``audio_ms``) was sent;
- end-message latency: arrival of the last final minus sending ``end``;
- endpoint latency: arrival of a mid-stream final minus the moment the speech it closes had been sent.
Also the server's compute per frame (its /metrics) and its resident memory. Writes
benchmarks/results/latency.{json,md} and quotes the table in the README.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).parent))
from results_io import publish  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.protocol import encode_audio  # noqa: E402
from streamasr.data.manifest import read_manifest  # noqa: E402

RATE, FRAME_MS, CHUNK_MS = 16000, 40, 320


async def one_client(url: str, audio: np.ndarray, speech_ends: list[float], out: dict) -> None:
    """Stream ``audio`` at real time; record latencies into ``out``."""
    sent_at: dict[int, float] = {}  # audio ms fully sent -> wall time
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": RATE, "chunk_ms": CHUNK_MS}))
        await ws.recv()
        t_end = 0.0

        async def reader():
            async for msg in ws:
                now, ev = time.monotonic(), json.loads(msg)
                if ev["type"] == "partial":
                    t = max((ms for ms in sent_at if ms <= ev["audio_ms"]), default=None)
                    if t is not None and t >= ev["audio_ms"] - FRAME_MS:
                        out["partial"].append(now - sent_at[t])
                elif ev["type"] == "final":
                    if t_end:
                        out["end"].append(now - t_end)
                    else:  # an endpoint: latency from the end of the speech it closes
                        ends = [e for e in speech_ends if e * 1000 <= ev["end_ms"] + 1]
                        if ends:
                            ms = int(ends[-1] * 1000) // FRAME_MS * FRAME_MS
                            if ms in sent_at:
                                out["endpoint"].append(now - sent_at[ms])
                elif ev["type"] == "error":
                    out["errors"] += 1

        task = asyncio.create_task(reader())
        step = RATE * FRAME_MS // 1000
        t0 = time.monotonic()
        for i, pos in enumerate(range(0, len(audio), step)):
            await asyncio.sleep(max(0.0, t0 + pos / RATE - time.monotonic()))
            await ws.send(encode_audio(audio[pos : pos + step], "pcm_s16le"))
            sent_at[(i + 1) * FRAME_MS] = time.monotonic()
        t_end = time.monotonic()
        await ws.send(json.dumps({"type": "end"}))
        await task


def program(utts: list[np.ndarray], seconds: float, offset: int) -> tuple[np.ndarray, list[float]]:
    """Utterances back to back with 1 s of silence after each, about ``seconds`` long."""
    parts, ends, t = [], [], 0.0
    i = offset
    while t < seconds:
        u = utts[i % len(utts)]
        parts += [u, np.zeros(RATE, np.float32)]
        t += len(u) / RATE
        ends.append(t)
        t += 1.0
        i += 1
    return np.concatenate(parts), ends


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q) * 1000) if xs else float("nan")


def server_stats(port: int, pid: int) -> tuple[float, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    s = float(re.search(r"^streamasr_chunk_seconds_sum (\S+)", body, re.M).group(1))
    n = float(re.search(r"^streamasr_chunk_seconds_count (\S+)", body, re.M).group(1))
    rss = int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024
    return (s / n if n else 0.0), rss


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus")
    p.add_argument("--streams", default="1,4,8,16,24,32", help="levels of concurrency")
    p.add_argument("--seconds", type=float, default=20.0, help="audio per client per level")
    args = p.parse_args()
    utts = [load_audio(u.audio) for u in read_manifest(Path(args.corpus) / "test-unseen-voices.jsonl")[:40]]
    proc = subprocess.Popen([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", "0",
                             "--max-sessions", "256", "--idle-timeout", "120"], stdout=subprocess.PIPE, text=True)
    url = proc.stdout.readline().split()[-1] + "/"
    port = int(url.rsplit(":", 1)[1].strip("/"))
    rows = []
    try:
        for n in [int(x) for x in args.streams.split(",")]:
            out = {"partial": [], "end": [], "endpoint": [], "errors": 0}
            progs = [program(utts, args.seconds, 7 * i) for i in range(n)]

            async def level():
                await asyncio.gather(*(one_client(url, a, e, out) for a, e in progs))

            asyncio.run(level())
            compute, rss = server_stats(port, proc.pid)
            row = {"streams": n, "partial_p50_ms": pct(out["partial"], 50), "partial_p95_ms": pct(out["partial"], 95),
                   "partial_p99_ms": pct(out["partial"], 99), "endpoint_p50_ms": pct(out["endpoint"], 50),
                   "endpoint_p95_ms": pct(out["endpoint"], 95), "end_p50_ms": pct(out["end"], 50),
                   "end_p95_ms": pct(out["end"], 95), "errors": out["errors"],
                   "server_compute_per_frame_ms": compute * 1000, "server_rss_mb": rss}
            rows.append(row)
            print(json.dumps({k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    limit = CHUNK_MS + 100
    ok = [r["streams"] for r in rows if r["partial_p95_ms"] <= limit and not r["errors"]]
    lines = ["| streams | partial p50 / p95 / p99 | endpoint final p50 / p95 | end-message final p50 / p95 | "
             "server RSS |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['streams']} | {r['partial_p50_ms']:.0f} / {r['partial_p95_ms']:.0f} / "
                     f"{r['partial_p99_ms']:.0f} ms | {r['endpoint_p50_ms']:.0f} / {r['endpoint_p95_ms']:.0f} ms | "
                     f"{r['end_p50_ms']:.0f} / {r['end_p95_ms']:.0f} ms | {r['server_rss_mb']:.0f} MB |")
    lines.append(f"\n{CHUNK_MS} ms chunks, beam search + LM, chunks batched across streams; clients on the same "
                 "2-core machine. "
                 f"Largest tested level with p95 partial latency within chunk + 100 ms ({limit} ms): "
                 f"{max(ok) if ok else 'none'} streams. Produced by `python benchmarks/latency.py`.")
    publish("latency", rows, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
