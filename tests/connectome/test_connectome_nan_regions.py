"""Regions without signal (all-NaN columns, e.g. a region a mask left empty).

nilearn 0.14.1 refuses them ("Input contains NaN."); nimask leaves them out of the estimate
and returns NaN in their rows and columns. Checked against nilearn run on the other regions.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from nilearn import connectome as nl
from nilearn import signal as nl_signal

from _helpers import assert_oracle
from nimask import connectome as nm
from nimask.exceptions import ConnectomeError, NimaskDataWarning

NON_TANGENT = ("covariance", "correlation", "partial correlation", "precision")
N = 7
GONE = {1: [2], 3: [0, 2, 5]}  # subject -> regions without signal


def _subjects(seed=0, gone=GONE, lengths=(40, 55, 70, 33, 48)):
    rng = np.random.default_rng(seed)
    out = []
    for i, length in enumerate(lengths):
        x = rng.standard_normal((length, N)) @ (np.eye(N) + 0.4 * rng.standard_normal((N, N)))
        x[:, gone.get(i, [])] = np.nan
        out.append(x)
    return out


def _keep(gone):
    return [j for j in range(N) if j not in gone]


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NimaskDataWarning)
        return call()


def test_nilearn_refuses_an_all_nan_region():
    with pytest.raises(ValueError, match="Input contains NaN"):
        nl.ConnectivityMeasure().fit(_subjects())


@pytest.mark.parametrize("kind", NON_TANGENT)
def test_each_subject_is_estimated_on_its_regions_with_signal(kind):
    X = _subjects()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        measure = nm.ConnectivityMeasure(kind=kind)
        got = measure.fit_transform(X)
    ours = [w for w in caught if issubclass(w.category, NimaskDataWarning)]
    assert len(ours) == 1  # one warning per call, naming subjects and regions
    assert "subject 1: regions [2]; subject 3: regions [0, 2, 5]" in str(ours[0].message)
    assert ours[0].filename == __file__
    assert [e.tolist() for e in measure.excluded_regions_] == [GONE.get(i, []) for i in range(5)]
    for i, x in enumerate(X):
        keep = _keep(GONE.get(i, []))
        expected = nl.ConnectivityMeasure(kind=kind).fit_transform([x[:, keep]])[0]
        assert_oracle(got[i][np.ix_(keep, keep)], expected)
        gone = GONE.get(i, [])
        assert np.isnan(got[i][gone, :]).all() and np.isnan(got[i][:, gone]).all()
        assert not np.isnan(got[i][np.ix_(keep, keep)]).any()
    # the mean of each entry over the subjects that have it
    with np.errstate(invalid="ignore"):
        expected_mean = np.nanmean(got, axis=0)
    assert_oracle(measure.mean_, (expected_mean + expected_mean.T) / 2)
    # transform warns the same way and writes nothing to the estimator
    before = [e.copy() for e in measure.excluded_regions_]
    with pytest.warns(NimaskDataWarning, match="subject 0: regions \\[2\\]"):
        again = measure.transform(X[1:])
    assert_oracle(again, got[1:])
    assert [e.tolist() for e in measure.excluded_regions_] == [e.tolist() for e in before]


def test_vectorized_outputs_and_their_inverse():
    X = _subjects(seed=1)
    for discard in (False, True):
        measure = nm.ConnectivityMeasure(kind="correlation", vectorize=True, discard_diagonal=discard)
        vectors = _quiet(lambda m=measure: m.fit_transform(X))
        matrices = _quiet(lambda: nm.ConnectivityMeasure(kind="correlation").fit_transform(X))
        assert_oracle(vectors, nm.sym_matrix_to_vec(matrices, discard))
        # the diagonal of a region without signal stays NaN, also when it was discarded
        assert_oracle(measure.inverse_transform(vectors), matrices)


@pytest.mark.parametrize("vectorize", [False, True])
def test_tangent_leaves_the_union_out_of_every_subject(vectorize):
    X = _subjects(seed=2)
    union = sorted({j for g in GONE.values() for j in g})
    keep = _keep(union)
    measure = nm.ConnectivityMeasure(kind="tangent", vectorize=vectorize)
    with pytest.warns(NimaskDataWarning, match=r"kind='tangent'.*regions \[0, 2, 5\]"):
        got = measure.fit_transform(X)
    ref = nl.ConnectivityMeasure(kind="tangent")
    expected = ref.fit_transform([x[:, keep] for x in X])
    matrices = nm.vec_to_sym_matrix(got) if vectorize else got
    assert_oracle(matrices[:, keep][:, :, keep], expected)
    assert np.isnan(matrices[:, union, :]).all() and np.isnan(matrices[:, :, union]).all()
    for attr in ("mean_", "whitening_"):
        assert_oracle(getattr(measure, attr)[np.ix_(keep, keep)], getattr(ref, attr))
        assert np.isnan(getattr(measure, attr)[union]).all()
    assert [e.tolist() for e in measure.excluded_regions_] == [union] * len(X)
    # inverse: the covariances of the regions kept, NaN elsewhere
    covariances = measure.inverse_transform(got)
    assert_oracle(covariances[:, keep][:, :, keep], ref.inverse_transform(expected))
    assert np.isnan(covariances[:, union]).all()


def test_tangent_transform_of_new_subjects():
    X = _subjects(seed=3)
    measure = _quiet(lambda: nm.ConnectivityMeasure(kind="tangent").fit(X))
    # subjects with signal everywhere: the union regions are still NaN (not in the group mean)
    full = _subjects(seed=4, gone={})
    with pytest.warns(NimaskDataWarning, match=r"regions \[0, 2, 5\]"):
        got = measure.transform(full)
    keep = _keep([0, 2, 5])
    ref = nl.ConnectivityMeasure(kind="tangent").fit([x[:, keep] for x in X])
    assert_oracle(got[:, keep][:, :, keep], ref.transform([x[:, keep] for x in full]))
    # a subject without signal in a region the mean uses cannot be placed in its tangent space
    bad = _subjects(seed=5, gone={1: [3]})
    with pytest.raises(ConnectomeError, match=r"subject 1 has no signal in regions \[3\]"):
        measure.transform(bad)


def test_tangent_needs_a_region_with_signal_in_every_subject():
    X = _subjects(seed=6, gone={0: [0, 1, 2, 3], 1: [4, 5, 6]})
    with pytest.raises(ConnectomeError, match="no region has signal in every subject"):
        _quiet(lambda: nm.ConnectivityMeasure(kind="tangent").fit(X))


def test_a_subject_without_any_signal_gives_a_nan_matrix():
    X = _subjects(seed=7, gone={2: list(range(N))})
    measure = nm.ConnectivityMeasure(kind="correlation")
    got = _quiet(lambda: measure.fit_transform(X))
    assert np.isnan(got[2]).all()
    assert not np.isnan(got[[0, 1, 3, 4]]).any()
    assert_oracle(measure.mean_, nl.ConnectivityMeasure(kind="correlation").fit([X[i] for i in (0, 1, 3, 4)]).mean_)


def test_float32_subjects_with_a_region_without_signal():
    X = [x.astype(np.float32) for x in _subjects(seed=8)]
    got = _quiet(lambda: nm.ConnectivityMeasure(kind="correlation").fit_transform(X))
    assert got.dtype == np.float32
    keep = _keep(GONE[3])
    expected = nl.ConnectivityMeasure(kind="correlation").fit_transform([X[3][:, keep]])[0]
    assert_oracle(got[3][np.ix_(keep, keep)], expected, rtol=1e-4)


def test_confounds_are_regressed_over_the_subjects_that_have_each_pair():
    rng = np.random.default_rng(9)
    X = _subjects(seed=9, lengths=[40 + i for i in range(12)], gone={4: [1]})
    confounds = rng.standard_normal((12, 2))
    got = _quiet(lambda: nm.ConnectivityMeasure(kind="correlation", vectorize=True).fit_transform(
        X, confounds=confounds))
    raw = _quiet(lambda: nm.ConnectivityMeasure(kind="correlation", vectorize=True).fit_transform(X))
    missing = np.isnan(raw[4])
    assert np.isnan(got[4, missing]).all() and not np.isnan(got[:, ~missing]).any()
    others = [i for i in range(12) if i != 4]
    expected = nl_signal.clean(raw[np.ix_(others, np.flatnonzero(missing))], confounds=confounds[others])
    assert_oracle(got[np.ix_(others, np.flatnonzero(missing))], expected)
    expected = nl_signal.clean(raw[:, ~missing], confounds=confounds)
    assert_oracle(got[:, ~missing], expected)
