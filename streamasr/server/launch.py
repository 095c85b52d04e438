"""`streamasr serve`: one server process, or several (``ServerConfig.processes``).

Imports nothing heavy itself: with several processes this one only supervises, and torch is loaded
by the server processes alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from streamasr.server import logs
from streamasr.server.config import ServerConfig, probe_address, tls_context

if TYPE_CHECKING:
    from streamasr.recognizer import Recognizer


def serve(load: Callable[[], Recognizer], cfg: ServerConfig) -> None:
    """Run until SIGTERM/SIGINT. ``load`` makes the recognizer: once here, or in each of
    ``cfg.processes`` server processes (then it must pickle: a module-level function or a partial of one)."""
    logs.configure("%(asctime)s %(levelname)s %(message)s")
    tls_context(cfg)  # a certificate that cannot be used fails here, once, before any model loads
    if cfg.processes > 1:
        from streamasr.server.processes import serve_processes

        return serve_processes(load, cfg)  # probes the address itself before it starts a process
    probe_address(cfg.host, cfg.port)  # an address nothing can listen on fails before the model loads
    from streamasr.server.app import serve_one

    serve_one(load(), cfg)
