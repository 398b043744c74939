"""nimask.signal.clean against nilearn.signal.clean (the oracle) over a broad parameter grid."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from nilearn import signal as nsig

from _helpers import RTOL_DEFAULT, RTOL_FLOAT32, assert_oracle
from _signal_grid import FILTERS, grid, make_data, run_both, sample_masks
from nimask import signal as msig


def _both(signals, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return msig.clean(signals, **kwargs), nsig.clean(signals, **kwargs)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("filt", list(FILTERS))
def test_clean_grid_matches_nilearn(dtype, filt):
    signals, confounds = make_data(dtype=dtype)
    masks = sample_masks(signals.shape[0])
    rtol = RTOL_DEFAULT if dtype == np.float64 else RTOL_FLOAT32
    n_checked = 0
    for combo in grid():
        if combo[4] != filt:
            continue
        ours, theirs = run_both(msig.clean, nsig.clean, signals, confounds, masks, combo)
        assert ours.dtype == theirs.dtype, combo
        assert_oracle(ours, theirs, rtol=rtol)
        n_checked += 1
    assert n_checked > 50


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clean_does_not_modify_input(dtype):
    signals, confounds = make_data(dtype=dtype)
    before, conf_before = signals.copy(), confounds.copy()
    msig.clean(signals, confounds=confounds, low_pass=0.1, t_r=2.0, detrend=False,
               sample_mask=sample_masks(60)["bool"])
    np.testing.assert_array_equal(signals, before)
    np.testing.assert_array_equal(confounds, conf_before)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(),
        dict(low_pass=0.1, t_r=2.0, confounds=True, standardize_confounds=False,
             butterworth__order=3, extrapolate=True),
        dict(high_pass=0.01, t_r=2.0, sample_mask="per_run"),
        dict(filter="cosine", high_pass=0.02, t_r=2.0, confounds=True, standardize="psc"),
        dict(detrend=False, standardize=None, confounds=True),
    ],
)
def test_clean_runs_match_nilearn(kwargs):
    """Interleaved, unsorted run labels: rows grouped in sorted label order, clean_args dropped."""
    signals, confounds = make_data(n=80)
    runs = np.repeat([2, 0, 1, 0], 20)
    kwargs = dict(kwargs)
    if kwargs.get("confounds") is True:
        kwargs["confounds"] = confounds
    if kwargs.get("sample_mask") == "per_run":
        kwargs["sample_mask"] = [np.arange(3, 40), np.ones(20, bool), np.arange(1, 20)]
    ours, theirs = _both(signals, runs=runs, **kwargs)
    assert_oracle(ours, theirs)


def test_clean_sessions_alias_warns_and_equals_runs():
    signals, _ = make_data(n=40)
    runs = np.repeat([1, 0], 20)
    with pytest.warns(FutureWarning, match="sessions"):
        old = msig.clean(signals, sessions=runs)
    np.testing.assert_array_equal(old, msig.clean(signals, runs=runs))
    assert not np.allclose(old, msig.clean(signals))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(low_pass=0.1, butterworth__order=3, butterworth__padtype="even"),
        dict(low_pass=0.1, butterworth__padlen=10),
        dict(low_pass=0.3),  # above Nyquist: clamped with a warning
        dict(high_pass=-0.3),  # negative: raised to ~0 with a warning
        dict(filter="cosine", high_pass=0.02, low_pass=0.1),  # low_pass ignored with a warning
        dict(filter="cosine", high_pass=0.0001),  # order 0: no drift
        dict(filter=False, high_pass=0.02),  # warning, no filtering
        dict(standardize=True),
        dict(standardize=False),
        dict(ensure_finite=True, nan=True),
        dict(extrapolate=True, sample_mask=np.arange(5, 55), low_pass=0.1),
    ],
)
def test_clean_options_match_nilearn(kwargs):
    signals, _ = make_data()
    if kwargs.pop("nan", False):
        signals[3, 2] = np.nan
        signals[7, 1] = np.inf
    ours, theirs = _both(signals, t_r=2.0, **kwargs)
    assert_oracle(ours, theirs)


def test_clean_psc_matches_nilearn_and_zero_mean_warns():
    signals, _ = make_data()
    signals[:, 0] = 0.0
    with pytest.warns(UserWarning, match="psc"):
        ours = msig.clean(signals, standardize="psc", detrend=False)
    _, theirs = _both(signals, standardize="psc", detrend=False)
    assert_oracle(ours, theirs)
    assert np.all(ours[:, 0] == 0)


def test_clean_cosine_user_cosines_are_kept_alone():
    """User confounds that already contain the cosine drift: nilearn keeps only them."""
    signals, _ = make_data()
    n = signals.shape[0]
    t = np.arange(n)
    drift = np.sqrt(2 / n) * np.cos(np.pi / n * (t[:, None] + 0.5) * np.arange(1, 3))
    with pytest.warns(UserWarning, match="already contain"):
        ours = msig.clean(signals, filter="cosine", high_pass=0.02, t_r=2.0, confounds=drift)
    _, theirs = _both(signals, filter="cosine", high_pass=0.02, t_r=2.0, confounds=drift)
    assert_oracle(ours, theirs)


def test_clean_confound_forms_match_nilearn(tmp_path):
    signals, confounds = make_data()
    frame = pd.DataFrame(confounds, columns=["a", "b", "c"])
    tsv, csv, txt = tmp_path / "c.tsv", tmp_path / "c.csv", tmp_path / "c.txt"
    frame.to_csv(tsv, sep="\t", index=False)
    frame.to_csv(csv, index=False)
    np.savetxt(txt, confounds)
    expected = nsig.clean(signals, confounds=confounds)
    for form in (frame, str(tsv), tsv, str(csv), str(txt), [frame[["a"]], confounds[:, 1:]],
                 (confounds[:, 0], str(tsv))):
        theirs = nsig.clean(signals, confounds=form if not isinstance(form, type(tsv)) else str(form))
        assert_oracle(msig.clean(signals, confounds=form), theirs)
    assert_oracle(msig.clean(signals, confounds=frame), expected)


@pytest.mark.parametrize("dtype", [np.int16, np.int64, np.float32])
def test_clean_dtype_rules_match_nilearn(dtype):
    signals, confounds = make_data()
    signals = (signals * 10).astype(dtype)
    ours, theirs = _both(signals, confounds=confounds.astype(np.float32))
    assert ours.dtype == theirs.dtype
    assert_oracle(ours, theirs, rtol=RTOL_FLOAT32)


def test_clean_censoring_symmetric_quirk_reproduced():
    """nilearn's mirrored-index quirk (§7.6): censored outliers survive; we copy it on purpose."""
    signals, _ = make_data(n=40)
    signals[[0, 1, 38, 39]] += 1000.0  # high-motion volumes, censored below
    keep = np.ones(40, bool)
    keep[[0, 1, 38, 39]] = False
    ours, theirs = _both(signals, sample_mask=keep, low_pass=0.1, t_r=2.0, standardize=None)
    assert_oracle(ours, theirs)
    assert ours.shape == (36, signals.shape[1])
