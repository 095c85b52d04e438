"""`streamasr` command line: argparse -> config -> one library call per subcommand."""

from __future__ import annotations

import argparse
import sys

from streamasr.backends import BACKENDS
from streamasr.cli import commands, training
from streamasr.data.voices import DEFAULT_ENGINES, ENGINES
from streamasr.endpoint import EndpointConfig
from streamasr.protocol import MAX_HOTWORD_WEIGHT, MAX_HOTWORDS, SAMPLE_WIDTH, hotwords_of

DEFAULT_BEAM = 64  # DecoderConfig.beam, which this module cannot import without kenlm (a test checks they agree)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="streamasr", description="Streaming speech recognition.")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (_transcribe, _eval, _serve, _stream, _mic, _export, _train, _average, _data):
        add(sub)
    return p


def _transcribe(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("transcribe", help="stream an audio file through the recognizer as if it were live")
    t.add_argument("audio", nargs="+", help="WAV/FLAC/MP3/OGG files, any sample rate and channel count, one after "
                   "another with the model loaded once; - reads stdin as it comes")
    _raw_args(t, "averaged unless --split-channels")
    _model_args(t)
    _stream_args(t)
    _hotwords_arg(t)
    _alternatives_arg(t)
    t.add_argument("--realtime", action="store_true", help="pace the audio at real time")
    _split_channels_arg(t, "a call recorded in stereo; the finals in the order they were spoken")
    _format_args(t)
    t.add_argument("--out-dir", default=None, metavar="DIR",
                   help="write each file's events to DIR/NAME.txt (.jsonl, .srt, .vtt as --format says) instead of "
                        "stdout, where several files go to stdout with their names on each line (text, json)")
    t.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="files recognized N at a time, each job a process with its own copy of the model; each "
                        "file's output is printed whole once its turn comes, in the order named (default: 1)")
    t.set_defaults(func=commands.transcribe)


def _eval(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("eval", help="WER and CER of a manifest")
    e.add_argument("manifest", help="JSON-lines manifest (audio, duration, text)")
    _model_args(e)
    _stream_args(e)
    e.add_argument("--decoder", choices=("beam", "greedy"), default="beam", help="search (default: beam)")
    e.add_argument("--limit", type=int, default=0, help="only the first N utterances (0: all)")
    e.add_argument("--lead-silence", type=float, default=0.0, metavar="S",
                   help="seconds of digital silence put before each utterance, as a stream's segments follow a pause")
    e.add_argument("--no-fresh-after-pause", action="store_true",
                   help="decode the silence too, where a session skips quiet chunks before a stream's first sound "
                        "(to measure the model itself after a pause)")
    e.add_argument("--by-voice", action="store_true", help="WER and CER of each voice too (the manifest's voice field)")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(func=commands.evaluate)


def _serve(sub: argparse._SubParsersAction) -> None:
    sv = sub.add_parser("serve", help="serve many streams over WebSocket")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=2700)
    _model_args(sv, backend="onnx")  # many streams: the engine that costs each the least CPU
    sv.add_argument("--max-sessions", type=int, default=64, help="concurrent streams")
    sv.add_argument("--idle-timeout", type=float, default=30.0, help="seconds a silent stream may stay open")
    sv.add_argument("--max-backlog-ms", type=float, default=300.0,
                    help="refuse new streams from when the live ones' unread audio exceeds this until it is "
                    "under half of it (0: never)")
    sv.add_argument("--token", default=None, help="require this bearer token")
    sv.add_argument("--origin", action="append", default=[], help="allowed browser Origin (repeatable)")
    sv.add_argument("--certfile", default=None, help="TLS certificate (PEM)")
    sv.add_argument("--keyfile", default=None, help="TLS key (PEM)")
    sv.add_argument("--workers", type=int, default=2, help="compute threads when not batching")
    sv.add_argument("--processes", type=int, default=1,
                    help="server processes sharing the port, each with its own model and GIL (about one per core)")
    sv.add_argument("--max-batch", type=int, default=16, help="chunks of different streams per encoder call (1: off)")
    sv.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a chunk waits to be batched")
    sv.add_argument("--compression", action="store_true",
                    help="accept permessage-deflate (off by default: audio barely compresses, and it costs CPU)")
    _final_pass_arg(sv, "re-decode finals at full context for streams whose start message does not choose")
    sv.set_defaults(func=commands.serve)


def _stream(sub: argparse._SubParsersAction) -> None:
    st = sub.add_parser("stream", help="send an audio file to a server as a live stream")
    st.add_argument("audio", help="audio file, any rate and channel count, sent at its own rate (mu-law and A-law "
                    "as such, other samples as 16-bit PCM); - reads stdin as it comes")
    _raw_args(st, "averaged unless --split-channels")
    st.add_argument("--server", default="ws://127.0.0.1:2700/", help="server URL")
    pace = st.add_mutually_exclusive_group()
    pace.add_argument("--realtime", action="store_true", help="send at real time")
    pace.add_argument("--speed", type=float, default=0.0, help="send at this multiple of real time (0: at once)")
    st.add_argument("--token", default=None, help="bearer token")
    _latency_arg(st, " (pace with --realtime for a live stream's figures)")
    _chunk_args(st, "the server's, ")
    _segment_args(st)
    _hotwords_arg(st)
    _alternatives_arg(st)
    _split_channels_arg(st, "a call recorded in stereo, at most 2 channels; events as soon as the server sends "
                        "them, subtitle cues at the end in the order of their starts")
    _format_args(st)
    st.set_defaults(func=commands.stream)


def _mic(sub: argparse._SubParsersAction) -> None:
    mc = sub.add_parser("mic", help="live captions from the microphone")
    where = mc.add_mutually_exclusive_group()
    where.add_argument("--server", default=None, help="recognize on this server (ws://...)")
    where.add_argument("--local", action="store_true", help="recognize in this process (the default)")
    _model_args(mc, backend=None)  # None: torch here; with --server the server has chosen (it is refused)
    mc.add_argument("--device", default=None, help="input device name or index (default: system default)")
    mc.add_argument("--list-devices", action="store_true", help="list the input devices (* the default) and exit")
    mc.add_argument("--seconds", type=float, default=0.0, help="stop after listening this long (0: until Ctrl-C)")
    mc.add_argument("--token", default=None, help="bearer token for --server")
    _latency_arg(mc, " (with --server)")
    _chunk_args(mc, "")
    _segment_args(mc)
    _hotwords_arg(mc)
    _split_channels_arg(mc, "the device's first two channels: two microphones on a stereo input",
                        default="the first channel alone")
    _format_args(mc)
    mc.set_defaults(func=commands.mic)


def _export(sub: argparse._SubParsersAction) -> None:
    ex = sub.add_parser("export", help="write a model folder's encoder as ONNX (fp32 and int8)")
    ex.add_argument("model", help="model folder")
    ex.add_argument("--out", default=None, help="folder for a deployable copy (default: into the model folder)")
    ex.set_defaults(func=training.export)


def _train(sub: argparse._SubParsersAction) -> None:
    tr = sub.add_parser("train", help="train a model from a JSON config")
    tr.add_argument("config", help="training config (JSON), see recipes/")
    tr.set_defaults(func=training.train)


def _average(sub: argparse._SubParsersAction) -> None:
    av = sub.add_parser("average", help="a model folder holding the mean of several models' weights")
    av.add_argument("models", nargs="+", help="model folders of one shape and token set (two or more)")
    av.add_argument("--out", required=True, help="folder to write")
    av.set_defaults(func=training.average)


def _data(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="corpus tools")
    dsub = d.add_subparsers(dest="data_command", required=True)
    _synth(dsub)
    _librispeech(dsub)


def _synth(sub: argparse._SubParsersAction) -> None:
    s = sub.add_parser("synth", help="synthesize a speech corpus with espeak-ng, flite, festival (and pico, piper)")
    s.add_argument("--out", required=True, help="corpus folder")
    s.add_argument("--hours", type=float, default=10.0, help="hours of training audio")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--test-sentences", type=int, default=200, help="sentences per test split")
    s.add_argument("--dev-sentences", type=int, default=500, help="sentences in the dev split (LM weight tuning)")
    s.add_argument("--dev-unseen-sentences", type=int, default=200,
                   help="of dev's sentences, how many the held-out voices speak again (dev-unseen-voices)")
    s.add_argument("--jobs", type=int, default=2, help="parallel processes")
    s.add_argument("--voice-draw", choices=("engine", "uniform"), default="engine",
                   help="engine: pick an engine, then a voice (default); uniform: any voice alike")
    s.add_argument("--dev-avoid", nargs="+", default=[], metavar="MANIFEST",
                   help="keep the sentences of these manifests (an earlier stage's training set, or its "
                        "corpus's plan.jsonl) out of dev")
    s.add_argument("--train-avoid", nargs="+", default=[], metavar="MANIFEST",
                   help="keep the sentences of these manifests (an earlier corpus's dev, or its plan.jsonl) out "
                        "of train")
    s.add_argument("--splits", type=lambda v: tuple(x for x in v.split(",") if x), default=None,
                   help="comma-separated splits whose audio to make, of train, dev, test-seen-voices, "
                        "test-unseen-voices and dev-unseen-voices (default: all; '' writes plan.jsonl and "
                        "lm-text.txt only); "
                        "the plan is the same whichever are made")
    s.add_argument("--engines", nargs="+", choices=ENGINES, default=list(DEFAULT_ENGINES),
                   help=f"engines that speak (default: {' '.join(DEFAULT_ENGINES)}); held-out voices stay held out")
    s.set_defaults(func=training.synth)


def _librispeech(sub: argparse._SubParsersAction) -> None:
    ls = sub.add_parser("librispeech", help="write a manifest for a LibriSpeech-style folder")
    ls.add_argument("root", help="folder holding SPEAKER/CHAPTER/*.trans.txt and *.flac")
    ls.add_argument("--out", required=True, help="manifest to write")
    ls.set_defaults(func=training.librispeech)


def _model_args(p: argparse.ArgumentParser, backend: str | None = "torch") -> None:
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--backend", choices=BACKENDS, default=backend,
                   help="engine of the streaming encoder (onnx: onnxruntime fp32; onnx-int8: int8 weights; "
                        f"default: {backend or 'torch'})")
    p.add_argument("--beam", type=int, default=None,
                   help=f"prefixes the beam search keeps after each frame (default: {DEFAULT_BEAM}); a narrower "
                        "beam costs each stream less CPU and makes more word errors (README, *Beam*)")
    lm = p.add_mutually_exclusive_group()
    lm.add_argument("--lm", default=None, help="KenLM model, ARPA or binary (default: the bundled LM)")
    lm.add_argument("--no-lm", action="store_true", help="decode without a language model")


def _stream_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chunk-ms", type=int, default=320, help="chunk length; 0 = whole utterance")
    p.add_argument("--left-chunks", type=int, default=8, help="attention left context in chunks (-1: all)")
    _segment_args(p)


def _chunk_args(p: argparse.ArgumentParser, whose: str) -> None:
    """The stream's latency settings, for a live source: left out of a start message unless given."""
    p.add_argument("--chunk-ms", type=int, default=None, help=f"chunk length, a multiple of 40 (default: {whose}320)")
    p.add_argument("--left-chunks", type=int, default=None,
                   help=f"attention left context in chunks (default: {whose}8)")


def _raw_args(p: argparse.ArgumentParser, channels: str = "averaged") -> None:
    raw = p.add_argument_group("raw audio on stdin (-); a WAV stream there names its own")
    raw.add_argument("--rate", type=int, default=None, help="samples per second (default: 16000)")
    raw.add_argument("--encoding", choices=tuple(SAMPLE_WIDTH), default=None,
                     help="pcm_s16le: 16-bit little-endian; f32le: 32-bit float; mulaw, alaw: G.711 "
                     "(default: pcm_s16le)")
    raw.add_argument("--channels", type=int, default=None,
                     help=f"interleaved channels, {channels} (default: 1)")


def _segment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--silence", type=float, default=EndpointConfig.silence_after_speech_s, metavar="SECONDS",
                   help="silence after speech that ends a segment with a final (default: %(default)s)")
    _final_pass_arg(p, "each final re-decodes its segment at full context (partials stay streaming)")


def hotword_list(value: str) -> tuple[str, ...]:
    """``--hotwords``' value: words and phrases separated by commas (``protocol.hotwords_of``)."""
    words = tuple(hotwords_of(value))
    if len(words) > MAX_HOTWORDS:
        raise argparse.ArgumentTypeError(f"at most {MAX_HOTWORDS} hotwords, not {len(words)}")
    return words


def hotword_weight(value: str) -> float:
    """``--hotword-weight``'s value: a number 0..MAX_HOTWORD_WEIGHT, as a start message may ask."""
    try:
        weight = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 <= weight <= MAX_HOTWORD_WEIGHT:
        raise argparse.ArgumentTypeError(f"must be 0..{MAX_HOTWORD_WEIGHT:g}, not {value}")
    return weight


def _hotwords_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hotwords", type=hotword_list, default=(), metavar="WORDS",
                   help="words and phrases to favour, separated by commas (names, terms the LM has never seen; "
                        "at most 100)")
    p.add_argument("--hotword-weight", type=hotword_weight, default=None, metavar="W",
                   help="bonus per word of a hotword, 0..20 (default: the decoder's, 7.5; higher finds more of them "
                        "and puts them where they were not said more often: README, Hotwords)")


def _alternatives_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--alternatives", type=int, default=0, metavar="N",
                   help="each final carries up to N ranked texts of the search, best first (default: none)")


def _split_channels_arg(p: argparse.ArgumentParser, what: str, default: str = "the channels averaged") -> None:
    p.add_argument("--split-channels", action="store_true",
                   help=f"each channel its own speaker ({what}): recognized apart, each event marked with its channel "
                        f"(chN: in text and subtitles, \"channel\": N in JSON) (default: {default})")


def _format_args(p: argparse.ArgumentParser) -> None:
    out = p.add_mutually_exclusive_group()
    out.add_argument("--format", choices=("text", "json", "srt", "vtt", "settled"), default="text",
                     help="text: a live partial line and each final; json: one JSON event a line, as a server "
                     "sends them; srt, vtt: the finals as SubRip or WebVTT subtitles, cue by cue; settled: each "
                     "word once, as soon as it is settled, a segment to a line, never taken back (default: text)")
    out.add_argument("--json", dest="format", action="store_const", const="json", help="the same as --format json")


def _latency_arg(p: argparse.ArgumentParser, where: str) -> None:
    p.add_argument("--latency", action="store_true",
                   help="at the end, print on stderr how long the words took to show in a partial after "
                        "their end was spoken (within the frame holding it, sent once complete), to stop changing "
                        "and to be settled (in a partial's stable_words or the final; p50, p95), how long the "
                        "partials took after the audio they cover was sent (p50, p95, max) and the last final "
                        f"after the end message{where}")


def _final_pass_arg(p: argparse.ArgumentParser, help: str) -> None:
    p.add_argument("--final-pass", action="store_true", help=help)


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
