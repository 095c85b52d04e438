"""The project's targets against the results the other benchmarks wrote (no measuring here).

    python benchmarks/targets.py

Reads benchmarks/results/{accuracy,deploy,latency}.json and the bundled files' sizes; writes
benchmarks/results/targets.{json,md} and the README's ``targets`` block. A target counts as met only
where the measured figure meets it; for int8's speed, only where the whole bootstrap interval of the
per-utterance ratio does (one run's median on the edge is not a target met).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from latency import CHUNK_MS, LIMIT_MS, held_levels  # noqa: E402
from results_io import publish, read  # noqa: E402

ASSETS = Path(__file__).parent.parent / "streamasr" / "assets"
LOAD = 40  # streams at which the latency targets are read: the concurrency target's own level


def accuracy_rows(acc: list[dict]) -> dict[tuple[str, str], float]:
    """WER by (split, setting), e.g. ("test-unseen-voices", "320 ms chunks, beam + LM")."""
    return {(r["split"], r["setting"]): r["wer"] for r in acc if "setting" in r and "split" in r}


def relative(new: float, ref: float) -> float:
    """Relative change of ``new`` against ``ref``.

    >>> round(relative(0.062, 0.059), 3)
    0.051
    """
    return (new - ref) / ref


def level(lat: dict, streams: int) -> dict | None:
    return next((r for r in lat["levels"] if r["streams"] == streams), None)


def rows() -> list[dict]:
    """One row per target: issue, target, measured (text), met (bool), source."""
    wer = accuracy_rows(read("accuracy"))
    streamed, full = "320 ms chunks, beam + LM", "full context, beam + LM"
    deploy, lat = read("deploy"), read("latency")
    forms = {f["form"]: f for f in deploy["forms"]}
    out = []

    def add(issue: int, target: str, measured: str, met: bool, source: str) -> None:
        out.append({"issue": issue, "target": target, "measured": measured, "met": met, "source": source})

    unseen = wer[("test-unseen-voices", streamed)]
    add(3, "unseen voices, 320 ms chunks, beam + LM: WER ≤ 10%", f"{100 * unseen:.1f}%", unseen <= 0.10,
        "accuracy")
    cost = {s: relative(wer[(s, streamed)], wer[(s, full)]) for s in ("test-seen-voices", "test-unseen-voices")}
    add(3, "streaming at 320 ms: ≤ 15% relative WER against full context",
        f"{100 * cost['test-seen-voices']:+.0f}% seen, {100 * cost['test-unseen-voices']:+.0f}% unseen",
        max(cost.values()) <= 0.15, "accuracy")
    model_mb = sum(f.stat().st_size for f in (ASSETS / "model").iterdir()) / 1e6
    lm_mb = sum(f.stat().st_size for f in ASSETS.glob("lm.*")) / 1e6
    add(3, "bundled model ≤ 20 MB, LM ≤ 20 MB", f"{model_mb:.1f} MB, {lm_mb:.1f} MB",
        model_mb <= 20 and lm_mb <= 20, "the files")
    add(5, "one stream, one thread, 320 ms, beam + LM: real-time factor ≤ 0.05",
        f"{forms['torch']['rtf']:.3f} torch, {forms['onnx']['rtf']:.3f} onnx",
        max(forms["torch"]["rtf"], forms["onnx"]["rtf"]) <= 0.05, "deploy")
    held = held_levels(lat["levels"])
    add(5, f"concurrent real-time streams with p95 partial latency ≤ chunk + 100 ms ({LIMIT_MS} ms): ≥ 40",
        f"{max(held) if held else 0} ({lat['processes']} server processes)", bool(held) and max(held) >= 40,
        "latency")
    at = level(lat, LOAD)
    if at is not None:
        add(5, f"end message → final: p95 ≤ 50 ms (at {LOAD} streams)", f"{at['end_p95_ms']:.0f} ms",
            at["end_p95_ms"] <= 50, "latency")
        one = level(lat, 1)
        add(5, f"end of speech → endpoint final: p50 ≤ 500 ms (at {LOAD} streams)",
            f"{at['endpoint_p50_ms']:.0f} ms" + (f" ({one['endpoint_p50_ms']:.0f} ms for one stream)" if one else ""),
            at["endpoint_p50_ms"] <= 500, "latency")
    smaller = forms["onnx"]["size_mb"] / forms["onnx-int8"]["size_mb"]
    add(5, "int8 against ONNX fp32: ≥ 2× smaller", f"{smaller:.1f}×", smaller >= 2, "deploy")
    ratio = deploy["int8_per_utterance"]
    add(5, "int8 against ONNX fp32: ≥ 2× faster (the per-utterance ratio's whole 95% interval, over utterances "
        "and sessions)",
        f"median {ratio['median']:.2f}× ({ratio['low']:.2f}–{ratio['high']:.2f}×)", ratio["low"] >= 2, "deploy")
    change = {s: relative(forms["onnx-int8"][f"wer_{s}"], forms["onnx"][f"wer_{s}"])
              for s in ("test-seen-voices", "test-unseen-voices")}
    add(5, "int8: < 5% relative WER change",
        f"{100 * change['test-seen-voices']:+.1f}% seen, {100 * change['test-unseen-voices']:+.1f}% unseen",
        max(abs(c) for c in change.values()) < 0.05, "deploy")
    return out


def table(data: list[dict]) -> str:
    """The README block of ``rows()``."""
    lines = ["| issue | target | measured | met |", "|---|---|---|---|"]
    lines += [f"| {r['issue']} | {r['target']} | {r['measured']} | {'yes' if r['met'] else '**no**'} |" for r in data]
    met = sum(r["met"] for r in data)
    sources = ", ".join(f"{name}.json" for name in sorted({r["source"] for r in data} - {"the files"}))
    lines.append(f"\n{met} of {len(data)} targets met. Figures from `benchmarks/results/` ({sources}; "
                 f"{CHUNK_MS} ms chunks) and the bundled files' sizes; produced by `python benchmarks/targets.py`.")
    return "\n".join(lines) + "\n"


def main() -> None:
    data = rows()
    publish("targets", data, table(data))


if __name__ == "__main__":
    main()
