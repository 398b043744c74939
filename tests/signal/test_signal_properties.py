"""Property tests for nimask.signal.clean (hypothesis, modest example counts)."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nimask.signal._detrend as detrend_module
from nimask import signal as msig

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def signals_and_confounds(draw, dtype=np.float64):
    n = draw(st.integers(12, 60))
    p = draw(st.integers(1, 9))
    k = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    signals = (rng.standard_normal((n, p)) * scale + rng.uniform(-50, 50, p)
               + np.arange(n)[:, None] * rng.standard_normal(p))
    confounds = rng.standard_normal((n, k)) + np.arange(n)[:, None] * rng.standard_normal(k) * 0.1
    return signals.astype(dtype), confounds


def _long_enough(signals, confounds, min_length=40):
    """Repeat the rows until the Butterworth band-pass padding (33 samples) fits."""
    reps = -(-min_length // len(signals))
    return np.vstack([signals] * reps), np.vstack([confounds] * reps)


def _trend_design(n):
    t = np.arange(n, dtype=float)
    return np.column_stack([np.ones(n), t])


@SETTINGS
@given(signals_and_confounds())
def test_detrended_output_has_no_linear_trend(data):
    signals, _ = data
    out = msig.clean(signals, detrend=True, standardize=None, filter=False)
    coef, *_ = np.linalg.lstsq(_trend_design(len(out)), out, rcond=None)
    scale = np.abs(signals - signals.mean(axis=0)).max() + 1e-300
    assert np.abs(coef[0]).max() <= 1e-9 * scale
    assert np.abs(coef[1]).max() * len(out) <= 1e-9 * scale


@SETTINGS
@given(signals_and_confounds(), st.booleans())
def test_confound_cleaned_output_is_orthogonal_to_centred_confounds(data, detrend):
    signals, confounds = data
    out = msig.clean(signals, detrend=detrend, standardize=None, confounds=confounds, filter=False)
    centred = confounds - confounds.mean(axis=0)
    if detrend:
        centred = msig.standardize_signal(confounds, detrend=True, standardize=None)
    dots = centred.T @ out
    bound = 1e-8 * np.linalg.norm(centred, axis=0)[:, None] * np.linalg.norm(signals, axis=0)[None, :]
    assert np.all(np.abs(dots) <= bound + 1e-300)


@SETTINGS
@given(signals_and_confounds(), st.integers(1, 8), st.sampled_from(["none", "band", "mask"]))
def test_cleaning_column_blocks_equals_whole_matrix(data, split, mode):
    """Cleaning voxel chunks separately (as maskers do) gives the whole-matrix result."""
    signals, confounds = data
    if mode == "band":
        signals, confounds = _long_enough(signals, confounds)
    kwargs = dict(confounds=confounds)
    if mode == "band":
        kwargs.update(low_pass=0.15, high_pass=0.01, t_r=2.0)
    if mode == "mask":
        kwargs.update(sample_mask=np.arange(2, len(signals)))
    whole = msig.clean(signals, **kwargs)
    split = min(split, signals.shape[1])
    parts = [msig.clean(signals[:, :split], **kwargs), msig.clean(signals[:, split:], **kwargs)]
    np.testing.assert_allclose(np.hstack(parts), whole, rtol=1e-10, atol=1e-10 * np.abs(whole).max())


@SETTINGS
@given(signals_and_confounds(), st.integers(1, 40), st.sampled_from([np.float64, np.float32]))
def test_internal_block_size_does_not_change_results(data, block_elements, dtype):
    signals, confounds = data
    signals = signals.astype(dtype)
    signals, confounds = _long_enough(signals, confounds)
    n = len(signals)
    keep = np.ones(n, bool)
    keep[[1, n // 2, n - 3]] = False
    # float32: rounding differs between BLAS calls of different widths, and psc/z-score would
    # amplify it on ill-conditioned columns; compare unstandardised output at the input's scale.
    kwargs = dict(confounds=confounds, low_pass=0.15, high_pass=0.01, t_r=2.0, sample_mask=keep,
                  standardize="psc" if dtype == np.float64 else None)
    whole = msig.clean(signals, **kwargs)
    original = detrend_module.BLOCK_ELEMENTS
    detrend_module.BLOCK_ELEMENTS = block_elements  # tiny blocks: many column blocks
    try:
        blocked = msig.clean(signals, **kwargs)
    finally:
        detrend_module.BLOCK_ELEMENTS = original
    if dtype == np.float64:
        np.testing.assert_allclose(blocked, whole, rtol=1e-10, atol=1e-10 * np.abs(whole).max())
    else:
        np.testing.assert_allclose(blocked, whole, rtol=1e-4, atol=1e-5 * np.abs(signals).max())
