"""Sphere membership around world-space seeds, and sphere-mean signals (nilearn's rules).

Membership of a voxel in the sphere of seed ``s`` (radius ``r`` mm), on a grid with affine
``A`` and an optional boolean mask (the candidates):

1. its world coordinates ``A (i, j, k, 1)`` are within ``r`` mm of ``s`` (inclusive; squared
   distances compared with ``r**2``, as a k-d tree does); with ``radius=None`` no voxel
   qualifies through this rule;
2. it is the nearest voxel ``round(A^-1 s)`` (round half to even);
3. nilearn quirk: it is the first candidate, in C order, whose world coordinates truncated
   toward zero equal the seed coordinates truncated toward zero.

Only the voxels of a small box around each seed are examined, so building the membership
costs O(seeds x sphere volume) rather than a search over the whole grid. The result is a
sparse ``(seeds, voxels)`` averaging matrix restricted to the voxels actually used; each
chunk of volumes is then one sparse product.
"""
from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from .._warnings import find_stack_level
from ..exceptions import AtlasError, NimaskDataWarning, ParameterError

__all__ = ["SpheresOperator", "check_seeds", "check_radius", "sphere_members", "prepare_spheres"]


_SEEDS_ERROR = "Seeds must be a list of triplets of coordinates in native space.\n"  # nilearn's wording


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, (bool, np.bool_))


def check_seeds(seeds: Any) -> list[list[float]]:
    """Validate seeds: an iterable of finite 3-element coordinates (world mm).

    Returns the seeds as a list of lists of Python numbers (nilearn's ``seeds_``).

    Raises
    ------
    AtlasError
        Also a ``ValueError``, as nilearn's; the message starts with nilearn's wording and then
        says what was given: one triplet instead of a list of them, a flat list of numbers, a
        seed of the wrong length (with its value), a string.
    """
    if isinstance(seeds, np.ndarray):
        seeds = seeds.tolist()
    if seeds is None or isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        hint = (" (a string is not a list of coordinates)" if isinstance(seeds, (str, bytes)) else "")
        raise AtlasError(
            f"{_SEEDS_ERROR}Given seed list is of type: {type(seeds)}{hint}. seeds must be a list of (x, y, z) "
            f"triplets in mm, e.g. seeds=[(0, -52, 18)].",
            param="seeds",
            found=type(seeds).__name__,
        )
    if isinstance(seeds, (list, tuple)) and seeds and all(_is_number(c) for c in seeds):
        given = tuple(seeds)
        what = (f"one triplet was given, {given}: wrap it in a list, seeds=[{given}]" if len(given) == 3 else
                f"a flat sequence of {len(given)} numbers was given, {given}: group them as (x, y, z) "
                f"triplets, e.g. seeds=[{given[:3]}, ...]")
        raise AtlasError(
            f"{_SEEDS_ERROR}Seed #0 is not a valid triplet of coordinates. It is of type "
            f"{type(seeds[0]).__name__}. seeds must be a list of (x, y, z) triplets in mm; {what}.",
            param="seeds",
            index=0,
            expected="list of (x, y, z) triplets",
            found=given,
        )
    out = []
    for i, seed in enumerate(seeds):
        if isinstance(seed, np.ndarray):
            seed = seed.tolist()
        if not hasattr(seed, "__len__") or isinstance(seed, (str, bytes)):
            raise AtlasError(
                f"{_SEEDS_ERROR}Seed #{i} is not a valid triplet of coordinates. It is of type "
                f"{type(seed).__name__}: {seed!r}. Each seed must be an (x, y, z) triplet in mm.",
                param="seeds",
                index=i,
                expected=3,
                found=seed,
            )
        if len(seed) != 3:
            raise AtlasError(
                f"{_SEEDS_ERROR}Seed #{i} is of length {len(seed)} instead of 3: {seed!r}. Each seed must be an "
                f"(x, y, z) triplet in mm.",
                param="seeds",
                index=i,
                expected=3,
                found=len(seed),
            )
        try:
            values = [float(c) for c in seed]
        except (TypeError, ValueError):
            raise AtlasError(
                f"seeds: seed #{i} must hold 3 numbers (world coordinates in mm), found {seed!r}.",
                param="seeds",
                index=i,
            ) from None
        if not np.all(np.isfinite(values)):
            raise AtlasError(
                f"seeds: seed #{i} has non-finite coordinates {tuple(seed)}; expected 3 finite world "
                "coordinates in mm.",
                param="seeds",
                index=i,
                found=tuple(seed),
            )
        out.append(list(seed))
    return out


def check_radius(radius: Any, n_seeds: int) -> list[float | None]:
    """One radius per seed: None, a number >= 0, or a list of those (one per seed)."""
    if radius is None or np.isscalar(radius):
        radii = [radius] * n_seeds
    elif hasattr(radius, "__len__") and len(radius) == n_seeds:
        radii = list(radius)
    else:
        n = len(radius) if hasattr(radius, "__len__") else type(radius).__name__
        raise ParameterError(
            f"radius must be None, a number >= 0 or a list with one radius per seed ({n_seeds}), found {n}.",
            param="radius",
        )
    out = []
    for i, r in enumerate(radii):
        if r is None:
            out.append(None)
            continue
        if isinstance(r, (bool, np.bool_)) or not isinstance(r, (int, float, np.integer, np.floating)):
            raise ParameterError(
                f"radius must be None or a number of mm >= 0, found {r!r} ({type(r).__name__}).",
                param="radius",
            )
        if not np.isfinite(r) or r < 0:
            where = "" if np.isscalar(radius) else f" for seed #{i}"
            raise ParameterError(
                f"radius must be a finite number of mm >= 0, found {r}{where}.", param="radius", found=r
            )
        out.append(float(r))
    return out


def _world(affine: np.ndarray, ijk: np.ndarray) -> np.ndarray:
    """World coordinates ``(n, 3)`` of voxel indices ``(n, 3)``."""
    hom = np.empty((len(ijk), 4))
    hom[:, :3] = ijk
    hom[:, 3] = 1.0
    return np.dot(affine, hom.T)[:3].T


@lru_cache(maxsize=64)
def _box_offsets(size: tuple) -> np.ndarray:
    """The voxel offsets ``(n, 3)`` of a box of ``size``, in C order (``np.mgrid``'s), read-only."""
    ii, jj, kk = np.mgrid[0 : size[0], 0 : size[1], 0 : size[2]]
    out = np.column_stack([ii.ravel(), jj.ravel(), kk.ravel()])
    out.flags.writeable = False
    return out


def sphere_members(
    seeds: list,
    affine: np.ndarray,
    shape: tuple,
    mask: np.ndarray | None = None,
    radius: Any = None,
) -> list[np.ndarray]:
    """Flat C-order grid indices of the voxels of each sphere (sorted, unique).

    Parameters
    ----------
    seeds : list of 3 coordinates (world mm)
    affine : (4, 4) array, the grid's affine
    shape : 3-tuple, the grid shape
    mask : bool array of ``shape`` or None
        Candidate voxels (all voxels when None).
    radius : None, number, or one per seed
    """
    affine = np.asarray(affine, dtype=np.float64)
    shape = tuple(int(n) for n in shape[:3])
    radii = check_radius(radius, len(seeds))
    inv = np.linalg.inv(affine)
    # voxel-space half widths of a world box of half width 1 mm
    per_mm = np.linalg.norm(inv[:3, :3], axis=1)
    members = []
    for seed, r in zip(seeds, radii):
        s = np.asarray(seed, dtype=np.float64)
        centre = inv[:3, :3] @ s + inv[:3, 3]
        half = per_mm * ((r or 0.0) + 2.0)
        lo = np.maximum(np.floor(centre - half), 0).astype(int)
        hi = np.minimum(np.ceil(centre + half), np.array(shape) - 1).astype(int)
        found = []
        if np.all(hi >= lo):
            ijk = lo + _box_offsets(tuple(int(v) for v in hi - lo + 1))  # the box's voxels in C order
            if mask is not None:
                ijk = ijk[mask[ijk[:, 0], ijk[:, 1], ijk[:, 2]]]
            if len(ijk):
                world = _world(affine, ijk)
                flat = np.ravel_multi_index(ijk.T, shape)
                if r is not None:
                    diff = world - s
                    d2 = diff[:, 0] ** 2 + diff[:, 1] ** 2 + diff[:, 2] ** 2
                    found.append(flat[d2 <= r * r])
                trunc = np.all(np.trunc(world) == np.trunc(s), axis=1)
                if trunc.any():
                    found.append(flat[np.argmax(trunc)][None])
        nearest = np.round(inv[:3, :3] @ s + inv[:3, 3]).astype(np.int64)
        if np.all(nearest >= 0) and np.all(nearest < shape):
            if mask is None or mask[tuple(nearest)]:
                found.append(np.array([np.ravel_multi_index(tuple(nearest), shape)]))
        members.append(_sorted_union(found))
    return members


def _sorted_union(parts: list) -> np.ndarray:
    """Sorted unique union of a sorted unique array and single extra indices (cheaper than np.unique)."""
    if not parts:
        return np.zeros(0, np.int64)
    base = np.asarray(parts[0], dtype=np.int64)
    for extra in parts[1:]:
        for value in np.asarray(extra, dtype=np.int64):
            pos = int(np.searchsorted(base, value))
            if pos == base.size or base[pos] != value:
                base = np.insert(base, pos, value)
    return base


def overlap_pairs(members: list[np.ndarray], limit: int = 5) -> list[tuple[int, int]]:
    """Up to ``limit`` pairs of spheres that share a voxel."""
    if len(members) < 2:
        return []
    sizes = [len(m) for m in members]
    owner = np.repeat(np.arange(len(members)), sizes)
    voxels = np.concatenate(members) if members else np.zeros(0, np.int64)
    order = np.argsort(voxels, kind="stable")
    v, o = voxels[order], owner[order]
    dup = np.flatnonzero(v[1:] == v[:-1])
    pairs = []
    for d in dup:
        pair = (int(o[d]), int(o[d + 1]))
        if pair not in pairs:
            pairs.append(pair)
        if len(pairs) >= limit:
            break
    return pairs


@dataclass
class SpheresOperator:
    """Sparse sphere-averaging operator on one grid.

    Attributes
    ----------
    shape : tuple, grid shape
    voxels : tuple of 3 int arrays, the voxels used by at least one sphere
    matrix : scipy.sparse CSR ``(n_seeds, n_voxels)`` of ones (membership)
    sizes : float array, the number of voxels of each sphere (1 for empty spheres)
    empty : int array, indices of the spheres without any voxel (NaN columns)
    """

    shape: tuple
    voxels: tuple
    matrix: Any
    sizes: np.ndarray
    empty: np.ndarray
    affine: np.ndarray | None = None
    names: list = field(default_factory=list)
    coverage: Any = None

    batch_volumes = 1
    pointwise = False
    nonfinite_where = "inside the spheres"

    @property
    def index(self) -> np.ndarray:
        """C-order flat indices of the voxels read (the protocol of :mod:`nimask.pipeline`)."""
        return np.ravel_multi_index(self.voxels, self.shape).astype(np.intp)

    def reduce(self, values: np.ndarray) -> np.ndarray:
        """Sphere means ``(n, n_seeds)`` of gathered values ``(n, n_voxels)`` (non-finite: 0 already), float64.

        Float64 means whatever the data dtype (catalogue D12), never truncated: nilearn
        stores the means in the image dtype, which truncates them toward zero for integer
        data (spec §12 item 3, a silently wrong result that nimask fixes on purpose).
        nilearn's dtype is :meth:`output_dtype`, the masker's final cast. Empty spheres give
        NaN columns.
        """
        # sums of integers are exact in float64, then one division: the same means as numpy's
        means = np.asarray(self.matrix @ values.T.astype(np.float64, copy=False)).T / self.sizes
        if self.empty.size:
            means[:, self.empty] = np.nan
        return means

    @staticmethod
    def output_dtype(values_dtype: Any) -> np.dtype:
        """nilearn's dtype of sphere means of data of ``values_dtype``: that dtype (spec §1.6;
        nilearn then gives integer means to ``clean``, which makes them float32, float64
        for 8-byte integers)."""
        return np.dtype(values_dtype)


def prepare_spheres(
    seeds: list,
    affine: np.ndarray,
    shape: tuple,
    mask: np.ndarray | None = None,
    radius: Any = None,
    *,
    allow_overlap: bool = False,
    empty_spheres: str = "error",
) -> SpheresOperator:
    """Build the sphere-averaging operator (membership checked: overlap, empty spheres).

    Parameters
    ----------
    seeds, affine, shape, mask, radius
        As :func:`sphere_members`.
    allow_overlap : bool
        If False, a voxel in two spheres raises :class:`~nimask.exceptions.AtlasError`
        naming the pair.
    empty_spheres : {"error", "nan"}
        A sphere without any voxel raises (nilearn), or gives a NaN column with a warning.
    """
    from scipy import sparse

    if empty_spheres not in ("error", "nan"):
        raise ParameterError(
            f"empty_spheres must be 'error' or 'nan', found {empty_spheres!r}.", param="empty_spheres"
        )
    members = sphere_members(seeds, affine, shape, mask, radius)
    empty = np.array([i for i, m in enumerate(members) if m.size == 0], dtype=np.int64)
    if empty.size:
        radii = check_radius(radius, len(seeds))
        detail = "; ".join(f"#{i} at {tuple(seeds[i])} mm (radius {radii[i]})" for i in empty[:10])
        where = "inside the grid" if mask is None else "inside the mask"
        msg = (
            f"These spheres are empty: {empty.tolist()} (no voxel {where}; grid shape {tuple(shape[:3])}, "
            f"world bounding box {_bounds(affine, shape)}): {detail}."
        )
        if empty_spheres == "error":
            raise AtlasError(msg, param="seeds", index=int(empty[0]))
        warnings.warn(msg + " Their signals are NaN.", NimaskDataWarning, stacklevel=find_stack_level())
    if not allow_overlap:
        pairs = overlap_pairs(members)
        if pairs:
            i, j = pairs[0]
            raise AtlasError(
                f"Overlap detected between spheres: spheres #{i} (seed {tuple(seeds[i])}) and #{j} "
                f"(seed {tuple(seeds[j])}) share voxels (overlapping pairs: {pairs}). Use smaller radii "
                "or allow_overlap=True.",
                param="allow_overlap",
            )
    flat = np.concatenate(members) if members else np.zeros(0, np.int64)
    used = np.unique(flat)
    # each sphere's voxels are sorted and unique: its row of the CSR matrix directly (no COO sort)
    indptr = np.concatenate([[0], np.cumsum([m.size for m in members])]).astype(np.int64)
    matrix = sparse.csr_matrix((np.ones(flat.size), np.searchsorted(used, flat), indptr),
                               shape=(len(members), used.size))
    sizes = np.array([max(m.size, 1) for m in members], dtype=np.float64)
    voxels = np.unravel_index(used, tuple(shape[:3]))
    return SpheresOperator(shape=tuple(shape[:3]), voxels=voxels, matrix=matrix, sizes=sizes, empty=empty,
                           affine=np.asarray(affine, dtype=np.float64))


def _bounds(affine, shape) -> str:
    corners = np.array([[i, j, k] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)])
    world = _world(np.asarray(affine, dtype=np.float64), corners)
    lo, hi = world.min(axis=0), world.max(axis=0)
    return f"x [{lo[0]:.1f}, {hi[0]:.1f}], y [{lo[1]:.1f}, {hi[1]:.1f}], z [{lo[2]:.1f}, {hi[2]:.1f}]"


def spheres_to_array(region_signals: Any, op: SpheresOperator) -> np.ndarray:
    """Inverse of the sphere means on the operator's grid: each voxel gets the mean signal of
    the spheres that contain it (0 elsewhere). Returns an ``(x, y, z[, T])`` float64 array."""
    signals = np.asarray(region_signals)
    squeeze = signals.ndim == 1
    signals = np.atleast_2d(signals)
    if signals.shape[1] != op.matrix.shape[0]:
        raise AtlasError(
            f"region_signals must have one column per seed: expected {op.matrix.shape[0]}, found "
            f"{signals.shape[1]}.",
            param="region_signals",
        )
    count = np.asarray(op.matrix.sum(axis=0)).ravel()  # spheres holding each used voxel (>= 1)
    values = np.asarray(op.matrix.T @ signals.T.astype(np.float64)) / count[:, None]  # (n_used, T)
    out = np.zeros(tuple(op.shape) + (signals.shape[0],))
    out[op.voxels] = values
    return out[..., 0] if squeeze else out
