"""Motion and denoising quality control of one run, per strategy (``nimask extract --qc``).

The job streams the run's brain-mask voxels once (a :class:`~nimask.regions._voxels.VoxelOperator`
next to the atlases' operators) and :func:`run_statistics` reduces that ``(T, V)`` matrix to what
every strategy's QC needs, so that the voxel matrix is freed before the strategies are cleaned:

* the Gram matrix ``G = X X^T`` of the voxel time series (``T x T``, float64, accumulated over blocks
  of voxels from the per-voxel-centred data, so that large means cost no precision);
* DVARS before denoising: for each volume ``t >= 1``, the root mean square over the mask voxels of
  ``x_t - x_{t-1}`` (Power et al. 2012; in the image's units, not standardised);
* temporal SNR: per voxel, the mean over the standard deviation (``ddof=1``) of its raw time series;
  the median over the mask voxels (voxels with a zero standard deviation left out).

The cleaning of a strategy is linear in the signals once standardisation is left out (censoring,
detrending, the Butterworth filter and its interpolation of censored volumes, confound regression), so
it is a matrix ``L`` (kept volumes x ``T``): ``L = clean(identity)``. DVARS after denoising over the
consecutive kept volumes ``k, k+1`` is then ``sqrt((M G M^T)_pp / V)`` with ``M = D L`` (``D`` the
differences of those pairs): exact, and the voxel matrix is never cleaned. It is the DVARS of the
strategy's cleaning without its standardisation (a z-scored voxel has no units); volumes next to a
censored one have no "after" value.

:func:`strategy_qc` gives one row per run x strategy (:data:`QC_COLUMNS`): framewise displacement (the
confounds file's ``framewise_displacement``; its first ``n/a`` left out), censoring, DVARS before and
after, the correlation of FD with DVARS (before: volumes ``1..T-1``; after: the pairs above, FD of the
later volume), degrees of freedom (:func:`~nimask.batch.strategies.degrees_of_freedom`) and tSNR.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["QC_COLUMNS", "RunStatistics", "run_statistics", "strategy_qc", "cleaning_matrix", "framewise_displacement"]

QC_COLUMNS = ("mean_fd", "max_fd", "n_volumes", "n_censored", "fraction_censored", "mean_dvars_before",
              "mean_dvars_after", "fd_dvars_corr_before", "fd_dvars_corr_after", "dof_confounds", "dof_used",
              "dof_left", "tsnr_median")

_BLOCK = 8192  # voxels per float64 block (300 volumes: 20 MB)


class RunStatistics:
    """What the QC of every strategy needs from a run's voxels (:func:`run_statistics`).

    Attributes
    ----------
    gram_centred : (T, T) ndarray
        ``Xc Xc^T`` with ``Xc`` the voxel time series minus their means.
    cross : (T,) ndarray
        ``Xc m`` (``m`` the voxel means); with ``norm2 = m . m``, ``X X^T = gram_centred + cross 1^T +
        1 cross^T + norm2 1 1^T``.
    norm2 : float
    n_voxels : int
    dvars : (T - 1,) ndarray
        DVARS before denoising, of volumes 1..T-1.
    tsnr_median : float
    """

    def __init__(self, gram_centred, cross, norm2, n_voxels, dvars, tsnr_median) -> None:
        self.gram_centred, self.cross, self.norm2 = gram_centred, cross, norm2
        self.n_voxels, self.dvars, self.tsnr_median = n_voxels, dvars, tsnr_median

    def quadratic(self, m: np.ndarray) -> np.ndarray:
        """``diag(M X X^T M^T)`` for ``M`` (rows x T), from the centred Gram matrix."""
        ones = m.sum(axis=1)
        mg = m @ self.gram_centred
        return (np.einsum("ij,ij->i", mg, m) + 2.0 * ones * (m @ self.cross) + self.norm2 * ones ** 2)


def run_statistics(voxels: np.ndarray) -> RunStatistics:
    """Reduce a run's ``(T, V)`` mask voxel time series to a :class:`RunStatistics`.

    One pass over blocks of voxels in float64: centre each voxel, add the block's ``Xc Xc^T`` (BLAS
    ``syrk``, half the work of a general product), ``Xc m`` and the voxels' sums of squares. DVARS before
    denoising comes from the Gram matrix (``|x_t - x_{t-1}|^2 = G_tt + G_t-1,t-1 - 2 G_t,t-1``, the centring
    cancels in differences).
    """
    from scipy.linalg.blas import dsyrk

    x = np.asarray(voxels)
    n_t, n_v = x.shape
    gram = np.zeros((n_t, n_t), order="F")
    cross = np.zeros(n_t)
    norm2 = 0.0
    tsnr = []
    for start in range(0, n_v, _BLOCK):
        block = x[:, start:start + _BLOCK].astype(np.float64)
        mean = block.mean(axis=0)
        block -= mean
        # block is C-ordered (T, b): its transpose is an F-ordered (b, T) matrix A, and A^T A = Xc Xc^T
        gram = dsyrk(1.0, block.T, beta=1.0, c=gram, trans=1, lower=0, overwrite_c=1)
        cross += block @ mean
        norm2 += float(mean @ mean)
        if n_t > 1:
            sd = np.sqrt(np.einsum("ij,ij->j", block, block) / (n_t - 1))
            ok = sd > 0
            tsnr.append(mean[ok] / sd[ok])
    gram = np.triu(gram) + np.triu(gram, 1).T  # syrk fills the upper triangle
    if n_v and n_t > 1:
        diag = np.diag(gram)
        dvars = np.sqrt(np.maximum(diag[1:] + diag[:-1] - 2.0 * np.diag(gram, 1), 0.0) / n_v)
    else:
        dvars = np.full(max(n_t - 1, 0), np.nan)
    tsnr_all = np.concatenate(tsnr) if tsnr else np.empty(0)
    return RunStatistics(np.ascontiguousarray(gram), cross, norm2, n_v, dvars,
                         float(np.median(tsnr_all)) if tsnr_all.size else np.nan)


def cleaning_matrix(n_volumes: int, clean_params: dict, confounds: Any, sample_mask: Any,
                    t_r: float | None) -> np.ndarray:
    """The strategy's cleaning as a matrix ``L`` (kept volumes x ``n_volumes``), standardisation left out:
    ``clean(X) = L X`` for every ``(n_volumes, n)`` matrix ``X``."""
    from ..signal._clean import _cleaning_matrix

    params = {**clean_params, "standardize": False}
    return _cleaning_matrix(int(n_volumes), confounds=confounds, sample_mask=sample_mask, t_r=t_r, censor="drop",
                            **params).matrix


def framewise_displacement(table: Any, n_volumes: int) -> np.ndarray | None:
    """The confounds table's ``framewise_displacement`` (a :func:`~nimask.batch.strategies.read_confounds_tsv`
    table) as floats, NaN for ``n/a``; None without that column or with another number of rows."""
    from .strategies import _Columns

    if table is None:
        return None
    columns = _Columns(table, getattr(table, "path", "confounds"))
    if "framewise_displacement" not in columns.names or len(columns) != n_volumes:
        return None
    try:
        return columns.values("framewise_displacement")
    except Exception:  # a non-numeric or duplicated column: no FD metrics (the strategies say why, if they use it)
        return None


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def strategy_qc(stats: RunStatistics | None, fd: np.ndarray | None, n_volumes: int, sample_mask: Any,
                cleaning: np.ndarray | None, dof: dict) -> dict:
    """One QC row (:data:`QC_COLUMNS`) of a run x strategy.

    Parameters
    ----------
    stats : RunStatistics or None
        The run's voxel statistics (None without a brain mask: the voxel metrics are NaN).
    fd : ndarray or None
        Framewise displacement per volume (None: the FD metrics are NaN).
    n_volumes : int
    sample_mask : array of kept volume indices or None (all kept)
    cleaning : (kept, T) ndarray or None
        :func:`cleaning_matrix` of the strategy (None when ``stats`` is None).
    dof : dict
        :func:`~nimask.batch.strategies.degrees_of_freedom` of the strategy on this run.
    """
    nan = float("nan")
    kept = np.arange(n_volumes) if sample_mask is None else np.asarray(sample_mask, dtype=np.intp)
    n_cens = int(n_volumes - kept.size)
    fd_known = None if fd is None else fd[1:]
    row = {
        "mean_fd": nan if fd_known is None or not np.isfinite(fd_known).any() else float(np.nanmean(fd_known)),
        "max_fd": nan if fd_known is None or not np.isfinite(fd_known).any() else float(np.nanmax(fd_known)),
        "n_volumes": int(n_volumes),
        "n_censored": n_cens,
        "fraction_censored": n_cens / n_volumes if n_volumes else nan,
        "mean_dvars_before": nan, "mean_dvars_after": nan,
        "fd_dvars_corr_before": nan, "fd_dvars_corr_after": nan,
        "dof_confounds": int(dof["ConfoundRegressors"]), "dof_used": int(dof["Used"]), "dof_left": int(dof["Left"]),
        "tsnr_median": nan if stats is None else stats.tsnr_median,
    }
    if stats is None or stats.n_voxels == 0:
        return row
    if stats.dvars.size:
        row["mean_dvars_before"] = float(np.mean(stats.dvars))
        if fd is not None:
            row["fd_dvars_corr_before"] = _corr(fd[1:], stats.dvars)
    pairs = np.flatnonzero(np.diff(kept) == 1)  # kept rows i, i+1 that are consecutive volumes
    if cleaning is not None and pairs.size:
        m = cleaning[pairs + 1] - cleaning[pairs]
        after = np.sqrt(np.maximum(stats.quadratic(m), 0.0) / stats.n_voxels)
        row["mean_dvars_after"] = float(np.mean(after))
        if fd is not None:
            row["fd_dvars_corr_after"] = _corr(fd[kept[pairs + 1]], after)
    return row


def qc_sidecar(run: Any, strategy: Any, t_r: float, t_r_source: str, n_volumes: int, kept: list, has_fd: bool,
               stats: RunStatistics | None, data_file: str | None, version: str) -> dict:
    """The JSON sidecar of a QC table: its inputs and the definition of each column."""
    import os

    return {
        "Description": f"Motion and denoising quality control of run {os.path.basename(run.bold)!r} for strategy "
                       f"{strategy.name!r} (one row).",
        "SoftwareName": "nimask",
        "SoftwareVersion": version,
        "Sources": [f"{run.relpath}/{os.path.basename(run.bold)}"]
        + ([f"{run.relpath}/{os.path.basename(data_file)}"] if data_file else []),
        "Strategy": strategy.to_dict(),
        "RepetitionTime": t_r,
        "RepetitionTimeSource": t_r_source,
        "NumberOfVolumes": int(n_volumes),
        "VolumesKept": [int(v) for v in kept],
        "MaskFile": run.mask,
        "MaskVoxels": None if stats is None else int(stats.n_voxels),
        "FramewiseDisplacementColumn": "framewise_displacement" if has_fd else None,
        "Columns": {
            "mean_fd": "Mean framewise displacement (mm) over volumes 1..T-1 (the confounds file's "
                       "framewise_displacement; the first volume has none).",
            "max_fd": "Maximum framewise displacement (mm).",
            "n_volumes": "Volumes in the run.",
            "n_censored": "Volumes the strategy censors (scrubbing, non-steady-state volumes, ...).",
            "fraction_censored": "n_censored / n_volumes.",
            "mean_dvars_before": "Mean DVARS of the raw data: root mean square over the brain-mask voxels of the "
                                 "difference between consecutive volumes (image units).",
            "mean_dvars_after": "Mean DVARS of the data cleaned by the strategy (without its standardisation), over "
                                "the pairs of consecutive volumes that are both kept.",
            "fd_dvars_corr_before": "Pearson correlation of framewise displacement with DVARS before denoising "
                                    "(volumes 1..T-1).",
            "fd_dvars_corr_after": "Pearson correlation of framewise displacement (of the later volume) with DVARS "
                                   "after denoising, over the pairs of consecutive kept volumes.",
            "dof_confounds": "Confound regressors of the strategy.",
            "dof_used": "Temporal degrees of freedom the cleaning uses (confounds, mean and trend, filter).",
            "dof_left": "Kept volumes minus dof_used.",
            "tsnr_median": "Median over the brain-mask voxels of the raw time series' mean over its standard "
                           "deviation (ddof=1).",
        },
    }
