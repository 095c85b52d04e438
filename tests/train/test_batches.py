"""Training batches: the loop's batches as the recipe always made them, workers' batches independent of how
many workers make them, and every batch on the model's device."""

import json
import random

import pytest
import torch

from speech import espeak
from streamasr.data.augment import AugmentConfig, spec_masks, spectral_eq, vtlp
from streamasr.data.manifest import read_manifest
from streamasr.encoder import EncoderConfig
from streamasr.features import FeatureConfig
from streamasr.model import AcousticModel
from streamasr.tokens import Tokenizer
from streamasr.train.batches import EpochBatches, collate, epoch_batches, make_batch, to_model
from streamasr.train.config import TrainConfig
from streamasr.train.featcache import build_cache
from streamasr.train.recipe import full_context, pick_chunk

TEXTS = ["let there be light", "and there was light", "the lord is my shepherd", "in the beginning",
         "and god saw the light", "that it was good"]
SHAPE = EncoderConfig(d_model=32, n_heads=2, n_layers=1, conv_kernel=5, subsample_channels=4, vocab_size=29)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("corpus")
    with open(folder / "train.jsonl", "w") as f:
        for i, text in enumerate(TEXTS):
            samples = espeak(text, folder / f"{i}.wav", voice="en-us" if i % 2 else "en-gb")
            f.write(json.dumps({"audio": f"{i}.wav", "duration": len(samples) / 16000, "text": text}) + "\n")
    return build_cache(read_manifest(folder / "train.jsonl"), folder / "feats", FeatureConfig(), AugmentConfig(),
                       0.5, 0, jobs=1)


def config(**kw) -> TrainConfig:
    return TrainConfig(train_manifests=(), out="x", vtlp=(0.85, 1.3), eq_db=10.0, **kw)


def test_the_loop_makes_the_batches_it_always_made(cache):
    """In the loop, a batch draws VTLP, EQ and SpecAugment from the run's generator in the recipe's old order:
    the reference is that code, as it was before batches.py."""
    tok, cfg = Tokenizer.characters(), config()
    model = AcousticModel(FeatureConfig(), SHAPE)
    model.cmvn_mean.copy_(torch.full((80,), -5.0))
    model.cmvn_istd.copy_(torch.full((80,), 0.3))
    ids = [0, 2, 5]
    gen, ref_gen = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    x, lengths, targets, tlen = to_model(make_batch(cache, ids, tok, cfg, gen), model, torch.device("cpu"))
    rx, rlengths, rtargets, rtlen = collate(cache, ids, tok)
    rx = vtlp(rx, *cfg.vtlp, 16000, ref_gen)
    rx = spectral_eq(rx, cfg.eq_db, cfg.feature.log_floor, ref_gen)
    rx = model.normalize(rx).masked_fill(spec_masks(rlengths, rx.shape[1], rx.shape[2], ref_gen), 0.0)
    assert torch.allclose(x, rx, atol=1e-5) and (x == 0).any()
    assert torch.equal(lengths, rlengths) and torch.equal(targets, rtargets) and torch.equal(tlen, rtlen)
    assert torch.equal(gen.get_state(), ref_gen.get_state())  # no draw more or less


def test_lead_silence_puts_a_pause_before_some_utterances(cache):
    """With ``lead_silence`` each utterance may follow up to ``lead_silence_s`` of digital silence: its frames
    unchanged after the pause, its length grown by the pause, the pause at the log floor, where EQ leaves it."""
    import math

    tok = Tokenizer.characters()
    cfg = TrainConfig(train_manifests=(), out="x", spec_augment=False, lead_silence=1.0, lead_silence_s=0.5)
    ids = list(range(len(TEXTS)))
    batch = make_batch(cache, ids, tok, cfg, torch.Generator().manual_seed(3))
    x, lengths, _, _ = collate(cache, ids, tok)  # (B, T, F)
    grown = (batch.lengths - lengths).tolist()
    assert all(1 <= k <= 50 for k in grown) and len(set(grown)) > 1
    for i, k in enumerate(grown):
        n = int(lengths[i])
        assert torch.all(batch.feats[i, :k] == math.log(cfg.feature.log_floor))
        assert torch.equal(batch.feats[i, k : k + n], x[i, :n])


def test_workers_make_the_same_batches_however_many(cache):
    tok = Tokenizer.characters()
    batches = [[0, 1], [2], [3, 4, 5], [1, 3]]
    direct = EpochBatches(cache, batches, tok, config(prep_workers=1), epoch=2, rank=0)
    made = {n: list(epoch_batches(cache, batches, tok, config(prep_workers=n), torch.Generator(), 2, 0))
            for n in (1, 2)}
    for k in range(len(batches)):
        want = direct[k]
        for n in (1, 2):
            got = made[n][k]
            assert torch.equal(got.feats, want.feats) and torch.equal(got.masked, want.masked)
            assert torch.equal(got.targets, want.targets)
    other_epoch = EpochBatches(cache, batches, tok, config(prep_workers=1), epoch=3, rank=0)[0]
    assert not torch.equal(other_epoch.feats, direct[0].feats)  # a new epoch, new draws


def test_a_batch_goes_where_the_model_is(cache):
    """A GPU run keeps the model on the GPU and the feature cache on the CPU: each batch must cross over
    before it meets the model's CMVN, and the encoder's masks must be made where its input is. The meta
    device (shapes, no data) stands in for a GPU: a tensor left on the CPU there fails as on a GPU."""
    tok, cfg = Tokenizer.characters(), config()
    meta = torch.device("meta")
    model = AcousticModel(FeatureConfig(), SHAPE).to(meta)
    x, lengths, _, _ = to_model(make_batch(cache, [0, 1, 2], tok, cfg, torch.Generator().manual_seed(0)), model, meta)
    assert x.device == meta and x.shape[0] == 3 and lengths.device.type == "cpu"
    for chunk, left in [(0, -1), (4, 2), pick_chunk(random.Random(0), cfg)]:
        logp, olen = model(x, lengths, chunk, left)  # (B, T', V)
        assert logp.device == meta and olen.device == meta and logp.shape[-1] == len(tok)
    assert full_context(model, x, lengths, meta, torch.autocast("cpu", enabled=False)).device == meta


def test_a_step_under_bf16_autocast(cache):
    """A GPU run computes the encoder under bf16 autocast; the CPU's autocast applies the same casting rules,
    so a step that mixes dtypes where it must not fails here too."""
    from streamasr.train.anchor import Anchor, anchor_logp
    from streamasr.train.recipe import batch_loss, distillation_loss

    tok, cfg = Tokenizer.characters(), config()
    model = AcousticModel(FeatureConfig(), SHAPE)
    raw = make_batch(cache, [0, 1, 2, 3], tok, cfg, torch.Generator().manual_seed(1))
    batch = to_model(raw, model, torch.device("cpu"))
    amp = torch.autocast("cpu", dtype=torch.bfloat16)
    anchor = Anchor(AcousticModel(FeatureConfig(), SHAPE).eval(), 1.0, True, torch.tensor([True, False, True, True]))
    for chunk, left, distill in [(0, -1, 0.0), (4, 2, 0.5)]:
        model.zero_grad()
        loss, kd, logp, olen = batch_loss(model, model, batch, chunk, left, distill, torch.device("cpu"), amp)
        target = anchor_logp(anchor, raw.feats, raw.masked, raw.lengths, chunk, left, torch.device("cpu"), amp)
        loss = loss + distillation_loss(logp.float(), target, olen, keep=anchor.chosen)
        loss.backward()
        assert torch.isfinite(loss) and (kd is None) == (distill == 0.0) and target.dtype == torch.float32
        assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())


def test_the_anchor_sees_what_the_model_sees(cache):
    """With ``anchor_masked`` the anchor's input is the model's own (its CMVN, then SpecAugment's masks):
    an anchor that is the model itself gives the model's log-probs; without, the unmasked features'."""
    from streamasr.train.anchor import Anchor, anchor_logp

    tok, cfg = Tokenizer.characters(), config()
    model = AcousticModel(FeatureConfig(), SHAPE).eval()
    with torch.no_grad():
        model.cmvn_mean.fill_(-5.0)  # a CMVN of its own, so normalizing twice or not at all would show
    raw = make_batch(cache, [0, 1, 2], tok, cfg, torch.Generator().manual_seed(3))
    x, lengths, _, _ = to_model(raw, model, torch.device("cpu"))
    assert raw.masked is not None and raw.masked.any()
    no_amp = torch.autocast("cpu", enabled=False)
    with torch.no_grad():
        own, _ = model(x, lengths, 4, 2)  # (B, T', V)
    for masked in (True, False):
        got = anchor_logp(Anchor(model, 1.0, masked, torch.ones(3, dtype=torch.bool)), raw.feats, raw.masked,
                          lengths, 4, 2, torch.device("cpu"), no_amp)
        assert torch.equal(got, own) == masked
