"""Bounded fuzzing of the loader (``fuzz_loader.py``): a mutated NIfTI file raises a NimaskError
or is read exactly (its true values, or what a self-consistent mutated file says).

The suite runs a few hundred hypothesis-chosen mutations (a few seconds); run the harness
longer with ``python tests/reliability/fuzz_loader.py --seconds 600``.
"""
from __future__ import annotations

import random

import fuzz_loader
import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimask.exceptions import NimaskError

SEEDS = fuzz_loader.seed_files()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(SEEDS) - 1))
def test_mutated_files_are_refused_or_read_exactly(tmp_path, seed, which):
    base = SEEDS[which]
    suffix, files, ops, head, img = fuzz_loader.mutate(base, random.Random(seed))
    outcome = fuzz_loader.check(files, suffix, str(tmp_path), base.truth, head, img)
    assert outcome.kind in ("error", "true", "consistent"), f"{outcome.kind}: {outcome.detail} (mutations {ops})"


def _unmutated(base):
    gz = ".gz" if base.suffix.endswith(".gz") else ""
    parts = {base.suffix: base.head} if not base.pair else {".hdr" + gz: base.head, ".img" + gz: base.img}
    if gz:
        import gzip

        parts = {name: gzip.compress(raw, mtime=0) for name, raw in parts.items()}
    return parts


@pytest.mark.parametrize("which", range(len(SEEDS)), ids=[f"{i}{s.suffix}" for i, s in enumerate(SEEDS)])
def test_unmutated_seeds_load_and_mask_to_their_true_values(tmp_path, which):
    base = SEEDS[which]
    assert fuzz_loader._same(fuzz_loader.standard_reading(base.head, base.img), base.truth)
    outcome = fuzz_loader.check(_unmutated(base), base.suffix, str(tmp_path), base.truth, base.head, base.img)
    assert outcome.kind == "true", outcome.detail


def test_harness_reports_escapes(tmp_path, monkeypatch):
    """The harness is not vacuous: a non-nimask error is reported as an escape."""
    from nimask import image

    def broken(path):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(image, "load_img", broken)
    base = SEEDS[0]
    assert fuzz_loader.check(_unmutated(base), base.suffix, str(tmp_path), base.truth).kind == "escape"


def test_harness_reports_silent_misreads(tmp_path, monkeypatch):
    """... and values that are neither the truth nor what the file says are a mis-read: here a
    reader that skips the first 4 bytes of data, as a wrong vox_offset would."""
    from nimask import image

    real = image.load_img

    def shifted(path):
        img = real(path)
        data = np.asarray(img.dataobj)
        flat = np.concatenate([data.ravel(order="F")[1:], data.ravel(order="F")[:1]])
        return nib.Nifti1Image(flat.reshape(data.shape, order="F"), img.affine)

    monkeypatch.setattr(image, "load_img", shifted)
    base = SEEDS[0]
    outcome = fuzz_loader.check(_unmutated(base), base.suffix, str(tmp_path), base.truth, base.head, base.img)
    assert outcome.kind == "misread"


def test_damaged_inputs_do_raise_nimask_errors(tmp_path):
    """Truncation and gzip damage are caught as NimaskError (not silently accepted)."""
    from nimask import image

    base = SEEDS[1]  # .nii.gz
    raw = _unmutated(base)[base.suffix]
    path = tmp_path / ("cut" + base.suffix)
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(NimaskError):
        np.asarray(image.load_img(str(path)).dataobj)


def test_timed_run_counts_inputs():
    stats = fuzz_loader.run(1.0, seed=1, verbose=False)
    assert stats["inputs"] > 10
    assert stats["escapes"] == [] and stats["misreads"] == []
    assert stats["errors"] + stats["true"] + stats["consistent"] == stats["inputs"]
