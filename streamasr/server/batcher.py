"""Chunks that are ready across sessions, encoded in one call.

Connection threads call ``run(session)``; each ready chunk is queued with its session's
encoder state, and one thread gathers up to ``max_batch`` of them (waiting at most
``max_wait_s`` for company), runs ``forward_chunks`` once per group of equal chunking, and
hands every session its rows back. A session's next chunk is queued only after its previous
one returned, so one batch never holds two chunks of the same stream.

The sessions then search their rows one at a time (``decoding``). The search is Python: with
all the threads of a batch searching at once, the GIL went round them all, and the event loop,
which reads every frame and sends every reply, waited its turn behind each (docs/latency-notes.md,
"One search at a time").
"""

from __future__ import annotations

import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future

import torch

from streamasr.encoder import StreamingEncoder
from streamasr.events import Event
from streamasr.recognizer import Session


class Batcher:
    def __init__(self, encoder: StreamingEncoder, max_batch: int = 16, max_wait_s: float = 0.005,
                 on_batch: Callable[[int], None] = lambda size: None):
        self.encoder, self.max_batch, self.max_wait_s = encoder, max_batch, max_wait_s
        self.on_batch = on_batch  # told the size of each encoder call (metrics), from the batcher thread
        self.queue: queue.Queue = queue.Queue()
        self.decoding = threading.Lock()  # held by the session searching its rows; the others wait off the GIL
        self.thread = threading.Thread(target=self._loop, name="streamasr-batcher", daemon=True)
        self.thread.start()

    def run(self, session: Session) -> list[Event]:
        """Encode and decode every chunk ``session`` has ready; blocks the calling thread."""
        events: list[Event] = []
        while (window := session.pending_window()) is not None:
            fut: Future = Future()
            self.queue.put((window, session.enc_state, fut))
            logp, state = fut.result()
            with self.decoding:
                events += session.advance(logp, state)
        return events

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(timeout=10)

    def _loop(self) -> None:
        while (item := self.queue.get()) is not None:
            batch = [item]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch and (left := deadline - time.monotonic()) > 0:
                try:
                    nxt = self.queue.get(timeout=left)
                except queue.Empty:
                    break
                if nxt is None:
                    self.queue.put(None)
                    break
                batch.append(nxt)
            groups = defaultdict(list)
            for window, state, fut in batch:
                groups[(state.chunk, state.left_chunks, window.shape[0])].append((window, state, fut))
            for group in groups.values():
                self._encode(group)

    def _encode(self, group: list) -> None:
        try:
            feats = torch.stack([w for w, _, _ in group])  # (B, 4C+3, F)
            logp, states = self.encoder.forward_chunks(feats, [s for _, s, _ in group])  # (B, C, V)
            self.on_batch(len(group))
        except Exception as e:  # hand the failure to every waiting stream
            for _, _, fut in group:
                fut.set_exception(e)
            return
        for i, (_, _, fut) in enumerate(group):
            fut.set_result((logp[i].numpy(), states[i]))
