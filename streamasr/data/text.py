"""Public-domain English text from Debian packages, split into short sentences.

Source: the King James Version of the Bible (public domain), package
``bible-kjv-text``, read through the ``bible`` program of package ``bible-kjv``.
"""

from __future__ import annotations

import re
import shutil
import subprocess

from streamasr.tokens import normalize_text

_CLAUSE_END = re.compile(r"[.;:?!]+")


def split_sentences(verse: str, min_words: int = 4, max_words: int = 24) -> list[str]:
    """Split a verse into normalized clauses of a speakable length.

    >>> split_sentences("Ge1:3 And God said, Let there be light: and there was light.", min_words=3)
    ['and god said let there be light', 'and there was light']
    """
    verse = re.sub(r"^\S+\d+:\d+\s+", "", verse.strip())  # drop the "Ge1:3" reference
    out = []
    for part in _CLAUSE_END.split(verse):
        words = normalize_text(part).split()
        if min_words <= len(words) <= max_words:
            out.append(" ".join(words))
    return out


def kjv_sentences() -> list[str]:
    """All sentences of the KJV, in canonical order, de-duplicated."""
    if shutil.which("bible") is None:
        raise RuntimeError("the 'bible' program is missing: apt-get install bible-kjv bible-kjv-text")
    out = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], capture_output=True, text=True, check=True).stdout
    seen, sentences = set(), []
    for verse in out.splitlines():
        for s in split_sentences(verse):
            if s not in seen:
                seen.add(s)
                sentences.append(s)
    return sentences
