"""Where a word is heard, from where the search wrote it.

A CTC model writes each piece of a word in one frame, its spike, and the spike comes after the model has
heard the sound: for the bundled model, a word's first spike lies about 115 ms after the word starts (as
the synthesizers that spoke our test sentences time it), and a word of one piece has one frame, 40 ms, where
it was spoken for 200. So a final's word times are the spikes' moved: each word starts ``lead_ms`` before
its first spike and ends ``lag_ms`` after its last one's frame, or where the next word starts if that
comes first. ``benchmarks/word_times.py --tune`` chooses the two on the dev sentences.
"""

from __future__ import annotations


def word_spans(frames: list[tuple[int, int]], frame_ms: float, lead_ms: float, lag_ms: float,
               lo_ms: float, hi_ms: float) -> list[tuple[int, int]]:
    """(start_ms, end_ms) of each word from ``frames``, (first, end): the frame its first piece was written in
    and one past its last piece's; words in order, within [``lo_ms``, ``hi_ms``] (the segment), each at least
    one frame long and none overlapping the next. With ``lead_ms`` = ``lag_ms`` = 0, the spikes' own frames.

    >>> word_spans([(5, 6), (8, 10)], 40, 100, 40, 0, 1000)  # the first word ends where the second starts
    [(100, 220), (220, 440)]
    >>> word_spans([(5, 6), (8, 10)], 40, 0, 0, 0, 1000)
    [(200, 240), (320, 400)]
    >>> word_spans([(1, 2), (2, 3)], 40, 100, 40, 0, 120)  # held to the segment, and a frame apart
    [(0, 40), (40, 120)]
    """
    starts: list[float] = []
    for i, (first, _) in enumerate(frames):
        floor = lo_ms if i == 0 else starts[-1] + frame_ms
        starts.append(max(first * frame_ms - lead_ms, floor))
    spans = []
    for i, (_, end) in enumerate(frames):
        until = starts[i + 1] if i + 1 < len(frames) else hi_ms
        spans.append((round(starts[i]), round(min(end * frame_ms + lag_ms, until, hi_ms))))
    return spans
