"""Accuracy on call audio: the test splits as a phone call carries them, through the server's media path.

    python benchmarks/call_audio.py [--corpus work/corpus-engines] [--limit N] [--snr-db 20] [--model DIR]

Each utterance goes through ``Connection``, the sans-I/O core that the server runs for every stream,
in 20 ms frames: 16 kHz PCM on the native dialect (the reference row), and for the call rows 8 kHz
mu-law as base64 JSON media events on the media-stream dialect (what ``/media`` takes from a
telephony provider), which the connection decodes and resamples to the model's 16 kHz. The call
rows: the audio resampled to 8 kHz; also limited to the 300-3400 Hz telephone band; the band through a
mobile leg's GSM 06.10 codec before the network's mu-law; and the band with pink noise at the caller's
end. ``serve``'s settings: the encoder on onnxruntime, 320 ms chunks, beam search + LM. Writes
benchmarks/results/call_audio.{json,md} and the README block; with ``--model`` (a candidate, e.g.
work/exp/NAME/model) call_audio-NAME.{json,md} only.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from streamasr.audio import load_audio
from streamasr.data.augment import add_noise, gsm_codec, phone_channel
from streamasr.metrics import error_rate
from streamasr.protocol import encode_audio, media_events, media_open_events, media_stop_event, to_text
from streamasr.recognizer import Recognizer
from streamasr.server.connection import Connection

sys.path.insert(0, str(Path(__file__).parent))
from results_io import candidate_command, candidate_result_name, publish  # noqa: E402
from splits import SPLITS, add_split_args, read_splits  # noqa: E402

RATE, FRAME_MS = 16000, 20


def native_frames(x: np.ndarray) -> list[str | bytes]:
    """16 kHz samples as a native-dialect stream: start, 20 ms pcm_s16le frames, end."""
    step = RATE * FRAME_MS // 1000
    return ([to_text({"type": "start", "sample_rate": RATE, "encoding": "pcm_s16le"})]
            + [encode_audio(x[i : i + step], "pcm_s16le") for i in range(0, len(x), step)]
            + [to_text({"type": "end"})])


def media_frames(y: np.ndarray) -> list[str]:
    """8 kHz samples as a media stream: start, 20 ms base64 mu-law media events, stop."""
    return [to_text(m) for m in media_open_events() + media_events(y) + [media_stop_event()]]


def replies(rec: Recognizer, dialect: str, frames: list[str | bytes]) -> list[dict]:
    """What a connection answers one stream, fed frame by frame as the server feeds it."""
    conn = Connection(rec, dialect, "bench")
    out: list[dict] = []
    for frame in frames:
        conn.receive(frame)
        out += conn.run()
    return out


def transcribe(rec: Recognizer, dialect: str, frames: list[str | bytes]) -> str:
    """The finals' text of one stream, fed to a connection frame by frame as the server does."""
    return " ".join(m["text"] for m in replies(rec, dialect, frames) if m.get("type") == "final" and m["text"])


def conditions(snr_db: float) -> list[tuple[str, str, Callable[[np.ndarray, int], list]]]:
    """(label, dialect, utterance samples and index -> frames) of each row."""
    def noisy_band(x: np.ndarray, i: int) -> list:
        return media_frames(phone_channel(add_noise(x, snr_db, np.random.default_rng(i), kind=1)))  # pink

    return [
        ("16 kHz PCM (reference)", "native", lambda x, i: native_frames(x)),
        ("8 kHz μ-law", "media", lambda x, i: media_frames(phone_channel(x, band=None))),
        ("8 kHz μ-law, 300–3400 Hz band", "media", lambda x, i: media_frames(phone_channel(x))),
        ("8 kHz μ-law, 300–3400 Hz band, GSM 06.10 mobile leg", "media",
         lambda x, i: media_frames(gsm_codec(phone_channel(x)))),
        (f"8 kHz μ-law, 300–3400 Hz band, pink noise {snr_db:g} dB SNR", "media", noisy_band),
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(p)
    p.add_argument("--snr-db", type=float, default=20.0, help="speech-to-noise ratio of the noisy row")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer.from_pretrained(args.model, backend="onnx")
    rows = []
    tests = {split: ([u.text for u in utts], [load_audio(u.audio) for u in utts])  # split -> (references, audio)
             for split, utts in read_splits(args).items()}
    for label, dialect, make in conditions(args.snr_db):
        row = {"condition": label, "dialect": dialect}
        for split, (refs, audio) in tests.items():
            t0 = time.process_time()
            hyps = [transcribe(rec, dialect, make(x, i)) for i, x in enumerate(audio)]
            row[split] = {"wer": error_rate(refs, hyps), "cer": error_rate(refs, hyps, chars=True),
                          "utterances": len(refs), "cpu_s": time.process_time() - t0}
        rows.append(row)
        print(json.dumps(row), flush=True)
    ref = rows[0]
    lines = ["| audio | WER seen voices | WER unseen voices | CER seen | CER unseen | WER change seen / unseen |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        change = " / ".join(f"{100 * (r[s]['wer'] / ref[s]['wer'] - 1):+.0f}%" if ref[s]["wer"] else "–" for s in SPLITS)
        lines.append(f"| {r['condition']} | {100 * r[SPLITS[0]]['wer']:.1f}% | {100 * r[SPLITS[1]]['wer']:.1f}% | "
                     f"{100 * r[SPLITS[0]]['cer']:.1f}% | {100 * r[SPLITS[1]]['cer']:.1f}% | "
                     f"{'(reference)' if r is ref else change} |")
    n = ref[SPLITS[0]]["utterances"]
    name = candidate_result_name("call_audio", args.model, "default")
    command = candidate_command("call_audio", args.model, "default")
    what = "" if args.model is None else f", model `{args.model}`"
    lines.append(f"\n{n} utterances per split{what}, each one stream through `Connection` (the server's per-stream core) "
                 "in 20 ms frames: native-dialect 16 kHz PCM for the reference, media-stream base64 μ-law at "
                 "8 kHz for the others; `serve`'s settings (onnxruntime encoder, 320 ms chunks, beam search + LM); "
                 f"WER change relative to the reference. Produced by `{command}`.")
    publish(name, rows, "\n".join(lines) + "\n", partial=bool(args.limit))  # a candidate's own files; only the bundled model's reach the README


if __name__ == "__main__":
    main()
