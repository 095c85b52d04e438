"""The LM weights of the beam search (alpha, beta; temperature, blank penalty), chosen on the dev splits alone.

    python benchmarks/tune_lm.py [--corpus work/corpus-engines] [--alphas ...] [--betas ...] [--model DIR] [--lm PATH]

Dev is spoken by the training voices, with sentences that no training utterance speaks (in either
training stage) and that the LM text leaves out (see ``streamasr.data.synth``), so the LM knows dev no
better than the tests. Dev-unseen-voices speaks 200 of those sentences again with the held-out voices
(the voices of test-unseen-voices, whose sentences it does not share): where the model is unsure of a
voice, the LM takes over more of the choice, and weights chosen on the training voices alone leave out
words there. The weights minimise the mean of the two WERs (dev alone where a corpus has no
dev-unseen-voices). They are chosen as a live stream runs them: each split's utterances are joined into
streams of ``STREAM_UTTS``, 1 s of silence after each, and each stream goes once through a default session
(320 ms chunks, 20 ms pieces), which cuts it into segments at its pauses, skips the pauses and starts each
segment's encoder afresh; the log-probs its search was fed for each final are kept (``stream_segments``: the
segments are cut by the model's blanks and the audio's levels, never by the search, so every setting sees
the same ones, and decoding them at the session's own setting must give its finals, or the run stops).
Every (alpha, beta) then searches those segments with the bundled LM at ``DecoderConfig``'s temperature
and blank penalty (``search_log_probs``: how flat the search sees the model's posteriors, and how much
less sure of its blanks), and every (temperature, blank penalty) at its alpha and beta; at its
settings, a few beam widths show what a wider search buys and costs: ``DecoderConfig.beam`` is the narrowest
of them whose mean WER is within ``MARGIN`` of the best one's (``beam_verdict``), and at that beam a few prune
thresholds do the same for ``beam_prune_logp``: the tightest within the margin (``prune_verdict``). The test
splits are not read.
Writes benchmarks/results/tune_lm.{json,md}. ``DecoderConfig`` moves to a grid's best pair only when
that pair's mean is lower than its own pair's by at least ``MARGIN`` (``verdict``); smaller leads are
within the noise of these splits.
With ``--model`` (a candidate model, e.g. a new training stage) it writes tune_lm-NAME.{json,md} instead,
with ``--lm`` (a candidate KenLM file) tune_lm-lm-STEM.{json,md}, and the README is left alone: dev alone
decides whether a candidate replaces the bundled model or LM.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from log_probs import pause_streams, stream_segments  # noqa: E402
from results_io import candidate_command, candidate_result_name, publish  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.data.manifest import read_manifest  # noqa: E402
from streamasr.decoder import CTCPrefixDecoder, DecoderConfig  # noqa: E402
from streamasr.metrics import error_rate  # noqa: E402
from streamasr.recognizer import Recognizer  # noqa: E402


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


STREAM_UTTS = 50  # utterances per stream, 1 s of silence after each


def texts_of(dec: CTCPrefixDecoder, streams: list[list[np.ndarray]]) -> list[str]:
    """Each stream's finals, joined: its segments' log-probs (T_j, V) each searched from a fresh state."""
    return [" ".join(t for t in (dec.finalize(dec.step(lp, dec.init_state())).text for lp in found) if t)
            for found in streams]


MARGIN = 0.002  # 0.2 points of mean WER: 24 of dev's 6,097 words alone, or 10 of dev-unseen's 2,445 alone


def verdict(best: dict, now: dict | None, margin: float = MARGIN, keys: tuple[str, str] = ("alpha", "beta")) -> str:
    """What ``DecoderConfig`` should do, given a grid's best row and the row of the pair it holds (None: its
    pair is not on the grid); ``keys`` name the grid's two settings.

    >>> verdict({"alpha": 0.8, "beta": 2.5, "mean": 0.1505}, {"alpha": 0.7, "beta": 3, "mean": 0.1510})
    'keep alpha 0.7, beta 3 (the best pair leads by 0.05 points of mean WER, under the 0.2-point margin)'
    >>> verdict({"alpha": 0.5, "beta": 1, "mean": 0.140}, {"alpha": 0.7, "beta": 3, "mean": 0.151})
    'move to alpha 0.5, beta 1 (1.1 points of mean WER lower)'
    >>> verdict({"temperature": 1.5, "blank_penalty": 1, "mean": 0.098}, {"temperature": 1, "blank_penalty": 0,
    ...         "mean": 0.11}, keys=("temperature", "blank_penalty"))
    'move to temperature 1.5, blank penalty 1 (1.2 points of mean WER lower)'
    """
    def pair(r: dict) -> str:
        return ", ".join(f"{k.replace('_', ' ')} {r[k]:g}" for k in keys)

    if now is None:
        return f"move to {pair(best)} (its pair is not on the grid)"
    lead = now["mean"] - best["mean"]
    if lead <= 0:  # it holds the best pair (or one as good)
        return f"keep {pair(now)} (the best pair)"
    if lead < margin:
        return (f"keep {pair(now)} (the best pair leads by {100 * lead:.2g} points of "
                f"mean WER, under the {100 * margin:g}-point margin)")
    return f"move to {pair(best)} ({100 * lead:.2g} points of mean WER lower)"


def beam_verdict(beams: list[dict], current: int, margin: float = MARGIN) -> str:
    """What ``DecoderConfig.beam`` should be, given the beam table's rows (beam, mean WER): the narrowest beam
    whose mean is within ``margin`` of the best one's (a wider search costs decoder time for every stream).

    >>> rows = [{"beam": 16, "mean": 0.1359}, {"beam": 32, "mean": 0.1301}, {"beam": 48, "mean": 0.1261},
    ...         {"beam": 64, "mean": 0.1260}]
    >>> beam_verdict(rows, 16)
    'move to beam 48 (0.98 points of mean WER lower than beam 16; a wider beam gains less than the margin)'
    >>> beam_verdict(rows, 48)
    'keep beam 48'
    """
    best = min(r["mean"] for r in beams)
    choice = min((r for r in beams if r["mean"] - best < margin), key=lambda r: r["beam"])
    if choice["beam"] == current:
        return f"keep beam {current}"
    now = next((r for r in beams if r["beam"] == current), None)
    lead = f"{100 * (now['mean'] - choice['mean']):.2g} points of mean WER lower than beam {current}" if now else \
        f"beam {current} is not on the table"
    return f"move to beam {choice['beam']} ({lead}; a wider beam gains less than the margin)"


def prune_verdict(prunes: list[dict], current: float, margin: float = MARGIN) -> str:
    """What ``DecoderConfig.beam_prune_logp`` should be, given the prune table's rows (prune, mean WER): the
    tightest threshold (nearest 0, the least search) whose mean is within ``margin`` of the best one's.

    >>> rows = [{"prune": -12.0, "mean": 0.1261}, {"prune": -8.0, "mean": 0.1261}, {"prune": -7.0, "mean": 0.1286}]
    >>> prune_verdict(rows, -12.0)
    'move to -8 (within the margin of the best; a tighter one is not)'
    >>> prune_verdict(rows, -8.0)
    'keep -8'
    """
    best = min(r["mean"] for r in prunes)
    choice = max((r for r in prunes if r["mean"] - best < margin), key=lambda r: r["prune"])
    if choice["prune"] == current:
        return f"keep {current:g}"
    return f"move to {choice['prune']:g} (within the margin of the best; a tighter one is not)"


@dataclasses.dataclass
class DevStreams:
    """Each dev split's streams, run once through a default session: what every setting is searched on."""
    rec: Recognizer
    splits: list[str]  # "dev", and "dev-unseen-voices" where the corpus has it
    refs: dict[str, list[str]]  # per split: per stream, its sentences joined
    segments: dict[str, list[list[np.ndarray]]]  # per split: per stream, the (T_j, V) log-probs its finals searched

    @classmethod
    def record(cls, rec: Recognizer, corpus: Path) -> "DevStreams":
        """Join each split into streams of ``STREAM_UTTS`` and run each through a session, keeping what its
        search was fed; stop unless those segments, searched at the session's setting, give its finals."""
        splits = [s for s in ("dev", "dev-unseen-voices") if (corpus / f"{s}.jsonl").exists()]
        refs, segments = {}, {}
        for split in splits:
            utts = read_manifest(corpus / f"{split}.jsonl")
            streams = pause_streams([load_audio(u.audio) for u in utts], STREAM_UTTS)
            refs[split] = [" ".join(u.text for u in utts[span]) for _, span in streams]
            segments[split], session_texts = [], []
            for audio, _ in streams:
                found, said = stream_segments(rec, audio)  # (T_j, V) each
                segments[split].append(found)
                session_texts.append(" ".join(t for t in said if t))
            dec = CTCPrefixDecoder(rec.decoder_cfg, rec.tokenizer, rec.lm)
            if texts_of(dec, segments[split]) != session_texts:  # the segments decode as the sessions did
                raise RuntimeError(f"{split}: decoding the recorded segments does not give the sessions' finals")
        return cls(rec, splits, refs, segments)

    @property
    def both(self) -> bool:
        return len(self.splits) == 2

    @functools.cached_property
    def dev_seconds(self) -> float:
        """Audio seconds of dev's searched segments: what a decoder's real-time factor is over."""
        return sum(len(lp) for found in self.segments["dev"] for lp in found) * self.rec.frame_ms / 1000

    def wers(self, cfg: DecoderConfig) -> dict[str, float]:
        dec = CTCPrefixDecoder(cfg, self.rec.tokenizer, self.rec.lm)
        return {s: error_rate(self.refs[s], texts_of(dec, self.segments[s])) for s in self.splits}

    def grid(self, base: DecoderConfig, keys: tuple[str, str], firsts: list[float], seconds: list[float]
             ) -> list[dict]:
        """One row per pair of the two settings ``keys`` (the rest as ``base``): WERs and their mean."""
        rows = []
        for a in firsts:
            for b in seconds:
                w = self.wers(dataclasses.replace(base, **{keys[0]: a, keys[1]: b}))
                rows.append({keys[0]: a, keys[1]: b, "wer": w["dev"], "wer_unseen": w.get("dev-unseen-voices"),
                             "mean": sum(w.values()) / len(w)})
                print(rows[-1], flush=True)
        return rows

    def search_row(self, cfg: DecoderConfig) -> dict:
        """WERs and decoder time of one search setting at the current weights."""
        dec = CTCPrefixDecoder(cfg, self.rec.tokenizer, self.rec.lm)
        t0 = time.process_time()
        w = {"dev": error_rate(self.refs["dev"], texts_of(dec, self.segments["dev"]))}  # timed: dev's search alone
        rtf = (time.process_time() - t0) / self.dev_seconds
        w |= {s: error_rate(self.refs[s], texts_of(dec, self.segments[s]))
              for s in self.splits if s != "dev"}  # the same decoder, not dev again
        row = {"beam": cfg.beam, "prune": cfg.beam_prune_logp, "wer": w["dev"], "wer_unseen": w.get("dev-unseen-voices"),
               "mean": sum(w.values()) / len(w), "decoder_rtf": rtf}  # "mean" as the grid's rows have it
        print(row, flush=True)
        return row

    def cell(self, r: dict) -> str:
        return f"{100 * r['wer']:.1f} / {100 * r['wer_unseen']:.1f}%" if self.both else f"{100 * r['wer']:.1f}%"


def grid_table(dev: DevStreams, rows: list[dict], keys: tuple[str, str], firsts: list[float], seconds: list[float],
               best: dict) -> list[str]:
    """A grid's rows as a markdown table, ``keys[0]`` down and ``keys[1]`` across, the best cell in bold."""
    lines = [f"| {keys[0].replace('_', ' ')} \\ {keys[1].replace('_', ' ')} | " + " | ".join(f"{b:g}" for b in seconds)
             + " |", "|---|" + "---|" * len(seconds)]
    for a in firsts:
        cells = [f"**{dev.cell(r)}**" if r is best else dev.cell(r) for r in rows if r[keys[0]] == a]
        lines.append(f"| {a:g} | " + " | ".join(cells) + " |")
    return lines


def search_table(dev: DevStreams, title: str, column: str, key: str, found: list[dict]) -> list[str]:
    """A titled table of ``search_row`` rows, first column ``column`` from each row's ``key``."""
    both = dev.both
    return (["", title, "", f"| {column} | dev WER" + (" | dev-unseen-voices WER" if both else "")
             + " | decoder RTF (1 thread, dev) |", "|---|---|---|" + ("---|" if both else "")]
            + [f"| {r[key]:g} | {100 * r['wer']:.1f}%" + (f" | {100 * r['wer_unseen']:.1f}%" if both else "")
               + f" | {r['decoder_rtf']:.4f} |" for r in found])


def report(dev: DevStreams, args, current: DecoderConfig, rows: list[dict], shapes: list[dict], beams: list[dict],
           prunes: list[dict]) -> list[str]:
    """The markdown of a run: both grids with the margin rule's verdicts, then the beam and threshold sweeps."""
    best = min(rows, key=lambda r: r["mean"])
    now = next((r for r in rows if r["alpha"] == current.alpha and r["beta"] == current.beta), None)
    best_shape = min(shapes, key=lambda r: r["mean"])
    now_shape = next((r for r in shapes if r["temperature"] == current.temperature
                      and r["blank_penalty"] == current.blank_penalty), None)
    lines = grid_table(dev, rows, ("alpha", "beta"), args.alphas, args.betas, best)
    where = (f"320 ms chunks; dev's sentences in streams of {STREAM_UTTS}, 1 s of silence after each, cut into "
             "segments as a session cuts them")
    what = (f"Dev WER / dev-unseen-voices WER (beam {current.beam}, {where}: {len(dev.refs['dev'])} streams of the "
            f"training voices, {len(dev.refs['dev-unseen-voices'])} of the held-out voices) for each LM weight alpha "
            "and word bonus beta, chosen by their mean." if dev.both else
            f"Dev WER (beam {current.beam}, {where}: {len(dev.refs['dev'])} streams of the training voices; this "
            "corpus has no dev-unseen-voices) for each LM weight alpha and word bonus beta.")
    lines.append(f"\n{what} Best: alpha {best['alpha']:g}, beta {best['beta']:g} ({dev.cell(best)}); "
                 f"`DecoderConfig` holds alpha {current.alpha:g}, beta {current.beta:g}"
                 + (f" ({dev.cell(now)})" if now else "") + f"; by the margin rule it should {verdict(best, now)}.")
    lines += ["", f"Temperature and blank penalty at alpha {current.alpha:g}, beta {current.beta:g} (the search scores "
              "softmax(logits / temperature), the blank's logit less the penalty; `DecoderConfig` holds temperature "
              f"{current.temperature:g}, blank penalty {current.blank_penalty:g}):", ""]
    lines += grid_table(dev, shapes, ("temperature", "blank_penalty"), args.temperatures, args.blank_penalties,
                        best_shape)
    lines.append(f"\nBest: temperature {best_shape['temperature']:g}, blank penalty {best_shape['blank_penalty']:g} "
                 f"({dev.cell(best_shape)}); by the margin rule `DecoderConfig` should "
                 f"{verdict(best_shape, now_shape, keys=('temperature', 'blank_penalty'))}.")
    lines += search_table(dev, f"Beam width at those weights (`DecoderConfig.beam` is {current.beam}):", "beam",
                          "beam", beams)
    lines.append(f"\nBy the same margin on the mean, the narrowest beam within it of the best: "
                 f"{beam_verdict(beams, current.beam)}.")
    lines += search_table(dev, f"Prune threshold at beam {current.beam} (`DecoderConfig.beam_prune_logp` is "
                          f"{current.beam_prune_logp:g}: a prefix this far below the best one's score is dropped):",
                          "threshold", "prune", prunes)
    lines.append(f"\nBy the same margin, the tightest threshold within it of the best: "
                 f"{prune_verdict(prunes, current.beam_prune_logp)}.")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines")
    p.add_argument("--alphas", type=floats, default="0.3,0.4,0.5,0.6,0.7,0.8,1.0")
    p.add_argument("--betas", type=floats, default="-0.5,0,0.5,1,1.5,2,2.5,3,3.5,4")
    p.add_argument("--temperatures", type=floats, default="1,1.25,1.5,1.75")
    p.add_argument("--blank-penalties", type=floats, default="0,0.5,1,1.5,2,2.5")
    p.add_argument("--beams", type=floats, default="16,32,48,64,80")
    p.add_argument("--prunes", type=floats, default="-12,-10,-8,-7,-6")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--lm", default="default", help="KenLM file, with its .unigrams.txt beside it (default: the bundled LM)")
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer.from_pretrained(args.model, lm=args.lm)
    dev = DevStreams.record(rec, Path(args.corpus))
    current = DecoderConfig()
    rows = dev.grid(rec.decoder_cfg, ("alpha", "beta"), args.alphas, args.betas)
    shapes = dev.grid(rec.decoder_cfg, ("temperature", "blank_penalty"), args.temperatures, args.blank_penalties)
    beams = [dev.search_row(dataclasses.replace(current, beam=int(b))) for b in args.beams]
    prunes = [dev.search_row(dataclasses.replace(current, beam_prune_logp=x)) for x in args.prunes]
    lines = report(dev, args, current, rows, shapes, beams, prunes)
    data = {"rows": rows, "best": min(rows, key=lambda r: r["mean"]), "shapes": shapes,
            "best_shape": min(shapes, key=lambda r: r["mean"]), "beams": beams, "prunes": prunes}
    name = candidate_result_name("tune_lm", args.model, args.lm)
    command = candidate_command("tune_lm", args.model, args.lm)
    for flag in ("alphas", "betas", "temperatures", "blank_penalties", "beams", "prunes"):  # a grid not the default
        given = getattr(args, flag)
        if given != floats(p.get_default(flag)):
            command += f" --{flag.replace('_', '-')}{'=' if given[0] < 0 else ' '}{','.join(f'{x:g}' for x in given)}"  # "=": -12 is no flag
    lines.append(("\nProduced by" if name == "tune_lm" else
                  f"\nModel `{args.model or 'bundled'}`, LM `{args.lm}`; produced by") + f" `{command}`.")
    publish(name, data, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
