"""The group computations of :class:`~nimask.connectome.ConnectivityMeasure`, as plain functions:
each subject's matrix (regions without signal left out), the mean over subjects, and the
covariances and tangent displacements of the ``tangent`` kind. Subjects run in chunks in a
thread pool (:func:`~nimask.connectome._parallel.map_chunks`)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._covariance import kind_matrix, subject_covariance
from ._inputs import embed
from ._parallel import map_chunks
from ._tangent import check_spd, to_tangent

__all__ = ["group_matrices", "tangent_covariances", "tangent_displacements"]


def _out_dtype(dtypes: list[np.dtype]) -> np.dtype:
    return np.result_type(*dtypes)


def group_matrices(
    subjects: list[np.ndarray], excluded: list[np.ndarray], kind: str, template: Any, standardize: bool,
    store: bool, average: bool,
) -> tuple[np.ndarray | None, np.dtype, np.ndarray | None]:
    """Each subject's matrix of ``kind`` (not "tangent") and their mean.

    Parameters
    ----------
    subjects : list of ndarray (n_samples, n)
    excluded : list of ndarray of int
        Each subject's regions without signal: left out of its estimate, NaN in its matrix.
    kind, template, standardize
        See :func:`~nimask.connectome._covariance.subject_covariance`.
    store : bool
        Return the matrices (else None: only the mean is formed, chunk by chunk).
    average : bool
        Return the mean (each entry over the subjects that have it; NaN where none does),
        symmetrised.

    Returns
    -------
    matrices : ndarray of float64, shape (n_subjects, n, n), or None
    dtype : numpy dtype
        float32 when every subject would be float32 in nilearn.
    mean : ndarray of float64, shape (n, n), or None
    """
    n = subjects[0].shape[1]
    out = np.empty((len(subjects), n, n)) if store else None

    def run(chunk: range):
        dtypes, total, counts = [], np.zeros((n, n)) if average else None, np.zeros((n, n), np.intp)
        for i in chunk:
            signals, gone = subjects[i], excluded[i]
            keep = np.setdiff1d(np.arange(n), gone)
            if len(keep):
                covariance, dtype = subject_covariance(signals[:, keep] if len(gone) else signals, template,
                                                       standardize)
                matrix = kind_matrix(covariance, kind)
            else:  # no region with signal: a NaN matrix
                matrix, dtype = np.empty((0, 0)), np.dtype(np.float32 if signals.dtype == np.float32 else np.float64)
            dtypes.append(dtype)
            full = embed(matrix, keep, n, out=out[i] if store else None)
            if average:
                if len(gone):
                    valid = ~np.isnan(full)
                    total += np.where(valid, full, 0.0)
                    counts += valid
                else:
                    total += full
                    counts += 1
        return dtypes, total, counts

    results = map_chunks(run, len(subjects))
    dtype = _out_dtype([d for dtypes, _, _ in results for d in dtypes])
    mean = None
    if average:
        total, counts = np.zeros((n, n)), np.zeros((n, n), np.intp)
        for _, partial, partial_counts in results:
            total += partial
            counts += partial_counts
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
        mean = (mean + mean.T) * 0.5
    return out, dtype, mean


def tangent_covariances(subjects: list[np.ndarray], keep: np.ndarray, template: Any) -> tuple[np.ndarray, np.dtype]:
    """The covariances of the regions ``keep`` of every subject, each checked positive definite.

    Returns
    -------
    covariances : ndarray of float64, shape (n_subjects, len(keep), len(keep))
    dtype : numpy dtype
    """
    n = subjects[0].shape[1]
    covariances = np.empty((len(subjects), len(keep), len(keep)))

    def run(chunk: range) -> list[np.dtype]:
        dtypes = []
        for i in chunk:
            signals = subjects[i] if len(keep) == n else subjects[i][:, keep]
            covariances[i], dtype = subject_covariance(signals, template, False)
            check_spd(covariances[i], i)
            dtypes.append(dtype)
        return dtypes

    dtypes = [d for chunk in map_chunks(run, len(subjects)) for d in chunk]
    return covariances, _out_dtype(dtypes)


def tangent_displacements(covariances: np.ndarray, whiten: np.ndarray) -> np.ndarray:
    """``logm(whiten @ C @ whiten)`` for each covariance, written over ``covariances``."""

    def run(chunk: range) -> None:
        for i in chunk:
            covariances[i] = to_tangent(covariances[i], whiten)

    map_chunks(run, len(covariances))
    return covariances
