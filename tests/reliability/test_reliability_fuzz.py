"""Bounded fuzzing of the loader (``fuzz_loader.py``): mutated NIfTI bytes raise only NimaskError.

The suite runs a few hundred hypothesis-chosen mutations (a few seconds); run the harness
longer with ``python tests/reliability/fuzz_loader.py --seconds 600``.
"""
from __future__ import annotations

import random

import fuzz_loader
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimask.exceptions import NimaskError

SEEDS = fuzz_loader.seed_files()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(SEEDS) - 1))
def test_mutated_files_raise_only_nimask_errors(tmp_path, seed, which):
    suffix, raw = SEEDS[which]
    suffix, data, ops = fuzz_loader.mutate(raw, suffix, random.Random(seed))
    escape = fuzz_loader.check(data, suffix, str(tmp_path))
    assert escape is None, f"{type(escape).__name__}: {escape} (mutations {ops})"


@pytest.mark.parametrize("which", range(len(SEEDS)))
def test_unmutated_seeds_load_and_mask(tmp_path, which):
    suffix, raw = SEEDS[which]
    assert fuzz_loader.check(raw, suffix, str(tmp_path)) is None


def test_harness_reports_escapes(tmp_path, monkeypatch):
    """The harness is not vacuous: a non-nimask error is reported as an escape."""
    from nimask import image

    def broken(path):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(image, "load_img", broken)
    suffix, raw = SEEDS[0]
    assert isinstance(fuzz_loader.check(raw, suffix, str(tmp_path)), ZeroDivisionError)


def test_damaged_inputs_do_raise_nimask_errors(tmp_path):
    """Truncation and gzip damage are caught as NimaskError (not silently accepted)."""
    from nimask import image

    suffix, raw = SEEDS[1]  # .nii.gz
    path = tmp_path / ("cut" + suffix)
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(NimaskError):
        import numpy as np

        np.asarray(image.load_img(str(path)).dataobj)


def test_timed_run_counts_inputs():
    stats = fuzz_loader.run(1.0, seed=1, verbose=False)
    assert stats["inputs"] > 10
    assert stats["escapes"] == []
