"""Ctrl-C as the end of a live stream: the first asks the audio source to stop, so that the stream ends as at
the end of a file (its last final is printed: the words said just before); a second stops at once."""

from __future__ import annotations

import signal


class CtrlC:
    """While entered, SIGINT sets ``pressed`` the first time and raises KeyboardInterrupt after that. Sources of
    live audio check ``pressed`` between blocks. Enter it in the main thread (signal handlers live there); with
    it in place, ``asyncio.run`` leaves SIGINT to it."""

    def __init__(self):
        self.pressed = False
        self._before = None

    def __enter__(self) -> "CtrlC":
        self._before = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        signal.signal(signal.SIGINT, self._before)

    def _handle(self, signum, frame) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True
