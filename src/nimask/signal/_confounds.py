"""Reading, validating and regressing out confounds; high-variance confounds."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..exceptions import ConfoundsError
from ._confounds_file import read_confounds_file
from ._detrend import column_blocks, detrend

_EPS64 = np.finfo(np.float64).eps


def _one_confound(item, index: int | None):
    """One confounds entry -> (2D float array, column names, source description)."""
    where = "" if index is None else f" (list element {index})"
    if isinstance(item, (str, os.PathLike)):
        array, names = read_confounds_file(item)
        return array, names, f"confounds file {os.fspath(item)!r}"
    if type(item).__name__ == "DataFrame" and hasattr(item, "to_numpy"):
        names = [str(c) for c in item.columns]
        for name, dtype in zip(names, item.dtypes, strict=True):
            if getattr(dtype, "kind", "O") not in "biuf":
                raise ConfoundsError(
                    f"Confounds DataFrame{where}: column {name!r} is not numeric (dtype {dtype}).",
                    param="confounds", found=str(dtype),
                )
        return _float_confounds(item.to_numpy()), names, f"confounds DataFrame{where}"
    if isinstance(item, np.ndarray):
        if item.dtype.kind not in "biuf":
            raise ConfoundsError(
                f"Confounds array{where} must be numeric; got dtype {item.dtype}.",
                param="confounds", found=str(item.dtype),
            )
        return _float_confounds(item), None, f"confounds array{where}"
    raise ConfoundsError(
        f"confounds must be an array, a DataFrame, a path to a .tsv/.csv/.txt file or a list of "
        f"those; got {type(item).__name__}{where}.",
        param="confounds", found=type(item).__name__,
    )


def _float_confounds(array: np.ndarray) -> np.ndarray:
    """nilearn's dtype rule: 8-byte ints -> float64, other ints/bools -> float32, floats unchanged."""
    array = np.asarray(array)
    if array.dtype.kind in "biu":
        array = array.astype(np.float64 if array.dtype.itemsize >= 8 else np.float32)
    elif array.dtype.kind == "f" and array.dtype.itemsize < 4:
        array = array.astype(np.float32)
    return array


def load_confounds_array(confounds: Any, n_samples: int) -> np.ndarray | None:
    """Read and validate confounds for a signal of ``n_samples`` time points.

    Parameters
    ----------
    confounds : None, ndarray (T,) or (T, k), DataFrame, str/Path to a delimited text file, or a list/tuple of those
        Entries of a list are stacked column-wise.
    n_samples : int
        Number of time points of the signals.

    Returns
    -------
    ndarray of shape (n_samples, n_confounds) or None
        float64 unless every entry is float32 (nilearn's dtype rule).

    Raises
    ------
    ConfoundsError
        Unreadable input, wrong length (both lengths are given; a transposed array is detected),
        non-numeric columns, or NaN/inf values (the rows and columns are named).

    Differences from nilearn
    ------------------------
    A file with a header and an ``n/a`` first data row (fMRIPrep) is parsed as such, and NaN/inf
    values raise a ``ConfoundsError`` naming the rows and columns, where nilearn gives scipy's
    "array must not contain infs or NaNs". Empty files and non-numeric columns get clear errors.
    In a file, every column must be a named confound (``nimask.signal._confounds_file``):
    unnamed, duplicated and row-index columns are refused, naming the file and the column,
    where nilearn regresses them out; pandas' default index column (empty header field,
    ``0 .. T-1``) is dropped, where nilearn regresses it out as a linear trend. Quoted numbers
    and a headerless file with a byte-order mark are read, where nilearn errors.
    """
    if confounds is None:
        return None
    items = list(confounds) if isinstance(confounds, (list, tuple)) else [confounds]
    if not items:
        return None
    indexed = len(items) > 1 or isinstance(confounds, (list, tuple))
    arrays = []
    for i, item in enumerate(items):
        array, names, source = _one_confound(item, i if indexed else None)
        if array.ndim == 1:
            array = array[:, np.newaxis]
        if array.ndim != 2:
            raise ConfoundsError(
                f"confound array has an incorrect number of dimensions: {array.ndim} ({source} has "
                f"shape {array.shape}; expected (n_samples,) or (n_samples, n_confounds)).",
                param="confounds", expected="1D or 2D", found=array.shape,
            )
        if array.shape[0] != n_samples:
            hint = ""
            if array.shape[1] == n_samples:
                hint = f" The shape {array.shape} looks transposed: pass confounds.T."
            raise ConfoundsError(
                f"Confound signal has an incorrect length. Signal length: {n_samples}; "
                f"confound length: {array.shape[0]} ({source}).{hint}",
                param="confounds", expected=n_samples, found=array.shape[0],
            )
        _check_finite(array, names, source)
        arrays.append(array)
    return arrays[0] if len(arrays) == 1 else np.hstack(arrays)


def _check_finite(array: np.ndarray, names, source: str) -> None:
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    rows = np.flatnonzero(bad.any(axis=1))
    cols = np.flatnonzero(bad.any(axis=0))
    col_names = [names[c] if names is not None and c < len(names) else int(c) for c in cols]
    shown_rows = rows[:10].tolist() + (["..."] if rows.size > 10 else [])
    shown_cols = col_names[:10] + (["..."] if len(col_names) > 10 else [])
    first_row_hint = (
        " fMRIPrep leaves the first row of derivative and framewise-displacement columns as n/a: "
        if rows[0] == 0 else " "
    )
    raise ConfoundsError(
        f"The {source} contain non-finite values (NaN or inf) in {rows.size} row(s) {shown_rows} "
        f"and column(s) {shown_cols}.{first_row_hint}fill them (e.g. with 0 or the column mean) "
        f"or censor those volumes with sample_mask and drop or fill the columns.",
        param="confounds", found={"rows": rows.tolist(), "columns": col_names},
    )


def regress_confounds(
    signals: np.ndarray, confounds: np.ndarray, *, standardize_confounds: bool = True,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """Remove the span of the confounds from every column of ``signals`` in place.

    Confounds are z-scored (ddof=1) when ``standardize_confounds``, else scaled by their
    max-abs value (not centred). A pivoted economic QR keeps the columns of Q with
    ``|R_ii| > 100 eps64``; then ``Y -= Q (Q^T Y)`` is computed per block of columns, so that
    no n x n projector and no full-size float64 temporary are formed.

    With ``rows`` (indices of the kept volumes), the scaling and the regression are fitted on
    these rows only and the fitted betas are applied to every row (the other rows are
    predicted, not fitted): ``Y -= C B`` with ``B`` the least-squares betas of ``Y[rows]`` on
    ``C[rows]`` (same QR and rank rule).
    """
    from scipy import linalg

    confounds = np.array(confounds, copy=True)
    fitted = confounds if rows is None else confounds[rows]
    if standardize_confounds:
        mean = fitted.mean(axis=0)
        std = fitted.std(axis=0, ddof=1)
        std[std < _EPS64] = 1.0
        confounds -= mean
        confounds /= std
    else:
        scale = np.abs(fitted).max(axis=0)
        scale[scale == 0] = 1.0
        confounds /= scale
    if rows is not None:
        return _regress_fitted_on_rows(signals, confounds, rows)
    q, r, _ = linalg.qr(confounds, mode="economic", pivoting=True)
    q = q[:, np.abs(np.diag(r)) > 100.0 * _EPS64]
    if q.shape[1] == 0:
        return signals
    for cols in column_blocks(signals.shape[0], signals.shape[1]):
        block = signals[:, cols]
        block -= q @ (q.T @ block)
    return signals


def _regress_fitted_on_rows(signals: np.ndarray, confounds: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``signals -= confounds @ B``, B fitted on ``rows`` by pivoted QR (scaled ``confounds``)."""
    from scipy import linalg

    q, r, pivots = linalg.qr(confounds[rows], mode="economic", pivoting=True)
    rank = int((np.abs(np.diag(r)) > 100.0 * _EPS64).sum())  # |R_ii| decreases: a prefix
    if rank == 0:
        return signals
    q, r, design = q[:, :rank], r[:rank, :rank], confounds[:, pivots[:rank]]
    for cols in column_blocks(signals.shape[0], signals.shape[1]):
        block = signals[:, cols]
        betas = linalg.solve_triangular(r, q.T @ block[rows])
        block -= design @ betas
    return signals


def high_variance_confounds(
    series: np.ndarray, n_confounds: int = 5, percentile: float = 2.0, detrend: bool = True
) -> np.ndarray:
    """Principal time courses of the highest-variance columns (CompCor-style confounds).

    Parameters
    ----------
    series : ndarray, shape (n_samples, n_features)
    n_confounds : int, default=5
    percentile : float, default=2.0
        Columns whose mean square is strictly above the ``100 - percentile`` percentile are used.
    detrend : bool, default=True
        Remove the mean and linear trend of each column first.

    Returns
    -------
    ndarray, shape (n_samples, n_confounds)
        Unit-norm eigenvectors of ``S S^T / T`` (S the selected columns), by decreasing
        eigenvalue (signs as LAPACK gives; they do not matter for regression).

    Differences from nilearn
    ------------------------
    Integer input is converted to float64 first when ``detrend`` is False; nilearn squares and
    multiplies the integers in their own dtype, which overflows (e.g. int16) and gives
    meaningless confounds.
    """
    from scipy import linalg

    series = np.asarray(series)
    if detrend:
        series = _detrend(series, copy=True)
    elif series.dtype.kind in "biu":
        series = series.astype(np.float64)  # nilearn's eigh of an integer Gram matrix is float64
    var = np.mean(series**2, axis=0)
    threshold = np.nanpercentile(var, 100.0 - percentile)
    selected = series[:, var > threshold]
    gram = selected @ selected.T
    gram /= series.shape[0]
    _, vectors = linalg.eigh(gram)
    return vectors[:, ::-1][:, :n_confounds]


_detrend = detrend
