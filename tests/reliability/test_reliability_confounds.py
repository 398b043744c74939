"""Catalogue §2.7 (confounds, C1-C12): ConfoundsError names the source, columns and rows.

Message details are tested in ``tests/signal/test_signal_bad_inputs.py``; here every case
checks the error family, the builtin and that the parameter or file is named, through
``signal.clean`` and through a masker.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from _rel import mask_img, raises, run_img
from nimask import signal
from nimask.exceptions import ConfoundsError, ConfoundsNotFoundError
from nimask.maskers import MultiNiftiMasker, NiftiMasker

T = 30


def _signals():
    return np.random.default_rng(0).standard_normal((T, 4)) + 5


def _conf(k=3, seed=1):
    return np.random.default_rng(seed).standard_normal((T, k))


def test_C1_nan_first_row_names_rows_and_columns():
    c = _conf()
    c[0] = np.nan
    with raises(ConfoundsError, ValueError, "confounds", "row"):
        signal.clean(_signals(), confounds=c)
    with raises(ConfoundsError, ValueError, "confounds"):
        NiftiMasker(mask_img()).fit_transform(run_img(), confounds=c)


def test_C2_fmriprep_tsv_with_na_names_the_file(tmp_path):
    df = pd.DataFrame(_conf(), columns=["trans_x", "framewise_displacement", "csf"])
    df.iloc[0, 1] = np.nan
    path = str(tmp_path / "sub-01_desc-confounds_timeseries.tsv")
    df.to_csv(path, sep="\t", na_rep="n/a", index=False)
    with raises(ConfoundsError, ValueError, path, "framewise_displacement"):
        signal.clean(_signals(), confounds=path)


def test_C3_string_column_in_a_file(tmp_path):
    df = pd.DataFrame({"a": np.arange(T, dtype=float), "b": ["x"] * T})
    path = str(tmp_path / "conf.tsv")
    df.to_csv(path, sep="\t", index=False)
    with raises(ConfoundsError, ValueError, "'b'", "numeric"):
        signal.clean(_signals(), confounds=path)


def test_C4_dataframe_object_column():
    df = pd.DataFrame({"a": np.arange(T, dtype=float), "b": ["x"] * T})
    with raises(ConfoundsError, ValueError, "'b'"):
        signal.clean(_signals(), confounds=df)


@pytest.mark.parametrize("shape, needle", [((T - 1, 3), "length"), ((3, T), "transposed")],
                         ids=["C5-short", "C5-transposed"])
def test_C5_wrong_length_or_transposed(shape, needle):
    with raises(ConfoundsError, ValueError, needle):
        signal.clean(_signals(), confounds=np.ones(shape))


def test_C5_wrong_length_file_named(tmp_path):
    path = str(tmp_path / "short.tsv")
    pd.DataFrame(_conf()[:-1], columns=list("abc")).to_csv(path, sep="\t", index=False)
    with raises(ConfoundsError, ValueError, path):
        signal.clean(_signals(), confounds=path)


def test_C6_more_confounds_than_time_points():
    """C6: SILENT in nilearn (all variance removed, output = mean only)."""
    with raises(ConfoundsError, ValueError, "40 confound columns for 30 time points"):
        signal.clean(_signals(), confounds=_conf(40))


def test_C7_rank_deficient_confounds_equal_the_full_rank_subset():
    c = _conf(3)
    dup = np.column_stack([c, c[:, 0], np.full(T, 2.0)])
    np.testing.assert_allclose(signal.clean(_signals(), confounds=dup), signal.clean(_signals(), confounds=c),
                               atol=1e-10)


def test_C8_inf_in_confounds():
    c = _conf()
    c[4, 2] = np.inf
    with raises(ConfoundsError, ValueError, "confounds"):
        signal.clean(_signals(), confounds=c)


def test_C9_missing_file(tmp_path):
    path = str(tmp_path / "missing.tsv")
    with raises(ConfoundsNotFoundError, FileNotFoundError, path, "Confounds file"):
        signal.clean(_signals(), confounds=path)


def test_C10_empty_file(tmp_path):
    path = tmp_path / "empty.tsv"
    path.write_text("")
    with raises(ConfoundsError, ValueError, str(path), "empty"):
        signal.clean(_signals(), confounds=str(path))


def test_C12_confounds_list_length_differs_from_images():
    with raises(ConfoundsError, ValueError, "number of confounds (1) unequal to number of images (2)"):
        MultiNiftiMasker(mask_img()).fit_transform([run_img(), run_img()], confounds=[_conf()])
