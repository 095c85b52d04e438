"""How the endpoint silence setting trades latency against cutting sentences in two.

    python benchmarks/endpoint.py [--corpus work/corpus-engines] [--utts 60] [--snr-db 20]

Held-out utterances are joined into one stream with 1 s of silence after each and fed to a
Session in 20 ms pieces, as a real-time client sends them (larger pieces would hold back each
320 ms chunk until the piece carrying its 60 ms look-ahead arrives). For each ``silence_after_speech_s``: the audio time from the end of
an utterance to the final that closes it (measured as audio fed when the final came out, so
chunking and look-ahead count, compute does not) from the
end of its speech (the TTS engine's trailing silence excluded), finals that end inside an utterance
(a sentence cut in two), and the WER of all finals against all sentences; for reference, the same
utterances one at a time, each a session of its own with no pause before it (as the accuracy table
decodes them). Each setting runs with the tail rule (quiet audio
not yet encoded counts as silence) and, for reference, without it; the default setting also runs
with noise added to the whole stream, where the quiet tail is not quiet and the rule must stand back, and
on the unseen voices (festival's pause inside sentences, and its words fade out over near-digital silence),
and, for reference, with the encoder's context carried through each pause (``fresh_after_pause=False``).
Writes benchmarks/results/endpoint.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import run as decode_each  # noqa: E402
from results_io import publish  # noqa: E402
from speech_end import speech_end  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.data.augment import coloured_noise  # noqa: E402
from streamasr.data.manifest import read_manifest  # noqa: E402
from streamasr.endpoint import EndpointConfig  # noqa: E402
from streamasr.metrics import error_rate  # noqa: E402
from streamasr.recognizer import Recognizer  # noqa: E402

RATE, PIECE_MS, GAP_S = 16000, 20, 1.0  # pieces as a real-time client sends them


def run(rec: Recognizer, audio: np.ndarray, spans: list[tuple[float, float]], silence: float, tail: bool,
        fresh: bool = True) -> dict:
    ep = EndpointConfig(silence_after_speech_s=silence)
    s = rec.session(chunk_ms=320, endpoint=ep if tail else dataclasses.replace(ep, tail_floor_db=0.0),
                    fresh_after_pause=fresh)
    piece = RATE * PIECE_MS // 1000
    finals = []  # (audio seconds fed when it came out, event)
    for pos in range(0, len(audio), piece):
        finals += [(min(pos + piece, len(audio)) / RATE, e) for e in s.accept(audio[pos : pos + piece])
                   if e.type == "final"]
    finals += [(len(audio) / RATE, e) for e in s.finish() if e.type == "final" and e.text]
    delays, cuts = [], 0
    for fed, e in finals:
        end = e.end_ms / 1000  # where the segment was closed
        if any(a + 0.2 < end < b - 0.2 for a, b in spans):
            cuts += 1
        closed = [b for a, b in spans if b <= end + 0.05]
        if closed and end - closed[-1] < GAP_S:
            delays.append(fed - closed[-1])
    return {"silence_s": silence, "tail_rule": tail, "fresh_after_pause": fresh, "finals": len(finals), "cut_sentences": cuts,
            "delay_p50_ms": float(np.percentile(delays, 50) * 1000), "delay_p95_ms": float(np.percentile(delays, 95) * 1000),
            "text": " ".join(e.text for _, e in finals)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines")
    p.add_argument("--utts", type=int, default=60)
    p.add_argument("--silences", default="0.5,0.4,0.3,0.2")
    p.add_argument("--snr-db", type=float, default=20.0, help="speech-to-noise ratio of the noisy run")
    args = p.parse_args()
    torch.set_num_threads(1)

    @functools.cache
    def first(split: str) -> tuple[list, list[np.ndarray]]:
        """The split's first utterances and their samples, read once for the stream and the one-at-a-time run."""
        utts = read_manifest(Path(args.corpus) / f"{split}.jsonl")[: args.utts]
        return utts, [load_audio(u.audio) for u in utts]

    def stream(split: str) -> tuple[np.ndarray, list[tuple[float, float]], str, list[float]]:
        """The split's first utterances joined with silence: samples, speech spans, reference, speech powers."""
        utts, audio = first(split)
        parts, spans, t, power = [], [], 0.0, []
        for x in audio:
            end = speech_end(x)
            parts += [x, np.zeros(int(GAP_S * RATE), np.float32)]
            spans.append((t, t + end))
            power.append(float(np.mean(x[: int(end * RATE)] ** 2)))
            t += len(x) / RATE + GAP_S
        return np.concatenate(parts), spans, " ".join(u.text for u in utts), power

    clean, spans, ref, speech_power = stream("test-seen-voices")
    unseen = stream("test-unseen-voices")[:3]
    noise = coloured_noise(len(clean), np.random.default_rng(0), kind=1) * np.sqrt(np.mean(speech_power))  # pink
    noisy = (clean + noise / 10 ** (args.snr_db / 20)).astype(np.float32)
    default = EndpointConfig.silence_after_speech_s
    # (audio, silence after speech, tail rule, fresh after a pause); each default also with the context carried
    runs = []
    for x in map(float, args.silences.split(",")):
        runs += [("clean", (clean, spans, ref), x, True, True), ("clean", (clean, spans, ref), x, False, True)]
        runs += [("clean", (clean, spans, ref), x, True, False)] if x == default else []
    for name, audio in ((f"pink noise, {args.snr_db:.0f} dB SNR", (noisy, spans, ref)), ("clean, unseen voices", unseen)):
        runs += [(name, audio, default, True, True), (name, audio, default, False, True), (name, audio, default, True, False)]
    rec = Recognizer.from_pretrained()
    rows = []
    for name, (audio, spans_, ref_), silence, tail, fresh in runs:
        r = {"audio": name, **run(rec, audio, spans_, silence, tail, fresh)}
        r["wer"] = error_rate([ref_], [r.pop("text")])
        rows.append(r)
        print(r, flush=True)
    alone = {}  # the same utterances one at a time, as the accuracy table decodes them
    for split in ("test-seen-voices", "test-unseen-voices"):
        utts, audio = first(split)
        alone[split] = decode_each(rec, audio, [u.text for u in utts], 320, "beam")["wer"]
    print(alone, flush=True)
    lines = ["| audio | silence after speech | tail rule | fresh after a pause | end of utterance → final p50 / p95 | "
             "finals | sentences cut in two | WER |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['audio']} | {r['silence_s']:.2f} s | {'on' if r['tail_rule'] else 'off'} | "
                     f"{'yes' if r['fresh_after_pause'] else 'no'} | "
                     f"{r['delay_p50_ms']:.0f} / {r['delay_p95_ms']:.0f} ms | "
                     f"{r['finals']} | {r['cut_sentences']} | {100 * r['wer']:.1f}% |")
    lines.append(f"\n{args.utts} held-out utterances (seen voices; the last three rows unseen voices) in one stream, {GAP_S:.0f} s of silence after each, "
                 f"fed in {PIECE_MS} ms pieces, 320 ms chunks, beam search + LM; delay in audio time (chunking and look-ahead, not compute). "
                 "*Tail rule*: audio received after the last encoded chunk counts as silence while every 10 ms of it "
                 f"is within {EndpointConfig.tail_floor_db:.0f} dB of the segment's quietest block (and the loudest is "
                 f"{EndpointConfig.tail_snr_db:.0f} dB above that). *Fresh after a pause*: after a segment that a "
                 "pause ended, the chunks quiet against its floor are skipped and the encoder starts afresh after "
                 "them (no: its context carries on through the pause). The same utterances one at a time (a session "
                 f"each, no pause before them): {100 * alone['test-seen-voices']:.1f}% WER on the seen voices, "
                 f"{100 * alone['test-unseen-voices']:.1f}% on the unseen ones. "
                 "Produced by `python benchmarks/endpoint.py`.")
    publish("endpoint", {"rows": rows, "one_at_a_time": alone}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
