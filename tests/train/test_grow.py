"""A grown model computes what the model it grew from computed, streaming and offline."""

import torch

from streamasr.model import load_model
from streamasr.train.grow import grow


def test_grown_model_keeps_the_function_and_the_old_weights():
    model, _ = load_model("streamasr/assets/model")  # the bundled, trained model
    grown = grow(model, 2)
    assert grown.encoder.cfg.n_layers == model.encoder.cfg.n_layers + 2
    assert torch.equal(grown.encoder.layers[0].ff1[1].weight, model.encoder.layers[0].ff1[1].weight)
    assert grown.encoder.layers[-1].ff1[1].weight.abs().sum() > 0  # new branches open from their inner layers
    torch.manual_seed(0)
    feats, lengths = 3 * torch.randn(2, 300, 80), torch.tensor([300, 250])  # (B, T, F), (B,)
    model.eval(), grown.eval()
    with torch.no_grad():
        for chunk in (0, 8):
            a, _ = model.encoder(feats, lengths, chunk, 8)  # (B, T', V)
            b, _ = grown.encoder(feats, lengths, chunk, 8)
            assert (a - b).abs().max() < 1e-3
    assert grow(model, 0) is model
