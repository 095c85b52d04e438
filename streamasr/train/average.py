"""The element-wise mean of model folders' weights (a "model soup"): ``streamasr average A B --out C``.

Models fine-tuned from the same weights can be averaged into one that keeps what each learned; it is
the same as ``average_last`` does for one run's checkpoints, across runs. The folders must agree in
features, encoder shape and tokens; their CMVN statistics are averaged like the rest (fine-tuning keeps
those of the model it started from, so they are equal).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path

import torch

from streamasr.model import ModelError, load_model, save_model

SOURCES_NAME = "average.json"  # written into the averaged folder: the folders it is the mean of


def mean_state(states: Iterable[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Element-wise mean (in float) of state dicts with the same keys, taken one at a time.

    >>> mean_state([{"w": torch.tensor([1.0, 2.0])}, {"w": torch.tensor([3.0, 6.0])}])
    {'w': tensor([2., 4.])}
    """
    avg, n = None, 0
    for state in states:
        if avg is None:
            avg = {k: v.clone().float() for k, v in state.items()}
        else:
            for k, v in state.items():
                avg[k] += v.float()
        n += 1
    return {k: v / n for k, v in avg.items()}


def average_models(folders: list[Path], out: Path) -> Path:
    """Write ``out``: a model folder holding the mean of ``folders``' weights (each weighted alike)."""
    if len(folders) < 2:
        raise ModelError("averaging needs two model folders at least")
    first, tok = load_model(folders[0])
    states = [first.state_dict()]
    for folder in folders[1:]:
        model, other = load_model(folder)
        if (model.feature_cfg, model.encoder.cfg) != (first.feature_cfg, first.encoder.cfg) \
                or other.tokens != tok.tokens:
            raise ModelError(f"{folder}: its features, encoder shape or tokens differ from {folders[0]}'s; "
                             "only models of one shape and token set can be averaged")
        states.append(model.state_dict())
    first.load_state_dict(mean_state(states))  # each tensor back in its own dtype
    out = Path(out)
    save_model(out, first, tok)
    if (Path(folders[0]) / "bpe.model").is_file():
        shutil.copy(Path(folders[0]) / "bpe.model", out / "bpe.model")
    (out / SOURCES_NAME).write_text(json.dumps({"mean_of": [str(f) for f in folders]}, indent=2) + "\n")
    return out
