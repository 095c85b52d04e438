"""Every `streamasr ...` command line in the README's and docs' shell blocks parses, and every `python
benchmarks/NAME.py --flags` they name (the README's figures say which made them) names a script and flags
it has: a flag renamed or dropped fails here, not in a reader's terminal."""

import re
import shlex
from pathlib import Path

import pytest

from streamasr.cli.main import build_parser

ROOT = Path(__file__).parent.parent.parent
DOCS = [ROOT / "README.md", ROOT / "clients" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def documented_commands() -> list[tuple[str, list[str]]]:
    """(file name, command line) of each `streamasr` command in a ```sh block, its comment, redirections and
    the other commands of its pipeline left out."""
    found = []
    for doc in DOCS:
        for block in re.findall(r"^```(?:sh|bash|console)\n(.*?)^```", doc.read_text(), re.S | re.M):
            for line in block.replace("\\\n", " ").splitlines():  # continued lines joined
                words = shlex.split(line, comments=True)
                starts = [0] + [i + 1 for i, w in enumerate(words) if w in ("|", "&&", ";")]
                for start in starts:
                    if words[start : start + 1] == ["streamasr"]:
                        end = next((i for i in range(start, len(words))
                                    if words[i] in ("|", "&&", ";", ">", ">>", "2>", "<")), len(words))
                        found.append((doc.name, words[start + 1 : end]))
    return found


COMMANDS = documented_commands()


def test_the_docs_hold_commands_of_every_kind():
    assert len(COMMANDS) >= 30
    assert {argv[0] for _, argv in COMMANDS} >= {"transcribe", "eval", "serve", "stream", "mic", "export", "train",
                                                  "data"}


@pytest.mark.parametrize("doc,argv", COMMANDS, ids=[f"{d}: {' '.join(a)}" for d, a in COMMANDS])
def test_a_documented_command_line_parses(doc, argv, capsys):
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        pytest.fail(f"{doc}: `streamasr {' '.join(argv)}` does not parse: {capsys.readouterr().err.strip()}")
    assert callable(args.func)
    if argv[0] == "train":  # the recipes the docs train with are in the repository
        assert (ROOT / args.config).is_file(), f"{doc}: no recipe {args.config}"


def benchmark_commands() -> list[tuple[str, str, list[str]]]:
    """(file name, script, its --flags) of each `python benchmarks/NAME.py ...` the docs name, in prose or blocks."""
    found = []
    for doc in DOCS:
        for script, args in re.findall(r"python (benchmarks/\w+\.py)([^`)#\n]*)", doc.read_text()):
            found.append((doc.name, script, re.findall(r"--[a-z][a-z0-9-]*", args)))
    return found


def test_the_benchmarks_the_docs_name_exist_with_their_flags():
    commands = benchmark_commands()
    assert len({script for _, script, _ in commands}) >= 20
    for doc, script, flags in commands:
        path = ROOT / script
        assert path.is_file(), f"{doc} names {script}, which is not there"
        source = path.read_text()
        helpers = re.findall(r"^from (\w+) import", source, re.M)  # the benchmarks' own modules add flags too
        source += "".join((ROOT / "benchmarks" / f"{h}.py").read_text() for h in helpers
                          if (ROOT / "benchmarks" / f"{h}.py").is_file())
        for flag in flags:
            assert f'"{flag}"' in source, f"{doc}: {script} has no {flag}"
