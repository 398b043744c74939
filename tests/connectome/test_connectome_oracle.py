"""nimask.connectome against nilearn 0.14.1 (the oracle), at 1e-6 relative.

Random subjects with different numbers of time points, regions of very different scales and
correlated regions; every kind, with the default Ledoit-Wolf estimate, a plain LedoitWolf with
other parameters, and estimators that are cloned and fitted per subject.
"""
from __future__ import annotations

import warnings
from math import sqrt

import numpy as np
import pytest
from nilearn import connectome as nl
from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf

from _helpers import assert_oracle
from nimask import connectome as nm

pytestmark = pytest.mark.filterwarnings("ignore:.*aximum number of iterations")

KINDS = ("covariance", "correlation", "partial correlation", "tangent", "precision")


def subjects(lengths=(40, 55, 70, 33), n=12, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    out = []
    for length in lengths:
        mixing = np.eye(n) + 0.3 * rng.standard_normal((n, n))
        scale = rng.uniform(0.5, 5.0, n)
        x = rng.standard_normal((length, n)) @ mixing * scale + rng.uniform(-10, 10, n)
        out.append(x.astype(dtype))
    return out


def both(**params):
    return nl.ConnectivityMeasure(**params), nm.ConnectivityMeasure(**params)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("estimator", [None, "lw_centered", "empirical", "oas"])
def test_fit_transform_mean_whitening(kind, estimator):
    est = {None: None, "lw_centered": LedoitWolf(assume_centered=True, block_size=5),
           "empirical": EmpiricalCovariance(), "oas": OAS()}[estimator]
    X = subjects()
    ref, ours = both(kind=kind, cov_estimator=est)
    expected, got = ref.fit_transform(X), ours.fit_transform(X)
    assert got.dtype == expected.dtype
    assert_oracle(got, expected)
    assert_oracle(ours.mean_, ref.mean_)
    if kind == "tangent":
        assert_oracle(ours.whitening_, ref.whitening_)
    else:
        assert ours.whitening_ is None
    assert ours.n_features_in_ == ref.n_features_in_ == 12
    assert type(ours.cov_estimator_) is type(ref.cov_estimator_)
    assert ours.cov_estimator_.get_params() == ref.cov_estimator_.get_params()
    # transform of other subjects with the fitted mean
    other = subjects((25, 80), seed=1)
    assert_oracle(ours.transform(other), ref.transform(other))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("discard_diagonal", [False, True])
def test_vectorize_and_inverse_transform(kind, discard_diagonal):
    X = subjects(seed=2)
    ref, ours = both(kind=kind, vectorize=True, discard_diagonal=discard_diagonal)
    expected, got = ref.fit_transform(X), ours.fit_transform(X)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert_oracle(got, expected)
    if discard_diagonal and kind not in ("correlation", "partial correlation"):
        full = nl.ConnectivityMeasure(kind=kind).fit_transform(X)
        diagonal = np.array([np.diagonal(m) / sqrt(2) for m in full])
        assert_oracle(ours.inverse_transform(got, diagonal=diagonal),
                      ref.inverse_transform(expected, diagonal=diagonal))
        with pytest.raises(ValueError, match="cannot reconstruct connectivity matrices"):
            ours.inverse_transform(got)
    else:
        inv_ref, inv = ref.inverse_transform(expected), ours.inverse_transform(got)
        assert inv.dtype == inv_ref.dtype
        assert_oracle(inv, inv_ref)


@pytest.mark.parametrize("kind", KINDS)
def test_inverse_transform_of_matrices(kind):
    X = subjects(seed=3)
    ref, ours = both(kind=kind)
    expected, got = ref.fit_transform(X), ours.fit_transform(X)
    inv_ref, inv = ref.inverse_transform(expected), ours.inverse_transform(got)
    assert inv.dtype == inv_ref.dtype
    assert_oracle(inv, inv_ref)
    if kind == "tangent":  # the covariances come back
        assert_oracle(inv, nl.ConnectivityMeasure(kind="covariance").fit_transform(X))


@pytest.mark.parametrize("standardize", [True, False, None, "zscore_sample", "psc"])
def test_standardize_as_nilearn_applies_it(standardize):
    """Only ``True`` z-scores (nilearn 0.14.1); a string is not applied, and nimask says so."""
    X = subjects(seed=4)
    ref, ours = both(kind="correlation", standardize=standardize)
    expected = ref.fit_transform(X)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = ours.fit_transform(X)
    assert_oracle(got, expected)
    not_applied = [w for w in caught if "is not applied" in str(w.message)]
    assert len(not_applied) == (1 if isinstance(standardize, str) else 0)
    # the other kinds ignore it
    assert_oracle(nm.ConnectivityMeasure(standardize=standardize).fit_transform(X),
                  nl.ConnectivityMeasure(standardize=standardize).fit_transform(X))


def test_no_deprecation_warning_for_the_default():
    """nilearn 0.14.1 documents True/False as deprecated but warns nothing: nor does nimask."""
    X = subjects(seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nm.ConnectivityMeasure(kind="correlation").fit_transform(X)
        nm.ConnectivityMeasure(kind="correlation", standardize=False).fit_transform(X)


@pytest.mark.parametrize("kind", KINDS)
def test_float32_and_integer_inputs(kind):
    X32 = subjects(seed=6, dtype=np.float32)
    ref, ours = both(kind=kind)
    expected, got = ref.fit_transform(X32), ours.fit_transform(X32)
    assert got.dtype == expected.dtype == np.float32
    assert ours.mean_.dtype == ref.mean_.dtype
    assert_oracle(got, expected, rtol=1e-4)  # nilearn computes in float32, nimask in float64
    mixed = [X32[0], X32[1].astype(np.float64)]
    assert both(kind=kind)[1].fit_transform(mixed).dtype == np.float64
    ints = [np.rint(x * 10).astype(np.int16) for x in X32]
    ref, ours = both(kind=kind)
    expected, got = ref.fit_transform(ints), ours.fit_transform(ints)
    assert got.dtype == expected.dtype == np.float64
    assert_oracle(got, expected)


@pytest.mark.parametrize("vectorize_dtype", [(False, True), (True, False), (True, True)])
def test_float32_vector_dtypes(vectorize_dtype):
    vectorize, discard = vectorize_dtype
    X32 = subjects(seed=7, dtype=np.float32)
    ref, ours = both(kind="correlation", vectorize=vectorize, discard_diagonal=discard)
    expected, got = ref.fit_transform(X32), ours.fit_transform(X32)
    assert got.dtype == expected.dtype
    assert_oracle(got, expected, rtol=1e-4)
    assert ours.inverse_transform(got).dtype == ref.inverse_transform(expected).dtype


def test_input_forms():
    """One 2D array is one subject; a 3D array and a tuple are stacks of subjects."""
    X = subjects((30, 30, 30), seed=8)
    for form in (X[0], np.stack(X), tuple(X)):
        ref, ours = both(kind="correlation")
        assert_oracle(ours.fit_transform(form), ref.fit_transform(form))
    # a generator (nilearn fails on it: it reads the iterable several times)
    assert_oracle(nm.ConnectivityMeasure().fit_transform(x for x in X), nl.ConnectivityMeasure().fit_transform(X))


def test_confounds_regressed_from_vectors():
    X = subjects(lengths=[30 + i for i in range(10)], n=6, seed=9)
    confounds = np.random.default_rng(9).standard_normal((10, 2))
    ref, ours = both(kind="correlation", vectorize=True)
    expected, got = ref.fit_transform(X, confounds=confounds), ours.fit_transform(X, confounds=confounds)
    assert_oracle(got, expected)
    assert_oracle(ours.transform(X, confounds=confounds), ref.transform(X, confounds=confounds))


def test_fit_alone_equals_fit_then_transform():
    X = subjects(seed=10)
    for kind in KINDS:
        a = nm.ConnectivityMeasure(kind=kind)
        assert a.fit(X) is a
        b = nm.ConnectivityMeasure(kind=kind)
        fitted = b.fit_transform(X)
        np.testing.assert_allclose(a.mean_, b.mean_, rtol=1e-12, atol=0)
        np.testing.assert_allclose(a.transform(X), fitted, rtol=1e-12, atol=1e-14)


def test_public_functions():
    rng = np.random.default_rng(11)
    a = rng.standard_normal((4, 5, 5))
    sym = a + a.transpose(0, 2, 1)
    for discard in (False, True):
        assert_oracle(nm.sym_matrix_to_vec(sym, discard), nl.sym_matrix_to_vec(sym, discard))
        assert nm.sym_matrix_to_vec(sym.astype(np.float32), discard).dtype == \
            nl.sym_matrix_to_vec(sym.astype(np.float32), discard).dtype
    vec = nl.sym_matrix_to_vec(sym)
    assert_oracle(nm.vec_to_sym_matrix(vec), nl.vec_to_sym_matrix(vec))
    off, diag = nl.sym_matrix_to_vec(sym, True), rng.standard_normal((4, 5))
    assert_oracle(nm.vec_to_sym_matrix(off, diag), nl.vec_to_sym_matrix(off, diag))
    assert_oracle(nm.vec_to_sym_matrix(np.arange(1, 7)), nl.vec_to_sym_matrix(np.arange(1, 7)))
    cov = sym[0] @ sym[0].T + np.eye(5)
    assert_oracle(nm.cov_to_corr(cov), nl.cov_to_corr(cov))
    assert_oracle(nm.prec_to_partial(np.linalg.inv(cov)), nl.prec_to_partial(np.linalg.inv(cov)))
    assert set(nm.__all__) <= set(nl.__all__)



@pytest.mark.parametrize("kind", KINDS)
def test_many_subjects_run_in_threads_with_the_same_numbers(kind, monkeypatch):
    """19 subjects: 3 chunks of subjects in a thread pool; the same numbers with one thread."""
    X = subjects(lengths=[30 + 3 * i for i in range(19)], n=6, seed=12)
    ref, ours = both(kind=kind, vectorize=True)
    got = ours.fit_transform(X)
    assert_oracle(got, ref.fit_transform(X))
    assert_oracle(ours.mean_, ref.mean_)
    from nimask.connectome import _parallel

    monkeypatch.setattr(_parallel, "n_threads", lambda n_tasks, cap=8: 1)
    sequential = nm.ConnectivityMeasure(kind=kind, vectorize=True)
    np.testing.assert_array_equal(sequential.fit_transform(X), got)
    np.testing.assert_array_equal(sequential.mean_, ours.mean_)
