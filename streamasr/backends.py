"""Which engine runs the streaming encoder: torch, or onnxruntime in fp32 or int8.

A model folder may carry its exported encoders (``encoder.onnx``, ``encoder.int8.onnx``,
written by ``streamasr export``). For a folder without them, the first use exports them
into a cache folder keyed by the weights' hash (``$STREAMASR_CACHE``, default
``~/.cache/streamasr``), so ``--backend onnx`` works on any model folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from streamasr.errors import ModelError

if TYPE_CHECKING:
    from streamasr.model import AcousticModel

BACKENDS = ("torch", "onnx", "onnx-int8")  # the choices of --backend
ONNX_FILES = {"onnx": "encoder.onnx", "onnx-int8": "encoder.int8.onnx"}
log = logging.getLogger("streamasr")


def load_encoder(backend: str, model: AcousticModel, model_dir: Path, threads: int = 1):
    """The streaming encoder for ``backend``: ``model.encoder`` itself, or an ``OnnxEncoder``."""
    if backend == "torch":
        return model.encoder
    if backend not in ONNX_FILES:
        raise ModelError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    from streamasr.encoder.onnx import OnnxEncoder

    path = Path(model_dir) / ONNX_FILES[backend]
    if not path.is_file():
        path = _cached_export(model, Path(model_dir)) / ONNX_FILES[backend]
    try:
        return OnnxEncoder(path, model.encoder.cfg, threads=threads)
    except ValueError as e:
        raise ModelError(str(e)) from None


def export_onnx_files(model: AcousticModel, out: Path) -> list[Path]:
    """Write encoder.onnx and encoder.int8.onnx of ``model`` into the folder ``out``."""
    from streamasr.encoder.onnx import export_onnx, quantize_int8

    out.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(model.encoder, out / ONNX_FILES["onnx"])
    return [fp32, quantize_int8(fp32, out / ONNX_FILES["onnx-int8"])]


def export_model(model_dir: Path, out: Path) -> list[Path]:
    """A deployable copy of ``model_dir`` in ``out`` (may be the same folder) with its ONNX encoders."""
    from streamasr.model import load_model

    model, _ = load_model(model_dir)
    if out.resolve() != Path(model_dir).resolve():
        shutil.copytree(model_dir, out, dirs_exist_ok=True)
    return export_onnx_files(model, out)


def _cached_export(model: AcousticModel, model_dir: Path) -> Path:
    from streamasr.encoder.onnx import EXPORT_VERSION

    digest = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()[:16]
    digest = f"{digest}-v{EXPORT_VERSION}"  # a new graph layout is exported afresh
    root = Path(os.environ.get("STREAMASR_CACHE", Path.home() / ".cache" / "streamasr"))
    folder = root / "onnx" / digest
    if _complete(folder):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(f"{digest}.lock"), "w") as lock:
        # the server's processes start at once: one exports while the others wait for its files
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _complete(folder):
            tmp = folder.with_name(f"{digest}.tmp{os.getpid()}")
            # a warning, so that a command that configures no logging shows it too: the wait is otherwise silent
            log.warning("exporting the encoder of %s to ONNX once, into %s (about half a minute; "
                        "`streamasr export` ships the files with the model instead)", model_dir, folder)
            export_onnx_files(model, tmp)
            shutil.rmtree(folder, ignore_errors=True)  # what a process killed while renaming may have left
            tmp.rename(folder)  # whole or absent
    return folder


def _complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in ONNX_FILES.values())
