"""The Conformer: chunk by chunk with caches equals the full forward under the same chunk mask."""

import pytest
import torch

from encoders import CFG, make_encoder, stream


@pytest.mark.parametrize("chunk,left", [(4, -1), (4, 0), (4, 2), (8, 1), (1, 3), (16, -1)])
def test_chunked_equals_full_forward_under_same_mask(chunk, left):
    enc = make_encoder()
    feats = torch.randn(1, 4 * 37 + 5, 80)  # ends in a partial chunk
    with torch.no_grad():
        full, n = enc(feats, torch.tensor([feats.shape[1]]), chunk=chunk, left_chunks=left)
    streamed, _ = stream(enc, feats, chunk, left)
    assert streamed.shape == full.shape
    assert (streamed - full).abs().max().item() <= 1e-4


@pytest.mark.parametrize("chunk,left", [(8, 8), (4, -1), (16, 2)])
def test_bundled_encoder_chunked_equals_full_forward_on_speech(bundled_rec, tmp_path, chunk, left):
    """The same equivalence for the bundled model (its own size and kernel) on synthesized speech."""
    from speech import HELD_OUT_SENTENCES, espeak

    model = bundled_rec.model
    samples = espeak(HELD_OUT_SENTENCES[0], tmp_path / "s.wav")
    feats = model.normalize(bundled_rec.features.logmel(torch.from_numpy(samples)))[None]  # (1, T, F)
    with torch.no_grad():
        full, _ = model.encoder(feats, torch.tensor([feats.shape[1]]), chunk=chunk, left_chunks=left)
        streamed, _ = stream(model.encoder, feats, chunk, left)
    assert streamed.shape == full.shape
    assert (streamed - full).abs().max().item() <= 1e-4


def test_full_context_differs_from_chunked():
    """The mask must matter, or the equivalence test above proves nothing."""
    enc = make_encoder()
    feats = torch.randn(1, 200, 80)
    lengths = torch.tensor([200])
    with torch.no_grad():
        full, _ = enc(feats, lengths)
        chunked, _ = enc(feats, lengths, chunk=4, left_chunks=1)
    assert (full - chunked).abs().max().item() > 1e-3


def test_padded_batch_matches_single():
    enc = make_encoder()
    a, b = torch.randn(1, 120, 80), torch.randn(1, 90, 80)
    batch = torch.zeros(2, 120, 80)
    batch[0], batch[1, :90] = a[0], b[0]
    with torch.no_grad():
        ya, _ = enc(a, torch.tensor([120]), chunk=4, left_chunks=2)
        yb, nb = enc(b, torch.tensor([90]), chunk=4, left_chunks=2)
        yy, ny = enc(batch, torch.tensor([120, 90]), chunk=4, left_chunks=2)
    assert ny.tolist() == [ya.shape[1], yb.shape[1]]
    assert torch.allclose(yy[0], ya[0], atol=1e-5)
    assert torch.allclose(yy[1, : yb.shape[1]], yb[0], atol=1e-5)


def test_cache_stays_bounded_over_long_stream():
    enc = make_encoder()
    chunk, left = 4, 2
    feats = torch.randn(1, 4 * chunk * 300 + 3, 80)  # 300 chunks
    _, states = stream(enc, feats, chunk, left)
    sizes = {s.attn_k.shape[3] for s in states[left:]}
    assert sizes == {left * chunk}
    assert states[-1].offset == 300 * chunk
    assert states[-1].conv.shape[-1] == CFG.conv_kernel - 1


def test_positions_far_into_a_stream_are_finite():
    enc = make_encoder()
    state = enc.init_state(4, 1)
    state.offset = 25 * 3600 * 10  # ten hours of 40 ms frames
    y, state = enc.forward_chunk(torch.randn(1, 19, 80), state)
    assert torch.isfinite(y).all()
    assert state.offset == 25 * 3600 * 10 + 4


@pytest.mark.parametrize("left", [-1, 0, 2])
def test_batched_streams_at_different_points_equal_each_stream_alone(left):
    """Streams that started at different times (different offsets and cache lengths) in one call."""
    enc = make_encoder()
    chunk = 4
    win, hop = enc.chunk_window(chunk)
    torch.manual_seed(1)
    feats = [torch.randn(1, hop * k + win, 80) for k in (0, 1, 3, 6)]  # 1, 2, 4 and 7 chunks long
    alone, states = [], []
    for f in feats:  # run every stream alone up to its last chunk
        state, start = enc.init_state(chunk, left), 0
        while start + win < f.shape[1]:
            _, state = enc.forward_chunk(f[:, start : start + win], state)
            start += hop
        states.append(state)
        y, end_state = enc.forward_chunk(f[:, start : start + win], state)
        alone.append((y, end_state))
    batch = torch.cat([f[:, -win:] for f in feats])  # (4, win, F): every stream's last chunk
    y, new_states = enc.forward_chunks(batch, states)
    for i, (ya, sa) in enumerate(alone):
        assert (y[i : i + 1] - ya).abs().max() <= 1e-5
        assert new_states[i].offset == sa.offset
        assert new_states[i].attn_k.shape == sa.attn_k.shape
        assert torch.allclose(new_states[i].attn_k, sa.attn_k, atol=1e-5)
        assert torch.allclose(new_states[i].attn_v, sa.attn_v, atol=1e-5)
        assert torch.allclose(new_states[i].conv, sa.conv, atol=1e-5)


def test_depthwise_product_equals_the_convolution():
    """Streaming chunks take the unfolded product instead of the convolution; both compute the same."""
    conv = make_encoder().layers[0].conv
    y = torch.randn(3, CFG.d_model, CFG.conv_kernel - 1 + 8)  # (B, D, K-1+T): one chunk of 8 frames
    with torch.no_grad():
        product = conv._depthwise(y)
    assert product.shape == (3, CFG.d_model, 8)
    assert (product - conv.dw(y)).abs().max().item() <= 1e-5
