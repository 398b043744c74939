"""Catalogue §2.14 (confounds files, round 2): every column used is a named confound.

A confounds file (``confounds=path``) whose columns are not all named numeric confounds is a
``ConfoundsError`` (a ``ValueError``) naming the file and the column, through
``signal.clean`` and through a masker's ``transform``, and nothing is returned. nilearn
0.14.1 regresses out most of these columns without a word (an index column, an unnamed
column) or fails with scipy's "array must not contain infs or NaNs". The layouts that are
legitimate give exactly nilearn's numbers. The rules are in ``nimask.signal._confounds_file``.
"""
from __future__ import annotations

import csv
import warnings

import numpy as np
import pandas as pd
import pytest

from _helpers import assert_oracle
from _rel import mask_img, raises, run_img
from nimask import signal
from nimask.exceptions import ConfoundsError
from nimask.maskers import NiftiMasker

T = 30
NAMES = ["trans_x", "rot_z", "csf"]


def _values(seed=1):
    return np.random.default_rng(seed).standard_normal((T, 3))


def _frame(seed=1):
    return pd.DataFrame(_values(seed), columns=NAMES)


def _signals():
    return np.random.default_rng(0).standard_normal((T, 4)) + 5


def _lines(rows, sep=",", end=""):
    return "".join(sep.join(repr(float(v)) for v in row) + end + "\n" for row in rows)


def _write(text, encoding="utf-8"):
    def writer(path):
        path.write_text(text, encoding=encoding)
    return writer


def _pandas(frame_fn, **kwargs):
    def writer(path):
        frame_fn().to_csv(path, **kwargs)
    return writer


def _one_based_index():
    f = _frame()
    f.index = np.arange(1, T + 1)
    return f


def _unnamed_values_first():
    f = _frame()
    f.insert(0, "", np.random.default_rng(5).standard_normal(T))
    return f


def _resaved(sep=",", na_first=False):
    """A file written by to_csv() (index), read back by read_csv() and written again with index=False:
    the index becomes a column named 'Unnamed: 0'."""
    def writer(path):
        f = _frame()
        if na_first:
            f.iloc[0, 0] = np.nan
        f.to_csv(path, sep=sep, na_rep="n/a")
        pd.read_csv(path, sep=sep, na_values="n/a").to_csv(path, sep=sep, index=False, na_rep="n/a")
    return writer


def _with(column, values, at=None):
    def frame():
        f = _frame()
        f.insert(len(f.columns) if at is None else at, column, values)
        return f
    return frame


def _duplicated():
    f = _frame()
    f.columns = ["trans_x", "trans_x", "csf"]
    return f


# (id, file name, writer, text the message must hold to name the column)
NOT_A_NAMED_CONFOUND = [
    ("pandas-index-1..n", "c.csv", _pandas(_one_based_index), "column 1 (empty header field)"),
    ("pandas-index-1..n-tsv", "c.tsv", _pandas(_one_based_index, sep="\t"), "column 1 (empty header field)"),
    ("unnamed-0-index", "c.csv", _resaved(), "'Unnamed: 0'"),
    ("unnamed-0-index-fmriprep-tsv", "sub-01_desc-confounds_timeseries.tsv", _resaved("\t", na_first=True),
     "'Unnamed: 0'"),
    ("index-named-index", "c.csv", _pandas(lambda: _frame().reset_index(), index=False), "column 'index'"),
    ("index-named-other", "c.tsv", _pandas(_with("volume", np.arange(T), at=0), sep="\t", index=False),
     "column 'volume'"),
    ("index-1..n-named-index", "c.tsv", _pandas(_with("index", np.arange(1, T + 1), at=0), sep="\t",
                                                index=False), "column 'index'"),
    ("index-headerless", "c.csv", _pandas(_frame, header=False), "column 1 (the file has no header row)"),
    ("index-header-one-field-short", "c.csv", _pandas(_frame, index_label=False), "column 1 has no name"),
    ("unnamed-first-column", "c.csv", _pandas(_unnamed_values_first, index=False), "column 1 (empty header field)"),
    ("unnamed-middle-column", "c.csv",
     _write("trans_x,,csf\n" + _lines(_values())), "column 2 (empty header field)"),
    ("unnamed-quoted-bom", "c.csv", _pandas(_one_based_index, quoting=csv.QUOTE_ALL, encoding="utf-8-sig"),
     "column 1 (empty header field)"),
    ("bom-unnamed-0", "c.csv", _write("\ufeffUnnamed: 0,trans_x,rot_z\n" + _lines(
        np.column_stack([np.arange(T), _values()[:, :2]]))), "'Unnamed: 0'"),
    ("strings", "c.tsv", _pandas(_with("label", ["rest"] * T), sep="\t", index=False), "column 'label'"),
    ("dates", "c.csv", _pandas(_with("acq_time", pd.date_range("2024-01-01", periods=T, freq="2s"), at=0),
                               index=False), "column 'acq_time'"),
    ("date-index", "c.csv",
     _pandas(lambda: _frame().set_index(pd.date_range("2024-01-01", periods=T))), "column 1 (empty header field)"),
    ("duplicated-names", "c.tsv", _pandas(_duplicated, sep="\t", index=False), "column 'trans_x'"),
    ("trailing-separator", "c.csv", _write("trans_x,rot_z,csf,\n" + _lines(_values(), end=",")),
     "column 4 (empty header field)"),
    ("trailing-separator-headerless", "c.csv", _write(_lines(_values(), end=",")),
     "column 4 (the file has no header row)"),
    ("mixed-separators-tab-header", "c.csv", _write("trans_x\trot_z\tcsf\n" + _lines(_values())),
     "column 'trans_x' holds a comma"),
    ("mixed-separators-one-row", "c.csv",
     _write("trans_x,rot_z,csf\n" + _lines(_values()[:5]) + _lines(_values()[5:6], sep=";")
            + _lines(_values()[6:])), "column 'trans_x' holds a semicolon"),
    ("mixed-separators-decimal-comma", "c.csv",
     _write("trans_x;rot_z;csf\n" + _lines(_values(), sep=";").replace(".", ",")), "column 'trans_x'"),
    ("mixed-separators-headerless", "c.txt",
     _write("".join(f"{r[0]!r},{r[1]!r}\t{r[2]!r}\n" for r in _values().tolist())), "column 1 holds a comma"),
]


@pytest.mark.parametrize("name, writer, column", [c[1:] for c in NOT_A_NAMED_CONFOUND],
                         ids=[c[0] for c in NOT_A_NAMED_CONFOUND])
def test_a_column_that_is_not_a_named_confound_is_refused(tmp_path, name, writer, column):
    path = tmp_path / name
    writer(path)
    out = None
    with raises(ConfoundsError, ValueError, repr(str(path)), column) as info:
        out = signal.clean(_signals(), confounds=str(path))
    assert out is None and info.value.path == str(path)
    masker = NiftiMasker(mask_img()).fit()
    with raises(ConfoundsError, ValueError, repr(str(path)), column):
        out = masker.transform(run_img(), confounds=path)
    assert out is None
    with raises(ConfoundsError, ValueError, repr(str(path)), column):
        out = signal.clean(_signals(), confounds=[_values(), str(path)])
    assert out is None


def test_a_first_line_of_pandas_column_labels_is_ambiguous(tmp_path):
    """to_csv(index=False) of a frame without column names writes '0,1,2' first: neither clearly a
    header nor a time point (nilearn reads it as a time point and fails on the length)."""
    path = tmp_path / "c.csv"
    pd.DataFrame(_values()).to_csv(path, index=False)
    with raises(ConfoundsError, ValueError, repr(str(path)), "'0,1,2'", "column labels"):
        signal.clean(_signals(), confounds=str(path))


@pytest.mark.parametrize("encoding, needle", [("utf-16", "UTF-16"), ("latin-1", "not UTF-8")])
def test_a_file_that_is_not_utf8_is_named(tmp_path, encoding, needle):
    path = tmp_path / "c.tsv"
    _frame().rename(columns={"csf": "liquide_céphalo"}).to_csv(path, sep="\t", index=False, encoding=encoding)
    with raises(ConfoundsError, ValueError, repr(str(path)), needle):
        signal.clean(_signals(), confounds=str(path))


def _nilearn_clean(confounds, **kw):
    from nilearn import signal as nsignal

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nsignal.clean(_signals(), confounds=confounds, **kw)


def _nilearn_masker(confounds):
    from nilearn.maskers import NiftiMasker as NlNiftiMasker

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return NlNiftiMasker(mask_img()).fit_transform(run_img(), confounds=confounds)


def _quoted_nonnumeric(path):
    _frame().to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)


def _fmriprep_like(path):
    f = _frame()
    f["non_steady_state_outlier00"] = np.r_[1.0, np.zeros(T - 1)]
    f.to_csv(path, sep="\t", index=False, na_rep="n/a")


# layouts nilearn reads right: nimask reads the file the same way
LEGITIMATE = [
    ("named-tsv", "c.tsv", _pandas(_frame, sep="\t", index=False)),
    ("named-csv", "c.csv", _pandas(_frame, index=False)),
    ("named-semicolon", "c.csv", _pandas(_frame, sep=";", index=False)),
    ("savetxt-space", "c.txt", lambda p: np.savetxt(p, _values())),
    ("savetxt-comma", "c.csv", lambda p: np.savetxt(p, _values(), delimiter=",")),
    ("savetxt-tab", "c.tsv", lambda p: np.savetxt(p, _values(), delimiter="\t")),
    ("savetxt-commented-header", "c.txt", lambda p: np.savetxt(p, _values(), header=" ".join(NAMES))),
    ("savetxt-float-trend-column", "c.txt", lambda p: np.savetxt(p, np.column_stack([np.arange(T), _values()]))),
    ("savetxt-integer-spikes", "c.txt",
     lambda p: np.savetxt(p, (np.arange(T)[:, None] == [[3, 4, 17]]).astype(int), fmt="%d")),
    ("bom-named", "c.csv", _pandas(_frame, index=False, encoding="utf-8-sig")),
    ("quoted-names", "c.csv", _quoted_nonnumeric),
    ("fmriprep-like-tsv", "sub-01_desc-confounds_timeseries.tsv", _fmriprep_like),
]


@pytest.mark.parametrize("name, writer", [c[1:] for c in LEGITIMATE], ids=[c[0] for c in LEGITIMATE])
def test_legitimate_layouts_give_nilearns_numbers(tmp_path, name, writer):
    path = tmp_path / name
    writer(path)
    for kw in ({}, {"detrend": False, "standardize": None}):
        assert_oracle(signal.clean(_signals(), confounds=str(path), **kw), _nilearn_clean(str(path), **kw))
    ours = NiftiMasker(mask_img()).fit_transform(run_img(), confounds=path)
    assert_oracle(ours, _nilearn_masker(path))


def _pandas_default(path):
    _frame().to_csv(path)  # header ",trans_x,rot_z,csf" and the RangeIndex 0 .. T-1


def _pandas_default_unnamed(path):
    pd.DataFrame(_values()).to_csv(path, sep="\t")  # header "\t0\t1\t2"


def _quoted_all(path):
    _frame().to_csv(path, index=False, quoting=csv.QUOTE_ALL)


def _bom_headerless(path):
    path.write_text(_lines(_values()), encoding="utf-8-sig")


# layouts nilearn reads wrong (it regresses the row index out too) or refuses (quoted numbers are
# NaN to numpy.genfromtxt; a byte-order mark turns the first time point into a header): nimask
# gives nilearn's numbers for the confounds the file holds
DELIBERATE = [
    ("pandas-default-index-column", "c.csv", _pandas_default),
    ("pandas-default-index-column-unnamed-frame", "c.tsv", _pandas_default_unnamed),
    ("quoted-numbers", "c.csv", _quoted_all),
    ("bom-headerless", "c.csv", _bom_headerless),
]


@pytest.mark.parametrize("name, writer", [c[1:] for c in DELIBERATE], ids=[c[0] for c in DELIBERATE])
def test_pandas_index_quoted_numbers_and_bom_give_nilearns_numbers_for_the_confounds(tmp_path, name, writer):
    path = tmp_path / name
    writer(path)
    for kw in ({}, {"detrend": False, "standardize": None}):
        assert_oracle(signal.clean(_signals(), confounds=str(path), **kw), _nilearn_clean(_values(), **kw))
    ours = NiftiMasker(mask_img()).fit_transform(run_img(), confounds=path)
    assert_oracle(ours, _nilearn_masker(_values()))


def test_nilearn_regresses_the_pandas_index_column_out(tmp_path):
    """Why the index column is dropped: nilearn's numbers with it are those of an extra linear trend."""
    path = tmp_path / "c.csv"
    _pandas_default(path)
    with_index = np.column_stack([np.arange(T), _values()])
    kw = {"detrend": False, "standardize": None}
    np.testing.assert_allclose(_nilearn_clean(str(path), **kw), _nilearn_clean(with_index, **kw), atol=1e-10)
    assert not np.allclose(_nilearn_clean(str(path), **kw), _nilearn_clean(_values(), **kw), atol=1e-3)
