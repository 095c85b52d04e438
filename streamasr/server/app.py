"""`streamasr serve`: a thin asyncio/websockets adapter over Connection.

Compute runs in a thread pool, so the event loop never blocks; each connection
handles its frames in order, so a client sending faster than the CPU is slowed by
TCP backpressure (websockets keeps a bounded queue), never buffered without bound.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.resources
import logging
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import prometheus_client as prom
from prometheus_client import multiprocess
import torch
from websockets.asyncio.server import ServerConnection, serve as ws_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request

from streamasr.protocol import ProtocolError, error_message, to_text
from streamasr.recognizer import Recognizer, Session
from streamasr.server import backlog, logs
from streamasr.server.batcher import Batcher
from streamasr.server.config import ServerConfig, tls_context
from streamasr.server.connection import Connection
from streamasr.server.slots import SessionSlots

log = logging.getLogger("streamasr.server")
PATHS = {"/": "native", "/vosk": "vosk", "/media": "media"}
LAG_INTERVAL_S = 0.05  # how often the event-loop lag is sampled (``Server._watch_lag``)
# How long a thread running Python keeps the GIL while another waits for it (CPython's default: 5 ms). The event
# loop and a closing stream's thread take it and give it back many times per reply, waiting up to this long each
# time (docs/latency-notes.md, "One search at a time").
SWITCH_INTERVAL_S = 0.001
PAGE = importlib.resources.files("streamasr.server").joinpath("page.html").read_text(encoding="utf-8")


class Metrics:
    """The server's Prometheus metrics. With ``shared_dir`` (prometheus_client's multiprocess mode, set up
    by ``serve_processes``), every server process writes its values there and any of them answers for all."""

    def __init__(self, shared_dir: str | None = None):
        self.shared_dir = shared_dir
        self.registry = prom.CollectorRegistry()
        self.sessions = prom.Gauge("streamasr_sessions", "open streams", registry=self.registry,
                                   multiprocess_mode="livesum")
        self.audio = prom.Counter("streamasr_audio_seconds", "audio received", registry=self.registry)
        self.refused = prom.Counter("streamasr_refused", "connections refused at capacity", registry=self.registry)
        self.errors = prom.Counter("streamasr_client_errors", "streams closed for bad input", ["code"],
                                   registry=self.registry)
        self.warnings = prom.Counter("streamasr_input_warnings", "input check warnings: a stream's (a channel's, a "
                                     "track's) audio only digital silence, too quiet or clipping; once per code each",
                                     ["code"], registry=self.registry)
        self.chunk = prom.Histogram("streamasr_chunk_seconds", "compute time per audio frame",
                                    buckets=(0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2),
                                    registry=self.registry)
        self.batch = prom.Histogram("streamasr_batch_size", "chunks per encoder call",
                                    buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.refused_behind = prom.Counter("streamasr_refused_behind", "connections refused while the streams "
                                           "were behind (ServerConfig.max_backlog_ms)", registry=self.registry)
        self.backlog = prom.Histogram("streamasr_stream_backlog_seconds", "audio a stream's client has sent that the "
                                      "server has not read yet, every stream sampled every 0.1 s",
                                      buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30),
                                      registry=self.registry)
        self.lag = prom.Histogram("streamasr_loop_lag_seconds", "how late the event loop wakes from a short sleep",
                                  buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
                                  registry=self.registry)

    def exposition(self) -> str:
        """The text a scrape of /metrics gets."""
        if self.shared_dir is None:
            return prom.generate_latest(self.registry).decode()
        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self.shared_dir)
        return prom.generate_latest(registry).decode()


class Server:
    def __init__(self, rec: Recognizer, cfg: ServerConfig, slots: SessionSlots | None = None,
                 metrics: Metrics | None = None, behind: backlog.Behind | None = None):
        self.rec, self.cfg = rec, cfg
        self.slots = slots or SessionSlots(cfg.max_sessions)  # shared by all server processes, if several
        self.behind = behind or backlog.Behind()  # which processes are behind (``_watch_backlog``), ditto
        self.metrics = metrics or Metrics()
        self.batcher = Batcher(rec.encoder, cfg.max_batch, cfg.max_wait_ms / 1000,
                               on_batch=self.metrics.batch.observe) if cfg.max_batch > 1 else None
        # with batching, connection threads mostly wait on the batcher: one per stream
        threads = cfg.max_sessions + 2 if self.batcher else cfg.workers
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="streamasr")
        self.open: dict[Connection, tuple[ServerConnection, float]] = {}  # open streams: socket, monotonic start
        self.uploads: set[Connection] = set()  # open streams that sent faster than real time (``_watch_backlog``)
        self.stopping = asyncio.Event()
        self.receiving: set[asyncio.Task] = set()  # stream handlers waiting for a client's next frame

    # --- HTTP before the upgrade -------------------------------------------------------
    def process_request(self, conn: ServerConnection, request: Request):
        url = urlsplit(request.path)
        if url.path == "/healthz":
            if self.behind.any():
                resp = conn.respond(HTTPStatus.SERVICE_UNAVAILABLE, "behind\n")
                resp.reason_phrase = logs.BEHIND  # logged as the change of state, not at each poll
                return resp
            return conn.respond(HTTPStatus.OK, "ok\n")
        if url.path == "/metrics":
            resp = conn.respond(HTTPStatus.OK, self.metrics.exposition())
            resp.headers["Content-Type"] = prom.CONTENT_TYPE_LATEST
            return resp
        if url.path not in PATHS:
            return conn.respond(HTTPStatus.NOT_FOUND, "not found\n")
        if url.path == "/" and "websocket" not in request.headers.get("Upgrade", "").lower():
            resp = conn.respond(HTTPStatus.OK, PAGE)  # the browser caption page, the only thing served
            resp.headers["Content-Type"] = "text/html; charset=utf-8"
            return resp
        if self.cfg.token is not None:
            auth = request.headers.get("Authorization", "")
            query = parse_qs(url.query).get("token", [""])[0]
            if auth != f"Bearer {self.cfg.token}" and query != self.cfg.token:
                return conn.respond(HTTPStatus.UNAUTHORIZED, "missing or wrong token\n")
        return None

    # --- one stream -------------------------------------------------------------------------
    async def handle(self, ws: ServerConnection) -> None:
        loop = asyncio.get_running_loop()
        if self.behind.any():
            self.metrics.refused_behind.inc()
            await self._fail(ws, ProtocolError("busy", "server behind: its streams' audio waits more than "
                                               f"{self.cfg.max_backlog_ms:g} ms to be read", 1013))
            return
        if not self.slots.take():
            self.metrics.refused.inc()
            await self._fail(ws, ProtocolError("busy", f"server at capacity ({self.cfg.max_sessions} streams)", 1013))
            return
        conn = Connection(self.rec, PATHS[urlsplit(ws.request.path).path], uuid.uuid4().hex[:12],
                          encode=self.batcher.run if self.batcher else Session.encode_pending,
                          final_pass=self.cfg.final_pass)
        self.open[conn] = (ws, time.monotonic())
        self.metrics.sessions.inc()
        ended = "client gone"  # how the stream ended, for its log line
        try:
            while not conn.done:
                msg = await self._next(ws)
                if msg is None:  # shutdown or idle
                    if not self.stopping.is_set():
                        ended = "error idle_timeout"
                        await self._fail(ws, ProtocolError("idle_timeout", "no message for "
                                                           f"{self.cfg.idle_timeout_s:g} s", 1008))
                        return
                    ended = "server shutdown"
                    warned = len(conn.warned)
                    for m in await loop.run_in_executor(self.pool, conn.finish):
                        await ws.send(to_text(m))
                    self._count_warnings(conn, warned)
                    await ws.close(1001, "server shutting down")
                    return
                before, warned = conn.audio_seconds, len(conn.warned)
                try:
                    conn.receive(msg)  # parse and buffer: cheap, on the event loop
                    # model compute (a whole chunk, or the close) in a worker; the other frames answer inline
                    out = await loop.run_in_executor(self.pool, conn.run) if conn.busy else conn.run()
                except ProtocolError as e:
                    ended = f"error {e.code}"
                    self.metrics.errors.labels(e.code).inc()
                    await self._fail(ws, e)
                    return
                self.metrics.audio.inc(conn.audio_seconds - before)
                self._count_warnings(conn, warned)
                if isinstance(msg, bytes) or conn.audio_seconds > before:
                    self.metrics.chunk.observe(conn.last_compute_s)
                for m in out:
                    await ws.send(to_text(m))
            ended = "done"
            await ws.close(1000, "done")
        except ConnectionClosed:
            ended = "client gone"  # its session is simply dropped
        except Exception:  # a bug of ours: this stream ends, the others carry on
            ended = "error internal"
            log.exception("stream %s failed", conn.id)
            await self._fail(ws, ProtocolError("internal", "internal error", 1011))
        finally:
            _, opened = self.open.pop(conn, (None, time.monotonic()))
            self.uploads.discard(conn)
            self.slots.release()
            self.metrics.sessions.dec()
            log.info("stream %s from %s: %s, %.1f s open; %s", conn.id, _peer(ws), conn.summary(),
                     time.monotonic() - opened, ended)

    def _count_warnings(self, conn: Connection, since: int) -> None:
        """The input check's warnings of ``conn`` after its first ``since``, counted by code."""
        for code, _ in conn.warned[since:]:
            self.metrics.warnings.labels(code).inc()

    async def _next(self, ws: ServerConnection):
        """The next frame, or None on shutdown or idle timeout."""
        if self.stopping.is_set():
            return None
        task = asyncio.current_task()
        self.receiving.add(task)  # shutdown cancels the wait (websockets' recv is safe to cancel)
        try:
            async with asyncio.timeout(self.cfg.idle_timeout_s):
                return await ws.recv()
        except TimeoutError:
            return None
        except asyncio.CancelledError:
            if not self.stopping.is_set():
                raise
            task.uncancel()
            return None
        finally:
            self.receiving.discard(task)

    async def _watch_lag(self) -> None:
        """Sleep LAG_INTERVAL_S at a time and record how much later than asked the loop wakes. Every frame of
        every stream passes through this loop, so its lag is a wait they all share; it grows once a process
        has fallen well behind (``benchmarks/latency.py`` shows it beside the streams' latencies)."""
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(LAG_INTERVAL_S)
            self.metrics.lag.observe(max(0.0, loop.time() - t0 - LAG_INTERVAL_S))

    async def _watch_backlog(self) -> None:
        """Sample every open stream's backlog (``streamasr.server.backlog``) each SAMPLE_INTERVAL_S; this process
        is behind from when the median over the live ones exceeds ``max_backlog_ms`` until it is under half of it."""
        while True:
            await asyncio.sleep(backlog.SAMPLE_INTERVAL_S)
            now, live = time.monotonic(), []
            for conn, (ws, opened) in list(self.open.items()):
                behind_s = backlog.backlog_seconds(backlog.unread_bytes(ws), conn.stream_seconds, conn.wire_bytes)
                self.metrics.backlog.observe(behind_s)
                if backlog.is_upload(conn in self.uploads, conn.stream_seconds + behind_s, now - opened):
                    self.uploads.add(conn)
                elif now - opened >= backlog.MIN_AGE_S:
                    live.append(behind_s)
            median = backlog.median_backlog(live)
            was = self.behind.mine()
            behind = self.cfg.max_backlog_ms > 0 and backlog.is_behind(was, median, self.cfg.max_backlog_ms / 1000)
            if behind != was:
                log.warning("%s: median backlog of %d live streams %.0f ms (bound %g ms)", "behind, refusing new "
                            "streams" if behind else "caught up", len(live), median * 1000, self.cfg.max_backlog_ms)
            self.behind.set(behind)

    async def _fail(self, ws: ServerConnection, e: ProtocolError) -> None:
        try:
            await ws.send(to_text(error_message(e.code, e.message)))
            await ws.close(e.close_code, e.message[:100])
        except ConnectionClosed:
            pass

    # --- lifetime --------------------------------------------------------------------------------
    async def run(self, on_ready: Callable[[int], None] | None = None, sock: socket.socket | None = None) -> None:
        """Serve until ``stopping`` is set; ``on_ready`` is told the port once listening. With ``sock``
        (this process's listening socket on a port that other server processes listen on too, see
        ``streamasr.server.processes``) accept from it instead of binding one."""
        ssl_ctx = tls_context(self.cfg)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self.stopping.set)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        where = {"sock": sock} if sock is not None else {"host": self.cfg.host, "port": self.cfg.port}
        async with ws_serve(self.handle, process_request=self.process_request, **where,
                            max_size=self.cfg.max_message_bytes, ping_interval=self.cfg.ping_interval_s,
                            # None: clients that send no Origin (non-browsers) are not browsers to restrict
                            origins=[*self.cfg.origins, None] if self.cfg.origins else None,
                            compression="deflate" if self.cfg.compression else None, ssl=ssl_ctx) as server:
            port = server.sockets[0].getsockname()[1]
            log.info("listening on %s", self.cfg.url(port))
            if sock is None:  # else the process that owns the port says so, once all processes listen
                print(f"streamasr: listening on {self.cfg.url(port)}", flush=True)
            settle_heap()
            if on_ready is not None:
                on_ready(port)
            watchers = [asyncio.create_task(self._watch_lag()), asyncio.create_task(self._watch_backlog())]
            await self.stopping.wait()
            for watcher in watchers:
                watcher.cancel()
            for task in list(self.receiving):
                task.cancel()
            server.close(close_connections=False)  # stop accepting; open streams flush their finals
            while self.open:
                await asyncio.sleep(0.05)
        self.pool.shutdown()
        if self.batcher:
            self.batcher.close()


def settle_heap() -> None:
    """Put every object alive now (modules, the model, the LM, ...) out of the cyclic garbage collector's
    reach. Its full collections walk every tracked object with the GIL held: in a loaded server process,
    about 200,000 of them, 100-190 ms every few seconds, and every stream of the process waited. Frozen, they
    are never walked again; a full collection walks only what the streams allocated since."""
    gc.collect()
    gc.freeze()


def own_process() -> None:
    """Settings of a process that serves and does nothing else (``serve_one``, each of ``serve --processes``)."""
    torch.set_num_threads(1)  # parallelism comes from the worker threads and the other processes
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def serve_one(rec: Recognizer, cfg: ServerConfig) -> None:
    """One server process, until SIGTERM/SIGINT (``streamasr.server.serve`` chooses)."""
    own_process()
    asyncio.run(Server(rec, cfg).run())


def _peer(ws: ServerConnection) -> str:
    """The client's address as host:port (what the socket says: behind a proxy, the proxy's)."""
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) and len(address) >= 2 else str(address)
