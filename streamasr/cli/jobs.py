"""`transcribe A B ... --jobs N`: files recognized N at a time, each job a process of its own with its own copy
of the model (one torch thread each: the jobs are the parallelism). A job gathers its file's output and the
parent prints it whole, in the order the files were named, so stdout reads as with one job, a file at a time.
Ctrl-C ends the files being read, each with the final of what was heard, and leaves the rest; a second stops."""

from __future__ import annotations

import contextlib
import io
import multiprocessing
import signal
import sys
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from streamasr.cli.interrupt import CtrlC

POLL_S = 0.1  # how often the parent looks up from its wait for a Ctrl-C


@dataclass(frozen=True)
class Done:
    """One file's output, as its job made it."""

    stdout: str  # its events as they would have gone to stdout (empty with --out-dir)
    stderr: str  # its lines for stderr ("NAME -> OUT")
    error: str | None  # why it failed, where it did (the message of a UserError)


class _Stop:
    """Ctrl-C as a job sees it: the parent sets a shared event on the first."""

    def __init__(self, event):
        self.event = event

    @property
    def pressed(self) -> bool:
        return self.event.is_set()


_job: dict = {}  # a job process's recognizer ("rec") and Ctrl-C ("stop"), from ``_start``


def _start(load: Callable, stop) -> None:
    """A job process's start: its recognizer loaded, one torch thread (the jobs are the parallelism)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it sets ``stop``
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked from the spawn to here (``_spawned``)
    import torch

    torch.set_num_threads(1)
    _job["rec"], _job["stop"] = load(), _Stop(stop)


def _transcribe(args, path: str, out: Path | None, label: str | None) -> Done | None:
    """One file, by a job. -> its output; None for a file not begun before Ctrl-C (the pool hands a file on to
    its jobs before one is free, past the parent's cancelling)."""
    from streamasr.cli.commands import UserError, sessions, transcribe_one

    if _job["stop"].pressed:
        return None
    rec, stdout, stderr = _job["rec"], io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            transcribe_one(args, path, rec.sample_rate, sessions(args, rec), _job["stop"], out, label)
    except UserError as e:
        return Done(stdout.getvalue(), stderr.getvalue(), str(e))
    return Done(stdout.getvalue(), stderr.getvalue(), None)


def transcribe_files(args, paths: list[str], outs: list[Path] | None, load: Callable, ctrl_c: CtrlC) -> int:
    """``paths`` through ``args.jobs`` job processes, each loading its recognizer with ``load`` (picklable);
    their output printed file by file as each file's turn comes. -> the exit status: 2 if a file failed."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's and onnxruntime's threads
    stop, failed = ctx.Event(), 0
    pool = ProcessPoolExecutor(min(args.jobs, len(paths)), mp_context=ctx, initializer=_start, initargs=(load, stop))
    through = False  # every file printed (or dropped by Ctrl-C); else an error or a second Ctrl-C ends it now
    try:
        with _spawned():  # the pool starts its jobs as files are handed to it
            futures = [pool.submit(_transcribe, args, path, outs[i] if outs else None, None if outs else path)
                       for i, path in enumerate(paths)]
        for fut in futures:
            if not _finished(fut, futures, stop, ctrl_c) or (done := fut.result()) is None:
                continue  # a file Ctrl-C left unread
            sys.stdout.write(done.stdout)
            sys.stdout.flush()
            sys.stderr.write(done.stderr)
            if done.error is not None:
                print(f"streamasr: error: {done.error}", file=sys.stderr)
                failed += 1
        through = True
    finally:
        if not through:
            stop.set()  # the jobs end their files at once (their output dropped), or the exit would wait for them
        pool.shutdown(wait=through, cancel_futures=True)
    return 2 if failed else 0


@contextlib.contextmanager
def _spawned():
    """SIGINT blocked while job processes are started: they inherit the mask, so a Ctrl-C at the terminal (sent
    to them all) cannot kill one before ``_start`` has it ignored; here it waits, then reaches ``CtrlC``."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _finished(fut: Future, futures: list[Future], stop, ctrl_c: CtrlC) -> bool:
    """Wait for ``fut``; at the first Ctrl-C, tell the running jobs to end their audio and drop the files not
    begun. -> whether ``fut`` has a result (False: it was dropped)."""
    while not wait([fut], timeout=POLL_S, return_when=FIRST_COMPLETED).done:
        if ctrl_c.pressed and not stop.is_set():
            stop.set()
            for f in futures:
                f.cancel()  # only those no job has begun
    return not fut.cancelled()
