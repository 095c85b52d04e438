"""The package as a wheel carries what it needs: installed from it (not from this checkout), the bundled model
and LM recognize the bundled sample."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def source_tree(dest: Path) -> Path:
    """The checkout's files that git tracks or would (a build from the checkout itself would leave build/
    there, whose stale files a later wheel would carry)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for name in files:
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


def test_a_wheel_recognizes_with_its_bundled_model(tmp_path):
    src = source_tree(tmp_path / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist")], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "dist").glob("streamasr-*.whl")
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path / "site")  # what pip would put in site-packages
    env = {"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run([sys.executable, "-c", "import streamasr.cli.main as m; print(m.__file__)"], env=env,
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(tmp_path / "site")), where.stdout  # not this checkout's
    sample = tmp_path / "site" / "streamasr" / "assets" / "sample.wav"
    out = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "transcribe", str(sample)], env=env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    here = subprocess.run([sys.executable, "-m", "streamasr.cli.main", "transcribe", str(sample)], capture_output=True,
                          text=True, timeout=300)
    assert out.returncode == here.returncode == 0, out.stderr
    assert out.stdout == here.stdout and out.stdout.startswith("and the pharisees"), out.stdout  # its LM too
    page = subprocess.run([sys.executable, "-c", "import importlib.resources as r; "
                           "print(len(r.files('streamasr.server').joinpath('page.html').read_text()))"],
                          env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert int(page.stdout) > 1000
