"""`streamasr data synth`: a reproducible synthetic speech corpus with five splits.

The plan (every utterance's split, voice, text, rate and pitch) follows from the seed alone and is
written to ``plan.jsonl``; ``splits`` picks whose audio is made, so the evaluation splits of a corpus
can be made without its hours of training audio, identical to those of the whole corpus.

``train`` and ``dev`` are spoken by the training voices, ``test-seen-voices`` by them too but
with sentences used nowhere else, ``test-unseen-voices`` by voices and an engine kept out of
training. ``dev`` (for tuning the LM weights) takes sentences that no training utterance speaks
and that are left out of the LM text, so the LM knows them no better than it knows the tests'.
``dev-unseen-voices`` speaks some of dev's sentences again with the held-out voices, so that tuning can
also see how the search behaves where the model is unsure; its voices are those of ``test-unseen-voices``
(there are no others held out), its sentences are not.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
import multiprocessing
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

from streamasr.data.manifest import read_manifest
from streamasr.data.text import kjv_sentences
from streamasr.data.voices import DEFAULT_ENGINES, Voice, all_voices, is_heldout, speak

SPLITS = ("train", "dev", "test-seen-voices", "test-unseen-voices", "dev-unseen-voices")
PLAN = "plan.jsonl"  # every planned utterance of a corpus, whichever splits were synthesized


@dataclass(frozen=True)
class SynthConfig:
    out: Path  # corpus folder: wav/<split>/*.wav, <split>.jsonl, lm-text.txt
    hours: float = 10.0  # hours of training audio
    test_sentences: int = 200  # sentences in each test split
    dev_sentences: int = 500  # sentences in the dev split (training voices; not in the LM text)
    dev_unseen_sentences: int = 200  # of those, how many the held-out voices speak again (dev-unseen-voices)
    seed: int = 0  # everything below follows from it
    jobs: int = 2  # parallel synthesis processes
    words_per_second: float = 2.6  # rough speaking rate, to plan how many utterances make `hours`
    voice_draw: str = "engine"  # "engine": an engine at random, then one of its voices; "uniform": any voice
    dev_avoid: tuple[Path, ...] = ()  # manifests (or plan.jsonl: its train lines) whose sentences dev must not use
    train_avoid: tuple[Path, ...] = ()  # manifests (or plan.jsonl: its dev lines) whose sentences train must not use
    engines: tuple[str, ...] = DEFAULT_ENGINES  # engines whose voices speak; held-out voices stay held out
    splits: tuple[str, ...] = SPLITS  # splits whose audio is made; every split's plan is the same whichever

    def __post_init__(self):
        if min(self.hours, self.test_sentences, self.dev_sentences, self.dev_unseen_sentences) < 0:
            raise ValueError("--hours, --test-sentences, --dev-sentences and --dev-unseen-sentences cannot be negative")
        if self.jobs < 1:
            raise ValueError("--jobs must be at least 1")
        if unknown := sorted(set(self.splits) - set(SPLITS)):
            raise ValueError(f"unknown splits {unknown}; the splits are {', '.join(SPLITS)}")


@dataclass(frozen=True)
class Job:
    split: str
    uid: str
    voice: Voice
    text: str
    rate: float
    pitch: float


def plan(cfg: SynthConfig, sentences: list[str], voices: list[Voice], avoid: frozenset[str] = frozenset(),
         train_avoid: frozenset[str] = frozenset()) -> tuple[list[Job], list[str]]:
    """All utterances to synthesize, and the LM text; a pure function of the seed, the voices and the two
    sentence sets to avoid (``avoid`` for dev, ``train_avoid`` for train).

    The test sentences depend on the seed and the sentence list alone, so corpora made with the same seed
    but other engines share them, and one can add voices to another's training set."""
    if cfg.voice_draw not in ("engine", "uniform"):
        raise ValueError(f"voice_draw must be 'engine' or 'uniform', got {cfg.voice_draw!r}")
    rng = random.Random(cfg.seed)
    sentences = sentences[:]
    rng.shuffle(sentences)
    n = cfg.test_sentences
    seen_text, unseen_text, train_text = sentences[:n], sentences[n : 2 * n], sentences[2 * n :]
    train_voices = [v for v in voices if not is_heldout(v)]
    heldout = [v for v in voices if is_heldout(v)]
    jobs: list[Job] = []

    def add(split: str, text: str, pool: list[Voice], rng: random.Random = rng) -> None:
        jobs.append(Job(split, f"{split}-{len(jobs):07d}", draw(pool, rng), text,
                        rate=rng.uniform(0.8, 1.25), pitch=rng.uniform(0.0, 1.0)))

    def draw(pool: list[Voice], rng: random.Random) -> Voice:
        if cfg.voice_draw == "uniform":  # espeak-ng's hundreds of variants then dominate
            return rng.choice(pool)
        engine = rng.choice(sorted({v.engine for v in pool}))
        return rng.choice([v for v in pool if v.engine == engine])

    for t in seen_text:
        add("test-seen-voices", t, train_voices)
    engines = sorted({v.engine for v in heldout})
    for i, t in enumerate(unseen_text if engines else []):  # every held-out engine gets its share
        engine = engines[i % len(engines)]
        add("test-unseen-voices", t, [v for v in heldout if v.engine == engine])
    budget = cfg.hours * 3600 * cfg.words_per_second
    words = 0.0
    train_pool = [t for t in train_text if t not in train_avoid]
    while words < budget:
        t = rng.choice(train_pool)
        add("train", t, train_voices)
        words += len(t.split())
    # dev draws from its own generator, after everything else: the other splits are as they were without it
    dev_rng = random.Random(f"{cfg.seed}:dev")
    spoken = {j.text for j in jobs}
    unspoken = [t for t in train_text if t not in spoken and t not in avoid]
    dev_text = dev_rng.sample(unspoken, min(cfg.dev_sentences, len(unspoken)))
    for t in dev_text:
        add("dev", t, train_voices, dev_rng)
    # and dev-unseen after that, from another: dev and all before it are as they were without it
    unseen_rng = random.Random(f"{cfg.seed}:dev-unseen")
    for i, t in enumerate(dev_text[: cfg.dev_unseen_sentences] if engines else []):
        add("dev-unseen-voices", t, [v for v in heldout if v.engine == engines[i % len(engines)]], unseen_rng)
    held = set(dev_text)
    return jobs, [t for t in train_text if t not in held]


def _one_thread() -> None:
    """Pool initializer: synth runs one process a core, so each resamples on one torch thread (no
    oversubscription, and the resampler's float sums cannot depend on how many threads ran them)."""
    import torch

    torch.set_num_threads(1)


def _run(args: tuple[Job, Path]) -> dict:
    job, out = args
    audio = speak(job.voice, job.text, job.rate, job.pitch)  # (S,) float32 16 kHz
    audio = audio / max(1e-3, float(np.abs(audio).max())) * 0.7
    rel = Path("wav") / job.split / f"{job.uid}.wav"
    sf.write(str(out / rel), audio, 16000, subtype="PCM_16")
    return {"audio": str(rel), "duration": round(len(audio) / 16000, 3), "text": job.text,
            "voice": str(job.voice), "split": job.split}


def _sentences_of(paths: tuple[Path, ...], split: str) -> frozenset[str]:
    """The sentences of manifests (all of their lines) or of plan.jsonl files (their lines of ``split``)."""
    out = set()
    for path in paths:
        if Path(path).name == PLAN:
            rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
            out |= {r["text"] for r in rows if r["split"] == split}
        else:
            out |= {u.text for u in read_manifest(path)}
    return frozenset(out)


def synthesize(cfg: SynthConfig) -> dict[str, int]:
    """Write plan.jsonl (every planned utterance) and lm-text.txt, then the audio and manifest of each
    split in ``cfg.splits``; returns the utterances written per split."""
    out = Path(cfg.out)
    jobs, lm_text = plan(cfg, kjv_sentences(), all_voices(cfg.engines), _sentences_of(cfg.dev_avoid, "train"),
                         _sentences_of(cfg.train_avoid, "dev"))  # before any folder is made: these may fail
    out.mkdir(parents=True, exist_ok=True)
    with open(out / PLAN, "w") as f:
        for j in jobs:
            f.write(json.dumps({"split": j.split, "uid": j.uid, "voice": str(j.voice), "text": j.text,
                                "rate": j.rate, "pitch": j.pitch}) + "\n")
    (out / "lm-text.txt").write_text("\n".join(lm_text) + "\n")
    for split in cfg.splits:
        (out / "wav" / split).mkdir(parents=True, exist_ok=True)
    files = {s: open(out / f"{s}.jsonl", "w") for s in cfg.splits}
    counts = dict.fromkeys(cfg.splits, 0)
    jobs = [j for j in jobs if j.split in cfg.splits]
    # spawn, not fork: forking a process whose torch threads are running can deadlock
    with multiprocessing.get_context("spawn").Pool(cfg.jobs, _one_thread) as pool:
        for row in tqdm(pool.imap(_run, [(j, out) for j in jobs], chunksize=8), total=len(jobs), desc="synth"):
            split = row.pop("split")
            files[split].write(json.dumps(row) + "\n")
            counts[split] += 1
    for f in files.values():
        f.close()
    return counts
