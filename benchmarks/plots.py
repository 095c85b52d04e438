"""The README's plots, drawn from the results the other benchmarks wrote (no measuring here).

    python benchmarks/plots.py

benchmarks/results/latency_cdf.png     word → partial and word → settled latency CDFs per level of concurrency (latency.json)
benchmarks/results/streams_p95.png     concurrent streams vs p95 latency, against the target (latency.json, and
                                       latency-two-processes.json, latency-one-process.json, latency-beam16.json
                                       if there)
benchmarks/results/wer_vs_chunk.png    WER vs chunk size, beam + LM, both test splits (accuracy.json)
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from results_io import RESULTS, read  # noqa: E402

FULL = 100_000  # where full context sorts among chunk sizes


def latency_cdf(lat: dict) -> Path:
    """Per level, the CDF of word end → first partial holding it, and beside it (runs that recorded it) of word
    end → the partial that settled it."""
    panels = [("word_samples_ms", "word end → first partial holding it (ms)")]
    if any("settled_samples_ms" in row for row in lat["levels"]):
        panels.append(("settled_samples_ms", "word end → partial that settled it (ms)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4), sharey=True, squeeze=False)
    for ax, (key, xlabel) in zip(axes[0], panels):
        for row in lat["levels"]:
            xs = np.sort(row.get(key, []))
            if len(xs):
                ax.plot(xs, np.arange(1, len(xs) + 1) / len(xs),
                        label=f"{row['streams']} stream{'s' if row['streams'] > 1 else ''}")
        ax.set_xlabel(xlabel)
        ax.set_xlim(0, 2000 if key == "word_samples_ms" else 3000)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("share of words")
    axes[0][-1].legend()
    fig.suptitle(f"Word latency, {lat['chunk_ms']} ms chunks, through the server")
    return save(fig, "latency_cdf.png")


def streams_p95(runs: list[dict]) -> Path:
    """One line per run (server configuration): p95 chunk → partial latency against concurrent streams."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for lat, style in zip(runs, ("o-", "s--", "^:", "d-.")):
        rows, k, beam = lat["levels"], lat.get("processes", 1), lat.get("beam", 0)
        label = f"{k} server process{'es' if k > 1 else ''}{f', beam {beam}' if beam else ''}: chunk → partial, p95"
        ax.plot([r["streams"] for r in rows], [r["partial_p95_ms"] for r in rows], style, label=label)
    lat = runs[0]
    ax.axhline(lat["chunk_ms"] + 100, color="gray", ls="--", label="target: chunk + 100 ms")
    ax.set_yscale("log")
    ax.set_xlabel("concurrent real-time streams (2 cores, clients included)")
    ax.set_ylabel("latency (ms)")
    ax.set_title("Streams vs p95 latency")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return save(fig, "streams_p95.png")


def wer_vs_chunk(acc: list[dict]) -> Path:
    fig, ax = plt.subplots(figsize=(6, 4))
    rows = [r for r in acc if r.get("setting", "").endswith("beam + LM")]
    for split, marker in (("test-seen-voices", "o-"), ("test-unseen-voices", "s-")):
        pts = sorted((chunk_ms(r["setting"]), 100 * r["wer"]) for r in rows if r["split"] == split)
        ax.plot(["full" if c == FULL else str(c) for c, _ in pts], [w for _, w in pts], marker, label=split)
    ax.set_xlabel("chunk (ms)")
    ax.set_ylabel("WER (%)")
    ax.set_title("WER vs chunk size, beam search + LM")
    ax.grid(alpha=0.3)
    ax.legend()
    return save(fig, "wer_vs_chunk.png")


def chunk_ms(setting: str) -> int:
    """ "320 ms chunks, beam + LM" -> 320; full context sorts last.

    >>> chunk_ms("320 ms chunks, beam + LM"), chunk_ms("full context, beam + LM")
    (320, 100000)
    """
    return int(setting.split()[0]) if setting[0].isdigit() else FULL


def save(fig, name: str) -> Path:
    fig.tight_layout()
    path = RESULTS / name
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
    return path


def main() -> None:
    lat = read("latency")
    latency_cdf(lat)
    others = [read(n) for n in ("latency-two-processes", "latency-one-process", "latency-beam16")
              if (RESULTS / f"{n}.json").is_file()]
    streams_p95([lat, *others])
    wer_vs_chunk(read("accuracy"))


if __name__ == "__main__":
    main()
