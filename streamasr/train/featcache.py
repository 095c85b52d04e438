"""Precomputed (and waveform-augmented) features, so training epochs cost only the network."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from streamasr.audio import load_audio
from streamasr.data.augment import AugmentConfig, augment_waveform
from streamasr.data.manifest import Utterance
from streamasr.features import FeatureConfig, LogMel


class StaleCache(ValueError):
    """A cache folder made from other utterances or settings than the ones asked for."""


class FeatureCache:
    """feats.npy (N, F) float16, all utterances end to end, and index.json (offset, length, text)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        index = json.loads((self.folder / "index.json").read_text())
        self.offsets = index["offsets"]
        self.lengths = index["lengths"]
        self.texts = index["texts"]
        self.made_from = index.get("made_from")  # build_cache's fingerprint; None in caches made before it
        self.feats = np.load(self.folder / "feats.npy", mmap_mode="r")

    def __len__(self) -> int:
        return len(self.lengths)

    def get(self, i: int) -> torch.Tensor:
        o = self.offsets[i]
        return torch.from_numpy(np.asarray(self.feats[o : o + self.lengths[i]], dtype=np.float32))  # (T, F)

    def stats(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Global mean and inverse standard deviation per bin, (F,) each."""
        step = max(1, self.feats.shape[0] // 200_000)
        sample = torch.from_numpy(np.asarray(self.feats[::step], dtype=np.float32))
        return sample.mean(0), 1.0 / sample.std(0).clamp_min(1e-3)


_logmel: LogMel | None = None


def _extract(args: tuple[str, int, FeatureConfig, AugmentConfig, float]) -> np.ndarray:
    global _logmel
    path, seed, fcfg, acfg, p_aug = args
    if _logmel is None:
        torch.set_num_threads(1)
        _logmel = LogMel(fcfg)
    x = load_audio(path, fcfg.sample_rate)
    rng = np.random.default_rng(seed)
    if rng.random() < p_aug:
        x = augment_waveform(x, acfg, rng)
    with torch.no_grad():
        return _logmel(torch.from_numpy(x)).numpy().astype(np.float16)  # (T, F)


# AugmentConfig's fields added after caches were made, at the values that leave the features as they were:
# left out of the fingerprint at those values, so that the caches made before them still match
_ADDED_LATER = {"p_gsm": 0.0, "p_lead_noise": 0.0, "lead_noise_s": (0.5, 6.0)}


def _fingerprint(utts: list[Utterance], fcfg: FeatureConfig, acfg: AugmentConfig, p_augment: float, seed: int) -> str:
    """A digest of everything the cached features depend on: the utterances, in order, and the settings."""
    augment = {k: v for k, v in dataclasses.asdict(acfg).items() if k not in _ADDED_LATER or v != _ADDED_LATER[k]}
    what = [[str(u.audio), u.text] for u in utts], dataclasses.asdict(fcfg), augment, p_augment, seed
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:16]


def build_cache(utts: list[Utterance], folder: Path, fcfg: FeatureConfig, acfg: AugmentConfig,
                p_augment: float, seed: int, jobs: int = 2) -> FeatureCache:
    folder = Path(folder)
    made_from = _fingerprint(utts, fcfg, acfg, p_augment, seed)
    if (folder / "index.json").is_file():
        cache = FeatureCache(folder)
        if cache.made_from not in (None, made_from):  # caches older than the fingerprint are trusted
            raise StaleCache(f"the features in {folder} were made from other utterances or settings; "
                             "remove that folder to make them again")
        return cache
    folder.mkdir(parents=True, exist_ok=True)
    args = [(str(u.audio), seed * 1_000_003 + i, fcfg, acfg, p_augment) for i, u in enumerate(utts)]
    chunks, lengths = [], []
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:  # fork + torch threads can deadlock
        for f in tqdm(pool.imap(_extract, args, chunksize=16), total=len(args), desc=f"features {folder.name}"):
            chunks.append(f)
            lengths.append(len(f))
    feats = np.concatenate(chunks)
    np.save(folder / "feats.npy", feats)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).tolist()
    (folder / "index.json").write_text(json.dumps({"offsets": offsets, "lengths": lengths,
                                                   "texts": [u.text for u in utts], "made_from": made_from}))
    return FeatureCache(folder)


def bucket_batches(lengths: list[int], max_frames: int, rng: np.random.Generator) -> list[list[int]]:
    """Group utterances of similar length so a batch holds at most ``max_frames`` padded frames.

    >>> bucket_batches([10, 11, 50, 12], 40, np.random.default_rng(0)) in ([[0, 1, 3], [2]], [[2], [0, 1, 3]])
    True
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches, cur = [], []
    for i in order:
        if cur and lengths[i] * (len(cur) + 1) > max_frames:
            batches.append(cur)
            cur = []
        cur.append(i)
    if cur:
        batches.append(cur)
    rng.shuffle(batches)
    return batches
