"""``clean_by_columns``' matrix path (``standardize(L @ X)``) against ``clean``'s steps."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nimask.signal._columns as columns
from nimask.signal import clean
from nimask.signal._clean import _cleaning_matrix

T = 64


def _signals(seed: int, n_cols: int = 300, dtype=np.float32, offset: float = 1000.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    drift = np.linspace(0, 3, T)[:, None] * rng.normal(size=n_cols)
    x = rng.normal(size=(T, n_cols)) * 5 + offset + drift
    x[:, 3] = 1234.0  # a constant column
    x[:, 4] = 0.0
    return x.astype(dtype)


def _run(path: bool, signals: np.ndarray, monkeypatch, **kwargs):
    monkeypatch.setattr(columns, "_MATRIX_PATH", path)
    used = []
    original = columns._clean_by_matrix
    monkeypatch.setattr(columns, "_clean_by_matrix", lambda *a: used.append(original(*a)) or used[-1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = columns.clean_by_columns(signals.copy(), **kwargs)
    assert (len(used) == 1 and used[0] is not None) == path  # the path asked for is the path taken
    return out, [(w.category, str(w.message)) for w in caught]


_SAMPLE_MASK = np.setdiff1d(np.arange(T), [0, 1, 20, 21, 22, 40, T - 1])

_PARAMS = st.fixed_dictionaries({
    "detrend": st.booleans(),
    "standardize": st.sampled_from(["zscore_sample", None, True, False]),
    "low_pass": st.sampled_from([None, 0.1, 0.2]),
    "high_pass": st.sampled_from([None, 0.01, 0.03]),
    "confounds": st.sampled_from([None, 2, 5]),
    "standardize_confounds": st.booleans(),
    "sample_mask": st.sampled_from([None, "censor", "all"]),
    "filter": st.sampled_from(["butterworth", "cosine", False]),
    "censor": st.sampled_from(["drop", "zero", "interpolate"]),
    "extrapolate": st.booleans(),
})


def _kwargs(params: dict) -> dict:
    kw = dict(params, t_r=2.0)
    if kw["confounds"] is not None:
        kw["confounds"] = np.random.default_rng(kw["confounds"]).normal(size=(T, kw["confounds"]))
    kw["sample_mask"] = {None: None, "censor": _SAMPLE_MASK, "all": np.ones(T, bool)}[kw["sample_mask"]]
    if kw["filter"] == "cosine" and kw["high_pass"] is None:
        kw["high_pass"] = 0.01
    return kw


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=_PARAMS, seed=st.integers(0, 3))
def test_matrix_path_equals_the_steps_float64(params, seed, monkeypatch):
    """float64 signals: both paths are float64 computations of the same linear map (tight)."""
    kw = _kwargs(params)
    x = _signals(seed, dtype=np.float64)
    if not kw["detrend"]:  # no detrend: a constant column's z-score is rounding noise in either path
        x[:, 3] = np.random.default_rng(seed).normal(size=T)
    steps, w_steps = _run(False, x, monkeypatch, **kw)
    matrix, w_matrix = _run(True, x, monkeypatch, **kw)
    assert w_matrix == w_steps
    assert matrix.dtype == steps.dtype == np.float64 and matrix.shape == steps.shape
    np.testing.assert_allclose(matrix, steps, rtol=0, atol=1e-9 * max(1.0, np.abs(steps).max()))
    if kw["detrend"]:
        assert not matrix[:, [3, 4]].any()  # constant columns: exactly 0, as in the steps
        assert not steps[:, [3, 4]].any()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=_PARAMS, seed=st.integers(0, 3))
def test_matrix_path_float32_in_float32_out_near_the_float64_copy(params, seed, monkeypatch):
    """float32 signals: float32 out, within float32 rounding of the float64 copy (closer than the steps)."""
    kw = _kwargs(params)
    x = _signals(seed)
    if not kw["detrend"]:
        x[:, 3] = np.random.default_rng(seed).normal(size=T)
    steps, w_steps = _run(False, x, monkeypatch, **kw)
    matrix, w_matrix = _run(True, x, monkeypatch, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact = clean(x.astype(np.float64), **kw)
    assert w_matrix == w_steps
    assert matrix.dtype == steps.dtype == np.float32 and matrix.shape == steps.shape
    scale = max(1.0, np.abs(exact).max())
    err_matrix = np.abs(matrix - exact).max() / scale
    err_steps = np.abs(steps - exact).max() / scale
    assert err_matrix <= 1e-6
    assert err_matrix <= err_steps + 1e-7


@pytest.mark.parametrize("censor", ["drop", "zero", "interpolate"])
@pytest.mark.parametrize("filter", ["butterworth", "cosine"])
def test_censoring_shapes_and_values(censor, filter, monkeypatch):
    x = _signals(7, dtype=np.float64)
    kw = dict(detrend=True, standardize="zscore_sample", high_pass=0.01, low_pass=0.15 if filter == "butterworth"
              else None, t_r=2.0, filter=filter, sample_mask=_SAMPLE_MASK, censor=censor)
    steps, _ = _run(False, x, monkeypatch, **kw)
    matrix, _ = _run(True, x, monkeypatch, **kw)
    assert matrix.shape == steps.shape == ((_SAMPLE_MASK.size if censor == "drop" else T), x.shape[1])
    np.testing.assert_allclose(matrix, steps, rtol=0, atol=1e-9)
    if censor == "zero":
        assert not matrix[np.setdiff1d(np.arange(T), _SAMPLE_MASK)].any()


def test_same_warnings_and_errors(monkeypatch):
    x = _signals(1)
    kw = dict(low_pass=0.4, t_r=2.0, standardize=True, confounds=np.ones((T, 1)), detrend=False,
              standardize_confounds=False)  # Nyquist, boolean standardize, confounds without detrend
    _, w_steps = _run(False, x, monkeypatch, **kw)
    _, w_matrix = _run(True, x, monkeypatch, **kw)
    assert len(w_steps) >= 3 and w_matrix == w_steps
    for path in (False, True):
        monkeypatch.setattr(columns, "_MATRIX_PATH", path)
        with pytest.raises(Exception, match="confound columns"):
            columns.clean_by_columns(x.copy(), confounds=np.ones((T, T)), t_r=2.0)


def test_nan_columns_go_through_the_steps(monkeypatch):
    x = _signals(2, n_cols=2000)
    x[5, 10] = np.nan
    x[:, 1500] = np.inf
    kw = dict(detrend=True, low_pass=0.1, t_r=2.0)
    steps, _ = _run(False, x, monkeypatch, **kw)
    matrix, _ = _run(True, x, monkeypatch, **kw)
    assert np.array_equal(np.isfinite(matrix), np.isfinite(steps))
    assert not np.isfinite(matrix[:, 10]).any()
    finite = np.isfinite(steps)
    np.testing.assert_allclose(matrix[finite], steps[finite], rtol=0, atol=1e-4)


@pytest.mark.parametrize("filter", ["butterworth", "cosine"])
@pytest.mark.parametrize("standardize", ["zscore_sample", None])
def test_nan_in_a_dropped_volume_is_dropped(filter, standardize, monkeypatch):
    x = _signals(5, n_cols=2000, dtype=np.float64)
    x[20, 7] = np.nan  # volume 20 is censored
    kw = dict(detrend=True, standardize=standardize, high_pass=0.01, t_r=2.0, filter=filter, sample_mask=_SAMPLE_MASK)
    steps, _ = _run(False, x, monkeypatch, **kw)
    matrix, _ = _run(True, x, monkeypatch, **kw)
    assert np.isfinite(steps).all() and np.isfinite(matrix).all()
    np.testing.assert_allclose(matrix, steps, rtol=0, atol=1e-9)


def test_output_in_place_and_thread_counts(monkeypatch):
    x = _signals(3, n_cols=20000)
    kw = dict(detrend=True, standardize="zscore_sample", low_pass=0.1, high_pass=0.01, t_r=2.0)
    monkeypatch.setattr(columns, "_MATRIX_PATH", True)
    owned = x.copy()
    one = columns.clean_by_columns(owned, n_threads=1, **kw)
    assert one is owned  # same rows, same dtype: written back into the caller's matrix
    two = columns.clean_by_columns(x.copy(), n_threads=2, **kw)
    np.testing.assert_allclose(one, two, rtol=0, atol=1e-6)
    dropped = columns.clean_by_columns(x.copy(), sample_mask=_SAMPLE_MASK, **kw)
    assert dropped.shape == (_SAMPLE_MASK.size, x.shape[1]) and dropped.dtype == np.float32


def test_when_the_matrix_path_applies(monkeypatch):
    monkeypatch.setattr(columns, "_MATRIX_PATH", None)
    big = np.zeros((T, 4096), np.float32)
    assert columns._matrix_path_applies(big, {"detrend": True})
    assert not columns._matrix_path_applies(big[:, :100], {"detrend": True})  # too few columns to pay
    assert not columns._matrix_path_applies(big, {"standardize": "psc"})
    assert not columns._matrix_path_applies(big, {"runs": np.zeros(T)})
    assert not columns._matrix_path_applies(big, {"ensure_finite": True})
    assert not columns._matrix_path_applies(big.astype(np.int16), {})
    assert not columns._matrix_path_applies(np.zeros((columns._MATRIX_MAX_ROWS + 1, 10)), {})
    monkeypatch.setattr(columns, "_MATRIX_PATH", False)
    assert not columns._matrix_path_applies(big, {"detrend": True})
    assert _cleaning_matrix(T, standardize="psc") is None and _cleaning_matrix(T, runs=np.zeros(T)) is None


def test_cleaning_matrix_is_clean_of_the_identity():
    confounds = np.random.default_rng(0).normal(size=(T, 3))
    kw = dict(detrend=True, low_pass=0.1, high_pass=0.01, t_r=2.0, confounds=confounds)
    plan = _cleaning_matrix(T, **kw)
    x = _signals(4, dtype=np.float64)
    np.testing.assert_allclose(plan.matrix @ x, clean(x, **{**kw, "standardize": None}), rtol=0, atol=1e-9)
    assert plan.center  # detrended: constants are annihilated
