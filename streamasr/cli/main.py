"""`streamasr` command line: argparse -> config -> one library call per subcommand."""

from __future__ import annotations

import argparse
import sys

from streamasr.cli import commands


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="streamasr", description="Streaming speech recognition.")
    sub = p.add_subparsers(dest="command", required=True)

    t = sub.add_parser("transcribe", help="stream an audio file through the recognizer as if it were live")
    t.add_argument("audio", help="WAV/FLAC/OGG file, any sample rate and channel count")
    _model_args(t)
    _stream_args(t)
    t.add_argument("--realtime", action="store_true", help="pace the audio at real time")
    t.add_argument("--json", action="store_true", help="one JSON event a line")
    t.set_defaults(func=commands.transcribe)

    e = sub.add_parser("eval", help="WER and CER of a manifest")
    e.add_argument("manifest", help="JSON-lines manifest (audio, duration, text)")
    _model_args(e)
    _stream_args(e)
    e.add_argument("--decoder", choices=("beam", "greedy"), default="beam", help="search (default: beam)")
    e.add_argument("--limit", type=int, default=0, help="only the first N utterances")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=commands.evaluate)

    tr = sub.add_parser("train", help="train a model from a JSON config")
    tr.add_argument("config", help="training config (JSON), see recipes/")
    tr.set_defaults(func=commands.train)

    d = sub.add_parser("data", help="corpus tools")
    dsub = d.add_subparsers(dest="data_command", required=True)
    s = dsub.add_parser("synth", help="synthesize a speech corpus with espeak-ng, flite and festival")
    s.add_argument("--out", required=True, help="corpus folder")
    s.add_argument("--hours", type=float, default=10.0, help="hours of training audio")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--test-sentences", type=int, default=200, help="sentences per test split")
    s.add_argument("--jobs", type=int, default=2, help="parallel processes")
    s.set_defaults(func=commands.synth)
    ls = dsub.add_parser("librispeech", help="write a manifest for a LibriSpeech-style folder")
    ls.add_argument("root", help="folder holding SPEAKER/CHAPTER/*.trans.txt and *.flac")
    ls.add_argument("--out", required=True, help="manifest to write")
    ls.set_defaults(func=commands.librispeech)
    return p


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    lm = p.add_mutually_exclusive_group()
    lm.add_argument("--lm", default=None, help="KenLM model, ARPA or binary (default: the bundled LM)")
    lm.add_argument("--no-lm", action="store_true", help="decode without a language model")


def _stream_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chunk-ms", type=int, default=320, help="chunk length; 0 = whole utterance")
    p.add_argument("--left-chunks", type=int, default=8, help="attention left context in chunks (-1: all)")


def cli(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except commands.UserError as e:
        print(f"streamasr: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(cli())
