"""The ONNX deployment forms: fixed-cache step == torch streaming, onnxruntime == torch, int8 still recognizes."""

import logging
import subprocess
import sys

import numpy as np
import pytest
import torch

from speech import espeak
from streamasr.backends import export_onnx_files, load_encoder
from streamasr.encoder.fixed_cache import FixedCacheStep, init_fixed_state
from streamasr.encoder.onnx import OnnxEncoder
from streamasr.events import transcript
from streamasr.metrics import error_rate
from streamasr.model import DEFAULT_MODEL, ModelError, load_model
from streamasr.recognizer import Recognizer
from encoders import make_encoder, stream

TEXT = "and god said let there be light and there was light"


def fixed_stream(step_fn, init, feats: torch.Tensor, chunk: int):
    """Run (1, T, F) features through a fixed-cache step chunk by chunk (the last one partial)."""
    state = init
    win, hop = 4 * chunk + 3, 4 * chunk
    outs, start = [], 0
    while start < feats.shape[1] - 6:
        y, state = step_fn(feats[:, start : start + win], state)
        outs.append(y)
        start += hop
    return torch.cat(outs, dim=1), state


def torch_fixed_step(enc):
    step = FixedCacheStep(enc).eval()

    def run(feats, s):
        with torch.no_grad():
            y, k, v, c = step(feats, torch.tensor([s.offset]), torch.tensor([s.cache_len]), s.attn_k, s.attn_v, s.conv)
        size = k[0].shape[2]
        return y, type(s)(s.offset + y.shape[1], min(s.cache_len + y.shape[1], size), tuple(k), tuple(v), tuple(c),
                          s.left_chunks, s.chunk)
    return run


@pytest.mark.parametrize("chunk,left", [(4, 0), (4, 2), (8, 1), (1, 3)])
def test_fixed_cache_step_equals_streaming_forward(chunk, left):
    enc = make_encoder()
    feats = torch.randn(1, 4 * 37 + 5, 80)  # ends in a partial chunk
    want, _ = stream(enc, feats, chunk, left)
    got, state = fixed_stream(torch_fixed_step(enc), init_fixed_state(enc.cfg, chunk, left), feats, chunk)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= 1e-4
    assert all(k.shape[2] == left * chunk for k in state.attn_k)  # the cache never grows


@pytest.fixture(scope="module")
def bundled():
    model, tok = load_model(DEFAULT_MODEL)
    return model


@pytest.fixture(scope="module")
def onnx_path(bundled):
    return load_encoder("onnx", bundled, DEFAULT_MODEL).path  # exported into the test run's cache


@pytest.fixture(scope="module")
def speech_feats(bundled, tmp_path_factory):
    samples = espeak(TEXT, tmp_path_factory.mktemp("wav") / "a.wav")
    from streamasr.features import LogMel

    return bundled.normalize(LogMel(bundled.feature_cfg)(torch.from_numpy(samples)))[None]  # (1, T, F)


@pytest.mark.parametrize("chunk,left", [(8, 8), (4, 2), (16, 0)])
def test_onnx_runtime_equals_torch_streaming(bundled, onnx_path, speech_feats, chunk, left):
    want, _ = stream(bundled.encoder, speech_feats, chunk, left)
    onnx = OnnxEncoder(onnx_path, bundled.encoder.cfg)
    got, _ = stream(onnx, speech_feats, chunk, left)
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= 1e-4


def test_onnx_batched_streams_at_different_points_equal_each_alone(bundled, onnx_path, speech_feats):
    onnx = OnnxEncoder(onnx_path, bundled.encoder.cfg)
    chunk, left = 4, 2
    win, hop = onnx.chunk_window(chunk)
    starts = (0, 1, 5)  # streams that have already consumed 0, 1 and 5 chunks
    states, alone = [], []
    for k in starts:
        state = onnx.init_state(chunk, left)
        for i in range(k):
            _, state = onnx.forward_chunk(speech_feats[:, i * hop : i * hop + win], state)
        states.append(state)
        alone.append(onnx.forward_chunk(speech_feats[:, k * hop : k * hop + win], state))
    batch = torch.cat([speech_feats[:, k * hop : k * hop + win] for k in starts])  # (3, win, F)
    y, new = onnx.forward_chunks(batch, states)
    for i, (ya, sa) in enumerate(alone):
        assert (y[i : i + 1] - ya).abs().max().item() <= 1e-5
        assert new[i].offset == sa.offset and new[i].cache_len == sa.cache_len
        assert len(new[i].caches) == len(sa.caches) == 3 * bundled.encoder.cfg.n_layers
        for a, b in zip(new[i].caches, sa.caches):  # forward_chunk does not batch: its own path
            assert a.shape == b.shape and np.allclose(a, b, atol=1e-5)


def test_onnx_one_chunk_without_cache_is_the_full_context_forward(bundled, onnx_path, speech_feats):
    """The final pass runs a segment as one chunk with no left context; on ONNX that must be full context."""
    n = (speech_feats.shape[1] - 3) // 4
    feats = speech_feats[:, : 4 * n + 3]  # (1, 4n+3, F)
    with torch.no_grad():
        want, _ = bundled(feats, torch.tensor([feats.shape[1]]))  # (1, n, V), no chunk mask
    onnx = OnnxEncoder(onnx_path, bundled.encoder.cfg)
    got, _ = onnx.forward_chunk(feats, onnx.init_state(n, 0))
    assert got.shape == want.shape
    assert (got - want).abs().max().item() <= 1e-4


def test_onnx_needs_a_bounded_left_context(bundled, onnx_path):
    with pytest.raises(ValueError, match="bounded left context"):
        OnnxEncoder(onnx_path, bundled.encoder.cfg).init_state(8, -1)


@pytest.mark.parametrize("backend,max_wer", [("onnx", 0.0), ("onnx-int8", 0.25)])
def test_recognizer_backends_on_real_speech(backend, max_wer, tmp_path, onnx_cache):
    samples = espeak(TEXT, tmp_path / "a.wav")
    texts = {}
    for b in ("torch", backend):
        s = Recognizer.from_pretrained(backend=b).session()
        texts[b] = transcript(s.accept(samples) + s.finish())
    assert error_rate([TEXT], [texts["torch"]]) <= 0.2, texts  # the model itself hears it
    assert error_rate([texts["torch"]], [texts[backend]]) <= max_wer, texts
    assert list((onnx_cache / "onnx").glob("*/encoder.int8.onnx"))  # exported on first use


def test_unknown_backend_is_a_model_error(bundled):
    with pytest.raises(ModelError, match="unknown backend 'tensorrt'"):
        load_encoder("tensorrt", bundled, DEFAULT_MODEL)


def test_a_graph_of_another_layout_is_a_model_error(bundled, tmp_path):
    """A folder exported by an older streamasr (one stacked cache input) gets a clear error, not onnxruntime's."""
    import onnx
    from onnx import TensorProto, helper

    old = helper.make_graph([helper.make_node("Identity", ["attn_k"], ["new_attn_k"])], "old",
                            [helper.make_tensor_value_info("attn_k", TensorProto.FLOAT, None)],
                            [helper.make_tensor_value_info("new_attn_k", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(old, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "encoder.onnx")
    with pytest.raises(ModelError, match="export it again with `streamasr export`"):
        load_encoder("onnx", bundled, tmp_path)


def test_export_cli_writes_a_deployable_folder(tmp_path):
    out = tmp_path / "deploy"
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "export", str(DEFAULT_MODEL), "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "encoder.onnx").stat().st_size > 3 * (out / "encoder.int8.onnx").stat().st_size
    wav = tmp_path / "a.wav"
    espeak(TEXT, wav)
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "transcribe", str(wav), "--model", str(out),
                        "--backend", "onnx-int8"], capture_output=True, text=True, timeout=300,
                       env={"STREAMASR_CACHE": str(tmp_path / "nocache"), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    assert error_rate([TEXT], [r.stdout.strip().splitlines()[-1]]) <= 0.3, r.stdout
    assert not (tmp_path / "nocache").exists()  # the folder's own files were used


def test_export_is_quiet_in_a_process_that_logs_at_info(tiny_model_dir, tmp_path, caplog):
    """A server process logs at INFO; its first-use export must not add the exporter's pass-by-pass notes."""
    model, _ = load_model(tiny_model_dir)
    caplog.set_level(logging.INFO)
    export_onnx_files(model, tmp_path)
    assert not [r.name for r in caplog.records if r.name.split(".")[0] in ("torch", "onnxscript", "onnx_ir")]
    assert logging.getLogger("onnxscript").level == logging.NOTSET  # put back as it was


def test_first_use_export_says_so_once(tiny_model_dir, tmp_path):
    """The half-minute first-use export of a real model is announced in one line, and only the first time."""
    import soundfile as sf

    wav = tmp_path / "noise.wav"  # loud enough that the input check has nothing to say
    sf.write(wav, (0.1 * np.random.default_rng(0).standard_normal(16000)).astype(np.float32), 16000)
    env = {"STREAMASR_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    runs = [subprocess.run([sys.executable, "-m", "streamasr.cli.main", "transcribe", str(wav), "--model",
                            str(tiny_model_dir), "--no-lm", "--backend", "onnx"], capture_output=True, text=True,
                           timeout=300, env=env) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr[-2000:]
    first = runs[0].stderr.strip().splitlines()
    assert len(first) == 1 and first[0].startswith("exporting the encoder of") and "to ONNX once" in first[0], first
    assert runs[1].stderr.strip() == ""
