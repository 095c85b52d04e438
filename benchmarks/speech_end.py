"""Where speech ends in a clip: TTS engines leave some silence after the last word."""

from __future__ import annotations

import numpy as np


def speech_end(samples: np.ndarray, rate: int = 16000, floor_db: float = -40.0) -> float:
    """Seconds to the end of the last 10 ms frame within ``floor_db`` of the loudest frame.

    >>> x = np.concatenate([np.zeros(1600), np.ones(3200) * 0.5, np.zeros(8000)]).astype(np.float32)
    >>> speech_end(x)
    0.3
    """
    hop = rate // 100
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)  # (T, hop)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) + 1e-10
    loud = np.nonzero(20 * np.log10(rms / rms.max()) > floor_db)[0]
    return float((loud[-1] + 1) * hop / rate) if len(loud) else 0.0
