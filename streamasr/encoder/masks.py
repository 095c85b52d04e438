"""Chunk-hopping attention masks, as small pure functions."""

from __future__ import annotations

import torch


def chunk_mask(size: int, chunk: int, left_chunks: int = -1) -> torch.Tensor:
    """Boolean (size, size) mask; True where frame i may attend to frame j.

    Frame i sits in chunk ``i // chunk``; it sees every frame of its own chunk
    (including later ones) and of the ``left_chunks`` chunks before it
    (all of them when ``left_chunks < 0``). ``chunk <= 0`` means full context.

    >>> chunk_mask(4, 2).int().tolist()
    [[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1], [1, 1, 1, 1]]
    >>> chunk_mask(6, 2, left_chunks=1).int().tolist()[4]
    [0, 0, 1, 1, 1, 1]
    >>> bool(chunk_mask(3, 0).all())
    True
    """
    if chunk <= 0:
        return torch.ones(size, size, dtype=torch.bool)
    idx = torch.arange(size)
    q_chunk = (idx // chunk).unsqueeze(1)  # (size, 1)
    k_chunk = (idx // chunk).unsqueeze(0)  # (1, size)
    mask = k_chunk <= q_chunk
    if left_chunks >= 0:
        mask &= k_chunk >= q_chunk - left_chunks
    return mask


def padding_mask(lengths: torch.Tensor, size: int) -> torch.Tensor:
    """Boolean (B, size) mask, True on real frames.

    >>> padding_mask(torch.tensor([1, 3]), 3).int().tolist()
    [[1, 0, 0], [1, 1, 1]]
    """
    return torch.arange(size, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def subsampled_length(frames: int, factor: int = 4) -> int:
    """Output frames of the 4x convolutional subsampling (two 3x3, stride 2, no padding).

    >>> [subsampled_length(t) for t in (6, 7, 10, 11, 100)]
    [0, 1, 1, 2, 24]
    """
    assert factor == 4
    return max(0, ((frames - 1) // 2 - 1) // 2)
