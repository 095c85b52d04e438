"""Our CTC prefix beam search against pyctcdecode on the same log-probs, LM and weights.

    python benchmarks/decoder.py [--corpus work/corpus-engines] [--beams 10,32] [--repeats 5]

Log-probs come from the bundled model under the 320 ms chunk mask, once per utterance, shaped as
our search scores them (``search_log_probs``: ``DecoderConfig``'s temperature and blank penalty, which
pyctcdecode has no setting for); both decoders then search the same shaped log-probs with the bundled
KenLM model (ours with neither setting, so as not to shape them twice), ours with a decoder of its own for each
utterance (as each stream has one), so no utterance finds its caches warmed by another. Both try the
tokens whose shaped log-prob reaches ``token_min_logp``, more than a session's search tries (the model's
own posteriors decide there), so a third column runs ours as shipped: on the model's posteriors, shaping
them itself. Each decoder runs ``--repeats`` timed passes, taking turns, and its least time counts: single passes on
this machine moved by up to 1.5x between runs. Writes benchmarks/results/decoder.{json,md}.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch
from pyctcdecode import build_ctcdecoder

sys.path.insert(0, str(Path(__file__).parent))
from log_probs import chunk_masked_log_probs  # noqa: E402
from results_io import publish  # noqa: E402
from splits import read_splits  # noqa: E402

from streamasr.audio import load_audio  # noqa: E402
from streamasr.decoder import CTCPrefixDecoder  # noqa: E402
from streamasr.decoder.ctc_prefix import search_log_probs  # noqa: E402
from streamasr.metrics import error_rate  # noqa: E402
from streamasr.recognizer import Recognizer  # noqa: E402


def decode(dec: CTCPrefixDecoder, lp) -> str:
    """One utterance's text, by a decoder of its own (as each stream has one: its caches start empty)."""
    return dec.finalize(dec.step(lp, dec.init_state())).text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--corpus", default="work/corpus-engines")
    p.add_argument("--beams", default="10,32")
    p.add_argument("--repeats", type=int, default=5, help="timed passes of each decoder, taking turns")
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer.from_pretrained()
    utts = [u for split in read_splits(args).values() for u in split]
    refs, raw, logps, seconds = [], [], [], 0.0
    for u in utts:
        x = load_audio(u.audio)
        seconds += len(x) / 16000
        raw.append(chunk_masked_log_probs(rec, x))  # (T', V), the model's posteriors
        logps.append(search_log_probs(raw[-1], rec.decoder_cfg.temperature,
                                      rec.decoder_cfg.blank_penalty))  # (T', V), as our search scores them
        refs.append(u.text)
    rows = []
    for beam in [int(b) for b in args.beams.split(",")]:
        cfg = dataclasses.replace(rec.decoder_cfg, beam=beam, temperature=1.0, blank_penalty=0.0)  # shaped already
        ref = build_ctcdecoder(rec.tokenizer.labels(), str(rec.lm.path), sorted(rec.lm.unigrams),
                               alpha=cfg.alpha, beta=cfg.beta, unk_score_offset=cfg.unk_offset)
        shipped = dataclasses.replace(rec.decoder_cfg, beam=beam)  # shapes them itself, tries the model's tokens
        t_ours = t_ref = t_shipped = float("inf")
        for _ in range(args.repeats):
            t0 = time.process_time()
            as_shipped = [decode(CTCPrefixDecoder(shipped, rec.tokenizer, rec.lm), lp) for lp in raw]
            t_shipped = min(t_shipped, time.process_time() - t0)
            t0 = time.process_time()
            mine = [decode(CTCPrefixDecoder(cfg, rec.tokenizer, rec.lm), lp) for lp in logps]  # one a stream
            t_ours = min(t_ours, time.process_time() - t0)
            t0 = time.process_time()
            theirs = [ref.decode(lp, beam_width=beam, beam_prune_logp=cfg.beam_prune_logp,
                                 token_min_logp=cfg.token_min_logp) for lp in logps]
            t_ref = min(t_ref, time.process_time() - t0)
        rows.append({"beam": beam, "utterances": len(logps), "agreement": sum(a == b for a, b in zip(mine, theirs)) / len(logps),
                     "wer_ours": error_rate(refs, mine), "wer_pyctcdecode": error_rate(refs, theirs),
                     "rtf_ours": t_ours / seconds, "rtf_pyctcdecode": t_ref / seconds,
                     "wer_shipped": error_rate(refs, as_shipped), "rtf_shipped": t_shipped / seconds})
        print(json.dumps(rows[-1]), flush=True)
    lines = ["| beam | same best path | WER ours | WER pyctcdecode | decoder RTF ours | decoder RTF pyctcdecode "
             "| ours as shipped: WER / decoder RTF |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['beam']} | {100 * r['agreement']:.0f}% | {100 * r['wer_ours']:.1f}% | "
                     f"{100 * r['wer_pyctcdecode']:.1f}% | {r['rtf_ours']:.4f} | {r['rtf_pyctcdecode']:.4f} | "
                     f"{100 * r['wer_shipped']:.1f}% / {r['rtf_shipped']:.4f} |")
    lines.append(f"\n{rows[0]['utterances']} utterances (both test splits), same log-probs (shaped by the temperature and "
                 "blank penalty) and LM, one CPU thread; each decoder's least time of "
                 f"{args.repeats} passes, taken in turns. *As shipped*: our decoder on the model's own posteriors, shaping "
                 "them itself and trying only the tokens the model gives at least `token_min_logp`, as a session runs it "
                 "(the shaped posteriors pass more tokens over that threshold). "
                 "Produced by `python benchmarks/decoder.py`.")
    publish("decoder", rows, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
