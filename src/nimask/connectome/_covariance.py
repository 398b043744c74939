"""Per-subject covariance estimates and the matrix of each kind.

The default estimator, scikit-learn's ``LedoitWolf``, is computed here in closed form from one
Gram matrix (scikit-learn forms it three times); any other estimator is cloned and fitted per
subject.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy import linalg
from sklearn.base import clone
from sklearn.covariance import LedoitWolf

from ._matrices import cov_to_corr, prec_to_partial

__all__ = ["ledoit_wolf_covariance", "zscore", "subject_covariance", "kind_matrix", "is_ledoit_wolf"]

_EPS64 = np.finfo(np.float64).eps


def is_ledoit_wolf(estimator: Any) -> bool:
    """True for a plain scikit-learn ``LedoitWolf`` (not a subclass), which the closed form replaces."""
    return type(estimator) is LedoitWolf


def ledoit_wolf_covariance(signals: np.ndarray, assume_centered: bool = False) -> np.ndarray:
    """The Ledoit-Wolf shrunk covariance of ``signals`` (scikit-learn's ``LedoitWolf`` estimate).

    ``(1 - s) S + s mu I`` with ``S`` the empirical covariance (1/T normalisation), ``mu`` the
    mean of its diagonal and ``s`` the Ledoit-Wolf shrinkage, computed in float64.

    Parameters
    ----------
    signals : ndarray, shape (n_samples, n_features)
        Finite values.
    assume_centered : bool, default=False
        Do not remove the column means first.

    Returns
    -------
    ndarray of float64, shape (n_features, n_features)
    """
    x = np.asarray(signals, dtype=np.float64)
    x = x - x.mean(axis=0) if not assume_centered else x.copy()
    n_samples, n_features = x.shape
    if n_features == 1:
        return np.atleast_2d((x**2).mean())
    squares = x**2
    variances = squares.sum(axis=0) / n_samples
    mu = variances.sum() / n_features
    gram = x.T @ x
    # the sum of the entries of squares.T @ squares, without forming it
    beta_sum = float(np.sum(squares.sum(axis=1) ** 2))
    delta_sum = float(np.sum(gram**2)) / n_samples**2
    beta = (beta_sum / n_samples - delta_sum) / (n_features * n_samples)
    delta = (delta_sum - 2.0 * mu * variances.sum() + n_features * mu**2) / n_features
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    covariance = gram / n_samples
    target = np.trace(covariance) / n_features
    covariance *= 1.0 - shrinkage
    covariance.flat[:: n_features + 1] += shrinkage * target
    return covariance


def zscore(signals: np.ndarray) -> np.ndarray:
    """Columns centred and divided by their sample standard deviation (ddof=1; a standard
    deviation below float64's eps counts as 1), in float64."""
    x = np.asarray(signals, dtype=np.float64)
    x = x - x.mean(axis=0)
    sd = x.std(axis=0, ddof=1)
    sd[sd < _EPS64] = 1.0
    x /= sd
    return x


def subject_covariance(signals: np.ndarray, estimator: Any, standardize: bool) -> tuple[np.ndarray, np.dtype]:
    """One subject's covariance estimate, in float64, and the dtype nilearn would give it.

    Parameters
    ----------
    signals : ndarray, shape (n_samples, n_regions)
        Finite values (the regions with signal only).
    estimator : estimator object
        A template: a plain ``LedoitWolf`` is computed in closed form, anything else is cloned
        and fitted (the template is never fitted).
    standardize : bool
        z-score the columns first (the ``correlation`` kind with ``standardize=True``).

    Returns
    -------
    covariance : ndarray of float64, shape (n_regions, n_regions)
    dtype : numpy dtype
        float32 where nilearn would compute this subject in float32, float64 otherwise.
    """
    in_dtype = np.float32 if signals.dtype == np.float32 else np.float64
    if standardize:
        signals = zscore(signals)
        if in_dtype == np.float32:
            signals = signals.astype(np.float32)
    if is_ledoit_wolf(estimator):
        return ledoit_wolf_covariance(signals, assume_centered=bool(estimator.assume_centered)), np.dtype(in_dtype)
    covariance = np.asarray(clone(estimator).fit(signals).covariance_)
    dtype = np.dtype(np.float32 if covariance.dtype == np.float32 else np.float64)
    return covariance.astype(np.float64), dtype


def kind_matrix(covariance: np.ndarray, kind: str) -> np.ndarray:
    """The connectivity matrix of ``kind`` from a covariance (``tangent``: the covariance itself)."""
    if kind in ("covariance", "tangent"):
        return covariance
    if kind == "correlation":
        return cov_to_corr(covariance)
    precision = linalg.inv(covariance)
    return precision if kind == "precision" else prec_to_partial(precision)
