"""Bad inputs to nimask.signal: clear errors where nilearn is silently wrong or unhelpful."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nimask import signal as msig
from nimask.exceptions import (
    AllVolumesRemovedError,
    ConfoundsError,
    ParameterError,
    SampleMaskError,
    SampleMaskIndexError,
)


def _signals(n=30, p=4, seed=0):
    return np.random.default_rng(seed).standard_normal((n, p)) + 5


def _confounds(n=30, k=3, seed=1):
    return np.random.default_rng(seed).standard_normal((n, k))


# ----------------------------------------------------------------------------- confounds
def test_confounds_nan_names_rows_and_columns():
    conf = _confounds()
    conf[0, 1] = np.nan
    conf[5, 2] = np.inf
    with pytest.raises(ConfoundsError, match=r"row\(s\) \[0, 5\].*column\(s\) \[1, 2\].*fill") as info:
        msig.clean(_signals(), confounds=conf)
    assert isinstance(info.value, ValueError)


def test_confounds_dataframe_nan_names_columns():
    frame = pd.DataFrame(_confounds(), columns=["trans_x", "framewise_displacement", "csf"])
    frame.loc[0, "framewise_displacement"] = np.nan
    with pytest.raises(ConfoundsError, match="framewise_displacement.*fMRIPrep"):
        msig.clean(_signals(), confounds=frame)


def test_confounds_fmriprep_tsv_header_and_na_first_row(tmp_path):
    """nilearn mistakes the n/a row for a header; we read header + n/a, then raise clearly."""
    frame = pd.DataFrame(_confounds(), columns=["trans_x", "fd", "csf"])
    frame.loc[0, "fd"] = np.nan
    path = tmp_path / "sub-01_desc-confounds_timeseries.tsv"
    frame.to_csv(path, sep="\t", index=False, na_rep="n/a")
    with pytest.raises(ConfoundsError, match=r"sub-01_desc-confounds_timeseries\.tsv.*\[0\].*'fd'"):
        msig.clean(_signals(), confounds=str(path))
    array, names = msig.read_confounds_file(path)
    assert names == ["trans_x", "fd", "csf"]
    assert array.shape == (30, 3) and np.isnan(array[0, 1])
    np.testing.assert_allclose(array[1:], frame.to_numpy()[1:])


def test_confounds_tsv_string_column(tmp_path):
    path = tmp_path / "conf.tsv"
    path.write_text("a\tb\n1.0\tx\n2.0\ty\n")
    with pytest.raises(ConfoundsError, match="column 'b' is not numeric"):
        msig.load_confounds_array(path, 2)


def test_confounds_dataframe_object_column():
    frame = pd.DataFrame({"a": np.arange(30.0), "b": ["x"] * 30})
    with pytest.raises(ConfoundsError, match="column 'b' is not numeric"):
        msig.clean(_signals(), confounds=frame)


def test_confounds_empty_and_missing_file(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(ConfoundsError, match="empty.tsv' is empty"):
        msig.clean(_signals(), confounds=str(empty))
    with pytest.raises(ConfoundsError, match="missing.tsv' not found"):
        msig.clean(_signals(), confounds=str(tmp_path / "missing.tsv"))


@pytest.mark.parametrize("length", [29, 31])
def test_confounds_wrong_length_gives_both_lengths(length):
    with pytest.raises(ConfoundsError, match=f"Signal length: 30; confound length: {length}"):
        msig.clean(_signals(), confounds=_confounds(n=length))


def test_confounds_transposed_is_detected():
    with pytest.raises(ConfoundsError, match="looks transposed"):
        msig.clean(_signals(), confounds=_confounds().T)


def test_confounds_more_columns_than_time_points():
    with pytest.raises(ConfoundsError, match="40 confound columns for 30 time points"):
        msig.clean(_signals(), confounds=_confounds(k=40))
    keep = np.zeros(30, bool)
    keep[:3] = True  # 3 kept samples, 3 confounds: all signal would be removed
    with pytest.raises(ConfoundsError, match="3 confound columns for 3 time points"):
        msig.clean(_signals(), confounds=_confounds(k=3), sample_mask=keep)


def test_confounds_wrong_type_and_ndim():
    with pytest.raises(ConfoundsError, match="got int"):
        msig.clean(_signals(), confounds=3)
    with pytest.raises(ConfoundsError, match="number of dimensions: 3"):
        msig.clean(_signals(), confounds=np.zeros((30, 2, 1)))


# ----------------------------------------------------------------------------- sample_mask
def test_sample_mask_int_zero_one_looks_boolean():
    mask = (np.random.default_rng(0).random(30) > 0.3).astype(int)
    with pytest.raises(SampleMaskError, match="pass a boolean array|Pass a boolean array"):
        msig.clean(_signals(), sample_mask=mask)


@pytest.mark.parametrize("length", [28, 33])
def test_sample_mask_bool_wrong_length(length):
    with pytest.raises(SampleMaskError, match=f"length {length} but the signal has 30"):
        msig.clean(_signals(), sample_mask=np.ones(length, bool))


@pytest.mark.parametrize("index", [30, 100])
def test_sample_mask_index_out_of_range(index):
    with pytest.raises(SampleMaskIndexError, match=f"invalid index \\[{index}\\].*30 time points") as info:
        msig.clean(_signals(), sample_mask=np.array([0, 5, index]))
    assert isinstance(info.value, IndexError) and isinstance(info.value, ValueError)


def test_sample_mask_negative_and_float_and_empty():
    with pytest.raises(SampleMaskError, match="negative"):
        msig.clean(_signals(), sample_mask=np.array([-1, 0, 1]))
    with pytest.raises(SampleMaskError, match="non-integral"):
        msig.clean(_signals(), sample_mask=np.array([1.0, 2.7]))
    with pytest.raises(AllVolumesRemovedError, match="removes all volumes"):
        msig.clean(_signals(), sample_mask=np.zeros(30, bool))
    with pytest.raises(AllVolumesRemovedError):
        msig.clean(_signals(), sample_mask=np.array([], dtype=int))


def test_sample_mask_plain_list_is_one_array():
    """Difference from nilearn (TypeError): a plain list of indices is one run's indices."""
    out = msig.clean(_signals(), sample_mask=list(range(2, 30)))
    np.testing.assert_array_equal(out, msig.clean(_signals(), sample_mask=np.arange(2, 30)))


def test_sample_mask_runs_count_mismatch():
    runs = np.repeat([0, 1], 15)
    with pytest.raises(SampleMaskError, match=r"Number of sample_mask \(1\) not matching number of runs \(2\)"):
        msig.clean(_signals(), runs=runs, sample_mask=[np.arange(10)])
    with pytest.raises(SampleMaskError, match="one array per run"):
        msig.clean(_signals(), runs=runs, sample_mask=np.arange(10))


def test_sample_mask_unsorted_with_butterworth():
    with pytest.raises(SampleMaskError, match="strictly increasing"):
        msig.clean(_signals(), sample_mask=np.array([5, 1, 3, 10, 20, 25]), low_pass=0.1, t_r=2.0)


# ----------------------------------------------------------------------------- t_r / filters
def test_filter_without_t_r():
    with pytest.raises(ParameterError, match="t_r"):
        msig.clean(_signals(), low_pass=0.1, t_r=None)
    with pytest.raises(ParameterError, match="t_r"):
        msig.clean(_signals(), filter="cosine", high_pass=0.01, t_r=None)


@pytest.mark.parametrize("t_r", [0, -2.0, float("nan")])
def test_t_r_not_positive(t_r):
    with pytest.raises(ParameterError, match="t_r"):
        msig.clean(_signals(), high_pass=0.01, t_r=t_r)


def test_t_r_in_milliseconds():
    with pytest.raises(ParameterError, match="milliseconds"):
        msig.clean(_signals(), high_pass=0.01, t_r=2000)
    with pytest.raises(ParameterError, match="milliseconds"):
        msig.check_t_r(2500)
    assert msig.check_t_r(2) == 2.0


def test_high_pass_not_below_low_pass():
    with pytest.raises(ParameterError, match=r"high_pass.*low_pass|\(0\.2\).*\(0\.1\)"):
        msig.clean(_signals(), high_pass=0.2, low_pass=0.1, t_r=2.0)
    with pytest.raises(ValueError, match="0.1"):
        msig.butterworth(_signals(), 0.5, high_pass=0.1, low_pass=0.1)


def test_unknown_filter_and_butterworth_keyword():
    with pytest.raises(ParameterError, match="Filter method foo not implemented"):
        msig.clean(_signals(), filter="foo")
    with pytest.raises(ParameterError, match="butterworth__ordr"):
        msig.clean(_signals(), low_pass=0.1, butterworth__ordr=3)


def test_run_too_short_for_butterworth_padding():
    with pytest.raises(ParameterError, match="low_pass=0.1 .* more than 18 time points .* got 10 time points"):
        msig.clean(_signals(n=10), low_pass=0.1, t_r=2.0)


def test_signals_must_be_2d_and_runs_length():
    with pytest.raises(ParameterError, match=r"2D array.*\(30,\)"):
        msig.clean(_signals()[:, 0])
    with pytest.raises(ParameterError, match=r"run vector \(20\).*\(30\)"):
        msig.clean(_signals(), runs=np.zeros(20))


def test_sessions_and_runs_together():
    with pytest.raises(ParameterError, match="sessions"), pytest.warns(FutureWarning):
        msig.clean(_signals(), runs=np.zeros(30), sessions=np.zeros(30))


@pytest.mark.parametrize("rate", [0, -0.5, float("inf")])
def test_butterworth_sampling_rate_must_be_positive(rate):
    with pytest.raises(ParameterError, match="sampling_rate"):
        msig.butterworth(_signals(), rate, low_pass=0.1)


def test_single_run_accepts_bare_sample_mask_array():
    """Difference from nilearn (quirk 19: a bare array with one run label breaks there)."""
    keep = np.arange(3, 30)
    out = msig.clean(_signals(), runs=np.zeros(30), sample_mask=keep)
    np.testing.assert_array_equal(out, msig.clean(_signals(), sample_mask=keep))
