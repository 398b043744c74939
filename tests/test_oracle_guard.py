"""The suite refuses to start without nilearn 0.14.1 (the oracle): no oracle test may skip silently."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(os.path.dirname(TESTS), "src")


@pytest.mark.parametrize(
    "init, problem",
    [('raise ImportError("hidden by the test")', "nilearn is not importable (hidden by the test)"),
     ('__version__ = "0.10.0"', "nilearn 0.10.0 is installed")],
)
def test_suite_refuses_to_start_without_the_oracle(tmp_path, init, problem):
    (tmp_path / "nilearn").mkdir()
    (tmp_path / "nilearn" / "__init__.py").write_text(init + "\n")  # shadows the installed nilearn
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), SRC, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
         os.path.join(TESTS, "image", "test_image_basic.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, out
    assert ("nilearn==0.14.1 is the test oracle; install the test extras: pip install -e '.[test]'"
            f" ({problem})") in out
