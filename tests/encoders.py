"""A small random Conformer and a chunk-by-chunk runner, shared by the encoder and backend tests."""

import torch

from streamasr.encoder import ConformerEncoder, EncoderConfig

CFG = EncoderConfig(d_model=64, n_heads=4, n_layers=3, conv_kernel=5, subsample_channels=8, vocab_size=11)


def make_encoder(seed: int = 0) -> ConformerEncoder:
    torch.manual_seed(seed)
    return ConformerEncoder(CFG).eval()


def stream(enc: ConformerEncoder, feats: torch.Tensor, chunk: int, left: int):
    """Run (1, T, F) features chunk by chunk; return log-probs and the states seen."""
    state = enc.init_state(chunk, left)
    win, hop = enc.chunk_window(chunk)
    outs, states, start = [], [], 0
    while start + win <= feats.shape[1]:
        y, state = enc.forward_chunk(feats[:, start : start + win], state)
        outs.append(y)
        states.append(state)
        start += hop
    rest = feats[:, start:]
    if rest.shape[1] >= 7:
        y, state = enc.forward_chunk(rest, state)
        outs.append(y)
    return torch.cat(outs, dim=1), states
