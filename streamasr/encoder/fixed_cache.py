"""One streaming step with fixed-size caches: the form exported to ONNX.

``ConformerEncoder.forward_chunks`` keeps caches that grow up to ``left_chunks * chunk``
frames. An exported graph is simpler with caches of a constant length L: the cache is
left-padded from the start of the stream, ``cache_len`` says how many of its frames are
real, and each step drops the oldest ``t`` frames as it appends ``t`` new ones. The
attention mask hides the padding, so the outputs equal ``forward_chunks``'s.

The step is also written for a lean graph, because at streaming sizes (8 frames of 144
channels) onnxruntime spends as long dispatching small nodes as multiplying weights:

* each layer's caches are inputs and outputs of their own (no gather or stack of N layers);
* constants are folded into the weights: the attention scale into the query projection, the
  half step of each feed-forward module into its last linear layer;
* the rotation of q and k is one operator each, ``rotate_heads``, which the export writes as
  onnxruntime's RotaryEmbedding (its tables made once per step for every layer);
* attention with its caches is one operator, ``cached_attention`` (split into heads, append the
  chunk to the caches, q k^T + mask bias, softmax, times v, merge the heads), with an additive
  mask made once per step: the export writes it as onnxruntime's MultiHeadAttention, one node
  in place of the twelve that the written-out form left after onnxruntime's own fusions;
* the depthwise convolution runs as a 1 x K Conv2d, which onnxruntime's blocked-layout kernels
  serve far faster than a grouped Conv1d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from streamasr.encoder.conformer import (
    ConformerBlock,
    ConformerEncoder,
    EncoderConfig,
    rotary_angles,
)


@dataclass
class FixedCacheState:
    """One stream's state for a fixed-cache step (B = 1); one tensor per layer in each cache tuple."""

    offset: int  # encoder frames already emitted for this stream
    cache_len: int  # real frames at the end of the caches (the rest is padding)
    attn_k: tuple[torch.Tensor, ...]  # N x (1, H, L, Dh) rotated keys, left-padded
    attn_v: tuple[torch.Tensor, ...]  # N x (1, H, L, Dh) values, left-padded
    conv: tuple[torch.Tensor, ...]  # N x (1, D, K-1) depthwise conv inputs of the last K-1 frames
    left_chunks: int  # attention left context in chunks
    chunk: int  # chunk size in encoder frames; L = left_chunks * chunk


def mask_bias(cache_len: torch.Tensor, cache_size: int, t: int) -> torch.Tensor:
    """Additive attention mask (B, 1, t, L + t): 0 on the last ``cache_len`` cache frames and the chunk, -inf before.

    >>> mask_bias(torch.tensor([1, 3]), 3, 2)[:, 0, 0].tolist()
    [[-inf, -inf, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]]
    """
    keys = torch.arange(cache_size + t, device=cache_len.device)  # (L + t,)
    keep = keys[None, :] >= (cache_size - cache_len)[:, None]  # (B, L + t)
    bias = torch.zeros(keep.shape, device=cache_len.device).masked_fill(~keep, float("-inf"))
    return bias[:, None, None, :].expand(-1, 1, t, -1)  # (B, 1, t, L + t): every query row alike


@torch.library.custom_op("streamasr::cached_attention", mutates_args=())
def cached_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor, k_cache: torch.Tensor,
                     v_cache: torch.Tensor, heads: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Attention of a chunk over its caches and itself; the caches come back with the chunk appended.

    q, k, v: (B, t, D), q scaled; bias: (B, 1, t, L+t) additive mask; k_cache, v_cache: (B, H, L, Dh)
    -> out (B, t, D), k, v: (B, H, L+t, Dh).

    An operator of its own so that the ONNX export writes it as one node, onnxruntime's
    MultiHeadAttention (``streamasr.encoder.onnx``), which computes exactly this.

    >>> q = k = v = torch.ones(1, 2, 4)  # B=1, t=2, D=4
    >>> out, k2, v2 = cached_attention(q, k, v, torch.zeros(1, 1, 2, 3), torch.zeros(1, 2, 1, 2),
    ...                                torch.zeros(1, 2, 1, 2), heads=2)
    >>> tuple(out.shape), tuple(k2.shape)
    ((1, 2, 4), (1, 2, 3, 2))
    """
    b, t, d = q.shape

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(b, t, heads, d // heads).transpose(1, 2)  # (B, t, D) -> (B, H, t, Dh)

    k = torch.cat([k_cache, split(k)], dim=2)  # (B, H, L+t, Dh)
    v = torch.cat([v_cache, split(v)], dim=2)
    att = (split(q) @ k.transpose(2, 3) + bias).softmax(-1) @ v  # (B, H, t, Dh)
    return att.transpose(1, 2).reshape(b, t, d), k, v  # (B, t, D)


@cached_attention.register_fake
def _(q, k, v, bias, k_cache, v_cache, heads):
    b, t, d = q.shape
    kv = k_cache.new_empty(b, heads, k_cache.shape[2] + t, d // heads)  # (B, H, L+t, Dh)
    return q.new_empty(q.shape), kv, kv.new_empty(kv.shape)


@torch.library.custom_op("streamasr::rotate_heads", mutates_args=())
def rotate_heads(x: torch.Tensor, pos: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, heads: int) -> torch.Tensor:
    """Every head's channel pairs (2i, 2i+1) turned, (x0, x1) -> (x0 cos - x1 sin, x1 cos + x0 sin).

    x: (B, t, D), ``heads`` heads of Dh channels; pos: (B, t) int64 rows of the tables; cos, sin: (R, Dh/2)
    -> (B, t, D). An operator of its own so that the ONNX export writes it as one node, onnxruntime's
    RotaryEmbedding (interleaved pairs), which computes exactly this (``streamasr.encoder.onnx``).

    >>> x = torch.tensor([[[1.0, 0.0, 0.0, 1.0]]])  # B=1, t=1, two heads of 2: a quarter turn each
    >>> rotate_heads(x, torch.tensor([[0]]), torch.tensor([[0.0]]), torch.tensor([[1.0]]), 2).tolist()
    [[[0.0, 1.0, -1.0, 0.0]]]
    """
    b, t, d = x.shape
    pairs = x.reshape(b, t, heads, d // heads // 2, 2)  # (B, t, H, Dh/2, 2)
    c, s = cos[pos].unsqueeze(2), sin[pos].unsqueeze(2)  # (B, t, 1, Dh/2)
    x0, x1 = pairs[..., 0], pairs[..., 1]
    return torch.stack([x0 * c - x1 * s, x1 * c + x0 * s], dim=-1).reshape(b, t, d)


@rotate_heads.register_fake
def _(x, pos, cos, sin, heads):
    return x.new_empty(x.shape)


def _linear(weight: torch.Tensor, bias: torch.Tensor) -> nn.Linear:
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(bias)
    return layer


class ExportBlock(nn.Module):
    """``ConformerBlock``'s streaming step with its constants folded into copies of the weights (inference only)."""

    def __init__(self, block: ConformerBlock, cfg: EncoderConfig):
        super().__init__()
        d, self.h = cfg.d_model, cfg.n_heads
        with torch.no_grad():
            ff1, ff2 = block.ff1, block.ff2  # LayerNorm, Linear, SiLU, Dropout, Linear, Dropout
            self.ff1 = nn.Sequential(ff1[0], ff1[1], nn.SiLU(), _linear(0.5 * ff1[4].weight, 0.5 * ff1[4].bias))
            self.ff2 = nn.Sequential(ff2[0], ff2[1], nn.SiLU(), _linear(0.5 * ff2[4].weight, 0.5 * ff2[4].bias))
            w, b = block.attn.qkv.weight, block.attn.qkv.bias  # (3D, D), (3D,): q, k, v rows
            scale = 1.0 / math.sqrt(cfg.head_dim)  # scaled_dot_product_attention's, folded into q
            wq, wk, wv, bq, bk, bv = scale * w[:d], w[d : 2 * d], w[2 * d :], scale * b[:d], b[d : 2 * d], b[2 * d :]
            self.proj = _linear(torch.cat([wq, wk, wv]), torch.cat([bq, bk, bv]))  # (3D, D)
            conv = block.conv
            self.dw = nn.Conv2d(d, d, (1, conv.k), groups=d)
            self.dw.weight.copy_(conv.dw.weight.unsqueeze(2))  # (D, 1, K) -> (D, 1, 1, K)
            self.dw.bias.copy_(conv.dw.bias)
        self.attn_norm, self.out = block.attn_norm, block.attn.out
        self.conv_norm, self.pw1, self.norm, self.pw2 = block.conv_norm, conv.pw1, conv.norm, conv.pw2
        self.final_norm = block.final_norm

    def forward(self, x, pos, cos, sin, bias, k_cache, v_cache, conv_cache):
        # x: (B, t, D); pos (B, t), cos, sin (B*t, Dh/2): rotate_heads' tables; bias: (B, 1, t, L+t);
        # k_cache, v_cache: (B, H, L, Dh); conv_cache: (B, D, K-1) -> x, k, v (B, H, L, Dh), conv (B, D, K-1)
        b, t, d = x.shape
        x = x + self.ff1(x)
        q, k, v = self.proj(self.attn_norm(x)).split(d, dim=-1)  # (B, t, D) each
        q, k = rotate_heads(q, pos, cos, sin, self.h), rotate_heads(k, pos, cos, sin, self.h)
        att, k, v = cached_attention(q, k, v, bias, k_cache, v_cache, self.h)  # (B, t, D); k, v (B, H, L+t, Dh)
        x = x + self.out(att)
        y = F.glu(self.pw1(self.conv_norm(x)), dim=-1).transpose(1, 2)  # (B, D, t)
        y = torch.cat([conv_cache, y], dim=2)  # (B, D, K-1+t)
        new_conv = y[:, :, t:]  # (B, D, K-1)
        y = self.dw(y.unsqueeze(2)).squeeze(2).transpose(1, 2)  # (B, t, D)
        x = x + self.pw2(F.silu(self.norm(y)))
        x = x + self.ff2(x)
        return self.final_norm(x), k[:, :, t:], v[:, :, t:], new_conv  # the oldest t frames drop out


class FixedCacheStep(nn.Module):
    """(feats, offset, cache_len, caches) -> (log-probs, caches), every tensor explicit: the ONNX export's signature."""

    def __init__(self, encoder: ConformerEncoder):
        super().__init__()
        self.cfg = encoder.cfg
        self.subsample, self.ctc = encoder.subsample, encoder.ctc
        self.layers = nn.ModuleList(ExportBlock(layer, encoder.cfg) for layer in encoder.layers)

    def forward(self, feats: torch.Tensor, offset: torch.Tensor, cache_len: torch.Tensor,
                attn_k: list[torch.Tensor], attn_v: list[torch.Tensor], conv: list[torch.Tensor]):
        """feats (B, 4t+3, F); offset, cache_len (B,) int64; attn_k, attn_v: N x (B, H, L, Dh); conv: N x (B, D, K-1)
        -> log-probs (B, t, V), attn_k, attn_v: N x (B, H, L, Dh), conv: N x (B, D, K-1)."""
        x = self.subsample(feats)  # (B, t, D)
        t = x.shape[1]
        b = x.shape[0]
        positions = offset[:, None] + torch.arange(t, device=x.device)[None, :]  # (B, t)
        angles = rotary_angles(positions, self.cfg.head_dim).reshape(b * t, -1)  # (B*t, Dh/2): row b*t+i
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        pos = torch.arange(b * t, device=x.device).reshape(b, t)  # (B, t): each frame's row of the tables
        bias = mask_bias(cache_len, attn_k[0].shape[2], t)  # (B, 1, t, L + t)
        ks, vs, cs = [], [], []
        for i, layer in enumerate(self.layers):
            x, k, v, c = layer(x, pos, cos, sin, bias, attn_k[i], attn_v[i], conv[i])
            ks.append(k)
            vs.append(v)
            cs.append(c)
        return self.ctc(x).log_softmax(-1), ks, vs, cs  # (B, t, V), N x ...


def init_fixed_state(cfg: EncoderConfig, chunk: int, left_chunks: int) -> FixedCacheState:
    """Zero caches of L = left_chunks * chunk frames for a new stream."""
    if left_chunks < 0:
        raise ValueError("the ONNX encoder's fixed-size caches need a bounded left context (left_chunks >= 0)")
    kv = (1, cfg.n_heads, left_chunks * chunk, cfg.head_dim)  # (1, H, L, Dh)
    n = cfg.n_layers
    return FixedCacheState(offset=0, cache_len=0,
                           attn_k=tuple(torch.zeros(kv) for _ in range(n)),
                           attn_v=tuple(torch.zeros(kv) for _ in range(n)),
                           conv=tuple(torch.zeros(1, cfg.d_model, cfg.conv_kernel - 1) for _ in range(n)),
                           left_chunks=left_chunks, chunk=chunk)
