"""A deeper model from a trained one: new Conformer blocks after the last, the same function at first."""

from __future__ import annotations

import dataclasses

import torch

from streamasr.model import AcousticModel


def grow(model: AcousticModel, layers: int) -> AcousticModel:
    """``model`` with ``layers`` new blocks after its last, computing what it computed.

    Each new block's residual branches end in zeroed projections (the two feed-forward halves' second
    layers, attention's output, the convolution's last pointwise layer), so the block is its final
    LayerNorm alone. The old last block's final norm hands on its normalized input (gain 1, bias 0), as do
    the new ones but the last, which takes the old gain and bias: a LayerNorm of an already normalized
    frame is that frame (up to LayerNorm's epsilon), so the output is the old model's. Training then
    opens the new branches from zero."""
    if layers <= 0:
        return model
    old = model.encoder.cfg.n_layers
    grown = AcousticModel(model.feature_cfg, dataclasses.replace(model.encoder.cfg, n_layers=old + layers))
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("encoder.layers.") for k in missing), (missing, unexpected)
    blocks = grown.encoder.layers
    with torch.no_grad():
        for block in blocks[old:]:
            for last in (block.ff1[4], block.attn.out, block.conv.pw2, block.ff2[4]):
                last.weight.zero_()
                last.bias.zero_()
        gain, bias = blocks[old - 1].final_norm.weight.clone(), blocks[old - 1].final_norm.bias.clone()
        for block in blocks[old - 1 : -1]:
            block.final_norm.weight.fill_(1.0)
            block.final_norm.bias.zero_()
        blocks[-1].final_norm.weight.copy_(gain)
        blocks[-1].final_norm.bias.copy_(bias)
    return grown
