"""One function per subcommand that recognizes speech (transcribe, eval, serve, stream, mic): arguments ->
configs -> a library call -> printed results. Those that make corpora and models are in ``training.py``."""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from streamasr.cli.display import Display, latency_line
from streamasr.cli.interrupt import CtrlC
from streamasr.endpoint import SILENCE_RANGE_S, EndpointConfig
from streamasr.errors import AudioError, DeviceError, ModelError
from streamasr.events import transcript

if TYPE_CHECKING:  # the client is imported where a command needs it
    from streamasr.client import Timing
    from streamasr.pipe import RawFormat


class UserError(Exception):
    """Printed as one line, exit status 2."""


def load_recognizer(model: str | None, lm: str | None, backend: str, beam: int | None = None):
    """``Recognizer.from_pretrained``, importing torch only when called (in each server process).
    ``beam``: the search's width (None: ``DecoderConfig``'s)."""
    from streamasr.decoder import DecoderConfig
    from streamasr.recognizer import Recognizer

    decoder = DecoderConfig(beam=beam) if beam else DecoderConfig()
    return Recognizer.from_pretrained(model, lm=lm, decoder=decoder, backend=backend)


def _loader(args) -> functools.partial:
    """The recognizer the arguments name, to be loaded (here, or in each server process)."""
    if args.beam is not None and args.beam < 1:
        raise UserError("--beam must be at least 1")
    lm = None if args.no_lm else (args.lm or "default")
    return functools.partial(load_recognizer, args.model, lm, args.backend or "torch", args.beam)


def recognizer_flags(args) -> list[str]:
    """The recognizer flags given on the command line (those a server, having chosen its recognizer, cannot take)."""
    given = {"--model": args.model is not None, "--lm": args.lm is not None, "--no-lm": args.no_lm,
             "--beam": args.beam is not None, "--backend": args.backend is not None}
    return [flag for flag, on in given.items() if on]


def _recognizer(args):
    try:
        return _loader(args)()
    except (ModelError, FileNotFoundError, OSError) as e:
        raise UserError(str(e)) from None


def _audio_source(args, path: str, piece_ms: int, speed: float, ctrl_c: CtrlC):
    """The audio ``path`` names as blocks of (S,) float32 at its own rate ((S, C), a column per channel, where
    ``args.split_channels`` asks): a file, read as a stream and cut into ``piece_ms`` pieces, or stdin
    (``-``), read as it comes (``pipes.Stdin``). Paced at ``speed`` times real time (0: at once); Ctrl-C ends
    the blocks. A source that cannot be opened is a UserError now; one that fails midway ends the blocks,
    and its ``error`` (``pipes.Guarded``) is to be checked once they end; its ``fmt``, once they have begun."""
    from streamasr.cli.pipes import Guarded, Stdin, paced, pieces, pipe_format, raw_flags

    if path == "-":
        if sys.stdin.isatty():  # what would be typed there is no audio
            raise UserError("stdin is a terminal: pipe audio into it (e.g. arecord -f S16_LE -r 16000 -t raw | "
                            f"streamasr {args.command} -), or name a file")
        try:
            pipe_format(b"", args)  # the flags' format is checked before stdin is read
        except AudioError as e:
            raise UserError(str(e)) from None
        return Guarded(Stdin(args, min(piece_ms, 100), speed, stop=lambda: ctrl_c.pressed))
    if flags := raw_flags(args):
        raise UserError(f"{', '.join(flags)}: for raw audio on stdin (-); {path}'s header names its own format")
    from streamasr.audio import read_as_held

    try:
        fmt, blocks = read_as_held(path, keep_channels=getattr(args, "split_channels", False))
    except AudioError as e:
        raise UserError(str(e)) from None
    step = max(1, fmt.sample_rate * piece_ms // 1000)
    return Guarded(paced((p for block in blocks for p in pieces(block, step)), fmt.sample_rate, speed,
                         stop=lambda: ctrl_c.pressed), fmt)


def _begun(source) -> tuple[RawFormat, Iterable]:
    """An ``_audio_source``'s format and its blocks, the first of them read (a pipe's format comes with its first
    bytes); 16 kHz 16-bit PCM, mono, where no block came (no audio, or a pipe that failed at once)."""
    from streamasr.pipe import RawFormat

    blocks = iter(source)
    first = next(blocks, None)
    return source.fmt or RawFormat(), (itertools.chain([first], blocks) if first is not None else ())


async def _off_the_loop(items: Iterable) -> AsyncIterator:
    """The items of a blocking iterable (a pipe, a paced file, a device), each fetched in a worker thread while
    the event loop goes on; it ends at the iterable's end (its items are never None)."""
    import asyncio

    loop = asyncio.get_running_loop()
    it = iter(items)
    while (item := await loop.run_in_executor(None, next, it, None)) is not None:
        yield item


OUT_SUFFIX = {"text": ".txt", "json": ".jsonl", "srt": ".srt", "vtt": ".vtt", "settled": ".txt"}  # --out-dir's files


def transcribe(args) -> int:
    paths, several = args.audio, len(args.audio) > 1
    if several and "-" in paths:
        raise UserError("- (stdin) is read alone, not among files")
    if several and not args.out_dir and args.format in ("srt", "vtt", "settled"):
        raise UserError(f"--format {args.format} of several files: give --out-dir, for a file of each")
    outs = out_paths(paths, args.out_dir, OUT_SUFFIX[args.format]) if args.out_dir else None
    if outs:
        try:
            Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot make --out-dir {args.out_dir}: {e.strerror or e}") from None
    _check_split_channels(args)
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    rec = _recognizer(args)
    session = sessions(args, rec)
    try:
        session()  # the settings checked before any audio is read
    except ValueError as e:
        raise UserError(str(e)) from None
    failed = 0
    with CtrlC() as ctrl_c:  # the first ends the audio as a file's end would; its last final still comes
        if several and args.jobs > 1:
            from streamasr.cli.jobs import transcribe_files

            return transcribe_files(args, paths, outs, _loader(args), ctrl_c)
        for i, path in enumerate(paths):
            if ctrl_c.pressed:  # the files after the one it ended are left
                break
            try:
                transcribe_one(args, path, rec.sample_rate, session, ctrl_c, outs[i] if outs else None,
                               label=path if several and not outs else None)
            except UserError as e:
                if not several:
                    raise
                print(f"streamasr: error: {e}", file=sys.stderr)  # and on to the next file
                failed += 1
    return 2 if failed else 0


def sessions(args, rec) -> functools.partial:
    """New sessions of ``rec`` with the settings the stream flags give (transcribe's, in each of its jobs)."""
    return functools.partial(rec.session, chunk_ms=args.chunk_ms, left_chunks=args.left_chunks,
                             endpoint=_endpoint(args), final_pass=args.final_pass, alternatives=args.alternatives,
                             hotwords=args.hotwords, hotword_weight=args.hotword_weight)


def transcribe_one(args, path: str, rate: int, session: Callable, ctrl_c: CtrlC, out: Path | None,
                    label: str | None) -> None:
    """One file (or stdin) through new sessions (``session()``), its events shown on stdout, or written to
    ``out``; ``label``: the file's name, put on each line of stdout where several files share it."""
    from streamasr.pipe import at_rate

    source = _audio_source(args, path, max(args.chunk_ms, 100), 1.0 if args.realtime else 0.0, ctrl_c)
    fmt, blocks = _begun(source)
    with contextlib.ExitStack() as stack:  # the file is made once its audio could be read
        try:
            stream = stack.enter_context(open(out, "w", encoding="utf-8")) if out else sys.stdout
        except OSError as e:
            raise UserError(f"cannot write {out}: {e.strerror or e}") from None
        show = Display(args.format, out=stream, label=label)
        checked = _checked(blocks, fmt, "stdin" if path == "-" else path, show)  # as the file or pipe holds them
        _recognize(at_rate(checked, fmt.sample_rate, rate), session, show, args.split_channels)
    if out:
        print(f"{path} -> {out}", file=sys.stderr)
    _raise_if_failed(source, path)


def _checked(blocks: Iterable, fmt: RawFormat, source: str, show: Display) -> Iterator:
    """``blocks`` as they are, of samples in ``fmt`` (the rate and encoding a server hears them in from
    ``streamasr stream``), their input check's warnings shown as they come (``streamasr.levels``; a check for
    each channel of (S, C) blocks, whose warnings name it), and at their end those their whole length earned."""
    from streamasr.levels import FULL_SCALE, InputCheck
    from streamasr.protocol import PEAK, warning_message

    checks: list[tuple[InputCheck, str, dict]] = []  # (check, source, tag) of each channel

    def say(warnings, name: str, tag: dict) -> None:
        for w in warnings:
            show(warning_message(w.code, w.message(name)) | tag)

    for block in blocks:
        if not checks:
            channels = range(block.shape[1]) if block.ndim == 2 else (None,)
            checks = [(InputCheck(fmt.sample_rate, full_scale=FULL_SCALE * PEAK[fmt.encoding]),
                        source if c is None else f"channel {c} of {source}",
                       {} if c is None else {"channel": c}) for c in channels]
        for c, (check, name, tag) in enumerate(checks):
            say(check.feed(block if block.ndim == 1 else block[:, c]), name, tag)
        yield block
    for check, name, tag in checks:
        say(check.close(), name, tag)


def out_paths(paths: list[str], folder: str, suffix: str) -> list[Path]:
    """``--out-dir``: the file each input's events go to, named after it (stdin: "stdin"). Two inputs of one
    name (from two folders) are an error, before any is read.

    >>> [str(p) for p in out_paths(["calls/a.wav", "b.flac"], "out", ".srt")]
    ['out/a.srt', 'out/b.srt']
    >>> out_paths(["x/a.wav", "y/a.wav"], "out", ".srt")
    Traceback (most recent call last):
    streamasr.cli.commands.UserError: x/a.wav and y/a.wav would both be written to out/a.srt
    """
    outs, seen = [], {}
    for path in paths:
        out = Path(folder) / ((Path(path).stem if path != "-" else "stdin") + suffix)
        if out in seen:
            raise UserError(f"{seen[out]} and {path} would both be written to {out}")
        seen[out] = path
        outs.append(out)
    return outs


def _recognize(blocks: Iterable, session: Callable, show: Display, split_channels: bool) -> None:
    """``blocks`` through new sessions (``session()``), every event shown, then the last finals (what was heard
    is closed with a final, even where the source went wrong): (S,) blocks through one session, or with
    ``split_channels`` (S, C) blocks through a session per channel (``ChannelSessions``)."""
    if not split_channels:
        one = session()
        for block in blocks:
            for ev in one.accept(block):
                show(ev.to_dict())
        for ev in one.finish():
            show(ev.to_dict())
        return
    from streamasr.channels import ChannelSessions

    channels: ChannelSessions | None = None  # made at the first block, which says how many channels
    for block in blocks:
        if channels is None:
            channels = ChannelSessions([session() for _ in range(block.shape[1])])
        for ev in channels.accept(block):
            show(ev.to_dict())
    for ev in (channels or ChannelSessions([session()])).finish():  # no audio at all: one channel's empty final
        show(ev.to_dict())
    show.finish()


def evaluate(args) -> int:
    from streamasr.audio import load_audio, with_silence_before
    from streamasr.data.manifest import read_manifest
    from streamasr.metrics import error_rate

    if args.lead_silence < 0:
        raise UserError(f"--lead-silence must be at least 0 seconds, not {args.lead_silence:g}")
    if args.limit < 0:
        raise UserError(f"--limit must be 0 (all) or more, not {args.limit}")
    try:  # before the model loads: a wrong path fails at once
        utts = read_manifest(args.manifest)
    except OSError as e:
        raise UserError(f"cannot read manifest {args.manifest}: {e.strerror or e}") from None
    except ValueError as e:
        raise UserError(str(e)) from None
    rec = _recognizer(args)
    if args.limit:
        utts = utts[: args.limit]
    refs, hyps, audio_s = [], [], 0.0
    endpoint = _endpoint(args)
    t0 = time.process_time()
    for u in utts:
        try:  # a setting this model or backend cannot take, or an utterance's file that cannot be read
            s = rec.session(chunk_ms=args.chunk_ms, left_chunks=args.left_chunks, search=args.decoder,
                            endpoint=endpoint, final_pass=args.final_pass,
                            fresh_after_pause=not args.no_fresh_after_pause)
            samples = load_audio(u.audio, rec.sample_rate)
        except ValueError as e:
            raise UserError(str(e)) from None
        samples = with_silence_before(samples, args.lead_silence, rec.sample_rate)
        hyps.append(transcript(s.accept(samples) + s.finish()))
        refs.append(u.text)
        audio_s += len(samples) / rec.sample_rate
    cpu = time.process_time() - t0
    result = {"manifest": str(args.manifest), "utterances": len(utts), "chunk_ms": args.chunk_ms,
              "decoder": args.decoder, "lm": None if args.no_lm or rec.lm is None else str(rec.lm.path),
              "lead_silence_s": args.lead_silence, "fresh_after_pause": not args.no_fresh_after_pause,
              "wer": round(error_rate(refs, hyps), 4), "cer": round(error_rate(refs, hyps, chars=True), 4),
              "rtf_cpu": round(cpu / max(audio_s, 1e-9), 4)}
    if args.by_voice:
        result["by_voice"] = by_voice([u.voice for u in utts], refs, hyps)
    if args.json:
        print(json.dumps(result))
        return 0
    silence = f", {args.lead_silence:g} s of silence before each" if args.lead_silence else ""
    print(f"WER {100 * result['wer']:.2f}%  CER {100 * result['cer']:.2f}%  "
          f"({len(utts)} utterances, chunk {args.chunk_ms} ms, {args.decoder}"
          f"{', LM' if result['lm'] else ''}{silence}, CPU RTF {result['rtf_cpu']})")
    for voice, r in result.get("by_voice", {}).items():
        print(f"  {voice or '(no voice)'}: WER {100 * r['wer']:.2f}%  CER {100 * r['cer']:.2f}%  "
              f"({r['utterances']} utterances)")
    return 0


def by_voice(voices: list[str], refs: list[str], hyps: list[str]) -> dict[str, dict]:
    """WER and CER of each voice's utterances, voices in sorted order.

    >>> by_voice(["b", "a", "b"], ["x y", "z", "u v"], ["x", "z", "u v"])
    {'a': {'utterances': 1, 'wer': 0.0, 'cer': 0.0}, 'b': {'utterances': 2, 'wer': 0.25, 'cer': 0.3333}}
    """
    from streamasr.metrics import error_rate

    out = {}
    for voice in sorted(set(voices)):
        mine = [i for i, v in enumerate(voices) if v == voice]
        r, h = [refs[i] for i in mine], [hyps[i] for i in mine]
        out[voice] = {"utterances": len(mine), "wer": round(error_rate(r, h), 4),
                      "cer": round(error_rate(r, h, chars=True), 4)}
    return out


def serve(args) -> int:
    from streamasr.server import ServerConfig, serve as run
    from streamasr.server.processes import ServerStartError

    if bool(args.certfile) != bool(args.keyfile):
        raise UserError("--certfile and --keyfile go together")
    for flag, ok, rule in (("--processes", args.processes >= 1, "at least 1"),
                           ("--max-backlog-ms", args.max_backlog_ms >= 0, "0 (never refuse) or more"),
                           ("--port", 0 <= args.port <= 65535, "0 (any free port) to 65535"),
                           ("--max-sessions", args.max_sessions >= 1, "at least 1"),
                           ("--idle-timeout", args.idle_timeout > 0, "more than 0 seconds"),
                           ("--workers", args.workers >= 1, "at least 1"),
                           ("--max-batch", args.max_batch >= 1, "at least 1 (1: no batching)"),
                           ("--max-wait-ms", args.max_wait_ms >= 0, "0 or more")):
        if not ok:
            raise UserError(f"{flag} must be {rule}")
    cfg = ServerConfig(host=args.host, port=args.port, max_sessions=args.max_sessions,
                       idle_timeout_s=args.idle_timeout, max_backlog_ms=args.max_backlog_ms,
                       token=args.token, origins=tuple(args.origin),
                       certfile=args.certfile, keyfile=args.keyfile, workers=args.workers,
                       max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
                       compression=args.compression, final_pass=args.final_pass, processes=args.processes)
    try:
        run(_loader(args), cfg)
    except (ModelError, FileNotFoundError, OSError, ServerStartError) as e:
        raise UserError(str(e)) from None
    return 0


def _run_client(url: str, client: Coroutine, timing: Timing | None) -> int:
    """Run a client of the server at ``url`` (``streamasr.client``) to its end: a failed connection is a
    one-line error; then ``timing``'s latency line, if measured. -> the exit code: 1 if the server sent an
    error (a refusal), else 0."""
    import asyncio

    from websockets.exceptions import ConnectionClosed, InvalidURI, WebSocketException

    from streamasr.client import latencies

    try:
        events = asyncio.run(client)
    except ConnectionClosed as e:  # after the stream had started: the events before it have been shown
        raise UserError(f"the stream to {url} closed before its end: {e}") from None
    except (OSError, InvalidURI, WebSocketException) as e:  # unreachable, refused (a token), not a server
        raise UserError(f"cannot stream to {url}: {e}") from None
    if timing is not None:
        print(latency_line(latencies(events, timing)), file=sys.stderr)
    return 1 if any(e.get("type") == "error" for e in events) else 0


def stream(args) -> int:
    from streamasr.client import Timing, stream_frames, wire_format
    from streamasr.pipe import at_rate

    if args.speed < 0:
        raise UserError("--speed must be 0 (at once) or more")
    speed = 1.0 if args.realtime else args.speed
    _check_split_channels(args)
    ctrl_c = CtrlC()  # the first ends the audio, the stream then ends as at the end of a file
    source = _audio_source(args, args.audio, 100, speed, ctrl_c)
    show = Display(args.format, spoken_order=False)  # a server sends each channel's events as soon as they come
    timing = Timing() if args.latency else None
    start = _start_fields(args)

    with ctrl_c:  # each block read off the event loop: stdin waits for its pipe, a paced file for its time
        fmt, blocks = _begun(source)  # the start message says the samples' format: a pipe's first bytes tell
        rate, encoding = wire_format(fmt.sample_rate, fmt.encoding)  # their own, where the protocol takes it
        if args.split_channels:
            start |= {"channels": fmt.channels}
        frames = _off_the_loop(at_rate(blocks, fmt.sample_rate, rate))
        code = _run_client(args.server, stream_frames(args.server, frames, rate, on_event=show, token=args.token,
                                                       start=start, timing=timing, encoding=encoding),
                           timing)
        show.finish()
    _raise_if_failed(source, args.audio)
    return code


def _raise_if_failed(source, path: str) -> None:
    """After a stream has ended (its last final shown): the error that ended ``source`` early, if one did (a
    file's error names the file already)."""
    if source.error:
        raise UserError(f"stdin: {source.error}" if path == "-" else str(source.error))


def _check_split_channels(args) -> None:
    """``--split-channels`` goes with the formats that can show several open segments at once."""
    if not getattr(args, "split_channels", False):
        return
    if args.format == "settled":
        raise UserError("--format settled writes one segment at a time, and --split-channels has one open on "
                        "each channel: use text, json, srt or vtt")


def mic(args) -> int:
    import queue

    if args.list_devices:
        from streamasr.mic import device_lines

        try:
            print("\n".join(device_lines()) or "no input devices found")
        except DeviceError as e:
            raise UserError(f"microphone: {e}") from None
        return 0

    if args.server and (flags := recognizer_flags(args)):
        raise UserError(f"{', '.join(flags)}: the server at {args.server} has chosen its recognizer "
                        "(give them to `streamasr serve`), or drop --server to recognize here")
    if args.latency and not args.server:
        raise UserError("--latency measures a server's answers: give --server too")
    _check_split_channels(args)

    from streamasr.levels import InputCheck
    from streamasr.mic import describe, input_rate, microphone
    from streamasr.pipe import at_rate

    device = int(args.device) if args.device and args.device.isdigit() else args.device
    channels = 2 if args.split_channels else 1  # two microphones on a stereo input, each its own speaker
    show = Display(args.format, spoken_order=not args.server,  # a server sends each channel's events as they come
                   warnings=False)  # the input check below says them, with what to do about a microphone

    ctrl_c = CtrlC()  # the first ends the audio, the stream then ends (its last final printed)

    def blocks(q, rate: int, wanted: int):
        """The device's blocks (at ``rate``), for --seconds from the moment it opened (the model may take a while
        to load), or until Ctrl-C; a line on stderr if they hold only silence, nothing loud enough to be speech, or
        clip. The line that says the device listens says its rate too, where it is not the ``wanted`` one."""
        deadline = time.monotonic() + args.seconds if args.seconds else float("inf")
        print("listening" + (f" for {args.seconds:g} s" if args.seconds else " (Ctrl-C stops)")
              + (f" at {rate} Hz, the device's own rate" if rate != wanted else ""), file=sys.stderr, flush=True)
        check = InputCheck(rate)
        while time.monotonic() < deadline and not ctrl_c.pressed:
            try:
                block = q.get(timeout=0.5)
            except queue.Empty:
                continue
            for warning in check.feed(block):
                print(f"streamasr: warning: {describe(warning)}", file=sys.stderr, flush=True)
            yield block

    try:
        if args.server:
            with ctrl_c:
                return _mic_via_server(args, device, channels, blocks, show)
        rec = _recognizer(args)
        session = functools.partial(rec.session, endpoint=_endpoint(args), final_pass=args.final_pass,
                                    hotwords=args.hotwords, hotword_weight=args.hotword_weight, **_chunking(args))
        try:
            session()  # the settings checked before the device opens
        except ValueError as e:  # a chunk this model or backend cannot take
            raise UserError(str(e)) from None
        rate = input_rate(rec.sample_rate, device, channels)  # the device's own where it takes no other
        with ctrl_c, microphone(rate, device=device, channels=channels) as q:
            _recognize(at_rate(blocks(q, rate, rec.sample_rate), rate, rec.sample_rate), session, show,
                       args.split_channels)
    except DeviceError as e:
        raise UserError(f"microphone: {e}") from None
    return 0


def _mic_via_server(args, device, channels: int, blocks, show) -> int:
    from contextlib import aclosing

    from streamasr.client import Timing, stream_frames, wire_format
    from streamasr.mic import input_rate, microphone
    from streamasr.pipe import at_rate

    timing = Timing() if args.latency else None
    rate = input_rate(16000, device, channels)  # the device's own where it takes no other
    wire_rate, encoding = wire_format(rate, "f32le")  # as recorded, where the protocol takes the rate

    async def device_blocks():
        """The device's blocks; it opens once the start message is out."""
        with microphone(rate, device=device, channels=channels) as q:
            async for block in _off_the_loop(at_rate(blocks(q, rate, 16000), rate, wire_rate)):
                yield block

    async def main() -> list[dict]:
        async with aclosing(device_blocks()) as frames:
            start = _start_fields(args) | ({"channels": channels} if channels > 1 else {})
            return await stream_frames(args.server, frames, wire_rate, start=start, on_event=show, token=args.token,
                                       timing=timing, encoding=encoding)

    code = _run_client(args.server, main(), timing)
    show.finish()
    return code


def _endpoint(args) -> EndpointConfig:
    lo, hi = SILENCE_RANGE_S
    if not lo <= args.silence <= hi:
        raise UserError(f"--silence must be {lo:g}..{hi:g} seconds")
    return EndpointConfig(silence_after_speech_s=args.silence)


def _chunking(args) -> dict:
    """``--chunk-ms`` and ``--left-chunks`` where given, as session arguments and start-message fields alike."""
    return {k: v for k, v in (("chunk_ms", args.chunk_ms), ("left_chunks", args.left_chunks)) if v is not None}


def _start_fields(args) -> dict:
    """Start-message fields from ``--silence``, ``--final-pass``, ``--alternatives``, ``--hotwords``,
    ``--hotword-weight``, ``--chunk-ms`` and ``--left-chunks`` (all but the first left out when not asked: the
    server decides, or the default stands)."""
    return ({"silence_after_speech_s": args.silence} | ({"final_pass": True} if args.final_pass else {})
            | ({"alternatives": args.alternatives} if getattr(args, "alternatives", 0) else {})
            | ({"hotwords": list(args.hotwords)} if args.hotwords else {})
            | ({"hotword_weight": args.hotword_weight} if args.hotword_weight is not None else {}) | _chunking(args))
