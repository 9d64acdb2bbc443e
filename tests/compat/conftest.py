"""A Python >= 3.12 virtual environment with the real Azul packages (azul-bedrock, azul-client,
azul-runner), locked in requirements/compat.txt, used as an oracle by the compatibility tests.

It is built once and reused (``var/compat-venv``); a new lock rebuilds it. Without any Python 3.12+
on the machine the compat tests skip, saying so.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements" / "compat.txt"
VENV = ROOT / "var" / "compat-venv"


def find_python() -> str | None:
    candidates = [shutil.which(f"python3.{minor}") for minor in (13, 12)]
    home = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates += sorted(glob.glob(f"{home}/versions/3.1[2-9]*/bin/python"), reverse=True)
    for exe in candidates:
        if not exe:
            continue
        out = subprocess.run([exe, "-c", "import sys; print(sys.version_info >= (3, 12))"],
                             capture_output=True, text=True)
        if out.stdout.strip() == "True":
            return exe
    return None


@pytest.fixture(scope="session")
def compat_python() -> str:
    python = VENV / "bin" / "python"
    stamp = VENV / ".lock"
    if python.exists() and stamp.exists() and stamp.read_bytes() == LOCK.read_bytes():
        return str(python)
    base = find_python()
    if base is None:
        pytest.skip("no Python >= 3.12 on this machine: the Azul packages cannot be installed")
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([base, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--require-hashes", "--no-deps", "-r", str(LOCK)],
                   check=True)
    stamp.write_bytes(LOCK.read_bytes())
    return str(python)
