"""Latency and capacity through the real server on loopback, clients pacing audio in real time.

    python benchmarks/latency.py [--corpus work/corpus-engines] [--streams 1,8,16,...,128] [--backend onnx]
                                 [--processes N] [--final-pass] [--beam N] [--name latency]
    python benchmarks/latency.py --server ws://HOST:PORT/ [--token T] [--streams ...]   # a server of yours

Per level of concurrency N, N clients each stream held-out utterances back to back (with 1 s of
silence between them) at real time, for about ``--seconds``. Measured on the client side:
- word latency: first partial holding a word (all words before it as in the final) minus the moment the
  word's end, as the final times it, was spoken (``client.spoken_at``: as a live source sends each frame
  once complete, within the 40 ms frame holding it); and, from the same moment, the partial from which it
  no longer changed and the one whose ``stable_words`` settled it (``client.latencies``);
- partial latency: arrival of a partial minus the moment the audio it covers (``audio_ms``) was sent;
- end-message latency: arrival of the last final minus sending ``end``;
- endpoint latency: arrival of a mid-stream final minus the moment the speech it closes ended (spoken, as
  above).
Also the server's compute per frame and its event loops' lag (quantiles of its /metrics histograms, this
level only), the CPU use of the server's processes and of the clients (all in this process), and the
server's resident memory.
``--processes`` runs `serve --processes N`; ``--final-pass`` makes every stream ask for finals re-decoded
at full context. ``--server`` measures a server already running (a deployment of yours) instead of starting
one: the same clients and columns, but its CPU and memory are not measured (its compute and loop lag are, if
its /metrics answers), and the results go to benchmarks/results/latency-server.{json,md}. Writes benchmarks/results/NAME.{json,md} and quotes the table in the README's NAME block."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).parent))
from results_io import publish, read  # noqa: E402
from speech_end import speech_end  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.client import Timing, latencies, spoken_at, stream_frames  # noqa: E402
from streamasr.data.manifest import read_manifest  # noqa: E402

RATE, FRAME_MS, CHUNK_MS = 16000, 40, 320
LIMIT_MS = CHUNK_MS + 100  # the target: p95 chunk → partial latency within chunk + 100 ms
HISTOGRAMS = {"streamasr_chunk_seconds": "compute", "streamasr_loop_lag_seconds": "lag"}  # /metrics name -> row key


def client_results() -> dict:
    """What ``one_client`` records into: latency samples (seconds) by kind (``client.latencies``' and the
    endpoint's), errors and refusals."""
    return {"partial": [], "word": [], "unchanged": [], "settled": [], "end": [], "endpoint": [], "errors": 0,
            "refused": 0}


async def one_client(url: str, audio: np.ndarray, speech_ends: list[float], out: dict,
                     final_pass: bool = False, token: str | None = None) -> None:
    """Stream ``audio`` at real time; record latencies (seconds) into ``out``, a refusal, and a lost connection or
    an error message as an error."""
    ready = asyncio.Event()  # the server answered the start message (ready, or a refusal)
    refused = False
    timing = Timing()

    async def frames():
        await ready.wait()
        if refused:
            return
        step = RATE * FRAME_MS // 1000
        t0 = time.monotonic()
        for pos in range(0, len(audio), step):
            await asyncio.sleep(max(0.0, t0 + pos / RATE - time.monotonic()))
            yield audio[pos : pos + step]

    def on_event(ev: dict) -> None:
        nonlocal refused
        if ev["type"] in ("ready", "error") and not ready.is_set():
            refused = ev["type"] == "error"
            ready.set()

    try:
        events = await stream_frames(url, frames(), RATE, start={"chunk_ms": CHUNK_MS, "final_pass": final_pass},
                                     on_event=on_event, timing=timing, token=token)
    except ConnectionClosed as e:  # refused before the start message was sent, or e.g. keepalive pings unanswered
        out["refused" if e.rcvd is not None and e.rcvd.code == 1013 else "errors"] += 1
        return
    errors = [ev for ev in events if ev["type"] == "error"]
    if errors:  # refused (busy): at capacity, or behind (--max-backlog-ms)
        out["refused" if errors[0]["code"] == "busy" else "errors"] += 1
        return
    for key, ms in latencies(events, timing).items():
        out[KEYS.get(key, key)] += [x / 1000 for x in ms]
    out["endpoint"] += endpoint_latencies(events, timing, speech_ends)


KEYS = {"end_final": "end"}  # client.latencies' names -> ours


def endpoint_latencies(events: list[dict], timing: Timing, speech_ends: list[float]) -> list[float]:
    """Seconds from the end of an utterance's speech (``speech_ends``, seconds into the stream) to the arrival
    of the final that closes it, for each final that came before the end message (an endpoint), timed from
    the moment the last speech end at or before its ``end_ms`` was spoken (``client.spoken_at``: within the
    frame holding it, as a live source sends each frame once complete).

    >>> t = Timing(sent=[(40, 0.0), (80, 0.04), (120, 0.08)], received=[0.3, 0.5], end_sent=0.4)
    >>> finals = [{"type": "final", "end_ms": 120}, {"type": "final", "end_ms": 120}]  # the second after the end
    >>> endpoint_latencies(finals, t, [0.09])  # speech ends at 90 ms, spoken at 0.05 (its frame sent at 0.08)
    [0.25]
    """
    out = []
    for ev, arrived in zip(events, timing.received):
        if ev["type"] != "final" or timing.end_sent is None or arrived >= timing.end_sent:
            continue
        ends = [e for e in speech_ends if e * 1000 <= ev["end_ms"] + 1]
        if ends and (spoken := spoken_at(ends[-1] * 1000, timing.sent)) is not None:
            out.append(round(arrived - spoken, 6))
    return out


def program(utts: list[np.ndarray], seconds: float, offset: int) -> tuple[np.ndarray, list[float]]:
    """Utterances back to back with 1 s of silence after each, about ``seconds`` long; and where speech ends."""
    parts, ends, t = [], [], 0.0
    i = offset
    while t < seconds:
        u = utts[i % len(utts)]
        parts += [u, np.zeros(RATE, np.float32)]
        ends.append(t + speech_end(u))  # the TTS engine's trailing silence is not speech
        t += len(u) / RATE + 1.0
        i += 1
    return np.concatenate(parts), ends


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q) * 1000) if xs else float("nan")


def server_histogram(where: int | str, name: str) -> tuple[list[tuple[float, float]], float]:
    """One of the server's cumulative histograms (compute per frame, loop lag): [(le, count)], total count.
    ``where``: its /metrics URL, or the port of a server on this machine."""
    url = where if isinstance(where, str) else f"http://127.0.0.1:{where}/metrics"
    body = urllib.request.urlopen(url).read().decode()
    buckets = [(float(le), float(n)) for le, n in
               re.findall(rf'^{name}_bucket\{{le="([^"+]+)"\}} (\S+)', body, re.M)]
    return buckets, float(re.search(rf"^{name}_count (\S+)", body, re.M).group(1))


def level_quantiles(before: tuple, after: tuple, key: str) -> dict[str, float]:
    """p50/p95/p99 in ms of what a server histogram gained between two scrapes (one level)."""
    buckets = [(le, n1 - n0) for (le, n1), (_, n0) in zip(after[0], before[0])]
    return {f"{key}_p{q}_ms": histogram_quantile(buckets, after[1] - before[1], q / 100) * 1000 for q in (50, 95, 99)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (the server processes of `serve --processes N`)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(p := todo.pop())
        todo += children.get(p, [])
    return tree


def tree_cpu_seconds(pid: int) -> float:
    return sum(cpu_seconds(p) for p in process_tree(pid))


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its descendants, summed (pages they share count once per process)."""
    return sum(rss_mb(p) for p in process_tree(pid))


def client_cpu_seconds() -> float:
    """User + system CPU time of this process (all the clients) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb(pid: int) -> float:
    return int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024


def histogram_quantile(buckets: list[tuple[float, float]], total: float, q: float) -> float:
    """Prometheus-style quantile of a cumulative histogram, linear within a bucket.

    >>> histogram_quantile([(0.01, 50.0), (0.02, 100.0)], 100.0, 0.75)
    0.015
    """
    if not total:
        return float("nan")
    rank, lo, below = q * total, 0.0, 0.0
    for le, n in buckets:
        if n >= rank:
            return lo + (le - lo) * (rank - below) / max(n - below, 1e-9)
        lo, below = le, n
    return buckets[-1][0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines")
    p.add_argument("--streams", default="1,8,16,32,40,48,64", help="levels of concurrency")
    p.add_argument("--seconds", type=float, default=20.0, help="audio per client per level")
    p.add_argument("--backend", default="onnx", help="the server's encoder backend")
    p.add_argument("--processes", type=int, default=1, help="server processes (`serve --processes`)")
    p.add_argument("--name", default=None,
                   help="results file name (benchmarks/results/NAME.{json,md}; default: latency, with --server "
                   "latency-server)")
    p.add_argument("--final-pass", action="store_true", help="every stream asks for finals at full context")
    p.add_argument("--beam", type=int, default=0, help="the server's beam width (`serve --beam`; 0: its default)")
    p.add_argument("--server", default=None,
                   help="measure this running server (ws://HOST:PORT/) instead of starting one: its CPU and memory "
                   "are not measured, its compute and loop lag come from its /metrics; --backend, --processes and "
                   "--beam are its own")
    p.add_argument("--token", default=None, help="bearer token for --server")
    p.add_argument("--render", action="store_true",
                   help="measure nothing: write NAME's table and README block again from its results JSON (after a "
                   "change to the table's form)")
    args = p.parse_args()
    args.name = args.name or ("latency-server" if args.server else "latency")
    if args.render:
        data = read(args.name)
        publish(args.name, data, table(data))
        return
    utts = [load_audio(u.audio) for u in read_manifest(Path(args.corpus) / "test-unseen-voices.jsonl")[:40]]
    proc = None
    if args.server:
        url = args.server.rstrip("/") + "/"
    else:
        proc = subprocess.Popen([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", "0", "--backend",
                                 args.backend, "--max-sessions", "256", "--idle-timeout", "120", "--max-backlog-ms",
                                 "0", "--processes", str(args.processes),
                                 *(["--beam", str(args.beam)] if args.beam else [])], stdout=subprocess.PIPE, text=True)
        url = proc.stdout.readline().split()[-1] + "/"
    metrics = metrics_url(url)  # the server's /metrics, if it answers
    rows = []
    try:
        for n in [int(x) for x in args.streams.split(",")]:
            rows.append(measure_level(url, n, utts, args, proc.pid if proc else None, metrics))
            print(json.dumps({k: round(v, 1) for k, v in rows[-1].items() if not isinstance(v, list)}), flush=True)
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=30)
    data = {"backend": args.backend, "chunk_ms": CHUNK_MS, "server": args.server, "final_pass": args.final_pass,
            "processes": args.processes, "name": args.name, "beam": args.beam, "levels": rows}
    publish(args.name, data, table(data))


def measure_level(url: str, n: int, utts: list[np.ndarray], args: argparse.Namespace, pid: int | None,
                  metrics: str | None) -> dict:
    """One level: ``n`` clients streaming at once to ``url``; its row of the table. ``pid``: the server's process
    (None: a server of someone else's, whose CPU and memory are not measured); ``metrics``: its /metrics URL
    (None: not read)."""
    out = client_results()
    progs = [program(utts, args.seconds, 7 * i) for i in range(n)]
    before = {m: server_histogram(metrics, m) for m in HISTOGRAMS} if metrics else {}
    cpu0, wall0, client0 = tree_cpu_seconds(pid) if pid else 0.0, time.monotonic(), client_cpu_seconds()

    async def level():
        await asyncio.gather(*(one_client(url, a, e, out, args.final_pass, args.token) for a, e in progs))

    asyncio.run(level())
    wall = time.monotonic() - wall0
    row = {"streams": n, "errors": out["errors"] + out["refused"],
           "client_cpu_cores": (client_cpu_seconds() - client0) / wall}
    if pid:
        row |= {"server_rss_mb": tree_rss_mb(pid), "server_cpu_cores": (tree_cpu_seconds(pid) - cpu0) / wall}
    if metrics:
        after = {m: server_histogram(metrics, m) for m in HISTOGRAMS}
        for metric, key in HISTOGRAMS.items():
            row |= level_quantiles(before[metric], after[metric], key)
    for key in ("partial", "word", "unchanged", "settled", "endpoint", "end"):
        row |= {f"{key}_p{q}_ms": pct(out[key], q) for q in (50, 95, 99)}
    row["word_samples_ms"] = [round(x * 1000) for x in out["word"]]
    row["settled_samples_ms"] = [round(x * 1000) for x in out["settled"]]
    return row


def metrics_url(url: str) -> str | None:
    """The /metrics address of the server at websocket ``url``, if it answers there (None otherwise).

    >>> metrics_url("ws://127.0.0.1:1/") is None  # nothing listens on port 1
    True
    """
    parts = urllib.parse.urlsplit(url)
    http = urllib.parse.urlunsplit(("https" if parts.scheme == "wss" else "http", parts.netloc, "/metrics", "", ""))
    try:
        urllib.request.urlopen(http, timeout=5).close()
    except OSError:
        return None
    return http


def held_levels(rows: list[dict], limit_ms: float = LIMIT_MS) -> list[int]:
    """The levels (stream counts) whose p95 chunk → partial latency stayed within ``limit_ms``, without errors.

    >>> held_levels([{"streams": 32, "partial_p95_ms": 300, "errors": 0},
    ...              {"streams": 48, "partial_p95_ms": 430, "errors": 0},
    ...              {"streams": 64, "partial_p95_ms": 410, "errors": 1}])
    [32]
    """
    return [r["streams"] for r in rows if r["partial_p95_ms"] <= limit_ms and not r["errors"]]


COLUMNS = ("*word → partial*: from the moment a word's end (as the final times it) was spoken, within the 40 ms "
           "frame that the client sends once complete, to the first partial holding that word; *word → unchanged*: "
           "to the partial from which every later one holds "
           "it (or the final); *word → settled*: to the first partial whose `stable_words` cover it (or the final), "
           "from which a client may commit it (*How soon a word settles*); *chunk → partial*: from sending the audio a partial covers to its "
           "arrival; *endpoint final*: from the end of an utterance's speech to the final the silence rule closes; "
           "*loop lag*: how much later than asked the server processes' event loops woke from a 50 ms sleep "
           "(`streamasr_loop_lag_seconds`), a wait every frame of every stream shares; *server CPU*, *client CPU*: "
           "CPU time of the server's processes and of the clients' over the level's wall time; *server RSS*: the "
           "server's processes' resident memory, summed (each process counts the libraries they share). ")


def table(data: dict) -> str:
    """The README table of a run's results (``main``'s JSON: backend, final_pass, processes, name, levels; server
    where it measured a running server)."""
    rows, backend, final_pass = data["levels"], data["backend"], data.get("final_pass", False)
    processes, name, beam = data.get("processes", 1), data.get("name", "latency"), data.get("beam", 0)
    server = data.get("server")
    ok = held_levels(rows)
    lines = ["| streams | word → partial p50 / p95 / p99 | word → unchanged p50 / p95 | word → settled p50 / p95 | "
             "chunk → partial p50 / p95 / p99 | endpoint final p50 / p95 | end-message final p50 / p95 / p99 | "
             "compute per frame p50 / p95 | loop lag p50 / p95 | server CPU | client CPU | server RSS |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def f(r: dict, k: str, qs: tuple[int, ...] = (50, 95, 99), digits: int = 0) -> str:
        # "–": a run from before the column, or a server whose /metrics did not answer
        return " / ".join(f"{r[f'{k}_p{q}_ms']:.{digits}f}" for q in qs) + " ms" if f"{k}_p50_ms" in r else "–"

    def g(r: dict, k: str, form: str) -> str:  # "–": a server of someone else's (--server), not measured
        return form.format(r[k]) if k in r else "–"

    for r in rows:
        lines.append(f"| {r['streams']} | {f(r, 'word')} | {f(r, 'unchanged', (50, 95))} | "
                     f"{f(r, 'settled', (50, 95))} | {f(r, 'partial')} | {f(r, 'endpoint', (50, 95))} | "
                     f"{f(r, 'end')} | {f(r, 'compute', (50, 95), 1)} | {f(r, 'lag', (50, 95))} | "
                     f"{g(r, 'server_cpu_cores', '{:.2f} cores')} | {g(r, 'client_cpu_cores', '{:.2f} cores')} | "
                     f"{g(r, 'server_rss_mb', '{:.0f} MB')} |")
    memory = ""
    if "server_rss_mb" in rows[0]:
        per_stream = (rows[-1]["server_rss_mb"] - rows[0]["server_rss_mb"]) / max(1, rows[-1]["streams"] - rows[0]["streams"])
        memory = f" Memory per extra stream: {per_stream:.1f} MB."
    search = (f"beam search{f' (beam {beam}, `serve --beam {beam}`)' if beam else ''} + LM" if not server
              else "the server's own search")
    where = (f"`serve --backend {backend} --processes {processes}`, chunks batched across streams; the clients run on "
             "the same 2-core machine" if not server else f"the server at {server}, its CPU and memory not measured")
    flags = (f"--processes {processes}" if not server else f"--server {server}") + (
        f" --streams {','.join(str(r['streams']) for r in rows)}{' --final-pass' if final_pass else ''}"
        f"{f' --beam {beam}' if beam and not server else ''}"
        f"{f' --name {name}' if name != ('latency-server' if server else 'latency') else ''}")
    lines.append(
        f"\n{CHUNK_MS} ms chunks, {search}"
        + (", finals re-decoded at full context (`\"final_pass\": true` in every start message)" if final_pass else "")
        + f", {where}. "
        + (COLUMNS if name == "latency" else "Columns as in `latency.md` (the default run's table). ")
        + f"Largest tested level with p95 chunk → partial within chunk + 100 ms ({LIMIT_MS} ms): "
        f"{f'{max(ok)} streams' if ok else 'none of them'}.{memory} Produced by `python benchmarks/latency.py {flags}`.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
