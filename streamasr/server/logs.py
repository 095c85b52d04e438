"""The server's log (stderr): our own lines, and of websockets' only those that say something went wrong.

websockets logs every connection opening and closing, and every plain HTTP response (a load balancer's
``/healthz`` every few seconds, each ``/metrics`` scrape), at INFO. Each stream's own line (its id, peer,
audio, finals, how it ended: ``app.Server.handle``) says more than the first two, and the rest says nothing.
"""

from __future__ import annotations

import logging

QUIET = frozenset({"connection open", "connection closed", "server listening on %s", "server closing",
                   "server closed"})  # websockets' INFO lines that our own lines say better
RESPONSES = frozenset({"HTTP response sent (%d %s)", "connection rejected (%d %s)"})  # (status, reason) args
BEHIND = "Service Unavailable: behind"  # /healthz's reason while the server is behind: a load balancer's poll
# every few seconds would be a line each, and the change of state has its own line (``app._watch_backlog``)


def websockets_line_kept(record: logging.LogRecord) -> bool:
    """Whether a line of websockets' server logger goes to the log: none of its INFO lines of a connection
    that opened and closed, a response that succeeded, or /healthz's 503 while the server is behind
    (``BEHIND``); every other refusal (401, 403, 404, 503, ...), warning and error.

    >>> line = lambda msg, *args, level=logging.INFO: logging.LogRecord("websockets.server", level, "", 0, msg,
    ...                                                                 args, None)
    >>> websockets_line_kept(line("connection open")), websockets_line_kept(line(next(iter(RESPONSES)), 200, "OK"))
    (False, False)
    >>> websockets_line_kept(line("HTTP response sent (%d %s)", 401, "Unauthorized"))
    True
    >>> websockets_line_kept(line("opening handshake failed", level=logging.ERROR))
    True
    >>> websockets_line_kept(line("HTTP response sent (%d %s)", 503, BEHIND))
    False
    """
    if record.levelno > logging.INFO:
        return True
    if record.msg in QUIET:
        return False
    if record.msg in RESPONSES and record.args:
        return record.args[0] >= 400 and record.args[1:2] != (BEHIND,)
    return True


def configure(fmt: str) -> None:
    """Log INFO and above to stderr as ``fmt`` says, websockets' lines filtered (``websockets_line_kept``)."""
    logging.basicConfig(level=logging.INFO, format=fmt)
    logging.getLogger("websockets.server").addFilter(websockets_line_kept)
