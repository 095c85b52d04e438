"""What the commands print on a terminal: events as ``--format`` asks, partials with their settled words,
and a stream's latencies as one line."""

from __future__ import annotations

import heapq
import sys
from dataclasses import replace
from typing import TextIO

import numpy as np

from streamasr import captions
from streamasr.protocol import to_text


class Display:
    """Events on stdout as ``--format`` asks: a live partial on one terminal line and finals on lines of their
    own ("text"), JSON lines ("json"), the finals as subtitle cues ("srt", "vtt"), or each word once, as soon
    as a partial's ``stable_words`` settle it, a segment to a line ("settled": append-only, for a pipe or a
    file read as it grows). Below, each call's output on a line of its own; on stdout they make one line.

    >>> show = Display("settled")
    >>> show({"type": "partial", "text": "in the be", "stable_words": 1})
    in
    >>> show({"type": "partial", "text": "in the beginning god", "stable_words": 3})
     the beginning
    >>> show({"type": "final", "text": "in the beginning god"})
     god
    >>> show({"type": "partial", "text": "and the", "stable_words": 2})
    and the
    >>> show({"type": "final", "text": "and the"})  # nothing left to write: the line ends
    <BLANKLINE>
    """

    def __init__(self, fmt: str, spoken_order: bool = True, out: TextIO | None = None, label: str | None = None,
                 warnings: bool = True):
        self.out = out or sys.stdout  # where the events go: stdout, or a file of --out-dir
        self.warnings = warnings  # the input check's warnings on stderr (False: the command says them itself)
        self.label = label  # a file's name, on each of its lines where several files share stdout (text, json)
        self.format, self.tty = fmt, self.out.isatty()
        self.spoken_order = spoken_order  # finals of several channels come in the order they began (ChannelSessions)
        self.cues = 0  # subtitle cues written so far (SubRip numbers them)
        self.held: list[tuple[int, int, captions.Cue]] = []  # a heap of (start, arrival, cue): cues of channels
        self.arrived = 0  # cues made so far (ties of the heap go to the first made)
        self.written = 0  # "settled": words of the open segment written so far
        if fmt == "vtt":
            print(captions.VTT_HEADER, end="", file=self.out, flush=True)

    def __call__(self, ev: dict) -> None:
        kind, label = ev.get("type"), (f"{self.label}: " if self.label else "") + channel_label(ev)
        if kind == "warning" and self.warnings:  # on stderr whatever the format; its message names its source
            print(f"streamasr: warning: {ev.get('message')}", file=sys.stderr, flush=True)
        if self.format == "json":  # as the server sends it
            print(to_text(ev | ({"file": self.label} if self.label else {})), file=self.out, flush=True)
        elif kind == "error":
            print(f"server error {ev.get('code')}: {ev.get('message')}", file=sys.stderr)
        elif self.format in ("srt", "vtt"):
            if kind == "final":
                self._cues(ev)
        elif self.format == "settled":
            self._settled(ev)
        elif kind == "partial":
            if self.tty:
                print(f"\r\033[K{label}{partial_line(ev)}", end="", file=self.out, flush=True)
        elif kind == "final" and (ev["text"] or self.tty):
            print(f"\r\033[K{label}{ev['text']}" if self.tty else label + ev["text"], file=self.out, flush=True)
            for alternative in ev.get("alternatives", [])[1:]:  # the first is the final's own text
                print(f"  or: {alternative['text']}", file=self.out, flush=True)

    def finish(self) -> None:
        """The stream has ended: the cues still held (of channels) are written."""
        self._write_cues(float("inf"))

    def _settled(self, ev: dict) -> None:
        """Write the words ``ev`` settles that were not written yet; a final writes the rest and ends the line."""
        if ev.get("type") == "partial" and ev.get("stable_words", 0) > self.written:
            words = ev["text"].split()[self.written : ev["stable_words"]]
            print(("" if self.written == 0 else " ") + " ".join(words), end="", file=self.out, flush=True)
            self.written = ev["stable_words"]
        elif ev.get("type") == "final":
            rest = " ".join(ev["text"].split()[self.written :])
            if rest or self.written:
                print((" " if self.written and rest else "") + rest, file=self.out, flush=True)
            self.written = 0

    def _cues(self, final: dict) -> None:
        # Subtitles are written in the order of their starts, and the cues of several channels may overlap. A
        # recording's channels (``streamasr.channels``) give their finals in the order of their starts: a cue is
        # held until no later final can start before it. A server sends each channel's events as they come:
        # its cues are held to the end. A single stream's cues come in that order already.
        label = channel_label(final)
        for cue in captions.cues(final, max_chars=captions.MAX_CHARS - len(label)):
            cue = replace(cue, lines=(label + cue.lines[0], *cue.lines[1:]))
            heapq.heappush(self.held, (cue.start_ms, self.arrived, cue))
            self.arrived += 1
        if "channel" not in final:
            self._write_cues(float("inf"))
        elif self.spoken_order:
            self._write_cues(final["start_ms"])

    def _write_cues(self, until_ms: float) -> None:
        # the held cues that start at or before ``until_ms``, in the order of their starts
        while self.held and self.held[0][0] <= until_ms:
            cue = heapq.heappop(self.held)[2]
            self.cues += 1
            text = captions.srt_block(self.cues, cue) if self.format == "srt" else captions.vtt_block(cue)
            print(text, end="", file=self.out, flush=True)


def channel_label(ev: dict) -> str:
    """What a line of text or a cue of a channel's event begins with (nothing, for a stream of one).

    >>> channel_label({"type": "final", "text": "amen", "channel": 1}), channel_label({"type": "final", "text": "amen"})
    ('ch1: ', '')
    """
    return f"ch{ev['channel']}: " if "channel" in ev else ""


def partial_line(ev: dict) -> str:
    r"""A partial for a terminal: its settled words (``stable_words``, the final's already) as they are, the
    rest faint (ANSI dim), as the caption page shows them.

    >>> partial_line({"type": "partial", "text": "in the beginning go", "stable_words": 2})
    'in the \x1b[2mbeginning go\x1b[0m'
    >>> partial_line({"type": "partial", "text": "in the", "stable_words": 2})
    'in the'
    """
    words, k = ev["text"].split(), ev.get("stable_words", 0)
    rest = " ".join(words[k:])
    return " ".join(words[:k]) + (f"{' ' if k else ''}\033[2m{rest}\033[0m" if rest else "")


def latency_line(ms: dict[str, list[float]]) -> str:
    """``latencies``' figures as one line.

    >>> line = latency_line({"word": [150.0, 250.0], "unchanged": [150.0, 650.0], "settled": [550.0, 650.0],
    ...                      "partial": [100.0, 120.0, 300.0], "end_final": [8.0]})
    >>> print(line.replace("; ", ";\\n"))  # one line, shown here in five
    latency: word -> partial p50 200 ms, p95 245 ms (2 words);
    word -> unchanged p50 400 ms, p95 625 ms (2 words);
    word -> settled p50 600 ms, p95 645 ms (2 words);
    chunk -> partial p50 120 ms, p95 282 ms, max 300 ms (3 partials);
    end message -> final 8 ms
    >>> latency_line({"word": [], "unchanged": [], "settled": [], "partial": [], "end_final": []})
    'latency: no words timed; no finals with words; no partials; no final after the end message'
    """
    def words(name: str, w: list[float]) -> str:
        return f"{name} p50 {np.percentile(w, 50):.0f} ms, p95 {np.percentile(w, 95):.0f} ms ({len(w)} words)"

    w, u, p = ms["word"], ms["unchanged"], ms["partial"]
    word = words("word -> partial", w) if w else "no words timed"
    unchanged = (f"{words('word -> unchanged', u)}; {words('word -> settled', ms['settled'])}" if u
                 else "no finals with words")
    part = (f"chunk -> partial p50 {np.percentile(p, 50):.0f} ms, p95 {np.percentile(p, 95):.0f} ms, "
            f"max {max(p):.0f} ms ({len(p)} partials)") if p else "no partials"
    end = f"end message -> final {ms['end_final'][0]:.0f} ms" if ms["end_final"] else "no final after the end message"
    return f"latency: {word}; {unchanged}; {part}; {end}"
