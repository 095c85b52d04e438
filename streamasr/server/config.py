"""The server's settings (no heavy imports: the supervising process of `serve --processes` reads them)."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"  # interface to listen on
    port: int = 2700  # TCP port (0: any free port)
    max_sessions: int = 64  # concurrent streams; more are refused with close code 1013
    max_message_bytes: int = 1 << 20  # largest frame; bigger ones close the stream with 1009
    idle_timeout_s: float = 30.0  # a stream silent this long is closed
    ping_interval_s: float = 20.0  # websocket keepalive pings
    token: str | None = None  # if set, clients need "Authorization: Bearer T" or ?token=T
    origins: tuple[str, ...] = ()  # allowed browser Origin headers (empty: any)
    certfile: str | None = None  # TLS certificate (PEM); with keyfile, serve wss://
    keyfile: str | None = None  # TLS private key (PEM)
    workers: int = 2  # compute threads (without batching)
    max_batch: int = 16  # chunks of different streams encoded in one call (1: no batching)
    max_wait_ms: float = 5.0  # how long a ready chunk waits for others to batch with
    compression: bool = False  # permessage-deflate; audio barely compresses and it costs CPU on every frame
    final_pass: bool = False  # finals re-decoded at full context, for streams that do not choose (vosk, media)
    max_backlog_ms: float = 300.0  # refuse new streams once live streams' unread audio exceeds this (0: never)
    processes: int = 1  # server processes sharing the port, each with its own model and GIL (about one per core)

    def url(self, port: int) -> str:
        """The address streams connect to, once listening on ``port`` (``port`` itself may be 0)."""
        return f"{'wss' if self.certfile else 'ws'}://{self.host}:{port}"


def tls_context(cfg: ServerConfig) -> ssl.SSLContext | None:
    """The TLS context of ``cfg.certfile`` and ``cfg.keyfile`` (None without them). Raises OSError naming both
    where they cannot be used: missing, unreadable, not PEM, or a key that does not match (ssl.SSLError)."""
    if not cfg.certfile:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cfg.certfile, cfg.keyfile)
    except OSError as e:
        raise OSError(f"cannot load TLS certificate {cfg.certfile} with key {cfg.keyfile}: {e.strerror or e}") from None
    return ctx


def address_family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def probe_address(host: str, port: int) -> int:
    """Bind ``host``:``port`` with a plain socket and let it go: the port it got (a free one for port 0). It
    fails if anything listens there, even another server's processes (which SO_REUSEPORT would let a server
    join without a word), but not for connections of an earlier server waiting out TIME_WAIT. Raises OSError
    naming the address where nothing can listen: an unknown host, a port in use."""
    try:
        with socket.socket(address_family(host), socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
            return probe.getsockname()[1]
    except OSError as e:
        raise OSError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
