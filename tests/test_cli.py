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


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.slow  # two CLI processes running the whole demo (~6 s each)
def test_demo_leaves_no_temporary_folder_and_can_be_rerun(tmp_path):
    """``nimask demo`` (as ``make demo`` runs it, and without --out-dir) writes everything to
    ./nimask-demo and nothing to the temp folder; a second demo replaces its own outputs."""
    cwd, tmp = tmp_path / "project", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    env = {"TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    for args in (("demo",), ("demo", "--out-dir", "nimask-demo")):
        proc = _run(*args, cwd=cwd, env=env, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "4 runs x 3 atlases x 2 strategies: 124 files" in proc.stdout  # the rerun redoes the runs
        assert "rerun: 4 runs already done, 0 redone" in proc.stdout
        assert "FAILED" not in proc.stdout
        assert _snapshot(tmp) == set(), "the demo left files in the temp folder"
        assert sorted(p.name for p in cwd.iterdir()) == ["nimask-demo"]  # nothing else in the current folder
    demo = cwd / "nimask-demo"
    assert str(demo) in proc.stdout and str(demo / "report.html") in proc.stdout
    assert {"fmriprep", "atlases", "nimask", "report.html"} <= {p.name for p in demo.iterdir()}
    assert len(list((demo / "nimask").rglob("*_timeseries.tsv"))) == 24
    assert not [p for p in demo.rglob("*") if p.name.startswith(".") and "tmp" in p.name]  # no partial writes


def test_extract_help_documents_the_round_2_options():
    """``--allow-no-mask``, ``--strict``, ``--t-r`` and the -v list of warnings (docs/reliability.md 2.15)."""
    proc = _run("extract", "--help")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for needle in ("--allow-no-mask", "--strict", "--t-r SECONDS", "list every warning at the end",
                   "the summary of warnings"):
        assert needle in text
