"""The model folder: config.json, tokens.txt and model.safetensors (weights + CMVN).

Loaded with safetensors, so a model folder from anywhere cannot run code.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from streamasr.encoder import ConformerEncoder, EncoderConfig
from streamasr.errors import ModelError  # defined there for the CLI, which must not import torch
from streamasr.features import FeatureConfig
from streamasr.tokens import Tokenizer

FORMAT = 1
DEFAULT_MODEL = Path(__file__).parent / "assets" / "model"
DEFAULT_LM = Path(__file__).parent / "assets" / "lm.bin"


class AcousticModel(nn.Module):
    """Global CMVN + Conformer encoder + CTC head."""

    def __init__(self, feature: FeatureConfig, encoder: EncoderConfig):
        super().__init__()
        self.feature_cfg = feature
        self.encoder = ConformerEncoder(encoder)
        self.register_buffer("cmvn_mean", torch.zeros(feature.n_mels))  # (F,)
        self.register_buffer("cmvn_istd", torch.ones(feature.n_mels))  # (F,)

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor, chunk: int = 0, left_chunks: int = -1):
        """Normalized feats (B, T, F) -> log-probs (B, T', V), lengths (B,); see ConformerEncoder.forward."""
        return self.encoder(feats, lengths, chunk, left_chunks)

    def normalize(self, feats: torch.Tensor) -> torch.Tensor:
        # feats: (..., T, F)
        return (feats - self.cmvn_mean) * self.cmvn_istd


def save_model(folder: Path, model: AcousticModel, tokenizer: Tokenizer) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "feature": dataclasses.asdict(model.feature_cfg),
              "encoder": dataclasses.asdict(model.encoder.cfg)}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    tokenizer.save(folder / "tokens.txt")
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "model.safetensors"))


def load_model(folder: Path) -> tuple[AcousticModel, Tokenizer]:
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"model folder not found: {folder}")
    for name in ("config.json", "tokens.txt", "model.safetensors"):
        if not (folder / name).is_file():
            raise ModelError(f"model folder {folder} lacks {name}")
    try:
        config = json.loads((folder / "config.json").read_text())
        if config.get("format") != FORMAT:
            raise ModelError(f"{folder}/config.json: unsupported format {config.get('format')!r}")
        feature = FeatureConfig(**config["feature"])
        encoder = EncoderConfig(**config["encoder"])
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ModelError(f"{folder}/config.json is not a valid model config: {e}") from None
    try:
        tokenizer = Tokenizer.load(folder / "tokens.txt")
    except ValueError as e:
        raise ModelError(f"{folder}/tokens.txt: {e}") from None
    if len(tokenizer) != encoder.vocab_size:
        raise ModelError(f"{folder}: tokens.txt has {len(tokenizer)} tokens but the model outputs "
                         f"{encoder.vocab_size}")
    model = AcousticModel(feature, encoder)
    try:
        state = load_file(str(folder / "model.safetensors"))
        model.load_state_dict(state)
    except Exception as e:  # safetensors raises its own error types
        raise ModelError(f"{folder}/model.safetensors does not fit config.json: {e}") from None
    return model.eval(), tokenizer
