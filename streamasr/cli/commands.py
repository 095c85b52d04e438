"""One function per subcommand: arguments -> configs -> a library call -> printed results."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from streamasr.audio import AudioError, load_audio
from streamasr.model import ModelError


class UserError(Exception):
    """Printed as one line, exit status 2."""


def _recognizer(args):
    from streamasr.recognizer import Recognizer

    lm = None if args.no_lm else (args.lm or "default")
    try:
        return Recognizer.from_pretrained(args.model, lm=lm)
    except (ModelError, FileNotFoundError, OSError) as e:
        raise UserError(str(e)) from None


def stream_file(session, samples: np.ndarray, rate: int, piece_ms: int, realtime: bool):
    """Yield events while feeding ``samples`` in pieces, optionally paced at real time."""
    step = max(1, rate * piece_ms // 1000)
    t0 = time.monotonic()
    for pos in range(0, len(samples), step):
        if realtime:
            time.sleep(max(0.0, t0 + pos / rate - time.monotonic()))
        yield from session.accept(samples[pos : pos + step])
    yield from session.finish()


def transcribe(args) -> int:
    rec = _recognizer(args)
    try:
        samples = load_audio(args.audio, rec.sample_rate)
        session = rec.session(chunk_ms=args.chunk_ms, left_chunks=args.left_chunks)
    except (AudioError, ValueError) as e:
        raise UserError(str(e)) from None
    tty = sys.stdout.isatty()
    for ev in stream_file(session, samples, rec.sample_rate, max(args.chunk_ms, 100), args.realtime):
        if args.json:
            print(json.dumps(ev.to_dict()), flush=True)
        elif ev.type == "partial":
            if tty:
                print(f"\r\033[K{ev.text}", end="", flush=True)
        elif ev.text or not tty:
            print(f"\r\033[K{ev.text}" if tty else ev.text, flush=True)
    return 0


def evaluate(args) -> int:
    from streamasr.data.manifest import read_manifest
    from streamasr.metrics import error_rate

    rec = _recognizer(args)
    try:
        utts = read_manifest(args.manifest)
    except (OSError, ValueError) as e:
        raise UserError(str(e)) from None
    if args.limit:
        utts = utts[: args.limit]
    refs, hyps, audio_s = [], [], 0.0
    t0 = time.process_time()
    for u in utts:
        samples = load_audio(u.audio, rec.sample_rate)
        s = rec.session(chunk_ms=args.chunk_ms, left_chunks=args.left_chunks, search=args.decoder)
        events = s.accept(samples) + s.finish()
        hyps.append(" ".join(e.text for e in events if e.type == "final" and e.text))
        refs.append(u.text)
        audio_s += len(samples) / rec.sample_rate
    cpu = time.process_time() - t0
    result = {"manifest": str(args.manifest), "utterances": len(utts), "chunk_ms": args.chunk_ms,
              "decoder": args.decoder, "lm": None if args.no_lm or rec.lm is None else str(rec.lm.path),
              "wer": round(error_rate(refs, hyps), 4), "cer": round(error_rate(refs, hyps, chars=True), 4),
              "rtf_cpu": round(cpu / max(audio_s, 1e-9), 4)}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"WER {100 * result['wer']:.2f}%  CER {100 * result['cer']:.2f}%  "
              f"({len(utts)} utterances, chunk {args.chunk_ms} ms, {args.decoder}"
              f"{', LM' if result['lm'] else ''}, CPU RTF {result['rtf_cpu']})")
    return 0


def serve(args) -> int:
    from streamasr.server import ServerConfig, serve as run

    if bool(args.certfile) != bool(args.keyfile):
        raise UserError("--certfile and --keyfile go together")
    cfg = ServerConfig(host=args.host, port=args.port, max_sessions=args.max_sessions,
                       idle_timeout_s=args.idle_timeout, token=args.token, origins=tuple(args.origin),
                       certfile=args.certfile, keyfile=args.keyfile, workers=args.workers)
    run(_recognizer(args), cfg)
    return 0


def stream(args) -> int:
    import asyncio

    from websockets.exceptions import InvalidURI, WebSocketException

    from streamasr.client import stream_samples

    try:
        samples = load_audio(args.audio, 16000)
    except AudioError as e:
        raise UserError(str(e)) from None

    def show(ev: dict) -> None:
        if args.json:
            print(json.dumps(ev), flush=True)
        elif ev.get("type") == "final" and ev.get("text"):
            print(ev["text"], flush=True)
        elif ev.get("type") == "error":
            print(f"server error {ev.get('code')}: {ev.get('message')}", file=sys.stderr)

    speed = 1.0 if args.realtime else args.speed
    try:
        events = asyncio.run(stream_samples(args.server, samples, 16000, speed=speed, on_event=show,
                                            token=args.token))
    except (OSError, InvalidURI, WebSocketException) as e:
        raise UserError(f"cannot stream to {args.server}: {e}") from None
    return 1 if any(e.get("type") == "error" for e in events) else 0


def train(args) -> int:
    from streamasr.train.config import TrainConfig
    from streamasr.train.recipe import train as run

    try:
        cfg = TrainConfig.load(args.config)
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"bad training config: {e}") from None
    run(cfg)
    return 0


def synth(args) -> int:
    from streamasr.data.synth import SynthConfig, synthesize

    counts = synthesize(SynthConfig(out=Path(args.out), hours=args.hours, seed=args.seed,
                                    test_sentences=args.test_sentences, jobs=args.jobs))
    print(json.dumps(counts))
    return 0


def librispeech(args) -> int:
    from streamasr.data.librispeech import import_librispeech

    n = import_librispeech(args.root, args.out)
    if n == 0:
        raise UserError(f"no *.trans.txt with audio found under {args.root}")
    print(f"wrote {n} utterances to {args.out}")
    return 0
