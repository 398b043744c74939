"""ConnectivityMeasure: one connectivity matrix per subject from region time series.

Same parameters, defaults, fitted attributes and numbers as nilearn 0.14.1's
``nilearn.connectome.ConnectivityMeasure``. The default Ledoit-Wolf estimate is computed in
closed form from one Gram matrix per subject; the ``tangent`` geometric mean runs nilearn's
iterations with one matrix in flight at a time (memory: the covariances, not four copies).
"""
from __future__ import annotations

import warnings
from math import sqrt
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.covariance import LedoitWolf

from .._threads import single_threaded_blas
from .._warnings import find_stack_level
from ..exceptions import ConfoundsError, ConnectomeError, NimaskDataWarning, NimaskWarning, ParameterError
from ..maskers._params import STANDARDIZE_VALUES, Interval, Options, validate_params
from ..maskers._verbose import say
from ._group import group_matrices, tangent_covariances, tangent_displacements
from ._inputs import check_confounds, check_subjects, embed, regions_without_signal, warn_excluded
from ._matrices import map_eigenvalues, sym_matrix_to_vec, vec_to_sym_matrix
from ._tangent import from_tangent, geometric_mean, whitening

__all__ = ["ConnectivityMeasure"]

KINDS = ("correlation", "partial correlation", "tangent", "covariance", "precision")


class ConnectivityMeasure(TransformerMixin, BaseEstimator):
    """Connectivity matrices (covariance, correlation, partial correlation, precision or tangent
    displacements) of a group of subjects' region time series.

    Parameters
    ----------
    cov_estimator : estimator object or None, default=None
        Covariance estimator with a ``fit(signals)`` method that sets ``covariance_``
        (``sklearn.covariance`` estimators). None: scikit-learn's
        ``LedoitWolf(store_precision=False)``, so correlations are shrunk slightly towards 0
        compared with the sample estimate. A plain ``LedoitWolf`` is computed in closed form
        (same numbers); any other estimator is cloned and fitted once per subject.
    kind : {"covariance", "correlation", "partial correlation", "tangent", "precision"}, \
default="covariance"
        The matrix computed from each subject's covariance estimate. "tangent": the
        logarithm of the covariance whitened by the group's geometric mean (Varoquaux et al.,
        MICCAI 2010): each subject's displacement from the group, in a space where
        Euclidean statistics are meaningful.
    vectorize : bool, default=False
        Return the lower triangles of the matrices as vectors (:func:`sym_matrix_to_vec`).
    discard_diagonal : bool, default=False
        With ``vectorize=True``, leave the diagonals out of the vectors.
    standardize : {"zscore_sample", "psc", True, False, None}, default=True
        Used by ``kind="correlation"`` only, and as nilearn 0.14.1 uses it: ``True`` z-scores
        each region's time series (sample standard deviation) before the covariance estimate;
        every other value (``"zscore_sample"`` and ``"psc"`` included) leaves them as they are.
        With ``kind="correlation"``, a string value warns that it is not applied. nilearn
        documents ``True`` and ``False`` as deprecated for 0.15 but emits no deprecation
        warning; nimask emits none either.
    verbose : bool or int, default=0
        1 or more: print a line when ``fit`` ends.

    Attributes
    ----------
    cov_estimator_ : estimator object
        An unfitted clone of ``cov_estimator`` (``LedoitWolf(store_precision=False)`` for None),
        the template each subject's estimate is computed with.
    excluded_regions_ : list of ndarray of int
        One array per subject given to ``fit``: the regions left out of that subject's
        estimate because they have no signal (see Notes). Empty arrays when every region has
        signal.
    mean_ : ndarray, shape (n_features, n_features)
        The mean of the subjects' matrices; for "tangent", the geometric mean of the
        covariances (the reference point of the tangent space).
    n_features_in_ : int
        Number of regions (columns) of the time series seen by ``fit``.
    whitening_ : ndarray of shape (n_features, n_features) or None
        "tangent": the inverse square root of ``mean_``; None for the other kinds.

    Notes
    -----
    **Regions without signal.** A region that a mask left empty gives an all-NaN column (an
    ``n/a`` region). nilearn 0.14.1 refuses any NaN ("Input contains NaN."). nimask leaves that
    region out of the subject's covariance estimate, so the estimate equals the one computed
    from the other regions alone; the region's row and column (diagonal included) are NaN in
    that subject's matrix, hence in the vectors of ``vectorize=True``. ``excluded_regions_``
    lists them per subject, and each call warns once (:class:`~nimask.exceptions.NimaskDataWarning`)
    naming them. ``mean_`` averages each entry over the subjects that have it (NaN where none
    does). ``kind="tangent"`` compares every subject with one group mean, which needs the same
    regions in every subject: the union of the regions without signal is left out of every
    subject's estimate (NaN rows and columns in every matrix, in ``mean_`` and ``whitening_``),
    and ``transform`` refuses a subject without signal in a region the fit used. Confounds
    regressed from vectors with NaN entries are regressed, for each set of region pairs,
    over the subjects that have them. Any other NaN or inf value raises
    :class:`~nimask.exceptions.ConnectomeError`, as nilearn refuses it.

    **Other differences from nilearn.** Errors are :class:`~nimask.exceptions.ConnectomeError`
    (a ``ValueError``; ``ConnectomeTypeError`` for non-iterables is also a ``TypeError``) or
    :class:`~nimask.exceptions.ParameterError`, where nilearn raises ``ValueError`` /
    ``TypeError``. A subject with fewer than 2 time points is refused (nilearn returns a zero
    or NaN matrix). ``kind`` and ``standardize`` values outside their lists are refused at
    ``fit`` (nilearn accepts any ``standardize``). A generator of subjects is accepted.
    "tangent" checks positive definiteness with a Cholesky factorisation, also in
    ``transform`` (nilearn's transform returns NaN there), and a non-converged geometric mean
    warns with :class:`~nimask.exceptions.NimaskWarning`. ``inverse_transform`` checks that the
    matrices have ``n_features_in_`` regions. ``cov_estimator_`` is never fitted (nilearn's
    holds the fit of the last subject transformed). float32 time series are computed in
    float64 and returned as float32 (nilearn computes in float32: agreement to about 1e-5).
    """

    _parameter_constraints: ClassVar[dict[str, list]] = {
        "kind": [Options(KINDS)],
        "vectorize": [bool],
        "discard_diagonal": [bool],
        "standardize": [Options(STANDARDIZE_VALUES)],
        "verbose": [bool, Interval(integer=True)],
    }

    def __init__(
        self,
        cov_estimator: Any = None,
        kind: str = "covariance",
        vectorize: bool = False,
        discard_diagonal: bool = False,
        standardize: bool | str | None = True,
        verbose: bool | int = 0,
    ) -> None:
        self.cov_estimator = cov_estimator
        self.kind = kind
        self.vectorize = vectorize
        self.discard_diagonal = discard_diagonal
        self.standardize = standardize
        self.verbose = verbose

    # ----------------------------------------------------------------------------- public API
    def fit(self, X: Any, y: Any = None) -> ConnectivityMeasure:
        """Estimate each subject's matrix and the group mean.

        Parameters
        ----------
        X : iterable of ndarray of shape (n_samples, n_features), or one 2D ndarray
            One time-series array per subject; the numbers of time points may differ.
        y : None
            Ignored.

        Returns
        -------
        ConnectivityMeasure
            The fitted estimator.
        """
        del y
        self._run(X, fit=True, transform=False)
        return self

    def fit_transform(self, X: Any, y: Any = None, confounds: Any = None) -> np.ndarray:
        """Fit, then return each subject's connectivity matrix (or vector).

        Parameters
        ----------
        X : iterable of ndarray of shape (n_samples, n_features), or one 2D ndarray
            One time-series array per subject.
        y : None
            Ignored.
        confounds : array-like of shape (n_subjects,) or (n_subjects, n_confounds), default=None
            Subject-level confounds regressed out of the vectors (``nimask.signal.clean`` across
            subjects, with its defaults); needs ``vectorize=True``.

        Returns
        -------
        ndarray, shape (n_subjects, n_features, n_features) or (n_subjects, n_entries)
        """
        del y
        return self._run(X, fit=True, transform=True, confounds=confounds)

    def transform(self, X: Any, confounds: Any = None) -> np.ndarray:
        """Each subject's connectivity matrix (or vector), relative to the fitted group for "tangent".

        Parameters
        ----------
        X : iterable of ndarray of shape (n_samples, n_features), or one 2D ndarray
            One time-series array per subject ("tangent": at least two subjects).
        confounds : array-like of shape (n_subjects,) or (n_subjects, n_confounds), default=None
            See :meth:`fit_transform`.

        Returns
        -------
        ndarray, shape (n_subjects, n_features, n_features) or (n_subjects, n_entries)
        """
        self._check_fitted()
        return self._run(X, fit=False, transform=True, confounds=confounds)

    def inverse_transform(self, connectivities: Any, diagonal: Any = None) -> np.ndarray:
        """Matrices from the output of :meth:`transform`; covariances for "tangent".

        Parameters
        ----------
        connectivities : array-like, shape (n_subjects, n_features, n_features) or (n_subjects, n_entries)
            Matrices, or vectors when ``vectorize=True``.
        diagonal : array-like of shape (n_subjects, n_features), default=None
            The diagonals, scaled as :func:`sym_matrix_to_vec` scales them (divided by
            sqrt(2)), when ``discard_diagonal=True``; for "correlation" and "partial
            correlation" the diagonal is known (1) and may be omitted. Used only with
            ``vectorize=True``.

        Returns
        -------
        ndarray, shape (n_subjects, n_features, n_features)
        """
        self._check_fitted()
        n = self.n_features_in_
        matrices = np.array(connectivities)
        fill_nan_diagonal = False
        if self.vectorize:
            if self.discard_diagonal and diagonal is None:
                if self.kind not in ("correlation", "partial correlation"):
                    raise ConnectomeError(
                        f"diagonal values has been discarded and are unknown for {self.kind} kind, cannot "
                        "reconstruct connectivity matrices: pass them as diagonal=.", param="diagonal")
                diagonal = np.ones((*matrices.shape[:-1], n)) / sqrt(2.0)
                fill_nan_diagonal = n > 1
            matrices = vec_to_sym_matrix(matrices, diagonal=diagonal)
            if fill_nan_diagonal:  # a region without signal: no off-diagonal value, no diagonal
                no_signal = np.isnan(matrices).sum(axis=-1) == n - 1
                matrices[no_signal[..., None] & np.eye(n, dtype=bool)] = np.nan
        if matrices.ndim < 2 or matrices.shape[-2:] != (n, n):
            raise ConnectomeError(
                f"inverse_transform: expected matrices of {n} x {n} regions (or their vectors); got an "
                f"array of shape {np.shape(connectivities)}.", param="connectivities", found=np.shape(connectivities))
        if self.kind != "tangent":
            return matrices
        with single_threaded_blas():
            return self._from_tangent(matrices)

    def set_output(self, *, transform: Any = None) -> None:
        """Not available (as in nilearn): the output is always a numpy array."""
        raise NotImplementedError("ConnectivityMeasure.set_output is not implemented (as in nilearn).")

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cov_estimator_")

    # ----------------------------------------------------------------------------- internals
    def _check_fitted(self) -> None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)

    def _template(self, fit: bool) -> Any:
        validate_params(self, self._parameter_constraints)
        if not fit:
            return self.cov_estimator_
        if self.cov_estimator is None:
            return LedoitWolf(store_precision=False)
        if not hasattr(self.cov_estimator, "fit"):
            raise ParameterError(
                "'cov_estimator' must be an estimator with '.fit()' and '.covariance_' (e.g., from "
                f"`sklearn.covariance` or a custom estimator constructed similarly). Got: "
                f"`{type(self.cov_estimator).__name__}`.",
                param="cov_estimator", expected="an estimator", found=type(self.cov_estimator).__name__)
        return clone(self.cov_estimator)

    def _run(self, X: Any, fit: bool, transform: bool, confounds: Any = None) -> np.ndarray | None:
        template = self._template(fit)
        if self.kind == "correlation" and isinstance(self.standardize, str):
            warnings.warn(
                f"ConnectivityMeasure: standardize={self.standardize!r} is not applied, as in nilearn 0.14.1, "
                "which z-scores the time series for kind='correlation' only with standardize=True.",
                NimaskWarning, stacklevel=find_stack_level())
        check_confounds(confounds, self.vectorize)
        subjects = check_subjects(X, None if fit else self.n_features_in_)
        if transform and self.kind == "tangent" and len(subjects) <= 1:
            raise ConnectomeError(
                "Tangent space parametrization can only be applied to a group of subjects, as it returns "
                f"deviations to the mean. You provided {len(subjects)} subject.", param="X", found=len(subjects))
        excluded = [regions_without_signal(x, i) for i, x in enumerate(subjects)]
        with single_threaded_blas():  # subjects run in parallel instead (_parallel.map_chunks)
            if self.kind == "tangent":
                matrices, dtype, fitted = self._tangent(subjects, excluded, template, fit, transform)
            else:
                matrices, dtype, fitted = self._matrices(subjects, excluded, template, fit, transform)
        if fit:
            self.cov_estimator_ = template
            self.n_features_in_ = subjects[0].shape[1]
            for name, value in fitted.items():
                setattr(self, name, value)
            say(self, "fit", "Finished fit")
        if not transform:
            return None
        out = matrices.astype(dtype, copy=False)
        if self.vectorize:
            out = sym_matrix_to_vec(out, discard_diagonal=self.discard_diagonal)
            if confounds is not None:
                out = _clean_vectors(out, confounds)
        return out

    def _matrices(self, subjects, excluded, template, fit, transform):
        standardize = self.kind == "correlation" and self.standardize is True
        warn_excluded(excluded, None)
        out, dtype, mean = group_matrices(subjects, excluded, self.kind, template, standardize,
                                          store=transform, average=fit)
        fitted = {}
        if fit:
            fitted = {"mean_": mean.astype(dtype), "whitening_": None,
                      "excluded_regions_": [np.asarray(e, dtype=np.intp) for e in excluded]}
        return out, dtype, fitted

    def _tangent(self, subjects, excluded, template, fit, transform):
        n = subjects[0].shape[1]
        if fit:
            union = np.unique(np.concatenate(excluded)).astype(np.intp)
        else:
            if self.whitening_ is None:
                raise ConnectomeError("ConnectivityMeasure: kind='tangent' but the estimator was fitted with another "
                                      "kind (no whitening_): fit it again.", param="kind")
            union = np.flatnonzero(np.isnan(np.diagonal(self.mean_)))
            for i, gone in enumerate(excluded):
                missing = np.setdiff1d(gone, union)
                if len(missing):
                    raise ConnectomeError(
                        f"ConnectivityMeasure(kind='tangent').transform: subject {i} has no signal in regions "
                        f"{missing.tolist()}, which the fitted group mean uses; a tangent displacement needs "
                        "every region of the mean.", param="X", index=i, found=missing.tolist())
        keep = np.setdiff1d(np.arange(n), union)
        if len(keep) == 0:
            raise ConnectomeError("ConnectivityMeasure(kind='tangent'): no region has signal in every subject.",
                                  param="X")
        warn_excluded(excluded, union)
        covariances, dtype = tangent_covariances(subjects, keep, template)
        fitted = {}
        if fit:
            mean = geometric_mean(covariances)
            whiten = whitening(mean)
            fitted = {"mean_": embed(mean, keep, n).astype(dtype), "whitening_": embed(whiten, keep, n).astype(dtype),
                      "excluded_regions_": [union.copy() for _ in subjects]}
        else:
            whiten = self.whitening_[np.ix_(keep, keep)].astype(np.float64)
        if not transform:
            return None, dtype, fitted
        displacements = tangent_displacements(covariances, whiten)
        if len(union) == 0:
            return displacements, dtype, fitted
        out = np.empty((len(subjects), n, n))
        for i, displacement in enumerate(displacements):
            embed(displacement, keep, n, out=out[i])
        return out, dtype, fitted

    def _from_tangent(self, displacements: np.ndarray) -> np.ndarray:
        n = self.n_features_in_
        keep = np.flatnonzero(~np.isnan(np.diagonal(self.mean_)))
        mean = self.mean_[np.ix_(keep, keep)].astype(np.float64)
        mean_sqrt = map_eigenvalues(np.sqrt, mean)
        dtype = np.result_type(self.mean_.dtype, displacements.dtype if displacements.dtype.kind == "f" else np.float64)
        flat = displacements.reshape(-1, n, n)
        out = np.empty(flat.shape, dtype=np.float64)
        for i, displacement in enumerate(flat):
            block = np.asarray(displacement[np.ix_(keep, keep)], dtype=np.float64)
            if not np.isfinite(block).all():
                raise ConnectomeError(
                    f"inverse_transform: displacement {i} has NaN or infinite values among the regions of "
                    "the fitted mean.", param="connectivities", index=i)
            embed(from_tangent(block, mean_sqrt), keep, n, out=out[i])
        return out.reshape(displacements.shape).astype(dtype, copy=False)


def _clean_vectors(vectors: np.ndarray, confounds: Any) -> np.ndarray:
    """Regress ``confounds`` out of the subjects' vectors (``nimask.signal.clean``, its defaults).

    Columns with NaN entries (pairs involving a region without signal) are cleaned, group by
    group of columns missing in the same subjects, over the subjects that have them.
    """
    from ..signal import clean, load_confounds_array

    missing = np.isnan(vectors)
    if not missing.any():
        return clean(vectors, confounds=confounds)
    confounds = load_confounds_array(confounds, len(vectors))
    out = np.full(vectors.shape, np.nan)
    patterns, inverse = np.unique(missing.T, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    left_nan = 0
    for p, pattern in enumerate(patterns):
        rows, cols = np.flatnonzero(~pattern), np.flatnonzero(inverse == p)
        if len(rows) == 0:
            continue
        try:
            out[np.ix_(rows, cols)] = clean(vectors[np.ix_(rows, cols)], confounds=confounds[rows])
        except ConfoundsError:  # too few subjects have these pairs for the confounds
            left_nan += len(cols)
    if left_nan:
        warnings.warn(
            f"ConnectivityMeasure: {left_nan} entries of the vectors exist in too few subjects to regress the "
            "confounds out of them; they are NaN for every subject.", NimaskDataWarning,
            stacklevel=find_stack_level())
    return out
