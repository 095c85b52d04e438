"""The session limit, counted in one server process or shared by several."""

from __future__ import annotations

import contextlib
from collections.abc import MutableSequence


class SessionSlots:
    """Open streams against ``limit``. ``counts`` holds one count per server process (a
    ``multiprocessing.Array`` when processes share the limit); this process writes ``counts[index]``.

    >>> slots = SessionSlots(2)
    >>> slots.take(), slots.take(), slots.take()
    (True, True, False)
    >>> slots.release(); slots.take()
    True
    >>> counts = [0, 0]  # two processes (a multiprocessing.Array in a real server)
    >>> first, second = SessionSlots(2, counts, 0), SessionSlots(2, counts, 1)
    >>> first.take(), second.take(), second.take(), counts
    (True, True, False, [1, 1])
    """

    def __init__(self, limit: int, counts: MutableSequence[int] | None = None, index: int = 0):
        self.limit, self.index = limit, index
        self.counts = counts if counts is not None else [0]
        get_lock = getattr(self.counts, "get_lock", None)  # a synchronized multiprocessing.Array
        self.lock = get_lock() if get_lock else contextlib.nullcontext()

    def take(self) -> bool:
        """Count one more open stream, unless all processes together are at the limit."""
        with self.lock:
            if sum(self.counts) >= self.limit:
                return False
            self.counts[self.index] += 1
            return True

    def release(self) -> None:
        with self.lock:
            self.counts[self.index] -= 1
