"""The pure rules inside benchmarks/ (the margin rule of the LM weights, latency quantiles, where speech
ends, ...): their docstring examples, run here because pytest collects doctests from the package only.
plots.py is left out: matplotlib comes with the bench extra, which `make test` does not install."""

import doctest
import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))


@pytest.mark.parametrize("name", ["tune_lm", "latency", "confidence", "admission", "hotwords", "speech_end", "density", "machine", "results_io",
                                  "deploy", "accuracy", "targets", "log_probs", "stability",
                                  "word_times", "levels"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0


def test_the_readme_targets_table_is_the_committed_results():
    """The README's targets block is what targets.py makes of the results committed beside it (a bench that
    rewrote a result without targets.py would leave the README's verdicts stale)."""
    import targets

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    block = readme.split("<!-- targets:begin -->\n", 1)[1].split("<!-- targets:end -->", 1)[0]
    assert block == targets.table(targets.rows())


def test_a_partial_run_writes_neither_results_nor_the_readme(tmp_path, monkeypatch, capsys):
    """A --limit run prints its table and leaves the full run's results and the README's figures alone."""
    import results_io

    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- demo:begin -->\nold\n<!-- demo:end -->\n")
    monkeypatch.setattr(results_io, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(results_io, "README", readme)
    results_io.publish("demo", {"wer": 0.5}, "new\n", partial=True)
    assert "new" in capsys.readouterr().out and not (tmp_path / "results").exists() and "old" in readme.read_text()
    results_io.publish("demo", {"wer": 0.5}, "new\n")
    assert (tmp_path / "results" / "demo.json").exists() and "new" in readme.read_text()


def test_stream_segments_decode_to_the_sessions_finals(bundled_rec, paused_speech):
    """tune_lm.py chooses the search's settings on the segments a session searched in a stream with pauses:
    searched again at the session's own setting they give its finals, and at another setting they give the
    finals of a session run with that one (the session's segments do not depend on its search)."""
    import dataclasses

    from log_probs import stream_segments
    from tune_lm import texts_of

    from streamasr.decoder import CTCPrefixDecoder
    from streamasr.recognizer import Recognizer

    segments, texts = stream_segments(bundled_rec, paused_speech)
    assert len(segments) == 3 and [t for t in texts if t]  # two sentences, and the stream's closing final
    dec = CTCPrefixDecoder(bundled_rec.decoder_cfg, bundled_rec.tokenizer, bundled_rec.lm)
    assert texts_of(dec, [segments]) == [" ".join(t for t in texts if t)]
    other = dataclasses.replace(bundled_rec.decoder_cfg, alpha=3.0)  # the LM overrules the model
    rec = Recognizer(bundled_rec.model, bundled_rec.tokenizer, bundled_rec.lm, other, bundled_rec.encoder)
    other_segments, other_texts = stream_segments(rec, paused_speech)
    assert [len(s) for s in other_segments] == [len(s) for s in segments]
    searched = texts_of(CTCPrefixDecoder(other, bundled_rec.tokenizer, bundled_rec.lm), [segments])
    assert searched == [" ".join(t for t in other_texts if t)] != [" ".join(t for t in texts if t)]


def test_every_readme_block_is_its_committed_results_file():
    """Each table the README quotes between <!-- NAME:begin/end --> is benchmarks/results/NAME.md as its
    benchmark wrote it (``results_io.publish``): a figure edited by hand in one would show here."""
    import re

    root = Path(__file__).parents[1]
    blocks = re.findall(r"<!-- (\S+):begin -->\n(.*?)<!-- \1:end -->", (root / "README.md").read_text(), re.S)
    assert len(blocks) >= 20  # the README quotes each benchmark's table
    for name, block in blocks:
        assert block == (root / "benchmarks" / "results" / f"{name}.md").read_text(), name
