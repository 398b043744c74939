"""Probabilistic maps kept as their nonzero values: resampled chunk by chunk, factored without the 4D array.

A probabilistic atlas is mostly zeros (Harvard-Oxford 1 mm on the MNI 2 mm grid: 2% of the
113 x 902,629 values). When the maps masker resamples its maps at fit, each resampled chunk
of maps goes to a :class:`SparseCollector` (``resample_prepared(..., sink=)``), which keeps
the nonzero voxels of each map and their values. :func:`prepare_maps_sparse` then builds the
same :class:`~nimask.regions._maps.MapsOperator` as :func:`~nimask.regions._maps.prepare_maps`
on the dense maps (same rows, kept maps, weights, warnings and errors), and
:meth:`SparseMaps.dense` gives the dense resampled maps (``maps_img_``) by scattering the
values into a zero array, whose untouched pages cost no memory.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._maps import MapsOperator, _gram_factor, kept_maps

__all__ = ["SparseMaps", "SparseCollector", "prepare_maps_sparse"]


@dataclass
class SparseMaps:
    """Maps on a 3D grid as, per map, the F-order flat indices of its nonzero voxels and their values."""

    shape: tuple
    index: list
    values: list
    dtype: np.dtype

    @property
    def n_maps(self) -> int:
        return len(self.index)

    def is_empty(self) -> bool:
        return not any(v.size for v in self.values)

    def dense(self) -> np.ndarray:
        """The maps as an F-ordered ``(x, y, z, k)`` array."""
        out = np.zeros(self.shape + (self.n_maps,), dtype=self.dtype, order="F")
        flat = out.reshape(-1, self.n_maps, order="F")
        for j, (idx, vals) in enumerate(zip(self.index, self.values, strict=True)):
            flat[idx, j] = vals
        return out

    def abs_totals(self, mask: np.ndarray | None = None) -> np.ndarray:
        """Per map, the sum of absolute values (within ``mask``, a 3D bool array, when given), float64."""
        inside = None if mask is None else np.asarray(mask, dtype=bool).ravel(order="F")
        return np.array([float(np.abs(v if inside is None else v[inside[i]]).sum(dtype=np.float64))
                         for i, v in zip(self.index, self.values, strict=True)])


class SparseCollector:
    """``sink`` of ``resample_prepared``: keeps each resampled map's nonzero values."""

    def __init__(self, shape: tuple) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.index: list = []
        self.values: list = []
        self.dtype: np.dtype | None = None

    def __call__(self, t0: int, chunk: np.ndarray) -> None:
        self.dtype = chunk.dtype
        flat = chunk.reshape(-1, chunk.shape[3], order="F")
        for j in range(flat.shape[1]):
            column = flat[:, j]
            idx = np.flatnonzero(column != 0)  # 4x faster than on the floats themselves
            self.index.append(idx)
            self.values.append(column[idx])  # a copy: the chunk's buffer is reused

    def finish(self, clip: Any) -> SparseMaps:
        """The collected maps, clipped to ``clip`` = ``(lo, hi)`` when given (0 lies within it, so
        only nonzero values can change; those clipped to 0 leave their map's support)."""
        if clip is not None:
            lo, hi = clip
            for j, vals in enumerate(self.values):
                np.clip(vals, vals.dtype.type(lo), vals.dtype.type(hi), out=vals)
                nonzero = vals != 0
                if not nonzero.all():
                    self.index[j], self.values[j] = self.index[j][nonzero], vals[nonzero]
        dtype = np.dtype(np.float32) if self.dtype is None else self.dtype
        return SparseMaps(self.shape, self.index, self.values, dtype)


def prepare_maps_sparse(
    maps: SparseMaps,
    mask: np.ndarray | None = None,
    *,
    keep_masked_maps: bool = False,
    affine: np.ndarray | None = None,
    zero_small_weights: bool = False,
) -> MapsOperator:
    """:func:`~nimask.regions._maps.prepare_maps` of ``maps.dense()``, without the dense maps."""
    shape, k = maps.shape, maps.n_maps
    # C-order flat indices (the operator's rows are in C order, as ``np.nonzero`` gives them)
    c_index = [np.ravel_multi_index(np.unravel_index(idx, shape, order="F"), shape) for idx in maps.index]
    inside = None if mask is None else np.asarray(mask, dtype=bool).ravel()
    present = None if inside is None else np.array([bool(inside[c].any()) for c in c_index], dtype=bool)
    kept = kept_maps(present, k, keep_masked_maps, mask)
    rows_of = [c if inside is None else c[inside[c]] for c in c_index]
    values_of = [v if inside is None else v[inside[c]] for c, v in zip(c_index, maps.values, strict=True)]
    support = np.unique(np.concatenate([rows_of[j] for j in kept])) if kept.size else np.zeros(0, np.intp)
    positions = [np.searchsorted(support, rows_of[j]) for j in kept]
    values = [values_of[j] for j in kept]
    if zero_small_weights:  # nilearn's allow_overlap=False: weights below float epsilon become 0
        eps = np.finfo(maps.dtype).eps
        values = [np.where(v < eps, v.dtype.type(0), v) for v in values]
    weights = np.zeros((support.size, kept.size), dtype=maps.dtype, order="F")
    for col, (pos, vals) in enumerate(zip(positions, values, strict=True)):
        weights[pos, col] = vals
    return MapsOperator(shape=tuple(shape), rows=np.unravel_index(support, shape), kept=kept, weights=weights,
                        gram=_gram_factor(weights, _sparse_gram(positions, values, support.size)),
                        affine=None if affine is None else np.asarray(affine))


def _sparse_gram(positions: list, values: list, n_rows: int) -> np.ndarray:
    """``weights^T weights`` in float64 from each column's nonzero rows and values (a sparse product)."""
    from scipy import sparse

    if not positions:
        return np.zeros((0, 0))
    indptr = np.concatenate([[0], np.cumsum([p.size for p in positions])])
    w = sparse.csc_matrix((np.concatenate(values).astype(np.float64), np.concatenate(positions), indptr),
                          shape=(n_rows, len(positions)))
    return np.asarray((w.T @ w).toarray(), dtype=np.float64)
