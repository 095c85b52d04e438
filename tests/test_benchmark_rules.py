"""The pure rules inside benchmarks/ (the margin rule of the LM weights, latency quantiles, where speech
ends, ...): their docstring examples, run here because pytest collects doctests from the package only.
plots.py is left out: matplotlib comes with the bench extra, which `make test` does not install."""

import doctest
import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))


@pytest.mark.parametrize("name", ["tune_lm", "latency", "admission", "speech_end", "density", "machine", "results_io",
                                  "deploy", "accuracy", "targets"])
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
