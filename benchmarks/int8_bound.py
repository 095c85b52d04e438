"""How far int8 can speed up an encoder step: its weight matrix products alone, fp32 against int8.

Dynamic int8 quantization changes only the products of activations with weight matrices. This
builds a graph of exactly those products from an exported encoder (every MatMul whose right operand
is a weight, with its shape, on inputs of one chunk's frames), quantizes it as ``quantize_int8`` does, and
times it against the whole step graph on one thread. If the products take ``m32`` in fp32 and ``m8``
in int8, and the rest of the step (not quantized) takes ``r``, int8 is ``(m32 + r) / (m8 + r)`` times
faster: 2x needs ``r <= m32 - 2 * m8``, whatever else the graph does. That assumes onnxruntime runs
the rest alike in both graphs; ``rest_int8`` (the int8 step less its products) shows whether it did.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from streamasr.encoder.conformer import EncoderConfig
from streamasr.encoder.onnx import CACHES, ort_session, quantize_int8


def weight_matmul_shapes(graph_path: Path) -> list[tuple[int, int]]:
    """(in, out) of every MatMul of the graph whose second operand is an initializer (a weight)."""
    graph = onnx.load(str(graph_path)).graph
    weights = {w.name: tuple(w.dims) for w in graph.initializer}
    return [weights[n.input[1]] for n in graph.node
            if n.op_type == "MatMul" and len(weights.get(n.input[1], ())) == 2]


def products_graph(shapes: list[tuple[int, int]], path: Path) -> Path:
    """A graph of one MatMul + bias Add per shape, each on its own input ``x{i}`` (B, T, in)."""
    rng = np.random.default_rng(0)
    nodes, inits, inputs, outputs = [], [], [], []
    for i, (a, b) in enumerate(shapes):
        # symbolic B and T, as the encoder's (B, T, D): with 2-D or fixed-shape inputs onnxruntime fuses an fp32
        # MatMul and its bias Add into a Gemm, which it does not in the encoder; and an input of its own, as in
        # the encoder, so that int8 quantizes each product's activations (one input shared by several products
        # is quantized once for all of them)
        inputs.append(helper.make_tensor_value_info(f"x{i}", TensorProto.FLOAT, ["B", "T", a]))
        inits.append(numpy_helper.from_array((0.05 * rng.standard_normal((a, b))).astype(np.float32), f"w{i}"))
        inits.append(numpy_helper.from_array(np.zeros(b, np.float32), f"b{i}"))
        nodes.append(helper.make_node("MatMul", [f"x{i}", f"w{i}"], [f"m{i}"]))
        nodes.append(helper.make_node("Add", [f"m{i}", f"b{i}"], [f"y{i}"]))
        outputs.append(helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, ["B", "T", b]))
    model = helper.make_model(helper.make_graph(nodes, "products", inputs, outputs, inits),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _step_feeds(cfg: EncoderConfig, chunk: int, left_chunks: int, batch: int = 1) -> dict[str, np.ndarray]:
    """Inputs of one step for ``batch`` streams, each with a full cache (as the server batches them)."""
    rng = np.random.default_rng(0)
    size = chunk * left_chunks
    shapes = {"attn_k": (batch, cfg.n_heads, size, cfg.head_dim), "attn_v": (batch, cfg.n_heads, size, cfg.head_dim),
              "conv": (batch, cfg.d_model, cfg.conv_kernel - 1)}  # one layer's (B, H, L, Dh), (B, D, K-1)
    feeds = {"feats": rng.standard_normal((batch, 4 * chunk + 3, cfg.input_dim)).astype(np.float32),  # (B, T, F)
             "offset": np.full(batch, 1000), "cache_len": np.full(batch, size)}
    for name in CACHES:
        for i in range(cfg.n_layers):
            feeds[f"{name}.{i}"] = rng.standard_normal(shapes[name]).astype(np.float32)
    return feeds


def best_call_seconds(runs: dict[str, tuple[ort.InferenceSession, dict]], calls: int = 50, rounds: int = 15
                      ) -> dict[str, float]:
    """Seconds per call of each session, best of ``rounds``; the sessions take turns, so drift hits all alike."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, (sess, feeds) in runs.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                sess.run(None, feeds)
            best[name] = min(best[name], (time.perf_counter() - t0) / calls)
    return best


def int8_bound(fp32: Path, int8: Path, cfg: EncoderConfig, tmp: Path, chunk: int = 8, left_chunks: int = 8,
               batch: int = 16) -> dict[str, float]:
    """Per-step milliseconds of the whole graphs, of their weight products, and of the rest; and per
    stream, of a step that carries ``batch`` streams at once."""
    shapes = weight_matmul_shapes(fp32)
    p32 = products_graph(shapes, tmp / "products.onnx")
    p8 = quantize_int8(p32, tmp / "products.int8.onnx")
    rng = np.random.default_rng(1)
    x = {f"x{i}": rng.standard_normal((1, chunk, a)).astype(np.float32) for i, (a, _) in enumerate(shapes)}  # (1, T, in)
    step = _step_feeds(cfg, chunk, left_chunks)
    ms = {k: 1e3 * v for k, v in best_call_seconds({
        "step_fp32": (ort_session(fp32), step), "step_int8": (ort_session(int8), step),
        "products_fp32": (ort_session(p32), x), "products_int8": (ort_session(p8), x)}).items()}
    many = _step_feeds(cfg, chunk, left_chunks, batch)
    for name, sec in best_call_seconds({"fp32": (ort_session(fp32), many), "int8": (ort_session(int8), many)},
                                       calls=10).items():
        ms[f"batched_step_{name}"] = 1e3 * sec / batch  # per stream
    ms["batch"] = batch
    ms["products"] = len(shapes)
    ms["rest_fp32"] = ms["step_fp32"] - ms["products_fp32"]  # what quantization leaves alone
    ms["rest_int8"] = ms["step_int8"] - ms["products_int8"]  # the same nodes, as onnxruntime runs the int8 graph
    ms["rest_for_2x"] = ms["products_fp32"] - 2 * ms["products_int8"]  # the most the rest may take for 2x
    return ms
