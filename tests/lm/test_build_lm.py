"""lm/build_lm.sh compiles KenLM's lmplz/build_binary from source (first run) and builds a model."""

import subprocess
from pathlib import Path

from streamasr.decoder import LanguageModel

ROOT = Path(__file__).parents[2]
TEXT = ["the lord is my shepherd i shall not want", "he maketh me to lie down in green pastures",
        "he leadeth me beside the still waters", "he restoreth my soul"] * 5


def test_build_lm_makes_arpa_binary_and_word_list(tmp_path):
    text = tmp_path / "text.txt"
    text.write_text("\n".join(TEXT) + "\n")
    r = subprocess.run(["bash", str(ROOT / "lm" / "build_lm.sh"), str(text), str(tmp_path / "lm"), "3"],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    for suffix in (".arpa", ".bin", ".unigrams.txt"):
        assert (tmp_path / f"lm{suffix}").stat().st_size > 0
    lm = LanguageModel(tmp_path / "lm.bin")
    assert "shepherd" in lm.unigrams and "shep" in lm.prefixes

    def sentence_score(words):
        state, total = lm.begin(), 0.0
        for w in words:
            s, state, _ = lm.score(state, w)
            total += s
        return total + lm.end(state)

    assert sentence_score("he restoreth my soul".split()) > sentence_score("soul my restoreth he".split())
    assert LanguageModel(tmp_path / "lm.arpa").unigrams == lm.unigrams
