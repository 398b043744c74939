"""butterworth, standardize_signal and high_variance_confounds against nilearn."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from nilearn import signal as nsig

from _helpers import RTOL_FLOAT32, assert_oracle
from nimask import signal as msig


def _data(dtype=np.float64, n=50, p=9, seed=1):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, p)) * 5 + 20 + np.arange(n)[:, None] * 0.1).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(low_pass=0.1),
        dict(high_pass=0.01),
        dict(high_pass=0.01, low_pass=0.2, order=3),
        dict(high_pass=0.05, copy=True),
        dict(low_pass=0.1, padtype="even", padlen=12),
        dict(low_pass=0.3),  # above Nyquist (0.25): clamped
        dict(),  # no cut-off: unchanged
    ],
)
def test_butterworth_matches_nilearn(dtype, kwargs):
    signals = _data(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = msig.butterworth(signals.copy(), 0.5, **kwargs)
        theirs = nsig.butterworth(signals.copy(), 0.5, **kwargs)
    assert ours.dtype == theirs.dtype
    assert_oracle(ours, theirs, rtol=1e-6 if dtype == np.float64 else RTOL_FLOAT32)


def test_butterworth_1d_and_in_place():
    signals = _data()
    column = signals[:, 0].copy()
    assert_oracle(msig.butterworth(column.copy(), 0.5, low_pass=0.1),
                  nsig.butterworth(column.copy(), 0.5, low_pass=0.1))
    out = msig.butterworth(signals, 0.5, low_pass=0.1, copy=False)
    assert out is signals  # nilearn filters float arrays in place when copy=False
    copied = msig.butterworth(column, 0.5, low_pass=0.1, copy=True)
    assert not np.shares_memory(copied, column)


def test_butterworth_integer_input_is_not_truncated():
    """Difference from nilearn: int input with copy=False gives float64, not truncated ints."""
    signals = (_data() * 10).astype(np.int16)
    out = msig.butterworth(signals, 0.5, low_pass=0.1)
    assert out.dtype == np.float64
    expected = nsig.butterworth(signals.astype(np.float64), 0.5, low_pass=0.1)
    assert_oracle(out, expected)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int16, np.int64])
@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(detrend=True), dict(standardize="psc"), dict(detrend=True, standardize=None),
     dict(standardize=None)],
)
def test_standardize_signal_matches_nilearn(dtype, kwargs):
    signals = _data(dtype) if np.dtype(dtype).kind == "f" else (_data() * 10).astype(dtype)
    ours = msig.standardize_signal(signals, **kwargs)
    theirs = nsig.standardize_signal(signals, **kwargs)
    assert ours.dtype == theirs.dtype
    assert_oracle(ours, theirs, rtol=RTOL_FLOAT32)


def test_standardize_signal_one_row_warns_and_skips():
    row = _data()[:1]
    with pytest.warns(UserWarning, match="3D signal"):
        out = msig.standardize_signal(row)
    np.testing.assert_array_equal(out, row)


def test_standardize_rejects_unknown_strategy():
    with pytest.raises(ValueError, match="'standardize' must be one of"):
        msig.standardize_signal(_data(), standardize="zscore")
    with pytest.raises(ValueError, match="zscore_typo"):
        msig.clean(_data(), standardize="zscore_typo")


def _column_sign_aligned(a, b):
    signs = np.sign(np.sum(a * b, axis=0))
    return a * signs


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(n_confounds=3, percentile=10.0), dict(detrend=False, percentile=30.0),
     dict(n_confounds=8, percentile=50.0)],
)
def test_high_variance_confounds_matches_nilearn(dtype, kwargs):
    rng = np.random.default_rng(3)
    series = rng.standard_normal((40, 200)) * rng.uniform(0.5, 5, 200)
    series = series.astype(dtype) if np.dtype(dtype).kind == "f" else (series * 10).astype(dtype)
    ours = msig.high_variance_confounds(series, **kwargs)
    theirs = nsig.high_variance_confounds(series, **kwargs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    # eigenvectors are defined up to sign
    assert_oracle(_column_sign_aligned(ours, theirs), theirs, rtol=RTOL_FLOAT32)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=0), 1.0, rtol=1e-5)


def test_high_variance_confounds_int16_without_detrend_does_not_overflow():
    """Difference from nilearn: ints are converted to float first (nilearn squares int16 in int16)."""
    rng = np.random.default_rng(4)
    series = (rng.standard_normal((30, 60)) * 300).astype(np.int16)
    ours = msig.high_variance_confounds(series, detrend=False)
    expected = nsig.high_variance_confounds(series.astype(np.float64), detrend=False)
    assert_oracle(_column_sign_aligned(ours, expected), expected, rtol=RTOL_FLOAT32)
