"""CTC log-probabilities of the bundled model as streaming yields them, for the decoder benchmarks: under a
streaming chunk mask, or segment by segment as a session searches them in a stream with pauses."""

from __future__ import annotations

import numpy as np
import torch

from streamasr.recognizer import Recognizer


def chunk_masked_log_probs(rec: Recognizer, samples: np.ndarray, chunk: int = 8, left_chunks: int = 8) -> np.ndarray:
    """(S,) samples -> log-probs (T', V) of one full forward under the chunk mask, what streaming yields."""
    feats = rec.model.normalize(rec.features.logmel(torch.from_numpy(samples)))[None]  # (1, T, F)
    with torch.no_grad():
        lp, _ = rec.model(feats, torch.tensor([feats.shape[1]]), chunk=chunk, left_chunks=left_chunks)  # (1, T', V)
    return lp[0].numpy()


class _SegmentTap:
    """Stands in for a session's beam search and passes every call through to it, keeping the log-probs it
    was fed since its state was last made afresh (a new segment, or skipped quiet chunks), and those of each
    segment whose final it made."""

    def __init__(self, search):
        self.search = search
        self.fed: list[np.ndarray] = []  # (n_i, V) pieces of the open segment
        self.segments: list[np.ndarray] = []  # (T_j, V) per final, in order

    def __getattr__(self, name: str):
        return getattr(self.search, name)

    def init_state(self, frame: int = 0):
        self.fed = []
        return self.search.init_state(frame)

    def step(self, log_probs: np.ndarray, state):
        self.fed.append(log_probs)
        return self.search.step(log_probs, state)

    def finalize(self, state):
        self.segments.append(np.concatenate(self.fed) if self.fed else np.zeros((0, 1), np.float32))
        return self.search.finalize(state)


def stream_segments(rec: Recognizer, audio: np.ndarray, piece_ms: int = 20, chunk_ms: int = 320
                    ) -> tuple[list[np.ndarray], list[str]]:
    """(S,) samples of a stream -> the log-probs (T_j, V) the beam search of a default session searched for
    each of its finals, and the finals' texts. The session cuts segments by the model's blanks and the
    audio's levels, never by the search's text, so any search setting decoding these segments gives the
    finals that a session with that setting would (``tune_lm.py`` checks this for the setting it ran with).
    Fed in ``piece_ms`` pieces, as a real-time client sends them."""
    session = rec.session(chunk_ms=chunk_ms)
    tap = session.decoder = _SegmentTap(session.decoder)
    piece = rec.sample_rate * piece_ms // 1000
    texts = []
    for pos in range(0, len(audio), piece):
        texts += [e.text for e in session.accept(audio[pos : pos + piece]) if e.type == "final"]
    texts += [e.text for e in session.finish() if e.type == "final"]
    return tap.segments, texts


def pause_streams(utts: list[np.ndarray], per_stream: int, gap_s: float = 1.0, rate: int = 16000
                  ) -> list[tuple[np.ndarray, slice]]:
    """Utterances (S_i,) joined into streams of ``per_stream``, ``gap_s`` of digital silence after each, as
    a live stream pauses between sentences -> (stream samples, the utterances' slice) pairs.

    >>> [(len(x), s) for x, s in pause_streams([np.ones(3), np.ones(2), np.ones(4)], 2, gap_s=0.5, rate=2)]
    [(7, slice(0, 2, None)), (5, slice(2, 4, None))]
    """
    gap = np.zeros(int(gap_s * rate), np.float32)
    return [(np.concatenate([part for x in utts[i : i + per_stream] for part in (x, gap)]), slice(i, i + per_stream))
            for i in range(0, len(utts), per_stream)]
