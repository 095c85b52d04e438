"""`streamasr average`: the mean of model folders' weights, through the command line."""

import json

import torch

from streamasr.cli.main import cli
from streamasr.model import AcousticModel, load_model, save_model


def _shifted_copy(src, dst, delta: float):
    model, tok = load_model(src)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(delta)
    save_model(dst, model, tok)
    return model


def test_the_average_of_two_folders_is_the_mean_of_their_weights(tiny_model_dir, tmp_path):
    a, _ = load_model(tiny_model_dir)
    b = _shifted_copy(tiny_model_dir, tmp_path / "b", 0.5)
    assert cli(["average", str(tiny_model_dir), str(tmp_path / "b"), "--out", str(tmp_path / "mean")]) == 0
    mean, _ = load_model(tmp_path / "mean")
    for (name, x), y, m in zip(a.state_dict().items(), b.state_dict().values(), mean.state_dict().values()):
        assert torch.allclose(m, (x + y) / 2, atol=1e-6), name
    assert json.loads((tmp_path / "mean" / "average.json").read_text())["mean_of"] == [str(tiny_model_dir),
                                                                                       str(tmp_path / "b")]


def test_folders_of_other_shapes_are_refused(tiny_model_dir, tmp_path, capsys):
    model, tok = load_model(tiny_model_dir)
    cfg = model.encoder.cfg
    other = AcousticModel(model.feature_cfg, type(cfg)(**{**cfg.__dict__, "n_layers": cfg.n_layers + 1}))
    save_model(tmp_path / "deeper", other, tok)
    assert cli(["average", str(tiny_model_dir), str(tmp_path / "deeper"), "--out", str(tmp_path / "mean")]) == 2
    assert "differ" in capsys.readouterr().err
    assert not (tmp_path / "mean").exists()
