import json
import shutil

import pytest

from streamasr.model import ModelError, load_model


def copy(src, dst):
    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("missing", ["config.json", "tokens.txt", "model.safetensors"])
def test_missing_file_is_named(tiny_model_dir, tmp_path, missing):
    folder = copy(tiny_model_dir, tmp_path / "m")
    (folder / missing).unlink()
    with pytest.raises(ModelError, match=missing):
        load_model(folder)


def test_wrong_token_count_is_reported(tiny_model_dir, tmp_path):
    folder = copy(tiny_model_dir, tmp_path / "m")
    (folder / "tokens.txt").write_text((folder / "tokens.txt").read_text() + "x\n")
    with pytest.raises(ModelError, match="30 tokens but the model outputs 29"):
        load_model(folder)


def test_weights_that_do_not_fit_the_config(tiny_model_dir, tmp_path):
    folder = copy(tiny_model_dir, tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["encoder"]["d_model"] = 64
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="does not fit"):
        load_model(folder)


def test_missing_folder(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nope")


def test_round_trip(tiny_model_dir):
    model, tok = load_model(tiny_model_dir)
    assert len(tok) == model.encoder.cfg.vocab_size == 29
