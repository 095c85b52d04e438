"""CTC log-probabilities of the bundled model under a streaming chunk mask, for the decoder benchmarks."""

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
