"""The ``tangent`` kind: the geometric mean of covariance matrices, the whitening it defines,
and the maps to and from the tangent space at that mean.

The geometric (Riemannian, affine-invariant) mean is found by the gradient descent of Fletcher
and Joshi (2007), Algorithm 3, run exactly as nilearn 0.14.1 runs it (start at the arithmetic
mean, unit step halved whenever the gradient norm grows, stop when that norm divided by the
number of matrix entries is below ``tol``), so that the same iterations give the same mean.
The matrices are whitened and logged one at a time into running sums (one per chunk of
subjects, chunks in a thread pool): the memory is the covariances plus a few ``n x n``
buffers per thread, whatever the number of subjects.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._warnings import find_stack_level
from ..exceptions import ConnectomeError, ConnectomeFloatingPointError, NimaskWarning
from ._matrices import map_eigenvalues
from ._parallel import map_chunks

__all__ = ["check_spd", "geometric_mean", "whitening", "to_tangent", "from_tangent"]


def check_spd(covariance: np.ndarray, subject: int) -> None:
    """Raise a :class:`ConnectomeError` unless ``covariance`` is finite, symmetric (to 1e-7
    relative) and positive definite (its Cholesky factorisation exists)."""
    if not np.isfinite(covariance).all():
        raise ConnectomeError(
            f"ConnectivityMeasure(kind='tangent'): the covariance estimate of subject {subject} has "
            "non-finite values.", index=subject)
    if not np.allclose(covariance, covariance.T, atol=0, rtol=1e-7):
        raise ConnectomeError(
            f"ConnectivityMeasure(kind='tangent'): expected a symmetric positive definite matrix; the "
            f"covariance estimate of subject {subject} is not symmetric.", index=subject)
    try:
        np.linalg.cholesky(covariance)
    except np.linalg.LinAlgError:
        raise ConnectomeError(
            "ConnectivityMeasure(kind='tangent'): expected a symmetric positive definite matrix; the "
            f"covariance estimate of subject {subject} is not positive definite (an estimator without "
            "shrinkage on fewer time points than regions?).", index=subject) from None


def geometric_mean(covariances: np.ndarray, max_iter: int = 30, tol: float = 1e-7) -> np.ndarray:
    """The geometric mean of symmetric positive definite matrices.

    Parameters
    ----------
    covariances : ndarray, shape (n_subjects, n, n)
        float64, each symmetric positive definite (see :func:`check_spd`).
    max_iter : int, default=30
    tol : float, default=1e-7
        Stop when the Frobenius norm of the gradient divided by ``n * n`` is below it.

    Returns
    -------
    ndarray of float64, shape (n, n)

    Warns
    -----
    NimaskWarning
        ``max_iter`` iterations did not reach ``tol`` (the last iterate is returned, as nilearn).
    """
    n_subjects = len(covariances)
    mean = covariances.mean(axis=0)
    best_norm, step, norm = np.inf, 1.0, np.inf
    gradient = np.empty_like(mean)
    for _ in range(max_iter):
        values, vectors = _eigh(mean)
        inv_sqrt = (vectors * np.sqrt(1.0 / values)) @ vectors.T

        def chunk_sum(chunk: range, inv_sqrt: np.ndarray = inv_sqrt) -> np.ndarray:
            total = np.zeros_like(inv_sqrt)
            for i in chunk:
                total += map_eigenvalues(np.log, inv_sqrt @ covariances[i] @ inv_sqrt)
            return total

        gradient.fill(0.0)
        for partial in map_chunks(chunk_sum, n_subjects):
            gradient += partial
        gradient /= n_subjects
        if np.isnan(gradient).any():
            raise ConnectomeFloatingPointError(
                "ConnectivityMeasure(kind='tangent'): NaN value after the matrix logarithm in the "
                "geometric mean (a covariance is numerically singular).")
        norm = float(np.linalg.norm(gradient))
        log_values, log_vectors = _eigh(gradient)
        sqrt_mean = (vectors * np.sqrt(values)) @ vectors.T
        mean = sqrt_mean @ ((log_vectors * np.exp(log_values * step)) @ log_vectors.T) @ sqrt_mean
        if norm < best_norm:
            best_norm = norm
        elif norm > best_norm:
            step /= 2.0
            norm = best_norm
        if norm / mean.size < tol:
            break
    if norm / mean.size >= tol:
        warnings.warn(
            f"ConnectivityMeasure(kind='tangent'): maximum number of iterations {max_iter} reached "
            f"without getting to the requested tolerance level {tol} in the geometric mean.",
            NimaskWarning, stacklevel=find_stack_level(),
        )
    return mean


def _eigh(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.linalg.eigh(matrix)


def whitening(mean: np.ndarray) -> np.ndarray:
    """``mean ** -1/2`` (the inverse of the symmetric square root)."""
    return map_eigenvalues(lambda values: 1.0 / np.sqrt(values), mean)


def to_tangent(covariance: np.ndarray, whiten: np.ndarray) -> np.ndarray:
    """``logm(whiten @ covariance @ whiten)``: the displacement of ``covariance`` from the mean."""
    return map_eigenvalues(np.log, whiten @ covariance @ whiten)


def from_tangent(displacement: np.ndarray, mean_sqrt: np.ndarray) -> np.ndarray:
    """``mean_sqrt @ expm(displacement) @ mean_sqrt``: the covariance of a displacement."""
    return mean_sqrt @ map_eigenvalues(np.exp, displacement) @ mean_sqrt
