import os
from pathlib import Path

import pytest
import torch

from streamasr.encoder import EncoderConfig
from streamasr.features import FeatureConfig
from streamasr.model import AcousticModel, save_model
from streamasr.tokens import Tokenizer


@pytest.fixture(scope="session", autouse=True)
def onnx_cache(tmp_path_factory) -> Path:
    """ONNX encoders exported on first use go here, once per test run, not into the user's cache."""
    folder = tmp_path_factory.mktemp("streamasr-cache")
    os.environ["STREAMASR_CACHE"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A random-weight model folder: for equivalence and error handling, not accuracy."""
    torch.manual_seed(0)
    tok = Tokenizer.characters()
    cfg = EncoderConfig(d_model=32, n_heads=2, n_layers=2, conv_kernel=5, subsample_channels=4,
                        vocab_size=len(tok))
    model = AcousticModel(FeatureConfig(), cfg)
    folder = tmp_path_factory.mktemp("tiny") / "model"
    save_model(folder, model, tok)
    return folder


@pytest.fixture(scope="session")
def bundled_rec():
    """The bundled model and LM, loaded once for every test that needs them (a Recognizer is read-only)."""
    from streamasr.recognizer import Recognizer

    return Recognizer.from_pretrained()


@pytest.fixture(scope="session")
def paused_speech(tmp_path_factory):
    """Two held-out sentences, each followed by a second of silence: (S,) float32 at 16 kHz."""
    import numpy as np

    from speech import espeak

    folder = tmp_path_factory.mktemp("paused")
    texts = ["go not up for the lord is not among you", "or whether we be sober it is for your cause"]
    gap = np.zeros(16000, np.float32)
    return np.concatenate([x for i, t in enumerate(texts) for x in (espeak(t, folder / f"{i}.wav"), gap)])


@pytest.fixture(scope="module")
def model_server(bundled_rec):
    """The bundled model and LM behind a real server."""
    from streamasr.server.app import ServerConfig
    from tests_server_util import Running

    srv = Running(bundled_rec, ServerConfig(port=0))
    yield srv
    srv.stop()
