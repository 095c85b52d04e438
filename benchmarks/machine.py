"""The machine and code the benchmarks ran on, for the README: CPU model, cores, vector extensions, library
versions, commit.

    python benchmarks/machine.py

Timings (and int8 results: onnxruntime picks its integer kernels by the CPU's extensions) differ between
machines, so ``make bench`` writes this first and the README quotes it beside the tables.
Writes benchmarks/results/machine.{json,md}.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from results_io import publish  # noqa: E402

EXTENSIONS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")  # what the int8 and fp32 kernels use


def cpu_info(text: str) -> tuple[str, list[str]]:
    """Model name and the EXTENSIONS present, from the text of /proc/cpuinfo.

    >>> cpu_info("model name\\t: AMD EPYC\\nflags\\t\\t: fpu avx2 fma\\n")
    ('AMD EPYC', ['avx2'])
    """
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    return fields.get("model name", platform.processor() or "unknown"), [e for e in EXTENSIONS if e in flags]


def this_cpu() -> tuple[str, list[str]]:
    """``cpu_info`` of this machine (no /proc/cpuinfo: the platform's processor name, no extensions)."""
    cpuinfo = Path("/proc/cpuinfo")
    return cpu_info(cpuinfo.read_text() if cpuinfo.exists() else "")


def machine_line() -> str:
    """'Machine: <CPU>, <cores> cores (<extensions>).', for a table that says where it ran."""
    model, ext = this_cpu()
    return f"Machine: {model}, {os.cpu_count()} cores ({', '.join(ext) or 'no AVX2'})."


def commit() -> str:
    """The code the benchmarks ran: ``git describe --always --dirty`` of this checkout ('unknown' outside git)."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def main() -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args()  # --help says what it does, and writes nothing
    import numpy
    import onnxruntime
    import torch

    model, ext = this_cpu()
    data = {"cpu": model, "cores": os.cpu_count(), "extensions": ext, "python": platform.python_version(),
            "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "numpy": numpy.__version__,
            "commit": commit()}
    text = (f"Measured on: {data['cpu']}, {data['cores']} cores ({', '.join(ext) or 'no AVX2'}); Python "
            f"{data['python']}, torch {data['torch']}, onnxruntime {data['onnxruntime']}; code of commit "
            f"{data['commit']}. "
            "Produced by `python benchmarks/machine.py`.\n")
    publish("machine", data, text)


if __name__ == "__main__":
    main()
