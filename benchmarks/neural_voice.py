"""WER on the test sentences spoken by a neural voice (Piper's en_US-joe-medium), the most human-like
voice we can make here. Writes benchmarks/results/neural_voice.{json,md}.

    python benchmarks/neural_voice.py [--manifest work/test-piper/test-seen-voices.jsonl] [--model DIR]

The manifest comes from `streamasr data synth --out work/test-piper --hours 0.001 --seed 0
--dev-sentences 0 --engines piper`: the 200 sentences of `test-seen-voices` (seed 0), which no model
stage trains on and the LM text leaves out, all spoken by the Piper voice. With ``--model`` the result
goes to neural_voice-<folder name>.{json,md} and the README is left alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from streamasr.audio import load_audio
from streamasr.data.manifest import read_manifest
from streamasr.recognizer import Recognizer

sys.path.insert(0, str(Path(__file__).parent))
from accuracy import run  # noqa: E402
from results_io import model_result_name, publish  # noqa: E402

SETTINGS = [("full context, beam + LM", 0, False), ("320 ms chunks, beam + LM", 320, False),
            ("320 ms chunks, beam + LM, final pass", 320, True)]  # (label, chunk_ms, final pass)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--manifest", default="work/test-piper/test-seen-voices.jsonl")
    p.add_argument("--model", default=None, help="model folder (default: the bundled model)")
    args = p.parse_args()
    torch.set_num_threads(1)
    rec = Recognizer.from_pretrained(args.model)
    utts = read_manifest(Path(args.manifest))
    audio, refs = [load_audio(u.audio) for u in utts], [u.text for u in utts]
    voices = sorted({u.voice for u in utts})
    results = []
    for label, chunk_ms, final_pass in SETTINGS:
        r = run(rec, audio, refs, chunk_ms, "beam", final_pass)
        results.append({"setting": label, "wer": r["wer"], "cer": r["cer"], "utterances": len(utts)})
        print(f"{label:38s} WER {100 * r['wer']:6.2f}%  CER {100 * r['cer']:6.2f}%", flush=True)
    lines = ["| setting | WER | CER |", "|---|---|---|"]
    lines += [f"| {r['setting']} | {100 * r['wer']:.1f}% | {100 * r['cer']:.1f}% |" for r in results]
    command = "python benchmarks/neural_voice.py" + (f" --model {args.model}" if args.model else "")
    lines.append(f"\n{len(utts)} utterances ({', '.join(voices)}), model `{args.model or 'bundled'}`; "
                 f"produced by `{command}`.")
    data = {"model": args.model or "bundled", "voices": voices, "results": results}
    name = "neural_voice" if args.model is None else model_result_name("neural_voice", args.model)
    publish(name, data, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
