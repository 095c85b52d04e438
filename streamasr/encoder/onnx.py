"""The streaming encoder as an ONNX graph, run by onnxruntime.

    export_onnx(model.encoder, "model/encoder.onnx")            # fp32
    quantize_int8("model/encoder.onnx", "model/encoder.int8.onnx")  # int8 weights, dynamic activations
    enc = OnnxEncoder("model/encoder.onnx", model.encoder.cfg)   # same streaming interface as ConformerEncoder

The graph is ``FixedCacheStep``: each layer's caches are explicit inputs and outputs, so one
file serves every chunk size and left context (both are dynamic axes). Its attention is
onnxruntime's MultiHeadAttention and its rotation RotaryEmbedding (domain com.microsoft), so the
graph runs on onnxruntime alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from streamasr.encoder.conformer import ConformerEncoder, EncoderConfig
from streamasr.encoder.fixed_cache import FixedCacheStep, init_fixed_state

EXPORT_VERSION = 5  # bump when the exported graph changes, so cached exports are made again
CACHES = ("attn_k", "attn_v", "conv")  # per-layer cache inputs are named "attn_k.0", ...; outputs "new_attn_k.0", ...


def input_names(n_layers: int) -> list[str]:
    return ["feats", "offset", "cache_len"] + [f"{c}.{i}" for c in CACHES for i in range(n_layers)]


def output_names(n_layers: int) -> list[str]:
    return ["log_probs"] + [f"new_{c}.{i}" for c in CACHES for i in range(n_layers)]


def export_onnx(encoder: ConformerEncoder, path: str | Path, opset: int = 18) -> Path:
    """Write the streaming step of ``encoder`` to ``path``; returns the path."""
    c = encoder.cfg
    step = FixedCacheStep(encoder).eval()
    b, t, size, n = 2, 8, 16, c.n_layers
    example = (
        torch.randn(b, 4 * t + 3, c.input_dim),  # (B, 4t+3, F)
        torch.tensor([0, 40]),  # offset (B,)
        torch.tensor([0, 16]),  # cache_len (B,)
        [torch.randn(b, c.n_heads, size, c.head_dim) for _ in range(n)],  # N x (B, H, L, Dh)
        [torch.randn(b, c.n_heads, size, c.head_dim) for _ in range(n)],
        [torch.randn(b, c.d_model, c.conv_kernel - 1) for _ in range(n)],  # N x (B, D, K-1)
    )
    batch, chunk, cache = torch.export.Dim("batch"), torch.export.Dim("chunk"), torch.export.Dim("cache", min=0)
    shapes = ({0: batch, 1: 4 * chunk + 3}, {0: batch}, {0: batch}, [{0: batch, 2: cache}] * n,
              [{0: batch, 2: cache}] * n, [{0: batch}] * n)
    path = Path(path)
    table = {torch.ops.streamasr.cached_attention.default: _multi_head_attention(),
             torch.ops.streamasr.rotate_heads.default: _rotary_embedding()}
    with torch.no_grad(), warnings.catch_warnings(), _quiet(*EXPORT_LOGGERS):
        warnings.simplefilter("ignore", UserWarning)
        program = torch.onnx.export(step, example, input_names=input_names(n), output_names=output_names(n),
                                    dynamic_shapes=shapes, opset_version=opset, dynamo=True, verbose=False,
                                    custom_translation_table=table)
        program.save(str(path), external_data=False)  # one self-contained file
    return path


def _multi_head_attention():
    """``cached_attention`` as onnxruntime's com.microsoft MultiHeadAttention, for the exporter's translation table.

    Its inputs: query, key, value (B, t, D); no packed bias or key padding mask; the additive
    attention_bias (B, 1, t, L+t); past_key, past_value (B, H, L, Dh). Its outputs: (B, t, D) and
    present_key, present_value (B, H, L+t, Dh). The scale is 1: the query projection carries it."""
    import onnxscript

    _declare_multi_head_attention()
    msft = onnxscript.values.Opset("com.microsoft", 1)

    def translate(q, k, v, bias, k_cache, v_cache, heads: int):
        return msft.MultiHeadAttention(q, k, v, None, None, bias, k_cache, v_cache, num_heads=heads, scale=1.0)

    return translate


def _rotary_embedding():
    """``rotate_heads`` as onnxruntime's com.microsoft RotaryEmbedding: input (B, t, D), position_ids (B, t),
    cos_cache and sin_cache (R, Dh/2); pairs (2i, 2i+1) turn together (interleaved)."""
    import onnxscript

    _declare(
        "RotaryEmbedding", inputs=[("input", "T"), ("position_ids", "M"), ("cos_cache", "T"), ("sin_cache", "T")],
        outputs=[("output", "T")], attributes=[("interleaved", "int", "pairs (2i, 2i+1)"),
                                               ("num_heads", "int", "heads of the input")],
        types=[("T", ["tensor(float)"]), ("M", ["tensor(int64)"])])
    msft = onnxscript.values.Opset("com.microsoft", 1)

    def translate(x, pos, cos, sin, heads: int):
        return msft.RotaryEmbedding(x, pos, cos, sin, interleaved=1, num_heads=heads)

    return translate


def _declare(name: str, inputs: list[tuple[str, str]], outputs: list[tuple[str, str]],
             attributes: list[tuple[str, str, str]], types: list[tuple[str, list[str]]],
             optional: tuple[str, ...] = ()) -> None:
    """Register the signature of one of onnxruntime's com.microsoft operators with onnx, which the exporter
    asks for any node it writes (onnx knows only its own operators; the full schemas live in onnxruntime's
    contrib ops). inputs, outputs: (name, type variable); attributes: (name, "int" or "float", doc);
    ``optional``: the inputs and outputs a node may leave out."""
    import onnx.defs
    from onnx.defs import OpSchema

    try:
        onnx.defs.get_schema(name, 1, "com.microsoft")
        return
    except onnx.defs.SchemaError:
        pass
    kinds = {"int": OpSchema.AttrType.INT, "float": OpSchema.AttrType.FLOAT}

    def param(n: str, t: str) -> OpSchema.FormalParameter:
        option = OpSchema.FormalParameterOption.Optional if n in optional else OpSchema.FormalParameterOption.Single
        return OpSchema.FormalParameter(n, t, param_option=option)

    onnx.defs.register_schema(OpSchema(
        name, "com.microsoft", 1,
        inputs=[param(n, t) for n, t in inputs], outputs=[param(n, t) for n, t in outputs],
        type_constraints=[(t, allowed, "") for t, allowed in types],
        attributes=[OpSchema.Attribute(n, kinds[k], doc) for n, k, doc in attributes]))


def _declare_multi_head_attention() -> None:
    """MultiHeadAttention's signature, as far as the export uses it (``_declare``)."""
    inputs = [("query", "T"), ("key", "T"), ("value", "T"), ("bias", "T"), ("key_padding_mask", "M"),
              ("attention_bias", "T"), ("past_key", "T"), ("past_value", "T")]
    outputs = [("output", "T"), ("present_key", "T"), ("present_value", "T")]
    _declare("MultiHeadAttention", inputs, outputs,
             attributes=[("num_heads", "int", "attention heads"), ("scale", "float", "factor on q k^T")],
             types=[("T", ["tensor(float)"]), ("M", ["tensor(int32)"])],
             optional=tuple(n for n, _ in inputs + outputs if n not in ("query", "output")))


# The exporter's own loggers: notes on optional packages and a few hundred lines on each graph pass, which
# are not the user's business (a server that logs at INFO would print them all on its first start).
EXPORT_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir")


@contextlib.contextmanager
def _quiet(*names: str):
    """Only errors from the loggers ``names`` (and their children) while the block runs."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


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
    # Its fused residual-add + LayerNorm kernel is slower here than the Add and LayerNormalization
    # it replaces (about 4x at 144 channels, by onnxruntime's own profiler), so that fusion is off.
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=["SkipLayerNormFusion"])


@dataclass(frozen=True)
class OnnxState:
    """One stream's state on onnxruntime: ``FixedCacheState``'s, with its caches kept as the arrays that
    onnxruntime returned, in the graph's input order, to go back in as they are (turning eighteen caches
    into torch tensors and back cost about 40 us a step, a twentieth of an int8 step)."""

    offset: int  # encoder frames already emitted for this stream
    cache_len: int  # real frames at the end of the caches (the rest is padding)
    caches: tuple[np.ndarray, ...]  # N x attn_k (1, H, L, Dh), N x attn_v (1, H, L, Dh), N x conv (1, D, K-1)
    left_chunks: int  # attention left context in chunks
    chunk: int  # chunk size in encoder frames; L = left_chunks * chunk


class OnnxEncoder:
    """``ConformerEncoder``'s streaming interface (init_state, chunk_window, forward_chunk(s)) on onnxruntime."""

    def __init__(self, path: str | Path, cfg: EncoderConfig, threads: int = 1):
        self.cfg = cfg
        self.path = Path(path)
        self.session = ort_session(path, threads)
        self.outputs = output_names(cfg.n_layers)
        self.cache_inputs = input_names(cfg.n_layers)[3:]  # attn_k.0 .. attn_k.N-1, attn_v.*, conv.*
        found = [i.name for i in self.session.get_inputs()]
        if found != input_names(cfg.n_layers):  # e.g. a folder exported by an older streamasr
            raise ValueError(f"{path} is not this streamasr's encoder graph for a {cfg.n_layers}-layer model "
                             f"(its inputs: {', '.join(found[:4])}, ...); export it again with `streamasr export`")

    chunk_window = staticmethod(ConformerEncoder.chunk_window)

    def init_state(self, chunk: int = 16, left_chunks: int = 8) -> OnnxState:
        s = init_fixed_state(self.cfg, chunk, left_chunks)
        return OnnxState(offset=0, cache_len=0, caches=tuple(c.numpy() for c in (*s.attn_k, *s.attn_v, *s.conv)),
                         left_chunks=left_chunks, chunk=chunk)

    def forward_chunk(self, feats: torch.Tensor, state: OnnxState) -> tuple[torch.Tensor, OnnxState]:
        """feats (1, 4n+3, F) -> log-probs (1, n, V), new state.

        One stream needs none of ``forward_chunks``' batching: its caches go in and come out as they are
        (no concatenation or slicing), which saves about a tenth of an int8 step."""
        out = self._run(feats, [state], state.caches)
        return torch.from_numpy(out[0]), self._advanced(state, out[0].shape[1], tuple(out[1:]))  # (1, n, V)

    def forward_chunks(self, feats: torch.Tensor, states: list[OnnxState]
                       ) -> tuple[torch.Tensor, list[OnnxState]]:
        """feats (B, 4n+3, F) -> log-probs (B, n, V), new states; the states must share chunk and left_chunks."""
        if len(states) == 1:
            logp, state = self.forward_chunk(feats, states[0])
            return logp, [state]
        caches = [np.concatenate([s.caches[i] for s in states]) for i in range(len(self.cache_inputs))]  # (B, ...)
        out = self._run(feats, states, caches)
        t = out[0].shape[1]
        new_states = [self._advanced(s, t, tuple(x[r : r + 1] for x in out[1:])) for r, s in enumerate(states)]
        return torch.from_numpy(out[0]), new_states  # (B, n, V)

    @staticmethod
    def _advanced(state: OnnxState, t: int, caches: tuple[np.ndarray, ...]) -> OnnxState:
        """``state`` after a step that emitted ``t`` frames and left ``caches``."""
        size = state.left_chunks * state.chunk  # L
        return dataclasses.replace(state, offset=state.offset + t, cache_len=min(state.cache_len + t, size),
                                   caches=caches)

    def _run(self, feats: torch.Tensor, states: list[OnnxState], caches) -> list[np.ndarray]:
        """One step of the graph: feats (B, 4n+3, F), the states' offsets, and ``caches`` in the graph's input
        order (attn_k.0 .. attn_k.N-1, attn_v.*, conv.*; each (B, ...)) -> its outputs in ``self.outputs`` order."""
        inputs = dict(zip(self.cache_inputs, caches))
        inputs["feats"] = feats.numpy().astype(np.float32, copy=False)  # (B, 4n+3, F)
        inputs["offset"] = np.array([s.offset for s in states], dtype=np.int64)  # (B,)
        inputs["cache_len"] = np.array([s.cache_len for s in states], dtype=np.int64)  # (B,)
        return self.session.run(self.outputs, inputs)
