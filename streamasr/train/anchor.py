"""Fine-tuning without forgetting: a frozen model (the anchor) whose outputs the trained one is held to.

On the utterances of the manifests the recipe names (the data the anchor learned, say), each batch adds
``anchor_weight`` x KL(anchor || model) per frame, both under the batch's own chunk mask; the anchor sees
the batch's features as the run does, SpecAugment's masks included (``anchor_masked``; without them,
as stage 23 ran, the model is asked to match from masked frames the spikes computed from whole ones,
and the term stays twice as large). The other manifests' utterances (the new voices) are learned by
the CTC loss alone. Neither form kept the seen voices where the anchor had them (docs/model-history.md,
stages 23 and 24). The anchor may be any model with the run's features and tokens: the one
fine-tuning starts from, or a larger one to distil.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from streamasr.model import AcousticModel, ModelError, load_model
from streamasr.tokens import Tokenizer
from streamasr.train.config import TrainConfig


@dataclass(frozen=True)
class Anchor:
    model: AcousticModel  # frozen, in eval mode, on the training device
    weight: float  # of its term beside the CTC loss
    masked: bool  # it sees SpecAugment's masks, as the run does
    chosen: torch.Tensor  # (N,) bool, one per utterance of the feature cache: does it get the term


def anchored_utterances(sources: list[str], names: tuple[str, ...]) -> list[bool]:
    """Which utterances get the anchor's term, from the manifest each came from (no names: all).

    >>> anchored_utterances(["a", "a", "b", "c"], ("a", "c"))
    [True, True, False, True]
    >>> anchored_utterances(["a", "b"], ())
    [True, True]
    """
    return [not names or s in names for s in sources]


def load_anchor(cfg: TrainConfig, tok: Tokenizer, sources: list[str], device) -> Anchor | None:
    """The recipe's anchor, or None; ``sources`` names each training utterance's manifest, in cache order."""
    if not cfg.anchor_from:
        if cfg.anchor_weight or cfg.anchor_manifests:
            raise ModelError("anchor_weight and anchor_manifests need anchor_from, the model to hold the run to")
        return None
    if cfg.anchor_weight <= 0:
        raise ModelError("anchor_from needs anchor_weight > 0, the weight of its term beside the CTC loss")
    unknown = sorted(set(cfg.anchor_manifests) - set(cfg.train_manifests))
    if unknown:
        raise ModelError(f"anchor_manifests must be among train_manifests; these are not: {unknown}")
    model, anchor_tok = load_model(Path(cfg.anchor_from))
    if anchor_tok.tokens != tok.tokens:
        raise ModelError(f"anchor_from {cfg.anchor_from}: its tokens differ from this run's")
    if model.feature_cfg != cfg.feature:
        raise ModelError(f"anchor_from {cfg.anchor_from}: its features {model.feature_cfg} differ from this "
                         f"config's {cfg.feature}")
    model.to(device).eval().requires_grad_(False)
    chosen = torch.tensor(anchored_utterances(sources, cfg.anchor_manifests))
    return Anchor(model, cfg.anchor_weight, cfg.anchor_masked, chosen)


@torch.no_grad()
def anchor_logp(anchor: Anchor, feats: torch.Tensor, masked: torch.Tensor | None, lengths: torch.Tensor, chunk: int,
                left: int, device, amp) -> torch.Tensor:
    """The anchor's log-probs (B, T', V) for raw log-mel ``feats`` (B, T, F), normalized by its own CMVN and,
    if ``anchor.masked``, masked where ``masked`` (B, T, F) is True (SpecAugment's, as ``to_model`` masks)."""
    x = anchor.model.normalize(feats.to(device))
    if anchor.masked and masked is not None:
        x = x.masked_fill(masked.to(device), 0.0)
    with amp:
        logp, _ = anchor.model(x, lengths, chunk, left)
    return logp.float()
