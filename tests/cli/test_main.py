"""The command line's --beam: its stated default is DecoderConfig's, and it reaches the recognizer."""

import subprocess
import sys

import pytest

from streamasr.cli.commands import UserError, _loader
from streamasr.cli.main import DEFAULT_BEAM, build_parser
from streamasr.decoder import DecoderConfig


def test_the_help_names_the_decoders_default_beam():
    assert DEFAULT_BEAM == DecoderConfig.beam


@pytest.mark.parametrize("argv,beam", [([], DecoderConfig.beam), (["--beam", "4"], 4)])
def test_beam_reaches_the_recognizer(tiny_model_dir, argv, beam):
    args = build_parser().parse_args(["transcribe", "x.wav", "--model", str(tiny_model_dir), "--no-lm", *argv])
    assert _loader(args)().decoder_cfg.beam == beam


def test_a_beam_below_one_is_a_one_line_error():
    with pytest.raises(UserError, match="--beam must be at least 1"):
        _loader(build_parser().parse_args(["eval", "m.jsonl", "--beam", "0"]))
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "serve", "--port", "0", "--beam", "0"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--beam must be at least 1" in r.stderr and "Traceback" not in r.stderr, r.stderr
