"""`streamasr serve --processes N`: N server processes listening on one port.

One Python process runs the Python side of every stream (beam search, features, websocket framing)
under one GIL, on one core at a time whatever the machine has; on 2 cores a single server process
saturated at about 1.1 cores (`benchmarks/latency.py`). Here the parent holds the port and starts N
processes (spawned, not forked: each imports and loads its own model), each a whole ``Server`` with
its own batcher, listening on that port with a socket of its own (SO_REUSEPORT); the kernel spreads
new connections over them by a hash of the connection's addresses (40 connections at once split
between 15/25 and 20/20 in a test here; one socket shared by all processes split as badly as 12/28,
whichever process woke first taking the burst), and a stream stays in the process that accepted it.
Shared across processes: the session limit (``SessionSlots`` over a counter per process in shared
memory), which processes are behind (``backlog.Behind``: while one is, all refuse new streams) and
/metrics (prometheus_client's multiprocess mode: any process answers for all). The
parent only supervises: it says "listening" once every process listens, starts another process in
place of one that dies, and on SIGTERM/SIGINT stops them all, each flushing its streams' finals.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import multiprocessing as mp
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from queue import Empty
from typing import TYPE_CHECKING

from prometheus_client import multiprocess

from streamasr.server.config import ServerConfig, address_family, probe_address
from streamasr.server.backlog import Behind
from streamasr.server.slots import SessionSlots

if TYPE_CHECKING:  # only the server processes import torch and the model
    from streamasr.recognizer import Recognizer

log = logging.getLogger("streamasr.server")
START_TIMEOUT_S = 600.0  # loading the model in every process at once, on a slow machine


class ServerStartError(RuntimeError):
    """A server process could not start (its model did not load, say); the server does not run."""


def serve_processes(load: Callable[[], Recognizer], cfg: ServerConfig) -> None:
    """Run ``cfg.processes`` server processes on one socket until SIGTERM/SIGINT."""
    ctx = mp.get_context("spawn")
    cfg = dataclasses.replace(cfg, port=probe_address(cfg.host, cfg.port))  # picks the port for port 0
    # Holds the port (bound, never listening, so the kernel gives it no connections) while the
    # processes come and go; they listen on it with sockets of their own (SO_REUSEPORT).
    holder = socket.socket(address_family(cfg.host), socket.SOCK_STREAM)
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    holder.bind((cfg.host, cfg.port))
    shared_dir = tempfile.mkdtemp(prefix="streamasr-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared_dir  # read by prometheus_client when a process imports it
    counts = ctx.Array("i", cfg.processes)  # open streams of each process
    behind = ctx.Array("b", cfg.processes, lock=False)  # whether each process is behind (one writer each)
    ready = ctx.Queue()  # (index, None) once a process listens, (index, message) if it could not start
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())

    def start(i: int) -> mp.Process:
        p = ctx.Process(target=_process, args=(i, load, cfg, counts, behind, ready), name=f"streamasr-server-{i}")
        p.start()
        return p

    procs = [start(i) for i in range(cfg.processes)]
    try:
        _await_ready(dict(enumerate(procs)), ready, stopping)
        log.info("%d server processes: %s", len(procs), " ".join(str(p.pid) for p in procs))
        print(f"streamasr: listening on {cfg.url(cfg.port)}", flush=True)
        while not stopping.is_set():
            wait([p.sentinel for p in procs], timeout=0.5)
            for i, p in enumerate(procs):
                if p.exitcode is not None and not stopping.is_set():
                    log.error("server process %d (pid %d) exited with code %s; starting another", i, p.pid, p.exitcode)
                    multiprocess.mark_process_dead(p.pid, shared_dir)  # its open streams are gone
                    counts[i] = behind[i] = 0
                    procs[i] = start(i)
                    _await_ready({i: procs[i]}, ready, stopping)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: the process flushes its streams' finals and exits
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
        holder.close()
        shutil.rmtree(shared_dir, ignore_errors=True)


def _await_ready(procs: dict[int, mp.Process], ready, stopping: threading.Event) -> None:
    """Wait until each of ``procs`` (by index) listens; raise ServerStartError if one cannot."""
    deadline = time.monotonic() + START_TIMEOUT_S
    waiting = set(procs)
    while waiting and not stopping.is_set():
        try:
            index, problem = ready.get(timeout=0.5)
        except Empty:
            for p in procs.values():
                if p.exitcode is not None:
                    raise ServerStartError(f"{p.name} exited with code {p.exitcode} before it listened") from None
            if time.monotonic() > deadline:
                raise ServerStartError(f"server processes did not start within {START_TIMEOUT_S:g} s") from None
            continue
        if problem is not None:
            raise ServerStartError(problem)
        waiting.discard(index)


def _process(index: int, load: Callable[[], Recognizer], cfg: ServerConfig, counts, behind, ready) -> None:
    """One server process: load the model, then serve on the shared port until SIGTERM, or until the
    parent is gone (killed, say: then no one would stop or replace this process)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us with SIGTERM

    from streamasr.server import logs
    from streamasr.server.app import Metrics, Server, own_process

    logs.configure(f"%(asctime)s %(levelname)s [{index}] %(message)s")
    try:
        rec = load()
    except Exception as e:  # reported by the parent, which does not start
        ready.put((index, f"{type(e).__name__}: {e}"))
        return
    own_process()
    # a listening socket of this process's own on the shared port: the kernel spreads new
    # connections over the processes' sockets by a hash of their addresses (SO_REUSEPORT)
    sock = socket.create_server((cfg.host, cfg.port), family=address_family(cfg.host), backlog=1024, reuse_port=True)
    server = Server(rec, cfg, SessionSlots(cfg.max_sessions, counts, index),
                    Metrics(shared_dir=os.environ["PROMETHEUS_MULTIPROC_DIR"]), Behind(behind, index))

    async def run() -> None:
        loop = asyncio.get_running_loop()

        def watch_parent() -> None:
            wait([mp.parent_process().sentinel])
            log.error("the supervising process is gone; stopping")
            loop.call_soon_threadsafe(server.stopping.set)

        threading.Thread(target=watch_parent, name="streamasr-parent-watch", daemon=True).start()
        await server.run(on_ready=lambda _port: ready.put((index, None)), sock=sock)

    asyncio.run(run())
