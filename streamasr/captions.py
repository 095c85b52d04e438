"""Finals as subtitles: SubRip (.srt) and WebVTT (.vtt) cues, written as the finals arrive.

Pure functions over final events in their JSON shape (``Final.to_dict()``, or a server's message), so that
``transcribe``, ``stream`` and ``mic`` share them; nothing here reads or writes anything.

A final's words are packed into lines of at most ``max_chars`` characters and the lines into cues of at
most ``max_lines``; a cue starts at its first word's start, and lasts until the next cue of the final
starts, the last one until the final's end (the segment's audio, trailing silence included).
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_CHARS = 42  # characters a caption line holds (the common broadcast guideline)
MAX_LINES = 2  # lines a cue shows at once


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def wrap(words: list[str], max_chars: int = MAX_CHARS) -> list[list[str]]:
    """Words packed greedily into lines of at most ``max_chars`` characters (a longer word has a line alone).

    >>> wrap(["in", "the", "beginning", "god", "created"], 12)
    [['in', 'the'], ['beginning'], ['god', 'created']]
    >>> wrap([], 12)
    []
    """
    lines: list[list[str]] = []
    for w in words:
        if lines and len(" ".join(lines[-1] + [w])) <= max_chars:
            lines[-1].append(w)
        else:
            lines.append([w])
    return lines


def cues(final: dict, max_chars: int = MAX_CHARS, max_lines: int = MAX_LINES) -> list[Cue]:
    """The cues of one final (a dict with ``text``, ``start_ms``, ``end_ms`` and, if timed, ``words``).

    >>> f = {"text": "in the beginning god created", "start_ms": 0, "end_ms": 3000, "words": [
    ...     {"word": "in", "start_ms": 100, "end_ms": 200}, {"word": "the", "start_ms": 300, "end_ms": 400},
    ...     {"word": "beginning", "start_ms": 500, "end_ms": 1100}, {"word": "god", "start_ms": 1500, "end_ms": 1700},
    ...     {"word": "created", "start_ms": 1900, "end_ms": 2400}]}
    >>> cues(f, max_chars=12, max_lines=2)
    [Cue(start_ms=100, end_ms=1500, lines=('in the', 'beginning')), Cue(start_ms=1500, end_ms=3000, lines=('god created',))]

    Without word times (a server asked for ``"words": false``) the final is one cue over its whole span:

    >>> cues({"text": "in the beginning", "start_ms": 0, "end_ms": 2000}, max_chars=12)
    [Cue(start_ms=0, end_ms=2000, lines=('in the', 'beginning'))]
    >>> cues({"text": "", "start_ms": 0, "end_ms": 2000})
    []
    """
    timed = final.get("words") or []
    if not timed:
        lines = [" ".join(line) for line in wrap(final["text"].split(), max_chars)]
        return [Cue(final["start_ms"], final["end_ms"], tuple(lines))] if lines else []
    lines = wrap([w["word"] for w in timed], max_chars)
    groups, first = [], 0  # (index of the group's first word, its lines)
    for i in range(0, len(lines), max_lines):
        group = lines[i : i + max_lines]
        groups.append((first, tuple(" ".join(line) for line in group)))
        first += sum(len(line) for line in group)
    starts = [timed[f]["start_ms"] for f, _ in groups]
    ends = starts[1:] + [max(final["end_ms"], timed[-1]["end_ms"])]
    return [Cue(s, max(e, s + 1), text) for s, e, (_, text) in zip(starts, ends, groups)]


def timestamp(ms: int, sep: str) -> str:
    """HH:MM:SS<sep>mmm; SubRip separates the milliseconds with a comma, WebVTT with a dot.

    >>> timestamp(3723004, ",")
    '01:02:03,004'
    >>> timestamp(61000, ".")
    '00:01:01.000'
    """
    s, ms = divmod(int(ms), 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


VTT_HEADER = "WEBVTT\n\n"


def srt_block(index: int, cue: Cue) -> str:
    """One SubRip cue, numbered from 1, and the blank line after it.

    >>> print(srt_block(1, Cue(100, 1500, ("in the", "beginning"))), end="")
    1
    00:00:00,100 --> 00:00:01,500
    in the
    beginning
    <BLANKLINE>
    """
    return f"{index}\n{timestamp(cue.start_ms, ',')} --> {timestamp(cue.end_ms, ',')}\n" + "\n".join(cue.lines) + "\n\n"


def vtt_block(cue: Cue) -> str:
    """One WebVTT cue and the blank line after it (the file starts with ``VTT_HEADER``).

    >>> print(vtt_block(Cue(100, 1500, ("in the", "beginning"))), end="")
    00:00:00.100 --> 00:00:01.500
    in the
    beginning
    <BLANKLINE>
    """
    return f"{timestamp(cue.start_ms, '.')} --> {timestamp(cue.end_ms, '.')}\n" + "\n".join(cue.lines) + "\n\n"
