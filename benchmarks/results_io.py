"""Where benchmark results go: benchmarks/results/NAME.{json,md}, and the README's quoted block."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
README = Path(__file__).parent.parent / "README.md"


def publish(name: str, data: object, text: str, partial: bool = False) -> None:
    """Write NAME.json and NAME.md, replace the README block between <!-- NAME:begin/end -->, print.

    ``partial`` (a run on part of the data, ``--limit``): print only, so that a quick check never
    overwrites a full run's results or the figures the README quotes."""
    if partial:
        print(text + f"(a partial run: not written to {RESULTS.name}/{name}.* or the README)")
        return
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1) + "\n")
    (RESULTS / f"{name}.md").write_text(text)
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    body = README.read_text()
    if begin in body and end in body:
        head, rest = body.split(begin, 1)
        README.write_text(head + begin + "\n" + text + end + rest.split(end, 1)[1])
    print(text)


def read(name: str):
    """The data a full run wrote to NAME.json (what ``publish`` was given)."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def model_result_name(prefix: str, model_dir: str) -> str:
    """Result name for a model other than the bundled one: PREFIX-NAME for exp/NAME/model (or folder NAME).

    >>> model_result_name("accuracy", "work/exp/finetune-pico/model")
    'accuracy-finetune-pico'
    """
    folder = Path(model_dir).resolve()
    return f"{prefix}-{folder.parent.name if folder.name == 'model' else folder.name}"


def candidate_result_name(prefix: str, model_dir: str | None, lm: str) -> str:
    """Result name for a run on a candidate model and/or LM (``lm`` "default": the bundled one); PREFIX itself
    for the bundled pair.

    >>> candidate_result_name("tune_lm", None, "default")
    'tune_lm'
    >>> candidate_result_name("accuracy", "work/exp/finetune-pico/model", "default")
    'accuracy-finetune-pico'
    >>> candidate_result_name("tune_lm", None, "work/lm/kjv5.bin")
    'tune_lm-lm-kjv5'
    """
    name = model_result_name(prefix, model_dir) if model_dir else prefix
    return name if lm == "default" else f"{name}-lm-{Path(lm).stem}"


def candidate_command(script: str, model_dir: str | None, lm: str) -> str:
    """The command line that reproduces a run, for its result's footer.

    >>> candidate_command("tune_lm", None, "default")
    'python benchmarks/tune_lm.py'
    >>> candidate_command("accuracy", "work/exp/x/model", "work/lm/kjv5.bin")
    'python benchmarks/accuracy.py --model work/exp/x/model --lm work/lm/kjv5.bin'
    """
    model = f" --model {model_dir}" if model_dir else ""
    return f"python benchmarks/{script}.py{model}" + ("" if lm == "default" else f" --lm {lm}")
