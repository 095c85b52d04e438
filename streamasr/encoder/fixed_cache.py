"""One streaming step with fixed-size caches: the form exported to ONNX.

``ConformerEncoder.forward_chunks`` keeps caches that grow up to ``left_chunks * chunk``
frames. An exported graph is simpler with caches of a constant length L: the cache is
left-padded from the start of the stream, ``cache_len`` says how many of its frames are
real, and each step drops the oldest ``t`` frames as it appends ``t`` new ones. The
attention mask hides the padding, so the outputs equal ``forward_chunks``'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from streamasr.encoder.conformer import ConformerEncoder, rotary_tables


@dataclass
class FixedCacheState:
    """One stream's state for a fixed-cache step (B = 1)."""

    offset: int  # encoder frames already emitted for this stream
    cache_len: int  # real frames at the end of the caches (the rest is padding)
    attn_k: torch.Tensor  # (N, 1, H, L, Dh) rotated keys, left-padded
    attn_v: torch.Tensor  # (N, 1, H, L, Dh) values, left-padded
    conv: torch.Tensor  # (N, 1, D, K-1) depthwise conv inputs of the last K-1 frames
    left_chunks: int  # attention left context in chunks
    chunk: int  # chunk size in encoder frames; L = left_chunks * chunk


def cache_mask(cache_len: torch.Tensor, cache_size: int, t: int) -> torch.Tensor:
    """Keys each query may see: (B, 1, t, L + t), True = keep; the last ``cache_len`` cache frames and the chunk.

    >>> cache_mask(torch.tensor([1, 3]), 3, 2)[:, 0, 0].int().tolist()
    [[0, 0, 1, 1, 1], [1, 1, 1, 1, 1]]
    """
    keys = torch.arange(cache_size + t, device=cache_len.device)  # (L + t,)
    keep = keys[None, :] >= (cache_size - cache_len)[:, None]  # (B, L + t)
    return keep[:, None, None, :].expand(-1, 1, t, cache_size + t)


class FixedCacheStep(nn.Module):
    """(feats, caches) -> (log-probs, caches), every tensor explicit: the ONNX export's signature."""

    def __init__(self, encoder: ConformerEncoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, feats: torch.Tensor, attn_k: torch.Tensor, attn_v: torch.Tensor, conv: torch.Tensor,
                offset: torch.Tensor, cache_len: torch.Tensor):
        """feats (B, 4t+3, F); attn_k, attn_v (N, B, H, L, Dh); conv (N, B, D, K-1); offset, cache_len (B,) int64
        -> log-probs (B, t, V), attn_k, attn_v (N, B, H, L, Dh), conv (N, B, D, K-1)."""
        x = self.encoder.subsample(feats)  # (B, t, D)
        t = x.shape[1]
        size = attn_k.shape[3]  # L
        positions = offset[:, None] + torch.arange(t, device=x.device)[None, :]  # (B, t)
        rope = rotary_tables(positions, self.encoder.cfg.head_dim, x.dtype)  # 2 x (B, 1, t, Dh)
        mask = cache_mask(cache_len, size, t)  # (B, 1, t, L + t)
        ks, vs, cs = [], [], []
        for i, layer in enumerate(self.encoder.layers):
            x, k, v, c = layer(x, rope, mask, attn_k[i], attn_v[i], conv[i])  # k, v: (B, H, L + t, Dh)
            ks.append(k[:, :, t:])  # (B, H, L, Dh): the oldest t frames drop out
            vs.append(v[:, :, t:])
            cs.append(c)
        logp = self.encoder.ctc(x).log_softmax(-1)  # (B, t, V)
        return logp, torch.stack(ks), torch.stack(vs), torch.stack(cs)


def init_fixed_state(encoder: ConformerEncoder, chunk: int, left_chunks: int) -> FixedCacheState:
    """Zero caches of L = left_chunks * chunk frames for a new stream."""
    if left_chunks < 0:
        raise ValueError("fixed-size caches need a bounded left context (left_chunks >= 0)")
    c = encoder.cfg
    size = left_chunks * chunk
    kv = torch.zeros(c.n_layers, 1, c.n_heads, size, c.head_dim)
    return FixedCacheState(offset=0, cache_len=0, attn_k=kv, attn_v=kv.clone(),
                           conv=torch.zeros(c.n_layers, 1, c.d_model, c.conv_kernel - 1),
                           left_chunks=left_chunks, chunk=chunk)
