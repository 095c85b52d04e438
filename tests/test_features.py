import numpy as np
import torch

from streamasr.features import FeatureConfig, FeatureState, LogMel, StreamingLogMel, num_frames


def test_pieces_of_random_size_give_the_features_of_the_whole_signal():
    cfg = FeatureConfig()
    rng = np.random.default_rng(0)
    signal = torch.from_numpy(rng.standard_normal(16000 * 3).astype(np.float32) * 0.1)
    whole = LogMel(cfg)(signal)  # (T, F)
    fe, state, parts, pos = StreamingLogMel(cfg), FeatureState(), [], 0
    while pos < len(signal):
        n = int(rng.integers(1, 3000))
        frames, state = fe.accept(signal[pos : pos + n], state)
        parts.append(frames)
        pos += n
    streamed = torch.cat(parts)
    assert streamed.shape == whole.shape == (num_frames(len(signal), cfg), 80)
    assert torch.allclose(streamed, whole, atol=1e-4)
    assert len(state.leftover) < cfg.frame_length


def test_pieces_of_speech_give_the_features_of_the_whole_utterance(tmp_path):
    """The same on synthesized speech, in pieces of 317 samples (no multiple of the 160-sample hop)."""
    from speech import HELD_OUT_SENTENCES, espeak

    cfg = FeatureConfig()
    signal = torch.from_numpy(espeak(HELD_OUT_SENTENCES[1], tmp_path / "s.wav"))
    whole = LogMel(cfg)(signal)  # (T, F)
    fe, state, parts = StreamingLogMel(cfg), FeatureState(), []
    for pos in range(0, len(signal), 317):
        frames, state = fe.accept(signal[pos : pos + 317], state)
        parts.append(frames)
    streamed = torch.cat(parts)
    assert streamed.shape == whole.shape and whole.shape[0] > 100
    assert torch.allclose(streamed, whole, atol=1e-4)


def test_silence_is_finite():
    frames = LogMel(FeatureConfig())(torch.zeros(1600))
    assert torch.isfinite(frames).all()


def test_too_short_gives_no_frames():
    fe = StreamingLogMel(FeatureConfig())
    frames, state = fe.accept(torch.zeros(100), FeatureState())
    assert frames.shape == (0, 80) and len(state.leftover) == 100
