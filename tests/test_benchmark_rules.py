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
                                  "deploy", "accuracy"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0
