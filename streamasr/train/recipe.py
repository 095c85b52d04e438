"""`streamasr train CONFIG`: dynamic-chunk CTC training of the Conformer.

Runs on one CPU, one GPU, or many through ``torchrun`` (DDP, gloo or nccl).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import math
import os
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from streamasr.data.manifest import read_manifest
from streamasr.encoder import EncoderConfig
from streamasr.metrics import error_rate
from streamasr.model import AcousticModel, ModelError, load_model, save_model
from streamasr.train.anchor import Anchor, anchor_logp, load_anchor
from streamasr.train.average import mean_state
from streamasr.train.grow import grow
from streamasr.tokens import Tokenizer
from streamasr.train.batches import collate, epoch_batches, to_model
from streamasr.train.config import TrainConfig
from streamasr.train.featcache import FeatureCache, bucket_batches, build_cache

CONFIG_NAME = "train-config.json"  # written into the experiment folder and the exported model folder
RESUMABLE = {"max_steps", "max_minutes", "threads", "feature_jobs", "checkpoint_every", "keep_checkpoints",
             "average_last"}  # may change


class RecipeMismatch(ValueError):
    """The experiment folder holds a run made with other settings: resuming it would mix two recipes."""


def check_resumable(out: Path, settings: dict) -> None:
    """Raise ``RecipeMismatch`` if ``out`` has checkpoints of a run whose settings differ beyond ``RESUMABLE``."""
    saved = out / CONFIG_NAME
    if not saved.is_file() or not any(out.glob("ckpt-*.pt")):
        return
    old = json.loads(saved.read_text())
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}  # options newer than the saved run
    changed = sorted(k for k in settings.keys() | old.keys()
                     if k not in RESUMABLE and old.get(k, defaults.get(k)) != settings.get(k))
    if changed:
        raise RecipeMismatch(f"{out} holds checkpoints of a run with other settings ({', '.join(changed)}); "
                             "choose another 'out' folder, or remove that one to start again")


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to ``peak_lr``, then inverse square root decay.

    >>> cfg = TrainConfig(train_manifests=(), out="x", peak_lr=1.0, warmup_steps=100)
    >>> lr_at(50, cfg), lr_at(100, cfg), lr_at(400, cfg)
    (0.5, 1.0, 0.5)
    """
    step = max(step, 1)
    return cfg.peak_lr * min(step / cfg.warmup_steps, math.sqrt(cfg.warmup_steps / step))


def pick_chunk(rng: random.Random, cfg: TrainConfig) -> tuple[int, int]:
    """(chunk, left_chunks) for one batch: full context sometimes, else a random streaming setting."""
    if rng.random() < cfg.p_full_context:
        return 0, -1
    return rng.choice(cfg.chunk_choices), rng.choice(cfg.left_chunk_choices)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, lengths: torch.Tensor,
                      keep: torch.Tensor | None = None) -> torch.Tensor:
    """KL(teacher || student) per frame, summed over each utterance's frames, averaged over the batch.

    student, teacher: log-probs (B, T, V); lengths (B,) valid frames; keep (B,) bool, the utterances that
    count (None: all; the others add 0 but still count in the average). The teacher gets no gradient.

    >>> p = torch.log_softmax(torch.tensor([[[1.0, 2.0], [0.5, 0.5], [9.0, 0.0]]]), -1)  # (1, 3, 2)
    >>> float(distillation_loss(p, p, torch.tensor([2])))
    0.0
    >>> q = torch.log_softmax(torch.tensor([[[2.0, 1.0], [0.5, 0.5], [0.0, 9.0]]]), -1)
    >>> round(float(distillation_loss(q, p, torch.tensor([2]))), 3)  # the third frame is padding
    0.462
    >>> float(distillation_loss(q, p, torch.tensor([2]), keep=torch.tensor([False])))
    0.0
    """
    teacher = teacher.detach()
    kl = (teacher.exp() * (teacher - student)).sum(-1)  # (B, T)
    valid = torch.arange(kl.shape[1], device=kl.device)[None, :] < lengths.to(kl.device)[:, None]  # (B, T)
    if keep is not None:
        valid = valid & keep.to(kl.device)[:, None]
    return (kl * valid).sum() / kl.shape[0]


def greedy_texts(logp: torch.Tensor, lengths: torch.Tensor, tok: Tokenizer) -> list[str]:
    # logp: (B, T, V)
    best = logp.argmax(-1)  # (B, T)
    out = []
    for b in range(best.shape[0]):
        ids = torch.unique_consecutive(best[b, : int(lengths[b])]).tolist()
        out.append(tok.decode(ids))
    return out


@torch.no_grad()
def validate(model: AcousticModel, cache: FeatureCache, tok: Tokenizer, device, chunk: int) -> float:
    model.eval()
    refs, hyps = [], []
    for ids in bucket_batches(cache.lengths, 40000, np.random.default_rng(0)):
        x, lengths, _, _ = collate(cache, ids, tok)
        logp, olen = model.encoder(model.normalize(x.to(device)), lengths, chunk=chunk, left_chunks=-1)
        hyps += greedy_texts(logp.cpu(), olen.cpu(), tok)
        refs += [cache.texts[i] for i in ids]
    model.train()
    return error_rate(refs, hyps, chars=True)


@dataclasses.dataclass(frozen=True)
class Ranks:
    """Where this process runs: alone (rank 0 of 1), or as one of ``torchrun``'s ranks."""

    rank: int  # this process's rank; rank 0 writes the log, checkpoints and model
    world: int  # processes in the run
    device: torch.device  # cuda:LOCAL_RANK where there is a GPU, else the CPU

    @property
    def distributed(self) -> bool:
        """Whether other ranks take part (DDP, collectives); not when alone."""
        return self.world > 1

    def barrier(self) -> None:
        """Wait until every rank is here (nothing to wait for alone)."""
        if self.distributed:
            dist.barrier()


def launched_by_torchrun() -> bool:
    """Whether this process is one of several ranks that ``torchrun`` started (its WORLD_SIZE above 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


@contextlib.contextmanager
def ranks() -> Iterator[Ranks]:
    """Join ``torchrun``'s process group when started by it (WORLD_SIZE > 1), and leave it at the end of the
    block once every rank is there: rank 0 has then written the model."""
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)  # NCCL runs a rank's collectives on its current device: each rank its own GPU
    if not launched_by_torchrun():
        yield Ranks(0, 1, device)
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    yield Ranks(dist.get_rank(), dist.get_world_size(), device)
    dist.barrier()  # every rank leaves together
    dist.destroy_process_group()


@dataclasses.dataclass(frozen=True)
class Data:
    """What the steps read: the tokens, the features, and the anchor's term where the recipe has one."""

    tok: Tokenizer
    cache: FeatureCache  # the training utterances' features
    valid: FeatureCache | None  # validation features (rank 0 only; None: no validation)
    anchor: Anchor | None  # the anchor model and which utterances it holds (None: no anchor)


def train(cfg: TrainConfig) -> Path:
    """Run the recipe ``cfg`` into ``cfg.out`` (resuming its last checkpoint there) and return the folder of
    the model it exports: tokens, feature cache, model (new or ``init_from``'s), the steps, then the average of
    the last checkpoints."""
    with ranks() as rk:
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        out = Path(cfg.out)
        settings = json.loads(json.dumps(dataclasses.asdict(cfg)))  # as written to and read from JSON
        check_resumable(out, settings)
        out.mkdir(parents=True, exist_ok=True)
        if rk.rank == 0:  # the resolved settings beside the results, so every model can be traced to its recipe
            (out / CONFIG_NAME).write_text(json.dumps(settings, indent=2) + "\n")

        by_manifest = [(m, read_manifest(m)) for m in cfg.train_manifests]  # the manifests, read once
        tok = _tokenizer(cfg, [u.text for _, us in by_manifest for u in us], out, rk)
        if cfg.grow_layers and not cfg.init_from:
            raise ModelError("grow_layers adds blocks to the model of init_from; a new model takes its depth from "
                             "'encoder'")
        init = init_model(Path(cfg.init_from), cfg, tok) if cfg.init_from else None  # fail before the slow part
        kept = [(m, u) for m, us in by_manifest for u in us if u.duration <= cfg.max_utt_seconds]
        anchor = load_anchor(cfg, tok, [m for m, _ in kept], rk.device)  # each kept utterance's manifest
        cache, valid = _features(cfg, [u for _, u in kept], out, rk)
        data = Data(tok, cache, valid, anchor)

        model = _new_model(cfg, tok, cache) if init is None else init
        model = model.to(rk.device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.peak_lr, betas=(0.9, 0.98),
                                weight_decay=cfg.weight_decay)
        step, epoch = _resume(out, model, opt, rk)
        if rk.rank == 0:
            n_params = sum(p.numel() for p in model.parameters())
            print(f"{len(cache)} utterances, {sum(cache.lengths) / 360000:.1f} h; model {n_params / 1e6:.2f} M params")
        _steps(cfg, rk, out, model, opt, data, step, epoch)  # its DDP wrapper is gone before the group is
        if rk.rank == 0:
            export_average(out, model, tok, cfg.average_last)
            print(f"wrote {out / 'model'}")
    return out / "model"


def _tokenizer(cfg: TrainConfig, texts: list[str], out: Path, rk: Ranks) -> Tokenizer:
    """Characters of ``texts`` (English letters first), or BPE pieces trained on them; fine-tuning keeps the
    pieces of ``init_from``'s model, whatever this text is."""
    if cfg.tokens != "bpe":
        return Tokenizer.characters(texts)  # English letters, then any other letter the text has (another language's)
    from streamasr.tokens_bpe import train_bpe

    kept = Path(cfg.init_from) / "bpe.model" if cfg.init_from and not cfg.new_tokens else None
    if rk.rank == 0 and kept is not None and kept.is_file() and not (out / "bpe.model").is_file():
        shutil.copy(kept, out / "bpe.model")
    rk.barrier()
    return train_bpe(texts, cfg.bpe_vocab, out)


def _features(cfg: TrainConfig, utts: list, out: Path, rk: Ranks) -> tuple[FeatureCache, FeatureCache | None]:
    """The training features (made by rank 0, read by all) and rank 0's validation features."""
    jobs = cfg.feature_jobs or os.cpu_count() or 1  # processes that make the feature cache
    if rk.rank == 0:
        build_cache(utts, out / "feats-train", cfg.feature, cfg.augment, cfg.p_augment, cfg.seed, jobs)
    rk.barrier()
    cache = build_cache(utts, out / "feats-train", cfg.feature, cfg.augment, cfg.p_augment, cfg.seed, jobs)
    valid = None
    if cfg.valid_manifest and rk.rank == 0:
        vutts = read_manifest(cfg.valid_manifest)[:200]
        valid = build_cache(vutts, out / "feats-valid", cfg.feature, cfg.augment, 0.0, cfg.seed, jobs)
    return cache, valid


def _new_model(cfg: TrainConfig, tok: Tokenizer, cache: FeatureCache) -> AcousticModel:
    """A fresh model of ``cfg.encoder``'s shape, its CMVN from the training features."""
    shape = cfg.encoder or EncoderConfig()
    model = AcousticModel(cfg.feature, dataclasses.replace(shape, vocab_size=len(tok)))
    mean, istd = cache.stats()
    model.cmvn_mean.copy_(mean)
    model.cmvn_istd.copy_(istd)
    return model


def _resume(out: Path, model: AcousticModel, opt: torch.optim.Optimizer, rk: Ranks) -> tuple[int, int]:
    """Load the last checkpoint in ``out`` into ``model`` and ``opt``; returns its (step, epoch), (0, 0) if none."""
    ckpts = sorted(out.glob("ckpt-*.pt"))
    if not ckpts:
        return 0, 0
    state = torch.load(ckpts[-1], map_location=rk.device, weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    if rk.rank == 0:
        print(f"resumed from {ckpts[-1].name} at step {int(state['step'])}")
    return int(state["step"]), int(state["epoch"])


def _steps(cfg: TrainConfig, rk: Ranks, out: Path, model: AcousticModel, opt: torch.optim.Optimizer, data: Data,
           step: int, epoch: int) -> None:
    """Train from ``step`` to ``cfg.max_steps`` (or ``cfg.max_minutes``), checkpointing, validating and
    logging on rank 0; every rank stops at the same step."""
    device, cache, anchor = rk.device, data.cache, data.anchor
    net = model
    if rk.distributed:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
    log = open(out / "log.csv", "a", newline="") if rk.rank == 0 else None
    writer = csv.writer(log) if log else None
    if log and log.tell() == 0:
        writer.writerow(["step", "epoch", "lr", "loss", "chunk", "left", "seconds", "valid_cer", "distill", "anchor"])
    rng = random.Random(cfg.seed + step)
    gen = torch.Generator().manual_seed(cfg.seed + step)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    start = time.time()
    model.train()
    done = False
    bar = tqdm(total=cfg.max_steps, initial=step, desc="train", disable=rk.rank != 0)
    while not done:
        batches = bucket_batches(cache.lengths, cfg.max_frames, np.random.default_rng(cfg.seed + epoch))
        batches = batches[rk.rank::rk.world][: len(batches) // rk.world]  # the same count on every rank
        for ids, batch in zip(batches, epoch_batches(cache, batches, data.tok, cfg, gen, epoch, rk.rank)):
            chunk, left = pick_chunk(rng, cfg)
            x, lengths, targets, tlen = to_model(batch, model, device)
            for g in opt.param_groups:
                g["lr"] = lr_at(step + 1, cfg)
            loss, kd, logp, olen = batch_loss(model, net, (x, lengths, targets, tlen), chunk, left, cfg.distill,
                                              device, amp)
            held = None
            if anchor is not None:  # the anchor's term, on the batch's utterances of the anchored manifests
                keep = anchor.chosen[ids]  # (B,)
                held = torch.zeros((), device=loss.device)  # a batch of other manifests' utterances alone: 0
                if keep.any():  # (and no pass of the anchor for it)
                    target = anchor_logp(anchor, batch.feats, batch.masked, lengths, chunk, left, device, amp)
                    held = distillation_loss(logp.float(), target, olen, keep=keep)  # target (B, T', V)
                    loss = loss + anchor.weight * held
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.2f}", chunk=chunk)
            elapsed = time.time() - start
            done = step >= cfg.max_steps or bool(cfg.max_minutes and elapsed > cfg.max_minutes * 60)
            if rk.distributed:  # every rank stops at the same step
                flag = torch.tensor([float(done)], device=device)  # NCCL reduces GPU tensors alone
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                done = bool(flag.item())
            cer = ""
            if step % cfg.checkpoint_every == 0 or done:
                if rk.rank == 0:
                    _checkpoint(out, model, opt, step, epoch, cfg.keep_checkpoints)
                    if data.valid is not None:
                        cer = f"{validate(model, data.valid, data.tok, device, chunk=8):.4f}"
                        print(f"step {step}: valid CER (320 ms chunks, greedy) {cer}")
            if writer and (step % 10 == 0 or cer or done):  # the last step too
                writer.writerow([step, epoch, f"{lr_at(step, cfg):.6f}", f"{loss.item():.4f}", chunk, left,
                                 f"{elapsed:.0f}", cer, "" if kd is None else f"{kd.item():.4f}",
                                 "" if held is None else f"{held.item():.4f}"])
                log.flush()
            if done:
                break
        epoch += 1
    bar.close()
    if log:
        log.close()


def batch_loss(model: AcousticModel, net: torch.nn.Module, batch: tuple, chunk: int, left: int, distill: float,
               device, amp) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """CTC loss per utterance of one batch under (chunk, left), plus ``distill`` x the distillation term on
    streaming batches; returns (loss, that term or None, log-probs (B, T', V), their lengths (B,)).
    ``net`` is ``model``, or its DDP wrapper."""
    x, lengths, targets, tlen = batch  # normalized feats (B, T, F), (B,), concatenated targets, (B,)
    with amp:
        logp, olen = net(x.to(device), lengths, chunk, left)  # (B, T', V), (B,)
    loss = F.ctc_loss(logp.float().transpose(0, 1), targets.to(device), olen, tlen.to(device),
                      blank=0, reduction="sum", zero_infinity=True) / len(lengths)
    if not (distill and chunk):
        return loss, None, logp, olen
    kd = distillation_loss(logp.float(), full_context(model, x, lengths, device, amp), olen)  # the same weights
    return loss + distill * kd, kd, logp, olen  # at full context teach the chunked pass


@torch.no_grad()
def full_context(model: AcousticModel, x: torch.Tensor, lengths: torch.Tensor, device, amp) -> torch.Tensor:
    """Log-probs (B, T', V) of normalized feats (B, T, F) at full context, without dropout or gradient."""
    model.eval()
    with amp:
        logp, _ = model(x.to(device), lengths)
    model.train()
    return logp.float()


def init_model(folder: Path, cfg: TrainConfig, tok: Tokenizer) -> AcousticModel:
    """The model in ``folder``, to fine-tune; its features must be the ones this run uses, and its tokens
    too unless ``cfg.new_tokens``, which keeps its CMVN and encoder but starts the CTC output layer afresh
    for ``tok`` (characters to BPE pieces, say, or English to another language); ``cfg.grow_layers`` new
    blocks go after its last (``grow``)."""
    model, init_tok = load_model(folder)
    if cfg.encoder is not None and dataclasses.replace(cfg.encoder, vocab_size=0) != dataclasses.replace(
            model.encoder.cfg, vocab_size=0):
        raise ModelError(f"init_from {folder}: it keeps that model's encoder {model.encoder.cfg}, and this config "
                         f"asks for another, {cfg.encoder}; leave 'encoder' out of a fine-tuning recipe")
    if model.feature_cfg != cfg.feature:
        raise ModelError(f"init_from {folder}: its features {model.feature_cfg} differ from this config's "
                         f"{cfg.feature}")
    if not cfg.new_tokens:
        if init_tok.tokens != tok.tokens:
            raise ModelError(f"init_from {folder}: its tokens differ from this run's ({cfg.tokens}); "
                             '"new_tokens": true keeps its encoder and starts a new output layer for them')
        return grow(model, cfg.grow_layers)
    fresh = AcousticModel(model.feature_cfg, dataclasses.replace(model.encoder.cfg, vocab_size=len(tok)))
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith("encoder.ctc.")}
    missing, unexpected = fresh.load_state_dict(kept, strict=False)
    assert sorted(missing) == ["encoder.ctc.bias", "encoder.ctc.weight"] and not unexpected, (missing, unexpected)
    return grow(fresh, cfg.grow_layers)


def export_average(out: Path, model: AcousticModel, tok: Tokenizer, last: int) -> Path:
    """Write ``out``/model: the average of the ``last`` checkpoints, with the recipe (and BPE model) that made it."""
    final = out / "model"
    model.load_state_dict(average_checkpoints(sorted(out.glob("ckpt-*.pt"))[-last:]))
    save_model(final, model.cpu(), tok)
    shutil.copy(out / CONFIG_NAME, final / CONFIG_NAME)
    if (out / "bpe.model").is_file():
        shutil.copy(out / "bpe.model", final / "bpe.model")
    return final


def _checkpoint(out: Path, model, opt, step: int, epoch: int, keep: int) -> None:
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "epoch": epoch},
               out / f"ckpt-{step:08d}.pt")
    for old in sorted(out.glob("ckpt-*.pt"))[:-keep]:
        old.unlink()


def average_checkpoints(paths: list[Path]) -> dict[str, torch.Tensor]:
    """Element-wise mean of the model weights in ``paths`` (loaded one at a time)."""
    return mean_state(torch.load(p, map_location="cpu", weights_only=True)["model"] for p in paths)
