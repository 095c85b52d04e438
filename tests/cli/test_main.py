"""The command line's --beam: its stated default is DecoderConfig's, and it reaches the recognizer; `mic --server`
refuses the recognizer flags the server decides; --hotword-weight takes what a start message may carry."""

import subprocess
import sys

import pytest

from streamasr.cli.commands import UserError, _loader, recognizer_flags
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


@pytest.mark.parametrize("argv,flags", [([], []), (["--backend", "torch"], ["--backend"]),
                                        (["--beam", "4", "--no-lm"], ["--no-lm", "--beam"])])
def test_mic_names_the_recognizer_flags_given(argv, flags):
    assert recognizer_flags(build_parser().parse_args(["mic", *argv])) == flags


def test_mic_through_a_server_refuses_flags_the_server_decides():
    """Before it opens the microphone or the connection: the server chose its model, LM, beam and engine."""
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "mic", "--server", "ws://127.0.0.1:9/",
                        "--beam", "4", "--lm", "x.arpa"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "--lm, --beam: the server at ws://127.0.0.1:9/ has chosen its recognizer" in r.stderr, r.stderr


def test_mic_here_runs_the_encoder_on_torch_by_default(tiny_model_dir):
    args = build_parser().parse_args(["mic", "--model", str(tiny_model_dir), "--no-lm"])
    assert args.backend is None and _loader(args).args[2] == "torch"


def test_mic_latency_asks_for_a_server():
    """--latency times a server's answers; without --server it is a one-line error before any device opens."""
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "mic", "--latency"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "--latency measures a server's answers: give --server too" in r.stderr, r.stderr


def test_mic_refuses_a_chunk_the_model_cannot_take_before_any_device_opens(tiny_model_dir):
    r = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "mic", "--model", str(tiny_model_dir), "--no-lm",
                        "--chunk-ms", "100"], capture_output=True, text=True, timeout=120)
    want = "streamasr: error: chunk_ms must be a multiple of 40 ms (or 0), got 100\n"
    assert r.returncode == 2 and r.stderr == want, r.stderr


@pytest.mark.parametrize("command", [["transcribe", "x.wav"], ["stream", "x.wav"], ["mic"]])
def test_hotword_weight_is_a_number_a_start_message_may_carry(command, capsys):
    """--hotword-weight: left out, the decoder's (or the server's) stands; given, 0..20, else a usage error."""
    parser = build_parser()
    assert parser.parse_args(command).hotword_weight is None
    assert parser.parse_args([*command, "--hotword-weight", "12.5"]).hotword_weight == 12.5
    for bad in ("-1", "21", "lots", "nan"):
        with pytest.raises(SystemExit):
            parser.parse_args([*command, "--hotword-weight", bad])
        assert "--hotword-weight" in capsys.readouterr().err
