"""The training recipe on a tiny corpus of real synthesized speech: one process, resume, and DDP."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from speech import espeak
from streamasr.model import load_model
from streamasr.train.config import TrainConfig

TEXTS = ["let there be light", "and there was light", "the lord is my shepherd", "in the beginning"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    with open(folder / "train.jsonl", "w") as f:
        for i, text in enumerate(TEXTS * 2):
            wav = folder / f"{i}.wav"
            samples = espeak(text, wav, voice="en-us" if i < 4 else "en-gb")
            f.write(json.dumps({"audio": wav.name, "duration": len(samples) / 16000, "text": text}) + "\n")
    return folder


def write_config(corpus: Path, out: Path, steps: int, **extra) -> Path:
    cfg = extra | {"train_manifests": [str(corpus / "train.jsonl")], "out": str(out),
           "encoder": {"d_model": 32, "n_heads": 2, "n_layers": 1, "conv_kernel": 5, "subsample_channels": 4},
           "max_frames": 1000, "max_steps": steps, "checkpoint_every": 2, "warmup_steps": 2, "average_last": 2,
           "threads": 1}
    path = out.parent / f"{out.name}-{steps}.json"
    path.write_text(json.dumps(cfg))
    return path


def cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "streamasr.cli.main", *args], capture_output=True, text=True,
                          timeout=600, **kw)


def test_train_resume_and_export(corpus, tmp_path):
    out = tmp_path / "exp"
    r = cli("train", str(write_config(corpus, out, 2, vtlp=[0.9, 1.2], eq_db=6.0)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "ckpt-00000002.pt").is_file()
    r = cli("train", str(write_config(corpus, out, 4, vtlp=[0.9, 1.2], eq_db=6.0)))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "resumed from ckpt-00000002.pt at step 2" in r.stdout
    assert (out / "ckpt-00000004.pt").is_file()
    model, tok = load_model(out / "model")
    assert model.encoder.cfg.n_layers == 1 and len(tok) == 29
    rows = (out / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,epoch,lr,loss")
    # the model carries the settings that made it, in a form `streamasr train` reads back
    assert TrainConfig.load(out / "model" / "train-config.json") == TrainConfig.load(
        write_config(corpus, out, 4, vtlp=[0.9, 1.2], eq_db=6.0))


def test_resume_refuses_a_changed_recipe(corpus, tmp_path):
    out = tmp_path / "exp"
    assert cli("train", str(write_config(corpus, out, 2))).returncode == 0
    # other data or settings in the same folder would silently continue the old run on the old features
    other = corpus / "first-half.jsonl"
    other.write_text("".join((corpus / "train.jsonl").read_text().splitlines(keepends=True)[:4]))
    cfg = json.loads(write_config(corpus, out, 4).read_text()) | {"train_manifests": [str(other)], "peak_lr": 1e-3}
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps(cfg))
    r = cli("train", str(changed))
    assert r.returncode == 2, r.stderr[-2000:]
    assert "holds checkpoints of a run with other settings (peak_lr, train_manifests)" in r.stderr
    assert not (out / "ckpt-00000004.pt").exists()
    # the features are checked too: same settings, other utterances, no checkpoints yet
    for ckpt in out.glob("ckpt-*.pt"):
        ckpt.unlink()
    r = cli("train", str(changed))
    assert r.returncode == 2 and "were made from other utterances or settings" in r.stderr, r.stderr[-2000:]


def test_in_place_distillation(corpus, tmp_path):
    out = tmp_path / "kd"
    chunked = {"p_full_context": 0.0, "chunk_choices": [1], "left_chunk_choices": [1]}
    r = cli("train", str(write_config(corpus, out, 10, distill=0.5, **chunked)))
    assert r.returncode == 0, r.stderr[-2000:]
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert rows and all(float(row["distill"]) > 0 for row in rows)  # chunked and full-context passes differ
    # a run saved before the option existed resumes when the option is left at its default
    saved = json.loads((out / "train-config.json").read_text())
    plain = tmp_path / "plain"
    assert cli("train", str(write_config(corpus, plain, 10, **chunked))).returncode == 0
    assert not next(csv.DictReader((plain / "log.csv").open()))["distill"]  # off by default
    old = json.loads((plain / "train-config.json").read_text())
    del old["distill"]
    (plain / "train-config.json").write_text(json.dumps(old))
    r = cli("train", str(write_config(corpus, plain, 12, **chunked)))
    assert r.returncode == 0 and "resumed from ckpt-00000010.pt" in r.stdout, r.stderr[-2000:]
    assert saved["distill"] == 0.5


def test_ddp_with_two_cpu_processes(corpus, tmp_path):
    out = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONFAULTHANDLER="1")  # a rank that aborts prints its stacks
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "-m", "streamasr.cli.main", "train", str(write_config(corpus, out, 3))],
                       capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert f"wrote {out / 'model'}" in r.stdout  # rank 0 got to its last line
    assert (out / "ckpt-00000003.pt").is_file()
    load_model(out / "model")


def test_every_recipe_in_the_repository_loads():
    """The recipes kept in recipes/ (the GPU's among them, which only a lent machine runs) name only options the
    recipe has, with values its configs take."""
    repo = Path(__file__).parents[2]
    configs = {p.name: TrainConfig.load(p) for p in sorted((repo / "recipes").glob("*.json"))}
    assert {"default.json", "gpu-finetune.json", "gpu-grow.json", "gpu-robust.json"} <= set(configs)
    robust = configs["gpu-robust.json"].augment
    assert robust.p_lead_noise == 0.5 and robust.lead_noise_s == (0.5, 6.0) and robust.gain_db == (-40.0, 3.0)


def test_bad_config_is_one_clear_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"train_manifests": [], "out": "x", "learning_rate": 1}))
    r = cli("train", str(bad))
    assert r.returncode == 2 and "unknown training options ['learning_rate']" in r.stderr


def test_bpe_tokens(corpus, tmp_path):
    from streamasr.recognizer import Recognizer

    out = tmp_path / "bpe"
    r = cli("train", str(write_config(corpus, out, 2, tokens="bpe", bpe_vocab=30)))
    assert r.returncode == 0, r.stderr[-2000:]
    rec = Recognizer.from_pretrained(out / "model", lm=None)
    assert (out / "model" / "bpe.model").is_file()
    assert any(len(t.strip()) > 1 for t in rec.tokenizer.tokens[1:])
    s = rec.session()
    s.accept(espeak("let there be light", tmp_path / "x.wav"))
    assert s.finish()[-1].type == "final"


def test_fine_tune_starts_from_the_given_model(corpus, tmp_path):
    import torch

    base = tmp_path / "base"
    assert cli("train", str(write_config(corpus, base, 2))).returncode == 0
    # With a learning rate of 0 the fine-tuned model must be exactly the one it started from
    # (a fresh initialisation, or CMVN recomputed from this corpus, would differ).
    tuned = tmp_path / "tuned"
    r = cli("train", str(write_config(corpus, tuned, 2, init_from=str(base / "model"), peak_lr=0.0)))
    assert r.returncode == 0, r.stderr[-2000:]
    a, _ = load_model(base / "model")
    b, _ = load_model(tuned / "model")
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    r = cli("train", str(write_config(corpus, tmp_path / "bad", 2, init_from=str(base / "model"), tokens="bpe",
                                      bpe_vocab=30)))
    assert r.returncode == 2 and "its tokens differ" in r.stderr and "Traceback" not in r.stderr
    # the encoder comes from init_from: a recipe that asks for another is refused, not silently overruled
    wider = json.loads(write_config(corpus, tmp_path / "wider", 2, init_from=str(base / "model")).read_text())
    wider["encoder"]["d_model"] = 64
    (tmp_path / "wider.json").write_text(json.dumps(wider))
    r = cli("train", str(tmp_path / "wider.json"))
    assert r.returncode == 2 and "keeps that model's encoder" in r.stderr and "Traceback" not in r.stderr
    # and a recipe without one records none: the model's own shape is in its config.json
    plain = json.loads(write_config(corpus, tmp_path / "plain", 2, init_from=str(base / "model"),
                                    peak_lr=0.0).read_text())
    del plain["encoder"]
    (tmp_path / "plain.json").write_text(json.dumps(plain))
    assert cli("train", str(tmp_path / "plain.json")).returncode == 0
    record = json.loads((tmp_path / "plain" / "model" / "train-config.json").read_text())
    assert record["encoder"] is None and TrainConfig.load(tmp_path / "plain" / "model" / "train-config.json").encoder is None
    # grow_layers: the model's blocks and one more (at learning rate 0, as grow made it), and only from a model
    grown = tmp_path / "grown"
    r = cli("train", str(write_config(corpus, grown, 2, init_from=str(base / "model"), grow_layers=1, peak_lr=0.0)))
    assert r.returncode == 0, r.stderr[-2000:]
    g, _ = load_model(grown / "model")
    assert g.encoder.cfg.n_layers == 2 and torch.equal(g.encoder.layers[0].ff1[1].weight, a.encoder.layers[0].ff1[1].weight)
    r = cli("train", str(write_config(corpus, tmp_path / "deep", 2, grow_layers=1)))
    assert r.returncode == 2 and "grow_layers adds blocks" in r.stderr and "Traceback" not in r.stderr
    # new_tokens: the same encoder and CMVN under a new output layer, one row per BPE piece
    pieces = tmp_path / "pieces"
    r = cli("train", str(write_config(corpus, pieces, 2, init_from=str(base / "model"), tokens="bpe",
                                      bpe_vocab=30, new_tokens=True, peak_lr=0.0)))
    assert r.returncode == 0, r.stderr[-2000:]
    c, tok = load_model(pieces / "model")
    assert (pieces / "model" / "bpe.model").is_file() and c.encoder.ctc.weight.shape[0] == len(tok) != 29
    assert not torch.equal(c.encoder.ctc.weight[:29], a.encoder.ctc.weight)
    for k, va in a.state_dict().items():
        if not k.startswith("encoder.ctc."):
            assert torch.equal(va, c.state_dict()[k]), k
    # fine-tuning a BPE model on other text keeps its pieces (a new sentencepiece run would make others)
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps(json.loads(line) | {"text": "jesus wept", "audio": str(corpus / json.loads(line)["audio"])}) + "\n"
                             for line in (corpus / "train.jsonl").read_text().splitlines()))
    again = tmp_path / "again"
    cfg = json.loads(write_config(corpus, again, 2, init_from=str(pieces / "model"), tokens="bpe", bpe_vocab=30,
                                  peak_lr=0.0).read_text()) | {"train_manifests": [str(other)]}
    (tmp_path / "again.json").write_text(json.dumps(cfg))
    r = cli("train", str(tmp_path / "again.json"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (again / "model" / "bpe.model").read_bytes() == (pieces / "model" / "bpe.model").read_bytes()


def test_batches_made_by_worker_processes(corpus, tmp_path):
    out = tmp_path / "exp"
    r = cli("train", str(write_config(corpus, out, 3, prep_workers=2, vtlp=[0.9, 1.2])))
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "model" / "model.safetensors").is_file()
    assert (out / "ckpt-00000003.pt").is_file()


@pytest.mark.parametrize("voice, texts, tokens", [
    ("de", ["über die brücke", "der große bär", "schöne grüße"], "char"),
    ("de", ["über die brücke", "der große bär", "schöne grüße"], "bpe"),
    ("cmn", ["我们今天去北京", "北京很大", "今天很好"], "char"),
    ("cmn", ["我们今天去北京", "北京很大", "今天很好"], "bpe"),
])
def test_another_language(voice, texts, tokens, tmp_path):
    """German and Mandarin speech (espeak-ng's voices) train as English does: their letters are tokens,
    characters or sentencepiece pieces, and the model folder carries them."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with open(corpus / "train.jsonl", "w") as f:
        for i, text in enumerate(texts * 2):
            samples = espeak(text, corpus / f"{i}.wav", voice=voice)
            f.write(json.dumps({"audio": f"{i}.wav", "duration": len(samples) / 16000, "text": text}) + "\n")
    out = tmp_path / "exp"
    r = cli("train", str(write_config(corpus, out, 2, tokens=tokens, bpe_vocab=20)))
    assert r.returncode == 0, r.stderr[-2000:]
    _, tok = load_model(out / "model")
    letters = {c for t in texts for c in t if c != " "}
    assert letters <= {c for t in tok.tokens for c in t}  # every letter is in some token
    assert tok.decode(tok.encode(texts[0])) == texts[0]
    r = cli("transcribe", str(corpus / "0.wav"), "--model", str(out / "model"), "--no-lm", "--json")
    assert r.returncode == 0 and '"type":"final"' in r.stdout, r.stderr[-2000:]  # (two steps: any text)
    assert "\\u" not in r.stdout  # JSON lines carry the letters as they are, not as escapes


def _kl_to(model_dir: Path, base_dir: Path, wavs: list[Path]) -> float:
    """Mean KL(base || model) per frame at full context over ``wavs``, both models in eval mode."""
    import torch

    from streamasr.audio import load_audio
    from streamasr.features import LogMel

    model, _ = load_model(model_dir)
    base, _ = load_model(base_dir)
    logmel = LogMel(model.feature_cfg)
    total, frames = 0.0, 0
    with torch.no_grad():
        for wav in wavs:
            feats = logmel(torch.from_numpy(load_audio(wav, 16000)))[None]  # (1, T, F)
            lengths = torch.tensor([feats.shape[1]])
            p, _ = base(base.normalize(feats), lengths)  # (1, T', V)
            q, _ = model(model.normalize(feats), lengths)
            total += float((p.exp() * (p - q)).sum())
            frames += p.shape[1]
    return total / frames


def test_anchor_holds_the_run_to_a_model(corpus, tmp_path):
    """Fine-tuning held to a frozen model on one manifest's utterances ends nearer that model there than the
    same run without it (which utterances of a batch get the term: distillation_loss's doctest); bad
    settings are one clear line."""
    base = tmp_path / "base"
    assert cli("train", str(write_config(corpus, base, 2))).returncode == 0
    lines = (corpus / "train.jsonl").read_text().splitlines(keepends=True)
    us, gb = corpus / "us.jsonl", corpus / "gb.jsonl"  # en-us voice, then en-gb (the fixture's order)
    us.write_text("".join(lines[:4]))
    gb.write_text("".join(lines[4:]))

    def run(name: str, **extra) -> Path:
        cfg = json.loads(write_config(corpus, tmp_path / name, 10, init_from=str(base / "model"), peak_lr=3e-3,
                                      **extra).read_text()) | {"train_manifests": [str(us), str(gb)]}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(cfg))
        r = cli("train", str(path))
        assert r.returncode == 0, r.stderr[-2000:]
        return tmp_path / name

    free = run("free")
    held = run("held", anchor_from=str(base / "model"), anchor_weight=50.0, anchor_manifests=[str(us)])
    assert not next(csv.DictReader((free / "log.csv").open()))["anchor"]
    assert all(float(row["anchor"]) >= 0 for row in csv.DictReader((held / "log.csv").open()))
    wavs = [corpus / json.loads(line)["audio"] for line in lines[:4]]
    assert _kl_to(held / "model", base / "model", wavs) < 0.5 * _kl_to(free / "model", base / "model", wavs)

    for extra, message in [({"anchor_from": str(base / "model"), "anchor_weight": 1.0,
                             "anchor_manifests": [str(corpus / "train.jsonl")]}, "must be among train_manifests"),
                           ({"anchor_weight": 1.0}, "need anchor_from"),
                           ({"anchor_from": str(base / "model")}, "needs anchor_weight > 0")]:
        cfg = json.loads(write_config(corpus, tmp_path / "bad", 2, **extra).read_text()) | {
            "train_manifests": [str(us), str(gb)]}
        (tmp_path / "bad.json").write_text(json.dumps(cfg))
        r = cli("train", str(tmp_path / "bad.json"))
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr[-2000:]
