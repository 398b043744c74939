"""Symmetric-matrix helpers of :mod:`nimask.connectome`: (un)vectorising, covariance to
correlation, precision to partial correlation, and functions of symmetric matrices through
their eigendecomposition."""
from __future__ import annotations

from collections.abc import Callable
from math import isqrt, sqrt
from typing import Any

import numpy as np

from ..exceptions import ConnectomeError

__all__ = ["sym_matrix_to_vec", "vec_to_sym_matrix", "cov_to_corr", "prec_to_partial"]

_SQRT2 = sqrt(2.0)


def _square_stack(matrices: Any, name: str) -> np.ndarray:
    array = np.asarray(matrices)
    if array.ndim < 2 or array.shape[-1] != array.shape[-2]:
        raise ConnectomeError(
            f"{name} must be a square matrix or a stack of square matrices (shape (..., n, n)); "
            f"got shape {array.shape}.", param=name, expected="(..., n, n)", found=array.shape,
        )
    return array


def sym_matrix_to_vec(symmetric: Any, discard_diagonal: bool = False) -> np.ndarray:
    """Flatten the lower triangle of symmetric matrices, row by row.

    The diagonal entries, when kept, are divided by :math:`\\sqrt{2}`, so that the Euclidean
    norm of the vector is the Frobenius norm of the matrix divided by :math:`\\sqrt{2}`.

    Parameters
    ----------
    symmetric : array-like, shape (..., n, n)
        A matrix or a stack of matrices (only their lower triangles are read).
    discard_diagonal : bool, default=False
        Leave the diagonal out.

    Returns
    -------
    ndarray, shape (..., n * (n + 1) / 2) or (..., n * (n - 1) / 2)
        Entries in the order ``(0, 0), (1, 0), (1, 1), (2, 0), ...`` (diagonal kept) or
        ``(1, 0), (2, 0), (2, 1), ...`` (diagonal discarded). With the diagonal the result is
        float64 (the division); without it the input's dtype is kept (as nilearn).

    Raises
    ------
    ConnectomeError
        The input is not square in its last two dimensions (nilearn returns a meaningless
        vector).
    """
    array = _square_stack(symmetric, "symmetric")
    n = array.shape[-1]
    if discard_diagonal:
        rows, cols = np.tril_indices(n, k=-1)
        return array[..., rows, cols]
    rows, cols = np.tril_indices(n)
    scaling = np.where(rows == cols, _SQRT2, 1.0)
    return array[..., rows, cols] / scaling


def vec_to_sym_matrix(vec: Any, diagonal: Any = None) -> np.ndarray:
    """Rebuild symmetric matrices from their flattened lower triangles.

    The inverse of :func:`sym_matrix_to_vec`: the diagonal entries (from ``vec``, or from
    ``diagonal`` when given) are multiplied by :math:`\\sqrt{2}`.

    Parameters
    ----------
    vec : array-like, shape (..., n * (n + 1) / 2), or (..., n * (n - 1) / 2) with ``diagonal``
        Lower triangles, in the order of :func:`sym_matrix_to_vec`.
    diagonal : array-like of shape (..., n), default=None
        The diagonals (as :func:`sym_matrix_to_vec` scales them: divided by
        :math:`\\sqrt{2}`), when ``vec`` holds only the strict lower triangles.

    Returns
    -------
    ndarray of float64, shape (..., n, n)

    Raises
    ------
    ConnectomeError
        The length of ``vec`` is not a triangular number (``n(n+1)/2`` or, with
        ``diagonal``, ``n(n-1)/2``), or ``diagonal`` does not match ``vec``.
    """
    vec = np.asarray(vec)
    if vec.ndim == 0:
        raise ConnectomeError("vec must be an array of at least one dimension; got a scalar.",
                              param="vec", found=vec.shape)
    length = vec.shape[-1]
    n = (isqrt(8 * length + 1) - 1) // 2
    if n * (n + 1) // 2 != length:
        raise ConnectomeError(
            f"Vector of unsuitable shape {vec.shape} cannot be transformed to a symmetric matrix: "
            f"its last dimension ({length}) is not n(n+1)/2"
            f"{' (n(n-1)/2 with a separate diagonal)' if diagonal is not None else ''} for any n.",
            param="vec", found=vec.shape,
        )
    if diagonal is not None:
        n += 1
        diagonal = np.asarray(diagonal)
        if diagonal.shape != (*vec.shape[:-1], n):
            raise ConnectomeError(
                f"diagonal of shape {diagonal.shape} incompatible with vector of shape {vec.shape}: "
                f"expected {(*vec.shape[:-1], n)}.",
                param="diagonal", expected=(*vec.shape[:-1], n), found=diagonal.shape,
            )
    sym = np.zeros((*vec.shape[:-1], n, n))
    rows, cols = np.tril_indices(n, k=-1 if diagonal is not None else 0)
    sym[..., rows, cols] = vec
    sym[..., cols, rows] = vec
    diag = np.arange(n)
    if diagonal is not None:
        sym[..., diag, diag] = diagonal
    sym[..., diag, diag] *= _SQRT2
    return sym


def cov_to_corr(covariance: Any) -> np.ndarray:
    """Correlation matrix of a covariance matrix (diagonal exactly 1).

    Parameters
    ----------
    covariance : array-like, shape (n, n) or (..., n, n)
        A covariance matrix (a stack is accepted too, a nimask extension).

    Returns
    -------
    ndarray, same shape
        ``covariance[i, j] / sqrt(covariance[i, i] * covariance[j, j])``, computed as nilearn
        computes it, with the diagonal set to 1.

    Raises
    ------
    ConnectomeError
        The input is not square.
    """
    covariance = _square_stack(covariance, "covariance")
    inv_sd = 1.0 / np.sqrt(np.diagonal(covariance, axis1=-2, axis2=-1))
    correlation = covariance * inv_sd[..., None, :] * inv_sd[..., :, None]
    diag = np.arange(covariance.shape[-1])
    correlation[..., diag, diag] = 1.0
    return correlation


def prec_to_partial(precision: Any) -> np.ndarray:
    """Partial correlation matrix of a precision (inverse covariance) matrix.

    Parameters
    ----------
    precision : array-like, shape (n, n) or (..., n, n)
        A precision matrix (a stack is accepted too, a nimask extension).

    Returns
    -------
    ndarray, same shape
        ``-precision[i, j] / sqrt(precision[i, i] * precision[j, j])`` off the diagonal, 1 on it.

    Raises
    ------
    ConnectomeError
        The input is not square.
    """
    partial = -cov_to_corr(precision)
    diag = np.arange(partial.shape[-1])
    partial[..., diag, diag] = 1.0
    return partial


def map_eigenvalues(function: Callable[[np.ndarray], np.ndarray], symmetric: np.ndarray) -> np.ndarray:
    """``V f(L) V.T`` for the eigendecomposition ``symmetric = V L V.T`` (lower triangle read;
    numpy's divide-and-conquer ``eigh``, which releases the GIL)."""
    values, vectors = np.linalg.eigh(symmetric)
    return (vectors * function(values)) @ vectors.T
