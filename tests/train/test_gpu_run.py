"""recipes/gpu: the bundle that a bare GPU machine gets, and the run made there, rehearsed on this CPU."""

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from streamasr.model import load_model

REPO = Path(__file__).resolve().parents[2]
SENTENCES = ["in the beginning god created the heaven and the earth", "and the earth was without form and void"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """recipes/gpu/pack.sh's folder, with a stand-in evaluation corpus whose sentences the new corpus avoids."""
    tmp = tmp_path_factory.mktemp("gpu")
    corpus = tmp / "eval"
    corpus.mkdir()
    for split in ("dev", "test-seen-voices", "test-unseen-voices"):
        (corpus / f"{split}.jsonl").write_text(
            "".join(json.dumps({"audio": "x.wav", "duration": 1.0, "text": t}) + "\n" for t in SENTENCES))
    r = subprocess.run(["bash", "recipes/gpu/pack.sh", str(corpus)], cwd=REPO, capture_output=True, text=True,
                       timeout=600, env=os.environ | {"DEVICE_DIR": str(tmp / "device"), "PY": sys.executable})
    assert r.returncode == 0, r.stderr[-2000:]
    return tmp / "device"


def test_the_tts_programs_bring_their_own_libraries(bundle, tmp_path):
    subprocess.run(["tar", "-C", str(tmp_path), "-xJf", str(bundle / "tts.tar.xz")], check=True)
    tts = tmp_path / "tts"
    for prog in ("espeak-ng", "flite", "bible"):
        ldd = subprocess.run(["ldd", str(tts / "bin" / f"{prog}.bin")], capture_output=True, text=True, check=True,
                             env=os.environ | {"LD_LIBRARY_PATH": str(tts / "lib")}).stdout
        found = [line.split("=>")[1].split()[0] for line in ldd.splitlines() if "=> /" in line]
        outside = [lib for lib in found if not lib.startswith(str(tts)) and "/libc.so" not in lib
                   and "/libm.so" not in lib]
        assert found and not outside, (prog, outside)
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "ESPEAK_DATA_PATH")}
    said = subprocess.run([str(tts / "bin" / "espeak-ng"), "--version"], capture_output=True, text=True, env=env).stdout
    assert f"Data at: {tts}/bin/../share/espeak-ng-data" in said
    verse = subprocess.run([str(tts / "bin" / "bible"), "-f", "Gen1:1"], capture_output=True, text=True, env=env,
                           cwd=tmp_path).stdout  # its data from the bundle, not ./ or /usr/lib
    assert "In the beginning God created" in verse
    wav = tmp_path / "kal.wav"
    subprocess.run([str(tts / "bin" / "flite"), "-voice", "kal16", "-t", "let there be light", "-o", str(wav)],
                   check=True, env=env)
    assert wav.stat().st_size > 10_000


def test_the_run_rehearsed_on_a_cpu(bundle, tmp_path):
    """run.sh end to end at a tiny size: a corpus synthesized with the bundle's programs, the rehearsal and
    the runs of both GPU recipes at once from the bundled model, and the models they bring back."""
    recipes = []
    for name in ("gpu-finetune", "gpu-grow"):
        recipe = json.loads((REPO / "recipes" / f"{name}.json").read_text())
        recipe |= {"init_from": str(REPO / "streamasr" / "assets" / "model"), "out": str(tmp_path / f"exp-{name}"),
                   "max_frames": 4000}
        recipes.append(tmp_path / f"{name}.json")
        recipes[-1].write_text(json.dumps(recipe))
    broken = tmp_path / "broken.json"  # a recipe that fails its rehearsal: dropped, and the others go on
    broken.write_text(json.dumps(json.loads(recipes[0].read_text()) | {"init_from": str(tmp_path / "nowhere")}))
    out = tmp_path / "out"
    r = subprocess.run(["bash", "recipes/gpu/run.sh"], cwd=REPO, capture_output=True, text=True, timeout=900,
                       env=os.environ | {"PY": sys.executable, "HOURS": "0.02", "MINUTES": "0.2", "OUT": str(out),
                                         "WORK": str(tmp_path / "work"), "DEVICE_DIR": str(bundle),
                                         "RECIPES": " ".join(map(str, [recipes[0], broken, recipes[1]]))})
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert f"rehearsal of {broken} failed" in r.stdout and "rehearsal: 5 steps of each recipe" in r.stdout
    cap_s = int(re.search(r"training: at most (\d+) s each", r.stdout).group(1))
    assert sorted(f.name for f in out.iterdir()) == ["gpu-finetune.log.csv", "gpu-finetune.model.tgz",
                                                     "gpu-grow.log.csv", "gpu-grow.model.tgz"]
    for name, layers in (("gpu-finetune", 6), ("gpu-grow", 8)):
        assert f"{name}: trained" in r.stdout and f"[{name}] " in r.stdout  # each run's lines, marked
        with tarfile.open(out / f"{name}.model.tgz") as tar:
            tar.extractall(tmp_path / name, filter="data")
        model, tok = load_model(tmp_path / name / "model")
        assert model.encoder.cfg.n_layers == layers and len(tok) == 256  # the bundled model's pieces, grown or not
        config = json.loads((tmp_path / name / "model" / "train-config.json").read_text())
        assert config["train_manifests"] == [str(tmp_path / "work" / "corpus" / "train.jsonl")]
        assert config["max_minutes"] == min(0.2, cap_s / 60)  # MINUTES, unless the budget leaves less
        big_shm = os.path.isdir("/dev/shm") and shutil.disk_usage("/dev/shm").free > 4e9
        assert (config["prep_workers"] >= 1) == big_shm and config["feature_jobs"] >= 1  # the cores shared out
        assert (out / f"{name}.log.csv").read_text().startswith("step,")
