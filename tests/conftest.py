"""Shared test set-up: makes ``tests/`` importable so that ``_helpers`` can be shared, and refuses
to start without the test oracle (nilearn 0.14.1): an oracle test must never skip silently."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

ORACLE_VERSION = "0.14.1"
ORACLE_MESSAGE = (
    f"nilearn=={ORACLE_VERSION} is the test oracle; install the test extras: pip install -e '.[test]'"
)


def oracle_problem() -> str | None:
    """Why the installed nilearn cannot serve as the oracle (None when it can)."""
    try:
        import nilearn
    except ImportError as exc:
        return f"nilearn is not importable ({exc})"
    version = getattr(nilearn, "__version__", None)
    if version != ORACLE_VERSION:
        return f"nilearn {version} is installed"
    return None


def pytest_configure(config: pytest.Config) -> None:
    problem = oracle_problem()
    if problem is not None:
        raise pytest.UsageError(f"{ORACLE_MESSAGE} ({problem})")
