"""Checks of the inputs of :class:`~nimask.connectome.ConnectivityMeasure`: the subjects' time
series, the regions without signal (all-NaN columns) and the confounds."""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._warnings import find_stack_level
from ..exceptions import ConnectomeError, ConnectomeTypeError, NimaskDataWarning, ParameterError

__all__ = ["check_subjects", "regions_without_signal", "check_confounds", "warn_excluded", "embed"]

_LISTED = 10  # subjects named in the warning


def check_subjects(subjects: Any, n_features: int | None = None) -> list[np.ndarray]:
    """The subjects' time series as a list of 2D arrays, all with the same number of columns.

    Parameters
    ----------
    subjects : iterable of ndarray of shape (n_samples, n_regions), or one 2D ndarray
        One 2D array is one subject; a 3D array is a stack of subjects.
    n_features : int or None
        The number of regions seen at fit (None: at fit).

    Raises
    ------
    ConnectomeTypeError
        ``subjects`` is not iterable.
    ConnectomeError
        No subject; a subject that is not a 2D numeric ndarray, with fewer than 2 time points or
        no region; different numbers of regions; not the number seen at fit.
    """
    if _is_sparse(subjects):
        raise ConnectomeTypeError(
            "Sparse data was passed, but dense data is required: give one dense (n_samples, n_regions) "
            "array per subject (use '.toarray()').", param="X", found=type(subjects).__name__)
    if not hasattr(subjects, "__iter__"):
        raise ConnectomeTypeError(
            f"Input must be an iterable of numpy arrays (one (n_samples, n_regions) array per subject). "
            f"Got {type(subjects).__name__}.", param="X", expected="iterable of 2D arrays",
            found=type(subjects).__name__)
    if isinstance(subjects, np.ndarray) and subjects.ndim == 2:
        subjects = [subjects]
    subjects = list(subjects)
    if not subjects:
        raise ConnectomeError("Each subject must be 2D numpy.ndarray: no subject was given.",
                              param="X", found=0)
    kinds = [type(s).__name__ for s in subjects if not isinstance(s, np.ndarray)]
    if any(_is_sparse(s) for s in subjects):
        raise ConnectomeTypeError(
            f"Sparse data was passed ({_listed(kinds)}), but dense data is required: use '.toarray()'.",
            param="X", found=kinds[0])
    if kinds:
        raise ConnectomeError(
            f"Each subject must be 2D numpy.ndarray (n_samples, n_regions).\n You provided {_listed(kinds)}.",
            param="X", expected="ndarray", found=kinds[0])
    dims = [s.ndim for s in subjects]
    if set(dims) != {2}:
        raise ConnectomeError(
            f"Each subject must be 2D numpy.ndarray (n_samples, n_regions).\n You provided arrays of "
            f"dimensions {_listed(dims)}.", param="X", expected=2, found=dims)
    for i, s in enumerate(subjects):
        if s.dtype.kind == "O":  # numbers stored as objects (scikit-learn's check_array reads them)
            try:
                subjects[i] = s = s.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise ConnectomeTypeError(f"Subject {i}: time series of dtype object must hold numbers: {exc}",
                                          param="X", index=i, found="object") from exc
        if s.dtype.kind not in "biuf":
            raise ConnectomeError(
                f"Subject {i}: time series must be real numbers; got dtype {s.dtype}"
                f"{' (Complex data not supported)' if s.dtype.kind == 'c' else ''}.",
                param="X", index=i, found=str(s.dtype))
        if s.shape[1] < 1:
            raise ConnectomeError(
                f"Subject {i}: found array with 0 feature(s) (shape={s.shape}) while a minimum of 1 is required.",
                param="X", index=i, found=s.shape)
        if s.shape[0] < 2:
            raise ConnectomeError(
                f"Subject {i}: found {s.shape[0]} sample(s) (shape={s.shape}) while a minimum of 2 is required: "
                "a covariance needs at least 2 time points.", param="X", index=i, found=s.shape)
    widths = [s.shape[1] for s in subjects]
    if len(set(widths)) > 1:
        raise ConnectomeError(
            f"All subjects must have the same number of features (regions).\nYou provided: {_listed(widths)}",
            param="X", found=widths)
    if n_features is not None and widths[0] != n_features:
        raise ConnectomeError(
            f"X has {widths[0]} features, but ConnectivityMeasure is expecting {n_features} features as input.",
            param="X", expected=n_features, found=widths[0])
    return subjects


def _is_sparse(value: Any) -> bool:
    from scipy import sparse

    return sparse.issparse(value)


def _listed(values: Sequence[Any]) -> str:
    if len(values) <= 20:
        return str(list(values))
    return f"{list(values[:20])} ... ({len(values)} subjects)"


def regions_without_signal(signals: np.ndarray, subject: int) -> np.ndarray:
    """Indices of the all-NaN columns of one subject (regions without signal).

    Raises
    ------
    ConnectomeError
        Any other non-finite value (inf, or NaN in a column that has values): nilearn refuses
        NaN/inf too.
    """
    if signals.dtype.kind != "f" or np.isfinite(signals).all():
        return np.empty(0, dtype=np.intp)
    nan = np.isnan(signals)
    empty = nan.all(axis=0)
    bad = ~np.isfinite(signals[:, ~empty])
    if bad.any():
        columns = np.flatnonzero(~empty)[bad.any(axis=0)]
        rows = np.flatnonzero(bad.any(axis=1))
        raise ConnectomeError(
            f"Subject {subject}: time series contain NaN or infinite values in regions {columns[:10].tolist()} "
            f"at time points {rows[:10].tolist()}{' ...' if len(rows) > 10 or len(columns) > 10 else ''}. "
            "Only a region without any signal (a column entirely NaN) is accepted: it is left out.",
            param="X", index=subject, found=columns.tolist())
    return np.flatnonzero(empty)


def check_confounds(confounds: Any, vectorize: bool) -> None:
    """nilearn's checks of the ``confounds`` argument (an iterable, with ``vectorize=True``)."""
    if confounds is None:
        return
    if not hasattr(confounds, "__iter__"):
        raise ConnectomeTypeError(
            f"'confounds' input argument must be an iterable. You provided {type(confounds)}",
            param="confounds", found=type(confounds).__name__)
    if not vectorize:
        raise ParameterError(
            "'confounds' are provided but vectorize=False. Confounds are only cleaned on vectorized "
            "matrices as second level connectome regression but not on symmetric matrices.",
            param="confounds", expected="vectorize=True", found="vectorize=False")


def warn_excluded(excluded: list[np.ndarray], union: np.ndarray | None) -> None:
    """One :class:`NimaskDataWarning` naming the regions without signal of each subject.

    ``union`` (kind "tangent") is the set of regions left out of every subject's estimate.
    """
    hit = [(i, e) for i, e in enumerate(excluded) if len(e)]
    if not hit and (union is None or not len(union)):
        return
    if hit:
        listed = "; ".join(f"subject {i}: regions {e.tolist()}" for i, e in hit[:_LISTED])
        if len(hit) > _LISTED:
            listed += f"; ... ({len(hit)} subjects in all)"
        message = (f"ConnectivityMeasure: {len(hit)} subject(s) have regions without signal (all-NaN columns): "
                   f"{listed}. ")
    else:
        message = "ConnectivityMeasure: "
    if union is None:
        message += ("Each is left out of its subject's estimate; its rows and columns (diagonal "
                    "included) are NaN in that subject's matrix.")
    else:
        message += (f"kind='tangent' compares every subject with one group mean: regions {union.tolist()}, "
                    "without signal in some subject at fit, are left out of every subject's estimate "
                    "(NaN rows and columns in every matrix, in mean_ and in whitening_).")
    warnings.warn(message, NimaskDataWarning, stacklevel=find_stack_level())


def embed(matrix: np.ndarray, keep: np.ndarray, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """``matrix`` (on the regions ``keep``) written into an ``n x n`` matrix of NaN."""
    if out is None:
        out = np.empty((n, n), dtype=matrix.dtype)
    if len(keep) == n:
        out[...] = matrix
        return out
    out.fill(np.nan)
    out[np.ix_(keep, keep)] = matrix
    return out
