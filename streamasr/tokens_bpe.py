"""Sentencepiece BPE tokens, for training with ``"tokens": "bpe"``.

Pieces that begin a word carry sentencepiece's "▁", which becomes a leading space in
memory, so the decoder finds word boundaries as it does with characters.
"""

from __future__ import annotations

from pathlib import Path

import sentencepiece as spm

from streamasr.tokens import BLANK, Tokenizer, normalize_text


class BPETokenizer(Tokenizer):
    def __init__(self, model_file: Path):
        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        # piece 0 is sentencepiece's <unk>; it becomes the CTC blank, which never appears in targets
        pieces = [self.sp.id_to_piece(i).replace("\u2581", " ") for i in range(self.sp.get_piece_size())]
        super().__init__([BLANK] + pieces[1:])

    def encode(self, text: str) -> list[int]:
        return [i for i in self.sp.encode(normalize_text(text)) if i != 0]


def train_bpe(texts: list[str], vocab_size: int, out: Path) -> BPETokenizer:
    """Train (or reuse) ``out/bpe.model`` on ``texts``."""
    out = Path(out)
    model = out / "bpe.model"
    if not model.is_file():
        out.mkdir(parents=True, exist_ok=True)
        corpus = out / "bpe-text.txt"
        corpus.write_text("\n".join(normalize_text(t) for t in texts) + "\n")
        spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(out / "bpe"), vocab_size=vocab_size,
                                       model_type="bpe", character_coverage=1.0, unk_id=0, bos_id=-1,
                                       eos_id=-1, hard_vocab_limit=False, minloglevel=2)
    return BPETokenizer(model)
