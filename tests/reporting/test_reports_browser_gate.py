"""Without Chromium the browser tests skip locally with one line, and fail under CI=true."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SRC = os.path.join(ROOT, "src")


def _run_without_chromium(tmp_path, ci: str | None) -> subprocess.CompletedProcess:
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(PATH=str(empty), PYTHONPATH=os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]))
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-ra", "-q",
         os.path.join("tests", "reporting", "test_reports_browser.py")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )


def test_without_chromium_the_module_skips_with_one_line(tmp_path):
    proc = _run_without_chromium(tmp_path, ci=None)
    out = proc.stdout + proc.stderr
    assert proc.returncode in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED), out  # nothing failed
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1, out
    assert skipped[0].startswith("SKIPPED [1] tests/reporting/test_reports_browser.py:"), out
    assert "no Chromium on PATH" in skipped[0], out
    assert "1 skipped" in out and "passed" not in out and "failed" not in out, out


@pytest.mark.parametrize("ci", ["true", "TRUE"])
def test_without_chromium_under_ci_every_browser_test_fails(tmp_path, ci):
    proc = _run_without_chromium(tmp_path, ci=ci)
    out = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.TESTS_FAILED, out
    assert "skipped" not in out and " passed" not in out, out
    assert "CI=true: no Chromium on PATH" in out, out
