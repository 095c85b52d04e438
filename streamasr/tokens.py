"""Token inventories. Characters by default; sentencepiece BPE as an option."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

BLANK = "<blk>"
SPACE = "<space>"  # how the character tokenizer's " " is written in tokens.txt
WORD_START = "\u2581"  # sentencepiece's "▁": in tokens.txt, a piece that begins a word

_NOT_ASCII_LETTER = re.compile(r"[^a-z' ]+")


def _kept(c: str) -> bool:
    """A letter of any script, or a mark that belongs to one (Devanagari's vowel signs), or an apostrophe."""
    return c == "'" or unicodedata.category(c)[0] in "LM"


def normalize_text(text: str) -> str:
    """Lower-case, keep letters (of any script) and apostrophes, squeeze spaces.

    >>> normalize_text("Let there be light: and there was light!")
    'let there be light and there was light'
    >>> normalize_text("  It’s   22  o'clock ")
    "it's o'clock"
    >>> normalize_text("Über die Brücke, café!"), normalize_text("我们今天去北京。"), normalize_text("नमस्ते दुनिया")
    ('über die brücke café', '我们今天去北京', 'नमस्ते दुनिया')
    """
    text = text.lower().replace("’", "'")
    if text.isascii():  # the common case, quickly
        text = _NOT_ASCII_LETTER.sub(" ", text)
    else:
        text = "".join(c if _kept(c) else " " for c in unicodedata.normalize("NFC", text))
    return " ".join(w.strip("'") for w in text.split() if w.strip("'"))


class Tokenizer:
    """Maps text to token ids and back; index 0 is the CTC blank.

    In memory every token is its text, and a token whose text begins with " " begins a
    new word: the character tokenizer's " ", or a BPE piece such as " the"."""

    def __init__(self, tokens: list[str]):
        if not tokens or tokens[0] != BLANK:
            raise ValueError(f"token list must start with {BLANK!r}")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        self.word_start = [t.startswith(" ") for t in tokens]  # True where a token begins a word
        self.pieces = any(len(t) > 1 and t.startswith(" ") for t in tokens)  # BPE pieces, not characters

    @classmethod
    def characters(cls, texts: list[str] = ()) -> "Tokenizer":
        """English letters, the space and the apostrophe; then, in code point order, every other character
        of ``texts`` (normalized), so that another language's characters are tokens too.

        >>> len(Tokenizer.characters()), Tokenizer.characters(["Let there be light"]).tokens[-1]
        (29, 'z')
        >>> Tokenizer.characters(["Über die Brücke", "straße"]).tokens[29:]
        ['ß', 'ü']
        """
        base = [BLANK, " ", "'"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
        seen = {c for t in texts for c in normalize_text(t)}
        return cls(base + sorted(seen - set(base)))

    @classmethod
    def load(cls, path: Path) -> "Tokenizer":
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls([" " if t == SPACE else t.replace(WORD_START, " ") for t in lines])

    def save(self, path: Path) -> None:
        lines = [SPACE if t == " " else t.replace(" ", WORD_START) for t in self.tokens]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def labels(self) -> list[str]:
        """The tokens as pyctcdecode-style decoders label them: "" for the blank; for BPE pieces, "▁" where
        a word starts; for characters, " " stays the space.

        >>> Tokenizer.characters().labels()[:4]
        ['', ' ', "'", 'a']
        >>> Tokenizer([BLANK, " ", " the", "s"]).labels()
        ['', '▁', '▁the', 's']
        """
        return [""] + [t.replace(" ", WORD_START) if self.pieces else t for t in self.tokens[1:]]

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> list[int]:
        return [self.index[c] for c in normalize_text(text)]

    def decode(self, ids) -> str:
        """Text of token ids, blanks dropped, spaces squeezed.

        >>> Tokenizer([BLANK, " the", " l", "ord", "'", "s"]).decode([1, 0, 2, 3, 4, 5])
        "the lord's"
        """
        return " ".join("".join(self.tokens[i] for i in ids if i != 0).split())
