"""Training configuration, read from a JSON file."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from streamasr.data.augment import AugmentConfig
from streamasr.encoder import EncoderConfig
from streamasr.features import FeatureConfig


@dataclass(frozen=True)
class TrainConfig:
    train_manifests: tuple[str, ...]  # JSON-lines manifests (audio, duration, text), paths relative to the file
    out: str  # experiment folder: features cache, checkpoints, log.csv, model/
    init_from: str = ""  # model folder to start from (fine-tuning; its encoder, tokens and CMVN are kept)
    new_tokens: bool = False  # with init_from: this run's tokens replace the model's; a new CTC output layer
    grow_layers: int = 0  # with init_from: new blocks after the model's last, the same function at first (grow.py)
    valid_manifest: str = ""  # optional; greedy CER on it is logged at each checkpoint
    feature: FeatureConfig = field(default_factory=FeatureConfig)
    encoder: EncoderConfig | None = None  # a new model's shape (None: EncoderConfig()); init_from keeps its own
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    p_augment: float = 0.7  # share of utterances that get waveform augmentation
    tokens: str = "char"  # "char" or "bpe"
    bpe_vocab: int = 256  # sentencepiece vocabulary size when tokens == "bpe"
    max_frames: int = 24000  # feature frames per batch (10 ms each), before padding
    max_utt_seconds: float = 20.0  # longer utterances are skipped
    peak_lr: float = 2e-3  # after warmup; then inverse square root decay
    warmup_steps: int = 400  # linear warmup
    weight_decay: float = 1e-3  # AdamW
    grad_clip: float = 5.0  # gradient norm clipping
    max_steps: int = 100_000  # stop after this many updates...
    max_minutes: float = 0.0  # ...or after this much wall time (0: no limit)
    chunk_choices: tuple[int, ...] = (4, 8, 16, 32)  # encoder frames per chunk in streaming batches
    left_chunk_choices: tuple[int, ...] = (-1, 2, 4, 8)  # left context in chunks (-1: all)
    p_full_context: float = 0.3  # share of batches trained without a chunk mask
    distill: float = 0.0  # weight of in-place distillation on streaming batches: KL(full context || chunked) (0: off)
    anchor_from: str = ""  # model folder held fixed, whose outputs the run is held to (anchor.py; "": off)
    anchor_weight: float = 0.0  # weight of KL(anchor || model) per utterance beside the CTC loss
    anchor_manifests: tuple[str, ...] = ()  # of train_manifests, those whose utterances get that term (empty: all)
    anchor_masked: bool = True  # the anchor sees SpecAugment's masks as the run does (False: the features before them)
    spec_augment: bool = True  # mask mel bands and time spans
    vtlp: tuple[float, float] = (1.0, 1.0)  # vocal tract length warp factor range per utterance ((1, 1): off)
    eq_db: float = 0.0  # largest peak of a smooth random gain curve over frequency per utterance, dB (0: off)
    lead_silence: float = 0.0  # chance that an utterance follows digital silence, as a stream's segments do (0: off)
    lead_silence_s: float = 1.5  # longest such silence, seconds
    checkpoint_every: int = 500  # updates between checkpoints
    keep_checkpoints: int = 5  # newest kept; the last ones are averaged into model/
    average_last: int = 3  # checkpoints averaged for the exported model
    threads: int = 0  # torch threads on CPU (0: torch's default)
    feature_jobs: int = 0  # processes that compute the feature cache (0: one per CPU core)
    prep_workers: int = 0  # processes that make batches beside the loop (0: in it, from one generator; batches.py)
    seed: int = 0

    @classmethod
    def load(cls, path: str | Path) -> "TrainConfig":
        raw = json.loads(Path(path).read_text())
        base = Path(path).parent
        sub = {"feature": FeatureConfig, "encoder": EncoderConfig, "augment": AugmentConfig}
        kwargs = {}
        for k, v in raw.items():
            if k in sub and v is not None:  # (a fine-tuning run's train-config.json has "encoder": null)
                v = sub[k](**{kk: tuple(vv) if isinstance(vv, list) else vv for kk, vv in v.items()})
            elif isinstance(v, list):
                v = tuple(v)
            kwargs[k] = v
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(kwargs) - names
        if unknown:
            raise ValueError(f"{path}: unknown training options {sorted(unknown)}")
        for key in ("out", "valid_manifest", "init_from", "anchor_from"):
            if kwargs.get(key):
                kwargs[key] = str((base / kwargs[key]).resolve())
        kwargs["train_manifests"] = tuple(str((base / m).resolve()) for m in kwargs["train_manifests"])
        if "anchor_manifests" in kwargs:
            kwargs["anchor_manifests"] = tuple(str((base / m).resolve()) for m in kwargs["anchor_manifests"])
        return cls(**kwargs)
