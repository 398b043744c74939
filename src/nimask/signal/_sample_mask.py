"""Validation of ``sample_mask`` (censoring) and nilearn's spline interpolation of censored volumes."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import AllVolumesRemovedError, SampleMaskError, SampleMaskIndexError
from ._detrend import column_blocks


def _is_scalar_list(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) > 0 and all(
        np.ndim(v) == 0 for v in value
    )


def check_sample_mask_index(mask: Any, n_samples: int, *, which: str = "sample_mask") -> np.ndarray:
    """Turn one run's mask (boolean keep-mask or integer indices) into an int32 index array.

    Raises
    ------
    SampleMaskError
        A boolean mask of the wrong length; an integer 0/1 array as long as the run (a boolean
        mask typed as integers); non-integral or negative values.
    SampleMaskIndexError
        An index ``>= n_samples`` (also an ``IndexError``).
    AllVolumesRemovedError
        No volume is kept.
    """
    mask = np.asarray(mask)
    if mask.ndim != 1:
        raise SampleMaskError(
            f"{which} must be a 1D array (boolean mask or indices of the volumes to keep); got "
            f"shape {mask.shape}.",
            param="sample_mask", expected="1D array", found=mask.shape,
        )
    if mask.dtype.kind == "b":
        if mask.size != n_samples:
            raise SampleMaskError(
                f"{which} is a boolean mask of length {mask.size} but the signal has {n_samples} "
                f"time points: a boolean sample_mask needs one value per time point.",
                param="sample_mask", expected=n_samples, found=mask.size,
            )
        index = np.flatnonzero(mask)
    elif mask.size == 0:
        index = mask.astype(np.int64)
    elif mask.dtype.kind in "iu":
        if mask.size == n_samples and np.isin(mask, (0, 1)).all():
            raise SampleMaskError(
                f"{which} is an integer array of 0s and 1s as long as the signal ({n_samples} time "
                f"points): it looks like a boolean mask typed as integers, but integer arrays are "
                f"read as indices of the volumes to keep. Pass a boolean array, e.g. "
                f"sample_mask.astype(bool).",
                param="sample_mask", expected="bool array or indices", found="0/1 integer array",
            )
        index = mask.astype(np.int64)
    elif mask.dtype.kind == "f":
        if not (np.isfinite(mask).all() and (mask == np.round(mask)).all()):
            raise SampleMaskError(
                f"{which} holds non-integral values; expected a boolean mask or integer indices "
                f"of the volumes to keep.",
                param="sample_mask", expected="integer indices", found=str(mask.dtype),
            )
        index = mask.astype(np.int64)
    else:
        raise SampleMaskError(
            f"{which} must be a boolean or integer array; got dtype {mask.dtype}.",
            param="sample_mask", expected="bool or int array", found=str(mask.dtype),
        )
    if index.size == 0:
        raise AllVolumesRemovedError(
            f"{which} removes all volumes: no time point is kept out of {n_samples}.",
            param="sample_mask", found=0,
        )
    if index.min() < 0:
        raise SampleMaskError(
            f"sample_mask should not contain negative values ({which}: found "
            f"{index[index < 0][:5].tolist()}).",
            param="sample_mask", expected=">= 0", found=int(index.min()),
        )
    if index.max() >= n_samples:
        raise SampleMaskIndexError(
            f"{which} contains invalid index {index[index >= n_samples][:5].tolist()}: the signal "
            f"contains {n_samples} time points (valid indices 0..{n_samples - 1}).",
            param="sample_mask", expected=f"< {n_samples}", found=int(index.max()),
        )
    if index.size > 1:
        steps = np.diff(index)
        if (steps == 0).any():
            dup = np.unique(index[1:][steps == 0])[:5].tolist()
            raise SampleMaskError(
                f"{which} repeats the indices {dup}: each volume can be kept once (nilearn "
                f"silently duplicates those rows).",
                param="sample_mask", expected="unique indices", found=dup,
            )
        if (steps < 0).any():
            raise SampleMaskError(
                f"{which} indices are not sorted (first decrease at position "
                f"{int(np.flatnonzero(steps < 0)[0]) + 1}): censoring keeps volumes in time order, "
                f"so the indices must be strictly increasing; pass np.sort(sample_mask).",
                param="sample_mask", expected="strictly increasing indices", found="unsorted",
            )
    return index.astype(np.int32)


def check_sample_masks(
    sample_mask: Any, run_lengths: list[int] | None, n_samples: int
) -> np.ndarray | list[np.ndarray] | None:
    """Validate ``sample_mask`` for ``clean``.

    Without runs, returns one int32 index array (or None). With runs (``run_lengths`` in sorted
    run-label order), returns a list with one index array per run.

    Differences from nilearn: a plain list of ints/bools is read as one array (nilearn fails with
    "'int' object is not iterable"); with a single run, a bare array is accepted.
    """
    if sample_mask is None:
        return None
    if run_lengths is None:
        if isinstance(sample_mask, (list, tuple)) and not _is_scalar_list(sample_mask):
            if len(sample_mask) != 1:
                raise SampleMaskError(
                    f"sample_mask is a list of {len(sample_mask)} arrays but no runs were given: "
                    f"pass one array, or give runs= with one array per run.",
                    param="sample_mask", expected=1, found=len(sample_mask),
                )
            sample_mask = sample_mask[0]
        return check_sample_mask_index(sample_mask, n_samples)
    n_runs = len(run_lengths)
    if isinstance(sample_mask, np.ndarray) or _is_scalar_list(sample_mask):
        if n_runs != 1:
            raise SampleMaskError(
                f"Number of sample_mask (1) not matching number of runs ({n_runs}): with runs, "
                f"sample_mask must be a list with one array per run (in sorted run-label order).",
                param="sample_mask", expected=n_runs, found=1,
            )
        sample_mask = [sample_mask]
    if not isinstance(sample_mask, (list, tuple)):
        raise SampleMaskError(
            f"sample_mask must be a list or tuple of arrays, one per run; got "
            f"{type(sample_mask).__name__}.",
            param="sample_mask", found=type(sample_mask).__name__,
        )
    if len(sample_mask) != n_runs:
        raise SampleMaskError(
            f"Number of sample_mask ({len(sample_mask)}) not matching number of runs ({n_runs}).",
            param="sample_mask", expected=n_runs, found=len(sample_mask),
        )
    return [
        check_sample_mask_index(m, length, which=f"sample_mask {i + 1} of {n_runs}")
        for i, (m, length) in enumerate(zip(sample_mask, run_lengths, strict=True))
    ]


def interpolate_mirrored(
    values: np.ndarray, kept: np.ndarray, t_r: float, extrapolate: bool
) -> np.ndarray:
    """nilearn 0.14.1's spline "interpolation" of censored volumes, quirk included.

    A not-a-knot cubic spline through the kept rows is evaluated, but only the rows at the
    *mirrored* positions ``n - 1 - k`` (k kept) are overwritten with it: a censored row p is
    interpolated only if ``n - 1 - p`` is kept. Rows that end up entirely NaN (outside the knots
    when ``extrapolate`` is False) are dropped. Works in place on blocks of columns, so the
    spline coefficients never exceed a small temporary. Returns the (possibly shorter) array.
    """
    from scipy.interpolate import CubicSpline

    n = values.shape[0]
    if np.any(np.diff(kept) <= 0):
        raise SampleMaskError(
            "sample_mask indices must be strictly increasing when Butterworth filtering is "
            "used (censored volumes are interpolated); sort them and remove duplicates.",
            param="sample_mask", expected="strictly increasing indices",
        )
    times = np.arange(n) * t_r
    targets = n - 1 - kept
    # The spline holds 4 (n - 1) coefficients per column: use a quarter of the usual block.
    for cols in column_blocks(n, values.shape[1], shrink=4):
        spline = CubicSpline(times[kept], values[kept, cols], extrapolate=extrapolate)
        values[targets, cols] = spline(times[targets])
    nan_rows = _all_nan_rows(values)
    if nan_rows.any():
        values = values[~nan_rows]
    return values


def _all_nan_rows(values: np.ndarray) -> np.ndarray:
    """Boolean per row: every value is NaN (checked without a full-size temporary)."""
    out = np.zeros(values.shape[0], dtype=bool)
    for i in range(values.shape[0]):
        row = values[i]
        out[i] = row.size > 0 and np.isnan(row[0]) and bool(np.isnan(row).all())
    return out


CENSOR_MODES = ("drop", "zero", "interpolate")


def check_censor(censor: Any) -> str:
    """Validate ``clean``'s ``censor`` keyword (nimask extension): one of :data:`CENSOR_MODES`."""
    if not (isinstance(censor, str) and censor in CENSOR_MODES):
        from ..exceptions import ParameterError

        raise ParameterError(
            f"censor must be one of {list(CENSOR_MODES)} (what becomes of the volumes that sample_mask "
            f"censors: removed, set to 0, or interpolated); got {censor!r}.",
            param="censor", expected=CENSOR_MODES, found=censor,
        )
    return censor


def fill_censored(values: np.ndarray, kept: np.ndarray, extrapolate: bool = False) -> np.ndarray:
    """Overwrite every censored row of ``values`` (in place) by interpolation between the kept rows.

    Each column is the not-a-knot cubic spline through its kept rows (time in volumes: the
    spline does not depend on the unit of time), evaluated at every censored row between the
    first and the last kept row. The censored rows before the first / after the last kept row
    take the value of that kept row (as xcp_d does), or the spline's extrapolation when
    ``extrapolate``. Two kept rows give a straight line, one a constant. Unlike
    :func:`interpolate_mirrored` (nilearn's), every censored row is filled and no row is
    dropped. Blocks of columns keep the spline coefficients small. Returns ``values``.
    """
    from scipy.interpolate import CubicSpline

    n = values.shape[0]
    censored = np.ones(n, dtype=bool)
    censored[kept] = False
    if not censored.any():
        return values
    if kept.size == 1:
        values[censored] = values[kept[0]]
        return values
    rows = np.flatnonzero(censored)
    inside = rows[(rows > kept[0]) & (rows < kept[-1])] if not extrapolate else rows
    for cols in column_blocks(n, values.shape[1], shrink=4):
        if inside.size:
            spline = CubicSpline(kept, values[kept, cols])
            values[inside, cols] = spline(inside)
    if not extrapolate:
        values[: kept[0]] = values[kept[0]]
        values[kept[-1] + 1:] = values[kept[-1]]
    return values
