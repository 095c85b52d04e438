"""The streaming encoder as an ONNX graph, run by onnxruntime.

    export_onnx(model.encoder, "model/encoder.onnx")            # fp32
    quantize_int8("model/encoder.onnx", "model/encoder.int8.onnx")  # int8 weights, dynamic activations
    enc = OnnxEncoder("model/encoder.onnx", model.encoder.cfg)   # same streaming interface as ConformerEncoder

The graph is ``FixedCacheStep``: caches are explicit inputs and outputs, so one file serves
every chunk size and left context (both are dynamic axes).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from streamasr.encoder.conformer import ConformerEncoder, EncoderConfig
from streamasr.encoder.fixed_cache import FixedCacheState, FixedCacheStep

EXPORT_VERSION = 2  # bump when the exported graph changes, so cached exports are made again
INPUTS = ("feats", "attn_k", "attn_v", "conv", "offset", "cache_len")
OUTPUTS = ("log_probs", "new_attn_k", "new_attn_v", "new_conv")


def export_onnx(encoder: ConformerEncoder, path: str | Path, opset: int = 18) -> Path:
    """Write the streaming step of ``encoder`` to ``path``; returns the path."""
    c = encoder.cfg
    step = FixedCacheStep(encoder).eval()
    b, t, size = 2, 8, 16
    example = (
        torch.randn(b, 4 * t + 3, c.input_dim),  # (B, 4t+3, F)
        torch.randn(c.n_layers, b, c.n_heads, size, c.head_dim),  # (N, B, H, L, Dh)
        torch.randn(c.n_layers, b, c.n_heads, size, c.head_dim),
        torch.randn(c.n_layers, b, c.d_model, c.conv_kernel - 1),  # (N, B, D, K-1)
        torch.tensor([0, 40]),  # (B,)
        torch.tensor([0, 16]),  # (B,)
    )
    batch, chunk, cache = torch.export.Dim("batch"), torch.export.Dim("chunk"), torch.export.Dim("cache", min=0)
    shapes = ({0: batch, 1: 4 * chunk + 3}, {1: batch, 3: cache}, {1: batch, 3: cache}, {1: batch}, {0: batch},
              {0: batch})
    path = Path(path)
    quiet = logging.getLogger("torch.onnx")  # its notes on optional packages are not the user's business
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        program = torch.onnx.export(step, example, input_names=list(INPUTS), output_names=list(OUTPUTS),
                                    dynamic_shapes=shapes, opset_version=opset, dynamo=True, verbose=False)
    quiet.setLevel(level)
    program.save(str(path), external_data=False)  # one self-contained file
    return path


def quantize_int8(src: str | Path, dst: str | Path) -> Path:
    """Dynamic int8 quantization of the matrix weights (activations quantized on the fly)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()  # onnxruntime advises pre-processing through the root logger; it is optional
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"])
    finally:
        root.setLevel(level)
    return Path(dst)


def ort_session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU session on ``threads`` intra-op threads (one inter-op thread)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxEncoder:
    """``ConformerEncoder``'s streaming interface (init_state, chunk_window, forward_chunk(s)) on onnxruntime."""

    def __init__(self, path: str | Path, cfg: EncoderConfig, threads: int = 1):
        self.cfg = cfg
        self.path = Path(path)
        self.session = ort_session(path, threads)

    chunk_window = staticmethod(ConformerEncoder.chunk_window)

    def init_state(self, chunk: int = 16, left_chunks: int = 8) -> FixedCacheState:
        if left_chunks < 0:
            raise ValueError("the ONNX encoder needs a bounded left context (left_chunks >= 0)")
        c = self.cfg
        kv = torch.zeros(c.n_layers, 1, c.n_heads, left_chunks * chunk, c.head_dim)
        return FixedCacheState(offset=0, cache_len=0, attn_k=kv, attn_v=kv.clone(),
                               conv=torch.zeros(c.n_layers, 1, c.d_model, c.conv_kernel - 1),
                               left_chunks=left_chunks, chunk=chunk)

    def forward_chunk(self, feats: torch.Tensor, state: FixedCacheState) -> tuple[torch.Tensor, FixedCacheState]:
        """feats (1, 4n+3, F) -> log-probs (1, n, V), new state."""
        y, (state,) = self.forward_chunks(feats, [state])
        return y, state

    def forward_chunks(self, feats: torch.Tensor, states: list[FixedCacheState]
                       ) -> tuple[torch.Tensor, list[FixedCacheState]]:
        """feats (B, 4n+3, F) -> log-probs (B, n, V), new states; the states must share chunk and left_chunks."""
        inputs = {
            "feats": feats.numpy().astype(np.float32, copy=False),
            "attn_k": torch.cat([s.attn_k for s in states], dim=1).numpy(),  # (N, B, H, L, Dh)
            "attn_v": torch.cat([s.attn_v for s in states], dim=1).numpy(),
            "conv": torch.cat([s.conv for s in states], dim=1).numpy(),  # (N, B, D, K-1)
            "offset": np.array([s.offset for s in states], dtype=np.int64),  # (B,)
            "cache_len": np.array([s.cache_len for s in states], dtype=np.int64),  # (B,)
        }
        logp, k, v, conv = (torch.from_numpy(a) for a in self.session.run(list(OUTPUTS), inputs))
        t, size = logp.shape[1], k.shape[3]
        new_states = [
            dataclasses.replace(s, offset=s.offset + t, cache_len=min(s.cache_len + t, size),
                                attn_k=k[:, r : r + 1], attn_v=v[:, r : r + 1], conv=conv[:, r : r + 1])
            for r, s in enumerate(states)
        ]
        return logp, new_states
