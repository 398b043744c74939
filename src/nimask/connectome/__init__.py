"""Connectivity matrices from region time series (``nilearn.connectome`` equivalent).

:class:`ConnectivityMeasure` computes one covariance, correlation, partial correlation,
precision or tangent-space matrix per subject, with nilearn 0.14.1's parameters and numbers;
:func:`sym_matrix_to_vec` / :func:`vec_to_sym_matrix` (un)flatten symmetric matrices,
:func:`cov_to_corr` and :func:`prec_to_partial` convert between kinds. Regions without signal
(all-NaN columns) are left out of the estimates instead of failing (see
:class:`ConnectivityMeasure`).
"""
from ._matrices import cov_to_corr, prec_to_partial, sym_matrix_to_vec, vec_to_sym_matrix
from .connectivity_measure import ConnectivityMeasure

__all__ = ["ConnectivityMeasure", "cov_to_corr", "prec_to_partial", "sym_matrix_to_vec", "vec_to_sym_matrix"]
