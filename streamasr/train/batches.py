"""Training batches, from the feature cache to what the model trains on, made in the training loop or,
for a GPU that the loop alone cannot keep busy, in worker processes beside it.

In the loop (``prep_workers`` 0, the default) every batch draws its augmentation from the run's one
generator, in the order the recipe always drew it. Workers cannot share a generator: there each batch
has its own, seeded by the run's seed, the epoch, the rank and the batch's place, so the batches do
not depend on how many workers make them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from streamasr.data.augment import lead_silence, spec_masks, spectral_eq, vtlp
from streamasr.model import AcousticModel
from streamasr.tokens import Tokenizer
from streamasr.train.config import TrainConfig
from streamasr.train.featcache import FeatureCache


@dataclass(frozen=True)
class Batch:
    """One batch on the CPU, augmented but for its normalization (the model's CMVN) and masking."""

    feats: torch.Tensor  # (B, T, F) raw log-mel, warped and coloured
    lengths: torch.Tensor  # (B,) frames
    targets: torch.Tensor  # (sum of U,) token ids of every utterance, end to end
    target_lengths: torch.Tensor  # (B,) U
    masked: torch.Tensor | None  # (B, T, F) SpecAugment's bands and spans, True where masked (None: off)


def collate(cache: FeatureCache, ids: list[int], tok: Tokenizer):
    """feats (B, T, F) zero-padded, lengths (B,), concatenated token ids, their lengths (B,)."""
    feats = [cache.get(i) for i in ids]
    lengths = torch.tensor([len(f) for f in feats])
    x = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)  # (B, T, F)
    targets = [torch.tensor(tok.encode(cache.texts[i])) for i in ids]
    tlen = torch.tensor([len(t) for t in targets])
    return x, lengths, torch.cat(targets), tlen


def make_batch(cache: FeatureCache, ids: list[int], tok: Tokenizer, cfg: TrainConfig, gen: torch.Generator) -> Batch:
    """Utterances ``ids`` after a silence (``lead_silence``), warped (VTLP), coloured (EQ) and their SpecAugment
    masks drawn, from ``gen``."""
    x, lengths, targets, tlen = collate(cache, ids, tok)  # (B, T, F)
    silence = round(cfg.lead_silence_s * 1000 / cfg.feature.hop_ms)  # frames
    x, lengths = lead_silence(x, lengths, cfg.lead_silence, silence, cfg.feature.log_floor, gen)  # (B, T', F)
    x = vtlp(x, *cfg.vtlp, cfg.feature.sample_rate, gen)  # on raw log-mel, before CMVN
    x = spectral_eq(x, cfg.eq_db, cfg.feature.log_floor, gen)
    masked = spec_masks(lengths, x.shape[1], x.shape[2], gen) if cfg.spec_augment else None
    return Batch(x, lengths, targets, tlen, masked)


def to_model(batch: Batch, model: AcousticModel, device: torch.device):
    """feats (B, T, F) on ``device``, normalized by the model's CMVN (buffers where the model is) and masked;
    lengths, targets and target lengths stay on the CPU."""
    x = model.normalize(batch.feats.to(device))
    if batch.masked is not None:
        x = x.masked_fill(batch.masked.to(device), 0.0)
    return x, batch.lengths, batch.targets, batch.target_lengths


def batch_seed(seed: int, epoch: int, rank: int, index: int) -> int:
    """The generator seed of one batch made by a worker.

    >>> batch_seed(0, 0, 0, 1) == batch_seed(0, 0, 0, 1) != batch_seed(0, 0, 0, 2)
    True
    """
    return int.from_bytes(hashlib.sha256(f"{seed}:{epoch}:{rank}:{index}".encode()).digest()[:8], "little")


class EpochBatches(torch.utils.data.Dataset):
    """An epoch's batches for the workers, each made with a generator of its own (``batch_seed``)."""

    def __init__(self, cache: FeatureCache, batches: list[list[int]], tok: Tokenizer, cfg: TrainConfig, epoch: int,
                 rank: int):
        self.cache, self.batches, self.tok, self.cfg, self.epoch, self.rank = cache, batches, tok, cfg, epoch, rank

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> Batch:
        gen = torch.Generator().manual_seed(batch_seed(self.cfg.seed, self.epoch, self.rank, k))
        return make_batch(self.cache, self.batches[k], self.tok, self.cfg, gen)


def epoch_batches(cache: FeatureCache, batches: list[list[int]], tok: Tokenizer, cfg: TrainConfig,
                  gen: torch.Generator, epoch: int, rank: int) -> Iterator[Batch]:
    """The batches of one epoch in order: made here from ``gen``, or by ``cfg.prep_workers`` processes."""
    if cfg.prep_workers == 0:
        for ids in batches:
            yield make_batch(cache, ids, tok, cfg, gen)
        return
    yield from torch.utils.data.DataLoader(EpochBatches(cache, batches, tok, cfg, epoch, rank), batch_size=None,
                                           num_workers=cfg.prep_workers, prefetch_factor=4)
