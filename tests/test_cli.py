"""The command line: ``nimask --version`` and ``nimask demo``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import nimask
from nimask.__main__ import main

ROOT = Path(__file__).resolve().parents[1]
SRC = str(ROOT / "src")


def _run(*args: str, cwd: Path | str = ROOT, env: dict | None = None, timeout: int = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {}), "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-m", "nimask", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout)


def test_version_prints_name_and_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"nimask {nimask.__version__}\n"


def test_version_from_the_command_line_matches_the_package_metadata():
    proc = _run("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"nimask {nimask.__version__}\n"
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert nimask.__version__ == declared
