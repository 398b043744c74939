"""Catalogue §2.9 (filters and t_r, T1-T13): ParameterError names the parameter and value."""
from __future__ import annotations

import numpy as np
import pytest

from _rel import labels_img, maps_img, mask_img, raises, run_img
from nimask import signal
from nimask.exceptions import NimaskWarning, ParameterError
from nimask.maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiMasker, NiftiSpheresMasker

T = 30


def _signals(n=T):
    return np.random.default_rng(0).standard_normal((n, 4)) + 5


def test_T1_high_pass_without_t_r_in_a_masker():
    with raises(ParameterError, ValueError, "t_r"):
        NiftiMasker(mask_img(), high_pass=0.01).fit_transform(run_img())


def test_T2_filter_without_t_r_in_clean_is_an_error():
    """T2: nilearn's clean silently assumes t_r=2.5 s."""
    with raises(ParameterError, ValueError, "t_r"):
        signal.clean(_signals(), low_pass=0.1)
    with raises(ParameterError, ValueError, "t_r"):
        signal.clean(_signals(), high_pass=0.01)


def test_T2_no_filter_needs_no_t_r():
    assert signal.clean(_signals()).shape == (T, 4)


def test_T3_low_pass_above_nyquist_warns():
    with pytest.warns(NimaskWarning, match="too high"):
        signal.clean(_signals(), low_pass=0.4, t_r=2.0)


def test_T4_high_pass_not_below_low_pass():
    with raises(ParameterError, ValueError, "high_pass", "low_pass"):
        signal.clean(_signals(), low_pass=0.01, high_pass=0.1, t_r=2.0)


@pytest.mark.parametrize("t_r, needle", [(0, "t_r must be > 0"), (-2.0, "t_r must be > 0"),
                                         (2000, "milliseconds")], ids=["T5-zero", "T6-negative", "T7-ms"])
def test_T5_T6_T7_bad_t_r_in_clean(t_r, needle):
    with raises(ParameterError, ValueError, "t_r", needle):
        signal.clean(_signals(), low_pass=0.1, t_r=t_r)


MASKERS = {
    "NiftiMasker": lambda t_r: NiftiMasker(mask_img(), t_r=t_r),
    "NiftiLabelsMasker": lambda t_r: NiftiLabelsMasker(labels_img(), t_r=t_r),
    "NiftiMapsMasker": lambda t_r: NiftiMapsMasker(maps_img(), t_r=t_r),
    "NiftiSpheresMasker": lambda t_r: NiftiSpheresMasker([(4, 6, 8)], radius=2, t_r=t_r),
}


@pytest.mark.parametrize("masker", list(MASKERS))
@pytest.mark.parametrize("t_r", [-2.0, 2000.0], ids=["T6-negative", "T7-ms"])
def test_T6_T7_bad_t_r_refused_by_every_masker_even_without_filter(masker, t_r):
    """T6/T7: SILENT in nilearn (signal wiped to ~1e-42 once a filter is on)."""
    with raises(ParameterError, ValueError, "t_r"):
        MASKERS[masker](t_r).fit_transform(run_img())


def test_T9_butterworth_on_a_very_short_run():
    with raises(ParameterError, ValueError, "got 5 time points", "low_pass=0.1", "more than 18"):
        signal.clean(_signals(5), low_pass=0.1, t_r=2.0)


def test_T10_invalid_standardize():
    with raises(ParameterError, ValueError, "standardize", "zscore_typo"):
        signal.clean(_signals(), standardize="zscore_typo")


def test_T11_psc_on_zero_mean_data_warns():
    X = _signals() - _signals().mean(0)
    with pytest.warns(UserWarning, match="psc standardization strategy is meaningless"):
        signal.clean(X, standardize="psc")


def test_T12_runs_of_the_wrong_length():
    with raises(ParameterError, ValueError, "run vector (20)", "30"):
        signal.clean(_signals(), runs=np.zeros(20))


@pytest.mark.parametrize("shape", [(T,), (T, 4, 1)], ids=["T13-1d", "T13-3d"])
def test_T13_signals_must_be_2d(shape):
    with raises(ParameterError, ValueError, "signals", "2D"):
        signal.clean(np.ones(shape))
