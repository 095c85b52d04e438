"""Deployment forms of the bundled model side by side: torch fp32, ONNX fp32, ONNX int8.

    python benchmarks/deploy.py [--corpus work/corpus-engines] [--limit N] [--name deploy]

For each form: size on disk of the encoder weights, real-time factor of the encoder alone
(best of three passes, the forms taking turns) and of the whole recognizer (320 ms chunks, beam search + LM),
both on one thread, and WER on both test splits with the change against torch fp32. All forms run in the
same process on the same audio. Writes benchmarks/results/deploy.{json,md} and the README block (``--name``:
NAME.{json,md} and NAME's block, e.g. a run on another kind of host kept beside the README's).

Fresh onnxruntime sessions of one and the same fp32 graph run its step at speeds up to a third apart
(int8's far less: docs/deployment-notes.md), so one session per form would make the int8/fp32 ratio partly
a draw of sessions. The encoder timing holds ``SESSIONS`` sessions of each ONNX form and runs utterance u on
the pair u mod ``SESSIONS``; the ratio's interval is bootstrapped over those pairs and, within them, over the
utterances, so that it covers both.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from int8_bound import int8_bound  # noqa: E402
from machine import machine_line  # noqa: E402
from results_io import publish  # noqa: E402
from splits import SPLITS, add_split_args, read_splits  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.backends import BACKENDS, export_onnx_files  # noqa: E402
from streamasr.encoder.onnx import OnnxEncoder  # noqa: E402
from streamasr.events import transcript  # noqa: E402
from streamasr.metrics import error_rate  # noqa: E402
from streamasr.model import DEFAULT_MODEL  # noqa: E402
from streamasr.recognizer import Recognizer  # noqa: E402

SESSIONS = 6  # onnxruntime sessions per ONNX form in the encoder timing (utterance u runs on pair u mod SESSIONS)


def encoder_seconds(encoders: dict[str, list], feats: list[torch.Tensor], repeats: int = 3
                    ) -> dict[str, np.ndarray]:
    """Seconds each form's streaming encoder alone takes on each utterance's features (T, F), best of
    ``repeats`` -> {form: (U,)}; utterance u runs on ``encoders[form][u % len(encoders[form])]``. The forms
    take turns on every utterance, in an order that rotates, each after one untimed step of its own (so that
    none is timed on caches the other form's weights left cold): the machine's drift hits them alike, and the
    ratios can be taken utterance by utterance."""
    names = list(encoders)
    best = {name: np.full(len(feats), np.inf) for name in names}
    for r in range(repeats):
        for u, f in enumerate(feats):
            for i in range(len(names)):
                name = names[(u + r + i) % len(names)]
                enc = encoders[name][u % len(encoders[name])]
                win, hop = enc.chunk_window(8)
                enc.forward_chunk(f[None, :win], enc.init_state(8, 8))  # untimed warm-up
                t0 = time.perf_counter()
                state = enc.init_state(8, 8)
                for start in range(0, f.shape[0] - win + 1, hop):
                    _, state = enc.forward_chunk(f[None, start : start + win], state)
                best[name][u] = min(best[name][u], time.perf_counter() - t0)
    return best


def paired_ratio(slow: np.ndarray, fast: np.ndarray, sessions: int = 1, resamples: int = 2000
                 ) -> tuple[float, float, float]:
    """Median over utterances of slow/fast, with a 95% bootstrap interval: each resample draws ``sessions``
    session pairs with replacement (utterance u ran on pair u mod ``sessions``), then each drawn pair's
    utterances with replacement, so the interval covers which sessions were drawn as well as the utterances.

    >>> paired_ratio(np.array([2.0, 4.0, 6.0, 8.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    (2.0, 2.0, 2.0)
    >>> median, low, high = paired_ratio(np.array([2.0, 3.0] * 16), np.ones(32), sessions=2)
    >>> median, low, high  # pair 0 read 2x, pair 1 3x: a draw of two pairs can be either twice
    (2.5, 2.0, 3.0)
    """
    ratios = slow / fast  # (U,)
    pairs = [ratios[j::sessions] for j in range(sessions)]
    rng = np.random.default_rng(0)
    medians = np.empty(resamples)
    for b in range(resamples):
        drawn = [pairs[j] for j in rng.integers(sessions, size=sessions)]
        medians[b] = np.median(np.concatenate([rng.choice(p, size=len(p)) for p in drawn]))
    return float(np.median(ratios)), float(np.percentile(medians, 2.5)), float(np.percentile(medians, 97.5))


def session_rtfs(seconds: np.ndarray, durations: np.ndarray, sessions: int) -> list[float]:
    """Encoder real-time factor of each session: utterance u ran on session u mod ``sessions``.

    >>> session_rtfs(np.array([1.0, 2.0, 3.0, 2.0]), np.array([10.0, 10.0, 10.0, 20.0]), 2)
    [0.2, 0.13333333333333333]
    """
    return [float(seconds[j::sessions].sum() / durations[j::sessions].sum()) for j in range(sessions)]


def relative_change(wer: float, base: float) -> str:
    """A WER against a base WER, relative ("+1.9% rel."), or in points where the base is 0 (tiny --limit runs).

    >>> relative_change(0.2, 0.16), relative_change(0.02, 0.0)
    ('+25.0% rel.', '+2.0 points')
    """
    if base == 0:
        return f"{100 * wer:+.1f} points"
    return f"{(wer - base) / base * 100:+.1f}% rel."


def recognize(rec: Recognizer, audio: list) -> tuple[list[str], float]:
    hyps, t0 = [], time.perf_counter()
    for samples in audio:
        s = rec.session(chunk_ms=320)
        hyps.append(transcript(s.accept(samples) + s.finish()))
    return hyps, time.perf_counter() - t0


def measure(data: dict[str, tuple[list, list[str]]], durations: np.ndarray, sessions: int
            ) -> tuple[list[dict], dict[str, np.ndarray], dict[str, list[float]], dict]:
    """Every form on the same utterances: its rows (size, RTFs, WERs), each utterance's encoder seconds per
    form, the ONNX forms' RTF per session, and ``int8_bound``'s split of one step."""
    audio = [a for audio, _ in data.values() for a in audio]  # both splits, in order
    seconds = float(durations.sum())
    base_rec = Recognizer.from_pretrained()
    with tempfile.TemporaryDirectory() as tmp:
        files = {"torch": DEFAULT_MODEL / "model.safetensors"}
        files["onnx"], files["onnx-int8"] = export_onnx_files(base_rec.model, Path(tmp))
        recs = {backend: Recognizer(base_rec.model, base_rec.tokenizer, base_rec.lm, base_rec.decoder_cfg,
                                    None if backend == "torch" else OnnxEncoder(files[backend], base_rec.model.encoder.cfg))
                for backend in BACKENDS}
        feats = [base_rec.model.normalize(base_rec.features.logmel(torch.from_numpy(x))) for x in audio]  # (T, F)
        encoders = {"torch": [recs["torch"].encoder], "onnx": [], "onnx-int8": []}
        for _ in range(sessions):  # made in turns, as they will run
            for form in ("onnx", "onnx-int8"):
                encoders[form].append(OnnxEncoder(files[form], base_rec.model.encoder.cfg))
        enc = encoder_seconds(encoders, feats)
        spread = {form: session_rtfs(enc[form], durations, sessions) for form in ("onnx", "onnx-int8")}
        del encoders
        rows = []
        for backend, rec in recs.items():
            row = {"form": backend, "size_mb": files[backend].stat().st_size / 1e6,
                   "encoder_rtf": float(enc[backend].sum()) / seconds}
            total = 0.0
            for split, (audio, refs) in data.items():
                hyps, dt = recognize(rec, audio)
                row[f"wer_{split}"] = error_rate(refs, hyps)
                total += dt
            row["rtf"] = total / seconds
            rows.append(row)
            print(row, flush=True)
        bound = int8_bound(files["onnx"], files["onnx-int8"], base_rec.model.encoder.cfg, Path(tmp))
        print(bound, flush=True)
    return rows, enc, spread, bound


def report(rows: list[dict], enc: dict[str, np.ndarray], spread: dict[str, list[float]], bound: dict, sessions: int,
           n: int, name: str = "deploy") -> tuple[list[str], tuple[float, float, float]]:
    """The markdown of a run (``n`` utterances per split; results ``name``), and int8's per-utterance ratio:
    median, low, high."""
    name_flag = "" if name == "deploy" else f" --name {name}"
    two_x = (f"Were it the same in both, a step 2× faster in int8 than in fp32 would need it to take at most "
             f"{bound['rest_for_2x']:.2f} ms." if bound["rest_for_2x"] > 0 else
             "The products alone are less than 2× faster, so no step holding them can be.")
    base = rows[0]
    lines = ["| form | size on disk | encoder RTF | recognizer RTF (beam + LM) | WER seen voices | WER unseen voices |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        rel = [relative_change(r[f"wer_{s}"], base[f"wer_{s}"]) for s in SPLITS]
        lines.append(f"| {r['form']} | {r['size_mb']:.1f} MB ({base['size_mb'] / r['size_mb']:.1f}× smaller) | "
                     f"{r['encoder_rtf']:.4f} ({base['encoder_rtf'] / r['encoder_rtf']:.1f}× faster) | "
                     f"{r['rtf']:.3f} ({base['rtf'] / r['rtf']:.1f}×) | "
                     f"{100 * r['wer_test-seen-voices']:.1f}% ({rel[0]}) | "
                     f"{100 * r['wer_test-unseen-voices']:.1f}% ({rel[1]}) |")
    fp32, int8 = rows[1], rows[2]
    median, lo, hi = paired_ratio(enc["onnx"], enc["onnx-int8"], sessions)
    rel = ", ".join(f"{s} {relative_change(int8[f'wer_{s}'], fp32[f'wer_{s}']).removesuffix(' rel.')}" for s in SPLITS)
    lines.append(f"\nint8 against ONNX fp32 (same runtime): {fp32['size_mb'] / int8['size_mb']:.1f}× smaller, encoder "
                 f"{fp32['encoder_rtf'] / int8['encoder_rtf']:.1f}× faster over all utterances (utterance by "
                 f"utterance: median {median:.2f}×, 95% bootstrap interval over utterances and sessions "
                 f"{lo:.2f}–{hi:.2f}×), relative WER change {rel}. Encoder RTF of each of the {sessions} sessions "
                 f"per form: fp32 {min(spread['onnx']):.4f}–{max(spread['onnx']):.4f}, int8 "
                 f"{min(spread['onnx-int8']):.4f}–{max(spread['onnx-int8']):.4f}.")
    lines.append(
        f"\nWhere the int8 time goes (one 320 ms step, left context 8 chunks, one thread, `benchmarks/int8_bound.py`): "
        f"the step takes {bound['step_fp32']:.2f} ms in fp32 and {bound['step_int8']:.2f} ms in int8 "
        f"({bound['step_fp32'] / bound['step_int8']:.1f}× faster). Its "
        f"{bound['products']:.0f} weight matrix products alone take {bound['products_fp32']:.2f} ms in fp32 and "
        f"{bound['products_int8']:.2f} ms in int8 ({bound['products_fp32'] / bound['products_int8']:.1f}× faster); "
        f"the rest (subsampling convolutions, attention, normalization, activations, cache bookkeeping) is not "
        f"quantized, and takes {bound['rest_fp32']:.2f} ms of the fp32 step and {bound['rest_int8']:.2f} ms of the "
        f"int8 one. {two_x} A step that carries "
        f"{bound['batch']:.0f} streams at once (as the server batches them) costs {bound['batched_step_fp32']:.2f} ms "
        f"per stream in fp32 and {bound['batched_step_int8']:.2f} ms in int8 "
        f"({bound['batched_step_fp32'] / bound['batched_step_int8']:.1f}× faster).")
    lines.append(f"\nOne thread, 320 ms chunks, left context 8 chunks, {n} utterances per split, all forms in one run; "
                 f"ratios against torch fp32 of the same run; encoder times are each utterance's best of three, the "
                 f"forms taking turns, the ONNX forms on {sessions} sessions each. {machine_line()} Produced by `python benchmarks/deploy.py{name_flag}`.")
    return lines, (median, lo, hi)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_split_args(p)
    p.add_argument("--name", default="deploy", help="results file name (benchmarks/results/NAME.{json,md})")
    args = p.parse_args()
    torch.set_num_threads(1)
    data = {split: ([load_audio(u.audio) for u in utts], [u.text for u in utts])
            for split, utts in read_splits(args).items()}
    durations = np.array([len(a) / 16000 for audio, _ in data.values() for a in audio])  # (U,) seconds
    sessions = min(SESSIONS, len(durations))  # a pair with no utterance would have no ratio (--limit)
    rows, enc, spread, bound = measure(data, durations, sessions)
    lines, (median, lo, hi) = report(rows, enc, spread, bound, sessions, len(data[SPLITS[0]][1]), args.name)
    ratio = {"median": median, "low": lo, "high": hi, "sessions": sessions}
    publish(args.name, {"forms": rows, "int8_bound": bound, "int8_per_utterance": ratio, "session_rtfs": spread},
            "\n".join(lines) + "\n", partial=bool(args.limit))


if __name__ == "__main__":
    main()
