"""Conformer encoder with chunk-hopping attention and per-stream caches.

Two entry points share the weights:

* ``forward(feats, lengths, chunk, left_chunks)`` for training and offline use
  under a chosen chunk mask;
* ``forward_chunk(feats, state) -> (out, state)`` for streaming, where ``state``
  carries the attention key/value cache (bounded to ``left_chunks`` chunks),
  the causal convolution cache, and the stream offset.

Positions are rotary (RoPE) with angles computed in float64 from the absolute
frame index, so a stream of hours neither overflows a table nor loses
precision, and relative positions are what attention sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from streamasr.encoder.masks import chunk_mask, padding_mask, subsampled_length


@dataclass(frozen=True)
class EncoderConfig:
    input_dim: int = 80  # feature bins per frame
    d_model: int = 144  # width of every layer
    n_heads: int = 4  # attention heads
    n_layers: int = 8  # conformer blocks
    ff_mult: int = 4  # feed-forward hidden = ff_mult * d_model
    conv_kernel: int = 15  # causal depthwise convolution kernel (frames after subsampling)
    subsample_channels: int = 64  # channels of the 2-D subsampling convolutions
    dropout: float = 0.1  # dropout in training
    vocab_size: int = 29  # CTC output size, blank at index 0

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads


@dataclass
class EncoderState:
    """Everything one stream carries from one chunk to the next."""

    offset: int  # encoder frames already emitted for this stream
    attn_k: torch.Tensor  # (N, 1, H, Tc, Dh) rotated keys of the last frames, N layers
    attn_v: torch.Tensor  # (N, 1, H, Tc, Dh) values of the same frames
    conv: torch.Tensor  # (N, 1, D, K-1) inputs of the depthwise conv, last K-1 frames
    left_chunks: int  # attention left context in chunks; < 0 keeps everything
    chunk: int  # chunk size in encoder frames, fixes the cache bound


class Subsampling(nn.Module):
    """Two 3x3 stride-2 convolutions: (B, T, F) -> (B, T', D), T' = ((T-1)//2-1)//2."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        c = cfg.subsample_channels
        self.conv = nn.Sequential(nn.Conv2d(1, c, 3, 2), nn.ReLU(), nn.Conv2d(c, c, 3, 2), nn.ReLU())
        f_out = ((cfg.input_dim - 1) // 2 - 1) // 2
        self.proj = nn.Linear(c * f_out, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x.unsqueeze(1))  # (B, C, T', F')
        b, c, t, f = x.shape
        return self.proj(x.transpose(1, 2).reshape(b, t, c * f))  # (B, T', D)


def rotary_angles(positions: torch.Tensor, dh: int) -> torch.Tensor:
    """Angle of channel pair i at each position, position * 10000^(-2i/Dh), in float64: (...,) -> (..., Dh/2).

    >>> rotary_angles(torch.tensor([0, 2]), 4).tolist()
    [[0.0, 0.0], [2.0, 0.02]]
    """
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, dh, 2, dtype=torch.float64, device=positions.device) / dh))
    return positions.to(torch.float64).unsqueeze(-1) * inv_freq


def rotary_tables(positions: torch.Tensor, dh: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """The cos and signed sin tables that ``rotary`` applies, computed once per forward for every layer.

    positions: absolute frame indices, (T,) or (B, T) -> cos, sin: (T, Dh) or (B, 1, T, Dh).
    Channel pair (2i, 2i+1) turns by angle position * 10000^(-2i/Dh), computed in float64; the sin
    table carries the rotation's signs (-sin on even channels, +sin on odd ones).

    >>> cos, sin = rotary_tables(torch.tensor([0, 1]), 4, torch.float32)
    >>> cos.shape, cos[0].tolist(), sin[0].tolist()
    (torch.Size([2, 4]), [1.0, 1.0, 1.0, 1.0], [-0.0, 0.0, -0.0, 0.0])
    """
    angles = rotary_angles(positions, dh)  # (T, Dh/2) or (B, T, Dh/2)
    if angles.dim() == 3:
        angles = angles.unsqueeze(1)  # (B, 1, T, Dh/2)
    cos = angles.cos().to(dtype).repeat_interleave(2, dim=-1)  # (..., T, Dh)
    sin = angles.sin().to(dtype)
    sin = torch.stack([-sin, sin], dim=-1).flatten(-2)  # (..., T, Dh)
    return cos, sin


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs (2i, 2i+1) of x (..., T, Dh) by the tables of ``rotary_tables``.

    Pair (x0, x1) becomes (x0 cos - x1 sin, x1 cos + x0 sin).

    >>> x = torch.tensor([[1.0, 0.0]])  # (T=1, Dh=2); a quarter turn
    >>> rotary(x, torch.tensor([[0.0, 0.0]]), torch.tensor([[-1.0, 1.0]])).tolist()
    [[0.0, 1.0]]
    """
    swapped = x.unflatten(-1, (-1, 2)).flip(-1).flatten(-2)  # (..., T, Dh): each pair as (x1, x0)
    return x * cos + swapped * sin


class SelfAttention(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.h, self.dh = cfg.n_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.out = nn.Linear(cfg.d_model, cfg.d_model)
        self.dropout = cfg.dropout

    def project(self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]):
        # x: (B, T, D); rope: the tables of rotary_tables -> q, k, v: (B, H, T, Dh), q and k rotated
        b, t, _ = x.shape
        qkv = self.qkv(x).view(b, t, 3, self.h, self.dh).permute(2, 0, 3, 1, 4)  # (3, B, H, T, Dh)
        qk = rotary(qkv[:2], *rope)  # (2, B, H, T, Dh): q and k turned in one step
        return qk[0], qk[1], qkv[2]

    def attend(self, q, k, v, mask: torch.Tensor) -> torch.Tensor:
        # q: (B, H, Tq, Dh); k, v: (B, H, Tk, Dh); mask: broadcastable to (B, H, Tq, Tk), True = keep
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)  # (B, H, Tq, Dh)
        b, h, t, dh = y.shape
        return self.out(y.transpose(1, 2).reshape(b, t, h * dh))  # (B, Tq, D)


UNFOLD_MAX = 1 << 18  # inputs up to this many elements (B * D * (K-1+T)) take the unfolded product


class ConvModule(nn.Module):
    """Pointwise GLU -> causal depthwise conv -> LayerNorm -> SiLU -> pointwise."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        d = cfg.d_model
        self.k = cfg.conv_kernel
        self.pw1 = nn.Linear(d, 2 * d)
        self.dw = nn.Conv1d(d, d, cfg.conv_kernel, groups=d)
        self.norm = nn.LayerNorm(d)
        self.pw2 = nn.Linear(d, d)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, T, D); cache: (B, D, K-1) of the frames before x (zeros at stream start)
        y = F.glu(self.pw1(x), dim=-1).transpose(1, 2)  # (B, D, T)
        y = torch.cat([cache, y], dim=2)  # (B, D, K-1+T)
        new_cache = y[:, :, y.shape[2] - (self.k - 1) :]  # (B, D, K-1)
        y = self._depthwise(y).transpose(1, 2)  # (B, T, D)
        y = self.pw2(F.silu(self.norm(y)))
        return self.drop(y), new_cache

    def _depthwise(self, y: torch.Tensor) -> torch.Tensor:
        # y: (B, D, K-1+T) -> (B, D, T). At streaming sizes without autograd, a product with the unfolded
        # windows: about 3x faster than torch's oneDNN convolution for one 320 ms chunk. The convolution
        # everywhere else (training; long inputs, whose unfolded windows would be K times their size).
        if torch.is_grad_enabled() or y.numel() > UNFOLD_MAX:
            return self.dw(y)
        w = self.dw.weight[:, 0]  # (D, K)
        return torch.einsum("bdtk,dk->bdt", y.unfold(2, self.k, 1), w) + self.dw.bias[:, None]  # (B, D, T)


class FeedForward(nn.Sequential):
    def __init__(self, cfg: EncoderConfig):
        d = cfg.d_model
        super().__init__(
            nn.LayerNorm(d), nn.Linear(d, cfg.ff_mult * d), nn.SiLU(), nn.Dropout(cfg.dropout),
            nn.Linear(cfg.ff_mult * d, d), nn.Dropout(cfg.dropout),
        )


class ConformerBlock(nn.Module):
    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.ff1 = FeedForward(cfg)
        self.attn_norm = nn.LayerNorm(cfg.d_model)
        self.attn = SelfAttention(cfg)
        self.conv_norm = nn.LayerNorm(cfg.d_model)
        self.conv = ConvModule(cfg)
        self.ff2 = FeedForward(cfg)
        self.final_norm = nn.LayerNorm(cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, rope, mask, k_cache, v_cache, conv_cache):
        # x: (B, T, D); rope: (cos, sin) of rotary_tables; mask: (B or 1, 1, T, Tc+T);
        # k_cache, v_cache: (B, H, Tc, Dh); conv_cache: (B, D, K-1)
        x = x + 0.5 * self.ff1(x)
        q, k, v = self.attn.project(self.attn_norm(x), rope)
        k = torch.cat([k_cache, k], dim=2)  # (B, H, Tc+T, Dh)
        v = torch.cat([v_cache, v], dim=2)
        x = x + self.drop(self.attn.attend(q, k, v, mask))
        y, conv_cache = self.conv(self.conv_norm(x), conv_cache)
        x = x + y
        x = x + 0.5 * self.ff2(x)
        return self.final_norm(x), k, v, conv_cache


class ConformerEncoder(nn.Module):
    """Features (B, T, F) -> CTC log-probabilities (B, T', V) at 4x subsampling."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.subsample = Subsampling(cfg)
        self.layers = nn.ModuleList(ConformerBlock(cfg) for _ in range(cfg.n_layers))
        self.ctc = nn.Linear(cfg.d_model, cfg.vocab_size)

    # --- offline / training -------------------------------------------------
    def forward(
        self, feats: torch.Tensor, lengths: torch.Tensor, chunk: int = 0, left_chunks: int = -1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """feats (B, T, F), lengths (B,) -> log-probs (B, T', V), out lengths (B,).

        ``chunk`` is in encoder frames (<= 0: full context)."""
        x = self.subsample(feats)  # (B, T', D)
        b, t, _ = x.shape
        out_len = torch.tensor([subsampled_length(int(n)) for n in lengths], device=x.device)
        mask = chunk_mask(t, chunk, left_chunks).to(x.device).unsqueeze(0)  # (1, T', T')
        mask = mask & padding_mask(out_len, t).to(x.device).unsqueeze(1)  # (B, T', T') keys valid
        mask = mask.unsqueeze(1)  # (B, 1, T', T')
        h, dh, k = self.cfg.n_heads, self.cfg.head_dim, self.cfg.conv_kernel
        rope = rotary_tables(torch.arange(t, device=x.device), dh, x.dtype)  # 2 x (T', Dh)
        empty = x.new_zeros(b, h, 0, dh)
        conv0 = x.new_zeros(b, self.cfg.d_model, k - 1)
        for layer in self.layers:
            x, _, _, _ = layer(x, rope, mask, empty, empty, conv0)
        return self.ctc(x).log_softmax(-1), out_len

    # --- streaming ------------------------------------------------------------
    def init_state(self, chunk: int = 16, left_chunks: int = -1) -> EncoderState:
        c = self.cfg
        p = next(self.parameters())
        kv = p.new_zeros(c.n_layers, 1, c.n_heads, 0, c.head_dim)
        return EncoderState(
            offset=0, attn_k=kv, attn_v=kv.clone(),
            conv=p.new_zeros(c.n_layers, 1, c.d_model, c.conv_kernel - 1),
            left_chunks=left_chunks, chunk=chunk,
        )

    @staticmethod
    def chunk_window(chunk: int) -> tuple[int, int]:
        """(frames to feed, frames to advance) for one chunk of ``chunk`` encoder frames.

        >>> ConformerEncoder.chunk_window(16)
        (67, 64)
        """
        return 4 * chunk + 3, 4 * chunk

    @torch.no_grad()
    def forward_chunk(self, feats: torch.Tensor, state: EncoderState) -> tuple[torch.Tensor, EncoderState]:
        """feats (1, 4n+3, F) -> log-probs (1, n, V), new state.

        Feeding ``chunk_window(chunk)`` frames per call, advancing by its second
        value, reproduces ``forward(..., chunk, left_chunks)`` exactly; the last
        call of a stream may hold fewer frames (a partial chunk)."""
        y, (state,) = self.forward_chunks(feats, [state])
        return y, state

    @torch.no_grad()
    def forward_chunks(self, feats: torch.Tensor, states: list[EncoderState]
                       ) -> tuple[torch.Tensor, list[EncoderState]]:
        """One step of B streams at once: feats (B, 4n+3, F) -> log-probs (B, n, V), new states.

        The streams may be at different offsets with caches of different lengths (they are
        left-padded and masked); they must share ``chunk`` and ``left_chunks``."""
        x = self.subsample(feats)  # (B, n, D)
        b, t, _ = x.shape
        lens = [s.attn_k.shape[3] for s in states]
        tmax = max(lens)
        k_cache = torch.cat([F.pad(s.attn_k, (0, 0, tmax - n, 0)) for s, n in zip(states, lens)], dim=1)
        v_cache = torch.cat([F.pad(s.attn_v, (0, 0, tmax - n, 0)) for s, n in zip(states, lens)], dim=1)
        conv = torch.cat([s.conv for s in states], dim=1)  # (N, B, D, K-1)
        positions = torch.stack([torch.arange(s.offset, s.offset + t) for s in states]).to(x.device)  # (B, n)
        rope = rotary_tables(positions, self.cfg.head_dim, x.dtype)  # 2 x (B, 1, n, Dh)
        first_valid = torch.tensor([tmax - n for n in lens], device=x.device)  # (B,)
        mask = torch.arange(tmax + t, device=x.device)[None, :] >= first_valid[:, None]  # (B, Tmax+n)
        mask = mask[:, None, None, :].expand(b, 1, t, tmax + t)  # (B, 1, n, Tmax+n): cache + chunk
        left, chunk = states[0].left_chunks, states[0].chunk
        ks, vs, cs = [], [], []
        for i, layer in enumerate(self.layers):
            x, k, v, c = layer(x, rope, mask, k_cache[i], v_cache[i], conv[i])  # k, v: (B, H, Tmax+n, Dh)
            ks.append(k)
            vs.append(v)
            cs.append(c)
        k_all, v_all, c_all = torch.stack(ks), torch.stack(vs), torch.stack(cs)  # (N, B, ...)
        new_states = []
        for r, n in enumerate(lens):
            valid = n + t  # this stream's frames in k_all: cache then chunk
            keep = valid if left < 0 else min(valid, left * chunk)
            lo = tmax + t - keep
            new_states.append(EncoderState(
                offset=states[r].offset + t, attn_k=k_all[:, r : r + 1, :, lo:], attn_v=v_all[:, r : r + 1, :, lo:],
                conv=c_all[:, r : r + 1], left_chunks=left, chunk=chunk))
        return self.ctc(x).log_softmax(-1), new_states
