"""Coverage tables of prepared operators: what each output column keeps of its region.

One row per output column. Labels: voxels of the region in the atlas (on the atlas's own
grid), voxels kept on the extraction grid, the kept fraction of its volume and, for a NaN
column, why. Maps: the summed absolute weight of each map and the part inside the mask.
Spheres: the voxels of each sphere.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["labels_coverage", "label_counts", "maps_coverage", "spheres_coverage"]


def label_counts(labels: np.ndarray, ids: np.ndarray, background_label: Any) -> np.ndarray:
    """Number of voxels of each label value ``ids`` in ``labels`` (0 when absent)."""
    flat = np.asarray(labels).ravel()
    uniq, counts = np.unique(flat[flat != background_label], return_counts=True)
    out = np.zeros(np.asarray(ids).size, dtype=np.int64)
    if uniq.size:
        pos = np.clip(np.searchsorted(uniq, ids), 0, uniq.size - 1)
        out = np.where(uniq[pos] == ids, counts[pos], 0).astype(np.int64)
    return out


def labels_coverage(op: Any, native: np.ndarray, native_affine: np.ndarray, background_label: Any,
                    names: list[str], min_coverage: float | None = None) -> Any:
    """The coverage table of a :class:`~nimask.regions._labels.LabelsOperator` (a DataFrame).

    ``fraction`` is the kept volume over the region's volume in the atlas (``native`` on
    ``native_affine``). Regions below ``min_coverage`` are flagged (``low`` column) and their
    reason given.
    """
    import pandas as pd

    ids = op.region_ids
    in_atlas = label_counts(native, ids, background_label)
    vox_native = abs(np.linalg.det(np.asarray(native_affine)[:3, :3]))
    vox_grid = abs(np.linalg.det(np.asarray(op.affine)[:3, :3]))
    kept = op.counts.astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(in_atlas > 0, kept * vox_grid / np.maximum(in_atlas * vox_native, 1e-300), 0.0)
    reason = np.array([""] * ids.size, dtype=object)
    reason[in_atlas == 0] = "not in labels_img"
    reason[(in_atlas > 0) & (kept == 0)] = "no voxel left after resampling/masking"
    low = np.zeros(ids.size, dtype=bool)
    if min_coverage is not None:
        low = (kept > 0) & (fraction < min_coverage)
        for j in np.flatnonzero(low):
            reason[j] = f"coverage {fraction[j]:.3g} < min_coverage {min_coverage}"
    return pd.DataFrame({"index": ids, "name": names, "voxels_in_atlas": in_atlas, "voxels_kept": kept,
                         "fraction": fraction, "reason": reason, "low": low})


def _abs_sum(values: np.ndarray) -> float:
    """Sum of absolute values in float64 (float values: no float64 copy, the absolute values are exact)."""
    if values.dtype.kind != "f":
        values = values.astype(np.float64)
    return float(np.abs(values).sum(dtype=np.float64))


def maps_coverage(maps: np.ndarray, mask: np.ndarray | None, names: list[str],
                  min_coverage: float | None = None, total: np.ndarray | None = None,
                  kept: np.ndarray | None = None) -> Any:
    """Per map: summed absolute weight, the part inside ``mask``, their ratio and the reason of a
    NaN column (a DataFrame; the ``low`` column flags the maps given as NaN).

    The reasons: an all-zero map, a map without weight inside the mask (both NaN columns only
    with ``min_coverage``: otherwise a zero column / a dropped map, as nilearn), and with
    ``min_coverage`` a fraction below it. ``total`` and ``kept``, when given, are the summed
    absolute weight of each map and its part inside ``mask`` (e.g. from the operator's weights,
    which hold every nonzero value without a mask).
    """
    import pandas as pd

    if maps.ndim == 3:
        maps = maps[..., np.newaxis]
    if total is None:
        total = np.array([_abs_sum(maps[..., j]) for j in range(maps.shape[3])])
    if mask is None:
        kept = total
    elif kept is None:
        kept = np.array([_abs_sum(maps[..., j][mask]) for j in range(maps.shape[3])])
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(total > 0, kept / np.where(total > 0, total, 1), 0.0)
    reason = np.array([""] * total.size, dtype=object)
    reason[(total > 0) & (kept == 0)] = "no weight inside the mask"
    reason[total == 0] = "map is all zero"
    low = np.zeros(total.size, dtype=bool)
    if min_coverage is not None:
        low = (kept == 0) | (fraction < min_coverage)
        for j in np.flatnonzero((kept > 0) & (fraction < min_coverage)):
            reason[j] = f"coverage {fraction[j]:.3g} < min_coverage {min_coverage}"
    return pd.DataFrame({"index": np.arange(maps.shape[3]), "name": names, "weight_in_map": total,
                         "weight_kept": kept, "fraction": fraction, "reason": reason, "low": low})


def spheres_coverage(op: Any, names: list[str]) -> Any:
    """Per sphere: its voxels on the grid (0 for an empty sphere) and why it is empty (a DataFrame)."""
    import pandas as pd

    n = len(names)
    sizes = np.where(np.isin(np.arange(n), op.empty), 0, op.sizes).astype(np.int64)
    return pd.DataFrame({"index": np.arange(n), "name": names, "voxels_kept": sizes,
                         "reason": ["no voxel in the mask" if s == 0 else "" for s in sizes]})
