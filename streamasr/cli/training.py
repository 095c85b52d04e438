"""The subcommands that make corpora and models: ``data synth``, ``data librispeech``, ``train``,
``average`` and ``export``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from streamasr.cli.commands import UserError
from streamasr.errors import ModelError


def export(args) -> int:
    from streamasr.backends import export_model

    out = Path(args.out or args.model)
    try:
        paths = export_model(Path(args.model), out)
    except (ModelError, OSError) as e:
        raise UserError(str(e)) from None
    for p in paths:
        print(f"wrote {p} ({p.stat().st_size / 1e6:.1f} MB)")
    return 0


def train(args) -> int:
    from streamasr.train.config import TrainConfig
    from streamasr.train.featcache import StaleCache
    from streamasr.train.recipe import RecipeMismatch, launched_by_torchrun
    from streamasr.train.recipe import train as run

    try:
        cfg = TrainConfig.load(args.config)
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"bad training config: {e}") from None
    try:
        run(cfg)
    except (ModelError, RecipeMismatch, StaleCache) as e:
        raise UserError(str(e)) from None
    if launched_by_torchrun():
        # A torchrun worker whose run is done (model written, ranks met at the last barrier, process group
        # destroyed) ends here without the interpreter's teardown: in it, a C++ thread of torch's distributed
        # stack was twice seen to abort a finished rank ("terminate called without an active exception",
        # SIGABRT), which torchrun reports as a failed run.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def average(args) -> int:
    from streamasr.train.average import average_models

    try:
        print(average_models([Path(m) for m in args.models], Path(args.out)))
    except (ModelError, OSError) as e:
        raise UserError(str(e)) from None
    return 0


def synth(args) -> int:
    from streamasr.data.synth import SPLITS, SynthConfig, synthesize

    try:  # bad numbers, an avoid-manifest that is missing or malformed, an output folder that cannot be made
        counts = synthesize(SynthConfig(out=Path(args.out), hours=args.hours, seed=args.seed,
                                        test_sentences=args.test_sentences, dev_sentences=args.dev_sentences,
                                        dev_unseen_sentences=args.dev_unseen_sentences,
                                        jobs=args.jobs, voice_draw=args.voice_draw,
                                        dev_avoid=tuple(Path(m) for m in args.dev_avoid),
                                        train_avoid=tuple(Path(m) for m in args.train_avoid),
                                        engines=tuple(args.engines),
                                        splits=SPLITS if args.splits is None else args.splits))
    except (ValueError, OSError) as e:
        raise UserError(str(e)) from None
    print(json.dumps(counts))
    return 0


def librispeech(args) -> int:
    from streamasr.data.librispeech import import_librispeech

    n = import_librispeech(args.root, args.out)
    if n == 0:
        raise UserError(f"no *.trans.txt with audio found under {args.root}")
    print(f"wrote {n} utterances to {args.out}")
    return 0
