"""The LM weights (alpha, beta) of the beam search, chosen on the dev split and nowhere else.

    python benchmarks/tune_lm.py [--corpus work/corpus-engines] [--alphas ...] [--betas ...] [--model DIR] [--lm PATH]

Dev is spoken by the training voices, with sentences that no training utterance speaks (in either
training stage) and that the LM text leaves out (see ``streamasr.data.synth``), so the LM knows dev no
better than the tests. Log-probs come from the bundled model under the 320 ms chunk mask, once per
utterance; every (alpha, beta) then searches them with the bundled LM, and at ``DecoderConfig``'s
weights, a few beam widths show what a wider search buys and costs. The test splits are not read.
Writes benchmarks/results/tune_lm.{json,md}; the best pair is what ``DecoderConfig`` should hold.
With ``--model`` (a candidate model, e.g. a new training stage) it writes tune_lm-NAME.{json,md} instead,
with ``--lm`` (a candidate KenLM file) tune_lm-lm-STEM.{json,md}, and the README is left alone: dev alone
decides whether a candidate replaces the bundled model or LM.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from log_probs import chunk_masked_log_probs  # noqa: E402
from results_io import candidate_command, candidate_result_name, publish  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.data.manifest import read_manifest  # noqa: E402
from streamasr.decoder import CTCPrefixDecoder, DecoderConfig  # noqa: E402
from streamasr.metrics import error_rate  # noqa: E402
from streamasr.recognizer import Recognizer  # noqa: E402


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines")
    p.add_argument("--alphas", type=floats, default="0.3,0.4,0.5,0.6,0.7,0.8,1.0")
    p.add_argument("--betas", type=floats, default="-0.5,0,0.5,1,1.5,2,2.5,3,3.5,4")
    p.add_argument("--beams", type=floats, default="10,16,24,32")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    p.add_argument("--lm", default="default", help="KenLM file, with its .unigrams.txt beside it (default: the bundled LM)")
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer.from_pretrained(args.model, lm=args.lm)
    utts = read_manifest(Path(args.corpus) / "dev.jsonl")
    refs = [u.text for u in utts]
    logps = [chunk_masked_log_probs(rec, load_audio(u.audio)) for u in utts]  # (T', V) each
    rows = []
    for alpha in args.alphas:
        for beta in args.betas:
            dec = CTCPrefixDecoder(dataclasses.replace(rec.decoder_cfg, alpha=alpha, beta=beta), rec.tokenizer, rec.lm)
            hyps = [dec.finalize(dec.step(lp, dec.init_state())).text for lp in logps]
            rows.append({"alpha": alpha, "beta": beta, "wer": error_rate(refs, hyps)})
            print(rows[-1], flush=True)
    best = min(rows, key=lambda r: r["wer"])
    current = DecoderConfig()
    seconds = sum(len(lp) for lp in logps) * rec.frame_ms / 1000
    beams = []
    for beam in (int(b) for b in args.beams):
        dec = CTCPrefixDecoder(dataclasses.replace(current, beam=beam), rec.tokenizer, rec.lm)
        t0 = time.process_time()
        hyps = [dec.finalize(dec.step(lp, dec.init_state())).text for lp in logps]
        beams.append({"beam": beam, "wer": error_rate(refs, hyps), "decoder_rtf": (time.process_time() - t0) / seconds})
        print(beams[-1], flush=True)
    now = next((r for r in rows if r["alpha"] == current.alpha and r["beta"] == current.beta), None)
    lines = ["| alpha \\ beta | " + " | ".join(f"{b:g}" for b in args.betas) + " |",
             "|---|" + "---|" * len(args.betas)]
    for alpha in args.alphas:
        cells = []
        for r in (r for r in rows if r["alpha"] == alpha):
            cell = f"{100 * r['wer']:.1f}%"
            cells.append(f"**{cell}**" if r is best else cell)
        lines.append(f"| {alpha:g} | " + " | ".join(cells) + " |")
    lines.append(f"\nDev WER (beam {current.beam}, 320 ms chunk mask, {len(utts)} utterances of the training voices) "
                 f"for each LM weight alpha and word bonus beta. Best: alpha {best['alpha']:g}, beta {best['beta']:g} "
                 f"({100 * best['wer']:.1f}%); `DecoderConfig` holds alpha {current.alpha:g}, beta {current.beta:g}"
                 + (f" ({100 * now['wer']:.1f}%)" if now else "") + ".")
    lines += ["", f"Beam width at those weights (`DecoderConfig.beam` is {current.beam}):", "",
              "| beam | dev WER | decoder RTF (1 thread) |", "|---|---|---|"]
    lines += [f"| {b['beam']} | {100 * b['wer']:.1f}% | {b['decoder_rtf']:.4f} |" for b in beams]
    data = {"rows": rows, "best": best, "beams": beams}
    name = candidate_result_name("tune_lm", args.model, args.lm)
    command = candidate_command("tune_lm", args.model, args.lm)
    for flag in ("alphas", "betas", "beams"):  # a grid other than the default one, as it was given
        given = getattr(args, flag)
        if given != floats(p.get_default(flag)):
            command += f" --{flag} {','.join(f'{x:g}' for x in given)}"
    lines.append(("\nProduced by" if name == "tune_lm" else
                  f"\nModel `{args.model or 'bundled'}`, LM `{args.lm}`; produced by") + f" `{command}`.")
    publish(name, data, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
