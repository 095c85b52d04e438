"""The server's settings (no heavy imports: the supervising process of `serve --processes` reads them)."""

from __future__ import annotations

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
