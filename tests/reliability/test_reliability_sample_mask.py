"""Catalogue §2.8 (sample_mask, S1-S10): SampleMaskError (a ValueError; out of range also IndexError)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from _rel import mask_img, raises, run_img
from nimask import signal
from nimask.exceptions import AllVolumesRemovedError, SampleMaskError, SampleMaskIndexError
from nimask.maskers import NiftiMasker

T = 30


def _signals():
    return np.random.default_rng(0).standard_normal((T, 4)) + 5


BAD = [
    ("S1", np.array([0, 5, 100]), SampleMaskIndexError, IndexError, "[100]"),
    ("S1b", np.array([0, 30]), SampleMaskIndexError, IndexError, "[30]"),
    ("S2", np.array([-1, 0, 1]), SampleMaskError, ValueError, "negative"),
    ("S3", np.ones(T - 2, bool), SampleMaskError, ValueError, "length 28"),
    ("S3b", np.ones(T + 3, bool), SampleMaskError, ValueError, "length 33"),
    ("S4", np.zeros(T, bool), AllVolumesRemovedError, ValueError, "removes all volumes"),
    ("S4-empty", np.array([], dtype=int), AllVolumesRemovedError, ValueError, "removes all volumes"),
    ("S5", (np.arange(T) % 5 != 0).astype(int), SampleMaskError, ValueError, "looks like a boolean mask"),
    ("S6", np.array([1, 1, 2]), SampleMaskError, ValueError, "repeats the indices [1]"),
    ("S7", np.array([5, 1, 3]), SampleMaskError, ValueError, "not sorted"),
    ("S8", np.array([1.7, 2.0]), SampleMaskError, ValueError, "non-integral"),
]


@pytest.mark.parametrize("cid, mask, cls, builtin, needle", BAD, ids=[b[0] for b in BAD])
def test_bad_sample_masks(cid, mask, cls, builtin, needle):
    with raises(cls, builtin, "sample_mask", needle):
        signal.clean(_signals(), sample_mask=mask)


@pytest.mark.parametrize("cid, mask, cls, builtin, needle", [BAD[1], BAD[3], BAD[7], BAD[8]],
                         ids=["S1b", "S3", "S5", "S6"])
def test_bad_sample_masks_through_the_masker(cid, mask, cls, builtin, needle):
    with raises(cls, builtin, "sample_mask", needle):
        NiftiMasker(mask_img()).fit_transform(run_img(), sample_mask=mask)


def test_S8_integral_float_indices_are_indices():
    got = signal.clean(_signals(), sample_mask=np.array([1.0, 2.0, 5.0]), detrend=False, standardize=False)
    np.testing.assert_array_equal(got, _signals()[[1, 2, 5]])


def test_S9_one_volume_left_with_standardize_warns():
    """S9: kept nilearn's warning and unstandardised output (catalogue: raise; see the doc)."""
    with pytest.warns(UserWarning, match="Standardization of 3D signal has been requested"):
        out = signal.clean(_signals(), sample_mask=np.array([3]), standardize="zscore_sample")
    assert out.shape == (1, 4)


def test_S10_censoring_with_butterworth_on_a_long_run_is_memory_bounded():
    import tracemalloc

    X = np.random.default_rng(0).standard_normal((1200, 400)).astype(np.float32)
    keep = np.arange(1200) % 9 != 0
    tracemalloc.start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = signal.clean(X, sample_mask=keep, high_pass=0.01, t_r=2.0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert out.shape == (int(keep.sum()), 400)
    assert np.isfinite(out).all()
    assert peak < 12 * X.nbytes * 2  # a few float64 copies, not nilearn#3598's cubic blow-up
