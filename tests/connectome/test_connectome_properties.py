"""Properties of nimask.connectome (hypothesis, modest example counts)."""
from __future__ import annotations

import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimask import connectome as nm
from nimask.exceptions import NimaskDataWarning

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = ("covariance", "correlation", "partial correlation", "tangent", "precision")


@st.composite
def groups(draw, min_regions=2, max_regions=8, gone=False):
    """A group of 2-5 subjects (different lengths, scales, offsets); with ``gone``, some subjects
    have regions without signal (all-NaN columns), never all of them."""
    n = draw(st.integers(min_regions, max_regions))
    n_subjects = draw(st.integers(2, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    subjects = []
    for _ in range(n_subjects):
        length = draw(st.integers(n + 2, 4 * n + 20))
        mixing = np.eye(n) + draw(st.floats(0, 0.8)) * rng.standard_normal((n, n))
        subjects.append((rng.standard_normal((length, n)) @ mixing + rng.uniform(-5, 5, n)) * scale)
    missing = {}
    if gone:
        for i in range(n_subjects):
            cols = draw(st.lists(st.integers(0, n - 1), max_size=n - 1, unique=True))
            if cols:
                subjects[i][:, cols] = np.nan
                missing[i] = sorted(cols)
    return subjects, missing


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NimaskDataWarning)
        warnings.filterwarnings("ignore", message=".*maximum number of iterations")
        return call()


@SETTINGS
@given(groups(), st.sampled_from(KINDS))
def test_outputs_are_symmetric_and_correlations_have_a_unit_diagonal(group, kind):
    subjects, _ = group
    measure = nm.ConnectivityMeasure(kind=kind)
    out = _quiet(lambda: measure.fit_transform(subjects))
    assert out.shape == (len(subjects), subjects[0].shape[1], subjects[0].shape[1])
    scale = np.abs(out).max()
    np.testing.assert_allclose(out, out.transpose(0, 2, 1), rtol=0, atol=1e-10 * scale)
    np.testing.assert_allclose(measure.mean_, measure.mean_.T, rtol=0, atol=1e-10 * np.abs(measure.mean_).max())
    if kind in ("correlation", "partial correlation"):
        assert (np.diagonal(out, axis1=1, axis2=2) == 1).all()
    if kind == "correlation":
        assert (np.abs(out) <= 1 + 1e-12).all()


@SETTINGS
@given(st.integers(1, 9), st.integers(0, 3), st.booleans(), st.integers(0, 2**31 - 1))
def test_vectorize_round_trip(n, n_stack, discard, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_stack + 1, n, n))
    sym = a + a.transpose(0, 2, 1)
    vec = nm.sym_matrix_to_vec(sym, discard_diagonal=discard)
    assert vec.shape == (n_stack + 1, n * (n + 1) // 2 - (n if discard else 0))
    diagonal = np.diagonal(sym, axis1=1, axis2=2) / np.sqrt(2) if discard else None
    np.testing.assert_allclose(nm.vec_to_sym_matrix(vec, diagonal=diagonal), sym, rtol=1e-15, atol=1e-15)
    # the vector keeps the norm (divided by sqrt 2) when the diagonal is kept
    if not discard:
        np.testing.assert_allclose(np.linalg.norm(vec, axis=1), np.linalg.norm(sym, axis=(1, 2)) / np.sqrt(2))


@SETTINGS
@given(groups(), st.sampled_from(KINDS), st.booleans())
def test_vectorize_then_inverse_transform_round_trip(group, kind, discard):
    subjects, _ = group
    if discard and kind not in ("correlation", "partial correlation"):
        discard = False  # the diagonal is then unknown (an error, tested elsewhere)
    matrices = _quiet(lambda: nm.ConnectivityMeasure(kind=kind).fit_transform(subjects))
    measure = nm.ConnectivityMeasure(kind=kind, vectorize=True, discard_diagonal=discard)
    back = measure.inverse_transform(_quiet(lambda: measure.fit_transform(subjects)))
    if kind == "tangent":  # the displacements come back as covariances
        matrices = _quiet(lambda: nm.ConnectivityMeasure(kind="covariance").fit_transform(subjects))
    scale = np.abs(matrices).max()
    np.testing.assert_allclose(back, matrices, rtol=0, atol=1e-8 * scale)


@SETTINGS
@given(groups(gone=True), st.sampled_from(KINDS))
def test_excluding_regions_equals_computing_on_the_other_regions(group, kind):
    subjects, missing = group
    n = subjects[0].shape[1]
    measure = nm.ConnectivityMeasure(kind=kind)
    if kind == "tangent":
        union = sorted({j for cols in missing.values() for j in cols})
        keep = [j for j in range(n) if j not in union]
        if not keep:
            return
        out = _quiet(lambda: measure.fit_transform(subjects))
        alone = _quiet(lambda: nm.ConnectivityMeasure(kind=kind).fit_transform([s[:, keep] for s in subjects]))
        np.testing.assert_allclose(out[:, keep][:, :, keep], alone, rtol=1e-10, atol=1e-12 * np.abs(alone).max())
        assert np.isnan(out[:, union]).all() and np.isnan(out[:, :, union]).all()
        return
    out = _quiet(lambda: measure.fit_transform(subjects))
    for i, signals in enumerate(subjects):
        gone = missing.get(i, [])
        keep = [j for j in range(n) if j not in gone]
        alone = nm.ConnectivityMeasure(kind=kind).fit_transform([signals[:, keep]])[0]
        np.testing.assert_allclose(out[i][np.ix_(keep, keep)], alone, rtol=1e-10, atol=1e-12 * np.abs(alone).max())
        assert np.isnan(out[i][gone]).all() and np.isnan(out[i][:, gone]).all()
        assert measure.excluded_regions_[i].tolist() == gone
