"""Signals of (possibly overlapping, weighted) maps by least squares, and back.

nilearn solves ``scipy.linalg.lstsq(M[rows], D[rows])`` for every image, with ``M`` the
``(voxels, maps)`` matrix and ``D`` the ``(voxels, scans)`` data. The solution only depends
on ``M`` through its Gram matrix ``G = M^T M``, so :func:`prepare_maps` factors ``G`` once
(Cholesky, float64) and each batch of volumes then costs one product ``D^T M`` (float64
sums over blocks of rows, threads sharing the blocks) and a k x k solve. The maps stay in
their own dtype (float32 for most atlases): no float64 copy of the maps, no pseudo-inverse
of the size of the maps. Rows where every map is zero do not change a least-squares
solution, so only the union of the maps' support is read (nilearn uses every voxel when
there is no mask; the numbers are the same).

The normal equations lose ``cond(M)^2 * 1e-16`` of relative accuracy; when ``cond(M)``
exceeds ``_MAX_COND`` (1e4, i.e. worse than 1e-8) or the maps are rank deficient, the
operator falls back to ``scipy.linalg.lstsq`` per batch (nilearn's driver, in float64).

The signals are float64 whatever the dtypes (catalogue D12; nilearn solves in float32 for
float32 maps); :meth:`MapsOperator.output_dtype` is nilearn's dtype, the masker's final cast.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._threads import n_threads, single_threaded_blas
from .._warnings import find_stack_level
from ..exceptions import AtlasError, GeometryError, NimaskDataWarning

__all__ = ["MapsOperator", "prepare_maps", "maps_output_dtype", "img_to_signals_maps", "signals_to_img_maps"]

# Above this condition number of the maps the normal equations are not trusted.
_MAX_COND = 1e4
_ROW_BLOCK = 8192  # rows per float64 block of the products (a few MB per block)
_BATCH_VOLUMES = 48  # volumes gathered before one product: the maps are read once per batch


@dataclass
class MapsOperator:
    """Least-squares extraction operator for a fixed set of maps on a fixed grid.

    Attributes
    ----------
    shape : tuple
        The 3D grid shape.
    rows : tuple of 3 int arrays
        Voxel indices (C order) of the regression rows.
    kept : ndarray of int
        Indices of the maps that are extracted (columns of the output).
    weights : ndarray, (n_rows, n_kept)
        The kept maps on the rows, in the maps' dtype.
    gram : tuple or None
        ``scipy.linalg.cho_factor`` of ``weights^T weights`` (float64), or None when
        ``lstsq`` is used.
    affine : (4, 4) ndarray or None
        Affine of the grid.
    names, coverage
        Output column names and per-map coverage table (set by the caller).
    n_out : int or None
        When set, the output has one column per map (``n_out`` of them): the kept maps'
        signals in their columns, NaN in the others (nimask's ``min_coverage``).
    nan_columns : bool ndarray or None
        Output columns given as NaN (with ``n_out``: maps below a minimum coverage).
    """

    shape: tuple
    rows: tuple
    kept: np.ndarray
    weights: np.ndarray
    gram: tuple | None
    affine: np.ndarray | None = None
    names: list = field(default_factory=list)
    coverage: Any = None
    n_out: int | None = None
    nan_columns: np.ndarray | None = None

    batch_volumes = _BATCH_VOLUMES  # the maps are read once per batch of volumes, not per chunk
    pointwise = False
    nonfinite_where = "under the maps"

    @property
    def n_rows(self) -> int:
        return int(self.rows[0].size)

    @property
    def index(self) -> np.ndarray:
        """C-order flat indices of the regression rows (the protocol of :mod:`nimask.pipeline`)."""
        return np.ravel_multi_index(self.rows, self.shape).astype(np.intp)

    def reduce(self, values: np.ndarray) -> np.ndarray:
        """Signals ``(n, n_kept)`` of gathered values ``(n, n_rows)`` (see :meth:`solve`).

        With ``n_out`` set: ``(n, n_out)``, NaN in the columns of the maps not kept and in
        ``nan_columns``."""
        signals = self.solve(values.T)
        if self.n_out is None:
            return signals
        out = np.full((signals.shape[0], self.n_out), np.nan, dtype=signals.dtype)
        out[:, self.kept] = signals
        if self.nan_columns is not None:
            out[:, self.nan_columns] = np.nan
        return out

    def solve(self, data: np.ndarray) -> np.ndarray:
        """Signals ``(n, n_kept)`` of gathered rows ``(n_rows, n)``, in float64.

        Always float64 (catalogue D12: nilearn solves in the common type of the maps and the
        data, float32 for float32 maps, which loses a small variance under a large mean);
        nilearn's dtype is :meth:`output_dtype`, to which the masker casts its output at the
        end. The data must be finite: :func:`nimask.pipeline.stream` applies the non-finite
        policy before calling :meth:`reduce`.
        """
        if self.kept.size == 0:
            return np.zeros((data.shape[1], 0), np.float64)
        if self.gram is None:
            from scipy.linalg import lstsq

            coef = lstsq(self.weights.astype(np.float64), data.astype(np.float64, copy=False))[0]
            return np.ascontiguousarray(coef.T)
        from scipy.linalg import cho_solve

        products = blocked_products(data, self.weights)  # (n, k) = data^T weights, float64
        return cho_solve(self.gram, products.T).T

    def output_dtype(self, values_dtype: Any) -> np.dtype:
        """nilearn's dtype of the signals of data of ``values_dtype`` (:func:`maps_output_dtype`)."""
        return maps_output_dtype(self.weights.dtype, values_dtype)


def maps_output_dtype(weights_dtype: Any, values_dtype: Any) -> np.dtype:
    """nilearn's dtype of maps signals: the common type of the maps and the data (``lstsq``'s
    rule; float32 maps with int16/uint8/float32 data give float32, int32 or float64 data give
    float64), float64 if that is not a float type (spec §1.6)."""
    dtype = np.result_type(weights_dtype, values_dtype)
    return dtype if dtype.kind == "f" else np.dtype(np.float64)


def blocked_products(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a.T @ b`` in float64 for tall ``a`` ``(n, p)`` and ``b`` ``(n, q)``, by blocks of rows.

    Each block is converted to float64 on its own (no float64 copy of the inputs); blocks
    are shared by a few threads with single-threaded BLAS, and the partial sums are added
    in a fixed order (the same bits on every run).
    """
    n = a.shape[0]
    starts = list(range(0, n, _ROW_BLOCK))
    threads = n_threads(len(starts))
    groups = np.array_split(np.asarray(starts, dtype=np.int64), threads)

    def partial(group) -> np.ndarray:
        acc = np.zeros((a.shape[1], b.shape[1]), dtype=np.float64)
        for r0 in group:
            r1 = min(int(r0) + _ROW_BLOCK, n)
            acc += np.asarray(a[r0:r1], dtype=np.float64).T @ np.asarray(b[r0:r1], dtype=np.float64)
        return acc

    with single_threaded_blas(threads > 1):
        if threads == 1:
            return partial(starts)
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(partial, groups))
    total = parts[0]
    for part in parts[1:]:
        total += part
    return total


def prepare_maps(
    maps_data: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    keep_masked_maps: bool = False,
    for_inverse: bool = False,
    affine: np.ndarray | None = None,
    zero_small_weights: bool = False,
) -> MapsOperator:
    """Factor the maps once for :meth:`MapsOperator.apply`.

    Parameters
    ----------
    maps_data : ndarray, (x, y, z, k)
        Float maps (non-finite values must already be 0).
    mask : bool ndarray (x, y, z) or None
        Voxels allowed in the regression.
    keep_masked_maps : bool
        Keep maps that are all zero inside the mask (they give zero columns).
    for_inverse : bool
        Build only the support and weights (no map dropped, no factorisation).
    affine : (4, 4) array or None
        Affine of the grid.
    zero_small_weights : bool
        nilearn's ``allow_overlap=False``: weights below float epsilon (negative ones
        included) become 0 (see also :func:`check_no_overlap`). Done on the operator's own
        copy of the weights: ``maps_data`` is not changed.
    """
    if maps_data.ndim == 3:
        maps_data = maps_data[..., np.newaxis]
    shape = tuple(maps_data.shape[:3])
    k = maps_data.shape[3]
    if mask is None:
        kept = np.arange(k)
        support = np.zeros(shape, dtype=bool)
        for j in range(k):  # one map at a time: no (x, y, z, k) boolean temporary
            support |= maps_data[..., j] != 0
    else:
        mask = np.asarray(mask, dtype=bool)
        # one map at a time: no (n_mask, k) copy of the maps (the operator's weights are the only one)
        present = np.array([np.any(maps_data[..., j][mask]) for j in range(k)], dtype=bool)
        kept = kept_maps(present, k, for_inverse or keep_masked_maps, mask)
        support = np.zeros(shape, dtype=bool)
        for j in kept:
            support |= maps_data[..., j] != 0
        support &= mask
    rows = np.nonzero(support)
    if maps_data.flags.f_contiguous:  # NIfTI layout: one flat gather along each map's voxels (~3x faster)
        flat = np.ravel_multi_index(rows, shape, order="F")
        weights = np.take(maps_data.reshape(-1, k, order="F").T, flat, axis=1).T
    else:
        weights = maps_data[rows]
    if kept.size != k:
        weights = weights[:, kept]
    if zero_small_weights:
        weights = _without_small_weights(weights, kept)
    gram = None if for_inverse else _gram_factor(weights)
    return MapsOperator(shape=shape, rows=rows, kept=kept, weights=weights, gram=gram,
                        affine=None if affine is None else np.asarray(affine))


def kept_maps(present: np.ndarray | None, k: int, keep_all: bool, mask: np.ndarray | None) -> np.ndarray:
    """Indices of the maps to extract: all of them without a mask or with ``keep_all``, else those
    ``present`` (nonzero somewhere in ``mask``), with nilearn's warning naming the others.

    Raises
    ------
    AtlasError
        When no map is present in the mask.
    """
    if present is None or keep_all:
        return np.arange(k)
    kept = np.flatnonzero(present)
    removed = np.flatnonzero(~present)
    if kept.size == 0:
        raise AtlasError(
            "No map left after applying mask to the maps image (mask_img and maps_img "
            f"have no nonzero voxel in common; {k} maps, mask of {int(np.sum(mask))} voxels).",
            param="mask_img",
        )
    if removed.size:
        warnings.warn(
            "After applying mask to the maps image, maps with the following indices were "
            f"removed: {set(removed.tolist())}. Out of {k} maps, the masked map image only "
            f"contains {kept.size} maps.",
            NimaskDataWarning,
            stacklevel=find_stack_level(),
        )
    return kept


def _without_small_weights(weights: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Weights below float epsilon set to 0 (a copy when any changes)."""
    small = weights < np.finfo(weights.dtype).eps
    if np.any(small & (weights != 0)):
        weights = np.where(small, weights.dtype.type(0), weights)
    return weights


def check_no_overlap(maps_data: np.ndarray) -> None:
    """nilearn's ``allow_overlap=False`` test: no voxel where two maps are >= float epsilon.

    Raises
    ------
    AtlasError
        Naming a pair of overlapping maps.
    """
    if maps_data.ndim == 3:
        return
    eps = np.finfo(maps_data.dtype).eps if maps_data.dtype.kind == "f" else 1
    count = np.zeros(maps_data.shape[:3], dtype=np.int32)
    for j in range(maps_data.shape[3]):  # one map at a time: no (x, y, z, k) temporary
        count += maps_data[..., j] >= eps
    if np.any(count > 1):
        voxel = tuple(np.argwhere(count > 1)[0])
        which = np.flatnonzero(maps_data[voxel] >= eps)
        raise AtlasError(
            f"Overlap detected in the maps: maps {int(which[0])} and {int(which[1])} are both positive in at "
            "least one voxel. Use allow_overlap=True or non-overlapping maps.",
            param="allow_overlap",
        )


def _gram_factor(weights: np.ndarray, gram: np.ndarray | None = None) -> tuple | None:
    """Cholesky factor of ``weights^T weights`` (``gram`` when given), or None when the maps are too
    ill-conditioned."""
    from scipy.linalg import cho_factor

    if weights.shape[1] == 0:
        return (np.zeros((0, 0)), False)
    if weights.shape[0] < weights.shape[1]:
        return None
    gram = blocked_products(weights, weights) if gram is None else gram
    eig = np.linalg.eigvalsh(gram)
    if eig[0] <= 0 or np.sqrt(eig[-1] / eig[0]) > _MAX_COND:
        return None
    return cho_factor(gram, lower=False, check_finite=False)


def _check_same_grid(img, maps_img, mask_img=None) -> None:
    """nilearn's region-extraction test: exact shapes, affines within 1000 float32 eps."""
    tol = 1000 * np.finfo(np.float32).eps
    for other, what in ((maps_img, "maps_img"), (mask_img, "mask_img")):
        if other is None:
            continue
        if tuple(img.shape[:3]) != tuple(other.shape[:3]):
            raise GeometryError(
                f"Images have incompatible shapes: imgs has shape {tuple(img.shape[:3])} but {what} "
                f"has shape {tuple(other.shape[:3])}.",
                param=what,
            )
        if np.max(np.abs(np.asarray(img.affine) - np.asarray(other.affine))) > tol:
            raise GeometryError(
                f"Images have different affine matrices: imgs has\n{img.affine}\nbut {what} has\n"
                f"{other.affine}.",
                param=what,
            )


def maps_array(maps_img) -> np.ndarray:
    """The maps as a 4D float array with NaN/inf set to 0 (nilearn's ``clean_img`` on the maps).

    Non-float maps become float32 (8-byte integers: float64). nilearn zeroes NaN/inf weights
    silently; here a :class:`~nimask.exceptions.NimaskDataWarning` gives their count and maps.
    """
    data = np.asanyarray(maps_img.dataobj)
    if data.ndim == 3:
        data = data[..., np.newaxis]
    tally = NonFiniteMaps()
    data = tally(data, copy=True)
    tally.warn(stacklevel=find_stack_level())
    return data


def float_maps(data: np.ndarray, copy: bool = False) -> np.ndarray:
    """``data`` as float maps: non-float to float32 (8-byte integers: float64), NaN/inf to 0.

    Works on any chunk of map volumes; float data without non-finite values are returned
    as they are unless ``copy``.
    """
    if data.dtype.kind != "f":
        return data.astype(np.float64 if data.dtype.itemsize == 8 else np.float32)
    bad = ~np.isfinite(data)
    if copy or bad.any():
        data = np.array(data, copy=True)
        data[bad] = 0
    return data


class NonFiniteMaps:
    """:func:`float_maps` over consecutive chunks of maps, counting the NaN/inf weights it zeroes."""

    def __init__(self) -> None:
        self.n_bad = 0
        self.maps: list[int] = []
        self._seen = 0

    def __call__(self, chunk: np.ndarray, copy: bool = False) -> np.ndarray:
        if chunk.ndim == 3:
            chunk = chunk[..., np.newaxis]
        if chunk.dtype.kind == "f":
            bad = ~np.isfinite(chunk)
            n_bad = int(bad.sum())
            if n_bad:
                self.n_bad += n_bad
                self.maps.extend((np.flatnonzero(bad.any(axis=(0, 1, 2))) + self._seen).tolist())
        self._seen += chunk.shape[3]
        return float_maps(chunk, copy=copy)

    def warn(self, stacklevel: int = 2) -> None:
        if self.n_bad:
            from ..exceptions import NimaskDataWarning

            warnings.warn(
                f"maps_img: Non-finite values detected. {self.n_bad} NaN/inf weights in maps {self.maps[:10]} "
                f"were set to 0.",
                NimaskDataWarning, stacklevel=find_stack_level(),
            )


def _mask_array(mask_img) -> np.ndarray | None:
    if mask_img is None:
        return None
    try:
        from ..masking import load_mask_img
    except ImportError:  # masking not there yet: plain binarisation
        data = np.asanyarray(mask_img.dataobj)
        return np.nan_to_num(data) != 0
    return np.asarray(load_mask_img(mask_img)[0], dtype=bool)


def img_to_signals_maps(imgs: Any, maps_img: Any, mask_img: Any = None, keep_masked_maps: bool = False):
    """Region signals of ``imgs`` for each map, by least squares (nilearn's semantics).

    Parameters
    ----------
    imgs : 3D/4D niimg-like
        Data, on the same grid as ``maps_img``.
    maps_img : 3D/4D niimg-like
        One map per volume.
    mask_img : niimg-like or None
        Restricts the regression to the mask; maps without any nonzero voxel inside it are
        dropped (with a warning) unless ``keep_masked_maps``.
    keep_masked_maps : bool

    Returns
    -------
    signals : ndarray, (T, n_kept)
    labels : list of int
        Indices of the maps kept (columns of ``signals``).
    """
    from .._niimg import check_niimg
    from ..pipeline import stream, values_dtype

    maps_img = check_niimg(maps_img, atleast_4d=True)
    imgs = check_niimg(imgs, atleast_4d=True)
    mask_img = None if mask_img is None else check_niimg(mask_img, ensure_ndim=3)
    _check_same_grid(imgs, maps_img, mask_img)
    op = prepare_maps(maps_array(maps_img), _mask_array(mask_img), keep_masked_maps=keep_masked_maps,
                      affine=imgs.affine)  # the grids were checked above
    signals = stream(imgs, [op], label="maps extraction")[0]
    return signals.astype(op.output_dtype(values_dtype(imgs, op)), copy=False), [np.int64(i) for i in op.kept]


def signals_to_img_maps(region_signals: Any, maps_img: Any, mask_img: Any = None):
    """Image ``signals @ maps.T`` on the maps grid (restricted to the mask's support).

    Parameters
    ----------
    region_signals : ndarray, (k,) or (T, k)
    maps_img : 4D niimg-like, k maps
    mask_img : niimg-like or None

    Returns
    -------
    nibabel image, 3D for 1-D signals, otherwise 4D with T volumes.
    """
    from .._niimg import check_niimg
    from ..image import new_img_like

    maps_img = check_niimg(maps_img, atleast_4d=True)
    mask_img = None if mask_img is None else check_niimg(mask_img, ensure_ndim=3)
    if mask_img is not None:
        _check_same_grid(maps_img, maps_img, mask_img)
    op = prepare_maps(maps_array(maps_img), _mask_array(mask_img), for_inverse=True)
    return new_img_like(maps_img, signals_to_array(region_signals, op), maps_img.affine)


def signals_to_array(region_signals: Any, op: MapsOperator) -> np.ndarray:
    """The ``(x, y, z[, T])`` array ``signals @ weights.T`` placed on the operator's rows."""
    signals = np.asarray(region_signals)
    squeeze = signals.ndim == 1
    signals = np.atleast_2d(signals)
    k = op.weights.shape[1]
    if signals.shape[1] != k:
        raise AtlasError(
            f"region_signals must have one column per map: expected {k} columns, found "
            f"{signals.shape[1]} (shape {signals.shape}).",
            param="region_signals",
            expected=k,
            found=signals.shape[1],
        )
    dtype = np.result_type(signals.dtype, op.weights.dtype)
    values = op.weights.astype(dtype, copy=False) @ signals.T.astype(dtype, copy=False)  # (rows, T)
    out = np.zeros(op.shape + (signals.shape[0],), dtype=dtype)
    out[op.rows] = values
    return out[..., 0] if squeeze else out
