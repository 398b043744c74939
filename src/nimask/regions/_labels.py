"""Signals of a labels atlas (one value per region and scan), and back.

nilearn calls ``scipy.ndimage.<strategy>(data[..., t], labels, index)`` once per scan.
Here the atlas is analysed once (:func:`prepare_labels`): the voxels of every region are
listed in C order and grouped region by region, so that a whole chunk of volumes is
reduced at once: gather the ``(n, n_voxels)`` block, then one ``reduceat`` (sum, mean,
minimum, maximum, variance) or one sort per region (median), vectorised over the scans.

The sums are sequential float64 sums in C voxel order, the order ``numpy.bincount`` uses
inside ``scipy.ndimage``, so mean/sum/variance are reproduced to the last bit in practice.
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._warnings import find_stack_level
from ..exceptions import AtlasError, DimensionError, GeometryError, NimaskDataWarning
from ._gather import f_order_index, gather

__all__ = [
    "STRATEGIES",
    "LabelsOperator",
    "check_labels_data",
    "check_strategy",
    "prepare_labels",
    "img_to_signals_labels",
    "signals_to_img_labels",
    "signals_to_labels_array",
]

STRATEGIES = ("mean", "median", "sum", "minimum", "maximum", "standard_deviation", "variance")


def check_strategy(strategy: Any) -> str:
    """``strategy`` if it is one of :data:`STRATEGIES`, else a ValueError naming them."""
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        from ..exceptions import ParameterError

        raise ParameterError(
            f"Invalid strategy '{strategy}'. Valid strategies are {list(STRATEGIES)}.",
            param="strategy", expected=STRATEGIES, found=strategy,
        )
    return strategy


def check_labels_data(data: np.ndarray, background_label: Any = 0, *, name: str = "labels_img") -> np.ndarray:
    """Validate a 3D labels array: finite (NaN/inf count as 0), integer-valued, not negative.

    Returns the array with non-finite values set to 0 (a copy only when there were some).

    Raises
    ------
    DimensionError
        The array is not 3D.
    AtlasError
        Non-integer label values (listed), negative labels other than ``background_label``
        (listed), or no label at all besides the background.
    """
    data = np.asanyarray(data)
    if data.ndim != 3:
        raise DimensionError(
            data.ndim, 3,
            f"'{name}' must be a 3D labels image (one integer label per voxel); found a "
            f"{data.ndim}D image of shape {data.shape}.",
            param=name,
        )
    if data.dtype.kind == "b":
        data = data.astype(np.uint8)
    if data.dtype.kind not in "iuf":
        raise AtlasError(f"'{name}' must hold numbers; found dtype {data.dtype}.", param=name, found=str(data.dtype))
    values = np.unique(data)
    if data.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            finite = np.isfinite(data)
            warnings.warn(
                f"'{name}': Non-finite values detected. These values will be replaced with zeros: "
                f"{int(finite.size - np.count_nonzero(finite))} NaN/inf voxels are set to 0 (no region).",
                NimaskDataWarning, stacklevel=find_stack_level(),
            )
            data = np.where(finite, data, 0).astype(data.dtype, copy=False)
            values = np.unique(np.append(values[~bad], 0).astype(data.dtype))
        fractional = values[values != np.round(values)]
        if fractional.size:
            shown = fractional[:8].tolist()
            raise AtlasError(
                f"'{name}' must hold integer labels; found {fractional.size} non-integer values "
                f"{shown}{' ...' if fractional.size > 8 else ''}. A labels atlas with fractional "
                f"values is usually a probabilistic/maps image (use NiftiMapsMasker) or was "
                f"resampled with continuous interpolation (resample it with 'nearest').",
                param=name, expected="integer labels", found=shown,
            )
    negative = values[(values < 0) & (values != background_label)]
    if negative.size:
        shown = negative[:8].tolist()
        raise AtlasError(
            f"'{name}' must hold non-negative integer labels (or the background_label "
            f"{background_label!r}); found negative labels {shown}.",
            param=name, expected="labels >= 0", found=shown,
        )
    if not np.any(values != background_label):
        raise AtlasError(
            f"Image has no label: every voxel of '{name}' equals the background_label "
            f"{background_label!r} (values found: {values[:8].tolist()}).",
            param=name, found=values[:8].tolist(),
        )
    return data


@dataclass
class LabelsOperator:
    """A labels atlas analysed once for chunked extraction on a fixed grid.

    Attributes
    ----------
    shape : tuple
        3D grid shape.
    region_ids : ndarray
        Label value of each output column (sorted, unless given explicitly).
    c_index : ndarray of intp
        C-order flat indices of the voxels of the non-empty regions, grouped by region
        (C order inside each region).
    starts : ndarray of intp
        Start of each non-empty region's group in ``c_index``.
    counts : ndarray of intp
        Voxel count of every output column (0 for an empty region).
    fill_value : float
        Output value of empty regions (0 as nilearn's ``keep_masked_labels``, or NaN).
    affine : (4, 4) ndarray or None
        Affine of the grid (needed by :func:`nimask.pipeline.stream`).
    strategy : str
        The reduction of :meth:`reduce` (one of :data:`STRATEGIES`).
    names : list of str
        Output column names (set by the caller, e.g. from a look-up table).
    coverage : DataFrame or None
        Per output column: voxels in the atlas, kept, kept fraction, reason (set by the caller).
    nan_columns : bool ndarray or None
        Output columns given as NaN (regions below a minimum coverage).
    masked : ndarray or None
        The atlas after masking (background outside the mask), when the caller keeps it.
    """

    shape: tuple
    region_ids: np.ndarray
    c_index: np.ndarray
    starts: np.ndarray
    counts: np.ndarray
    fill_value: float = 0.0
    affine: np.ndarray | None = None
    strategy: str = "mean"
    names: list = field(default_factory=list)
    coverage: Any = None
    nan_columns: np.ndarray | None = None
    masked: np.ndarray | None = field(default=None, repr=False)
    _f_index: np.ndarray | None = field(default=None, repr=False)

    batch_volumes = 1
    pointwise = False
    nonfinite_where = "inside the regions"

    @property
    def n_regions(self) -> int:
        return int(self.region_ids.size)

    @property
    def index(self) -> np.ndarray:
        """C-order flat indices of the voxels read (the operator protocol of :mod:`nimask.pipeline`)."""
        return self.c_index

    @property
    def nonempty(self) -> np.ndarray:
        return self.counts > 0

    def gather(self, chunk: np.ndarray) -> np.ndarray:
        """``(n, n_voxels)`` values of the region voxels of a ``(x, y, z[, n])`` chunk (a copy)."""
        if tuple(chunk.shape[:3]) != tuple(self.shape):
            raise GeometryError(
                f"The data chunk has spatial shape {tuple(chunk.shape[:3])}; the labels grid is "
                f"{tuple(self.shape)}.",
                param="imgs", expected=tuple(self.shape), found=tuple(chunk.shape[:3]),
            )
        if self._f_index is None:
            self._f_index = f_order_index(self.c_index, self.shape)
        return gather(chunk, self._f_index)

    def apply(self, chunk: np.ndarray, strategy: str | None = None) -> np.ndarray:
        """Region values ``(n, n_regions)`` of one chunk (non-finite values count as 0, noted)."""
        values = self.gather(chunk)
        if values.dtype.kind == "f":
            from .._nonfinite import warn_nonfinite, zero_nonfinite

            warn_nonfinite(zero_nonfinite(values), "labels extraction", "inside the regions")
        return self.reduce(values, strategy)

    def reduce(self, values: np.ndarray, strategy: str | None = None) -> np.ndarray:
        """Region values ``(n, n_regions)`` of the gathered voxel values ``(n, n_voxels)``, float64.

        Always float64 (catalogue D12: the signals are then cleaned in float64); nilearn's
        dtype is :meth:`output_dtype`, to which the masker casts its output at the end.
        nilearn sums in float64 too, so uncleaned values are nilearn's once cast.
        ``strategy`` defaults to the operator's.
        """
        strategy = self.strategy if strategy is None else strategy
        n = values.shape[0]
        out = np.full((n, self.n_regions), self.fill_value, dtype=np.float64)
        if self.starts.size and n:
            out[:, self.nonempty] = _reduce(values, self.starts, self.counts[self.nonempty], strategy)
        if self.nan_columns is not None:
            out[:, self.nan_columns] = np.nan
        return out

    @staticmethod
    def output_dtype(values_dtype: Any) -> np.dtype:
        """nilearn's dtype of region values of data of ``values_dtype``: float32 for float32
        data, float64 otherwise (spec §1.6)."""
        return np.dtype(np.float32) if np.dtype(values_dtype) == np.float32 else np.dtype(np.float64)


def _reduce(values: np.ndarray, starts: np.ndarray, counts: np.ndarray, strategy: str) -> np.ndarray:
    """``(n, n_groups)`` statistic of each contiguous group of columns of ``values`` (float64)."""
    if strategy in ("minimum", "maximum"):
        ufunc = np.minimum if strategy == "minimum" else np.maximum
        return ufunc.reduceat(values, starts, axis=1).astype(np.float64)
    if strategy == "median":
        return _median(values, starts, counts)
    as64 = values.astype(np.float64, copy=False)
    sums = np.add.reduceat(as64, starts, axis=1)
    if strategy == "sum":
        return sums
    means = sums / counts
    if strategy == "mean":
        return means
    centred = as64 - np.repeat(means, counts, axis=1)
    np.multiply(centred, centred, out=centred)
    var = np.add.reduceat(centred, starts, axis=1) / counts.astype(np.float64)
    return np.sqrt(var) if strategy == "standard_deviation" else var


def _median(values: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """scipy.ndimage.median per group: mean of the two middle values, averaged in float64.

    For float32 data, the float64 mean cast to float32 is scipy's float32 mean (halving is
    exact). Integer data: scipy adds them in the integer dtype first, which can overflow
    (see the module's differences from nilearn).
    """
    n = values.shape[0]
    out = np.empty((n, starts.size), dtype=np.float64)
    for j, (s, c) in enumerate(zip(starts.tolist(), counts.tolist())):
        block = values[:, s : s + c]
        lo, hi = (c - 1) // 2, c // 2
        part = np.partition(block, (lo, hi) if hi != lo else lo, axis=1)
        out[:, j] = (part[:, lo].astype(np.float64) + part[:, hi]) / 2.0
    return out


def prepare_labels(
    labels: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    background_label: Any = 0,
    keep_masked_labels: bool = False,
    region_ids: Iterable | None = None,
    fill_value: float = 0.0,
    affine: np.ndarray | None = None,
    strategy: str = "mean",
) -> LabelsOperator:
    """Analyse a 3D labels array once for :meth:`LabelsOperator.apply`.

    Parameters
    ----------
    labels : ndarray (x, y, z)
        Label values (non-finite values must already be 0, see :func:`check_labels_data`).
    mask : bool ndarray (x, y, z) or None
        Voxels outside the mask count as background.
    background_label : number
    keep_masked_labels : bool
        Keep the regions that the mask removes entirely, as ``fill_value`` columns (nilearn's
        deprecated option; its columns are zeros).
    region_ids : sequence or None
        Explicit output columns (any order; ids absent from the masked atlas give
        ``fill_value``). Overrides ``keep_masked_labels``.
    fill_value : float
        Value of the columns of empty regions.
    affine : (4, 4) array or None
        Affine of the grid of ``labels``.
    strategy : str
        Reduction used by :meth:`LabelsOperator.reduce`.
    """
    labels = np.asanyarray(labels)
    shape = tuple(labels.shape)
    flat = labels.ravel(order="C")
    inside = flat != background_label
    all_ids = np.unique(flat[inside])
    if mask is not None:
        inside &= np.asarray(mask, dtype=bool).ravel(order="C")
    positions = np.flatnonzero(inside)
    kept_ids, inverse = np.unique(flat[positions], return_inverse=True)
    if region_ids is not None:
        ids = np.asarray(list(region_ids))
        ids = ids.astype(np.result_type(ids.dtype, labels.dtype), copy=False) if ids.size else all_ids[:0]
    elif keep_masked_labels:
        ids = all_ids
    else:
        ids = kept_ids
    order = np.argsort(inverse, kind="stable")
    c_index = positions[order].astype(np.intp)
    group_counts = np.bincount(inverse, minlength=kept_ids.size).astype(np.intp)
    # map output columns onto the kept groups
    where = np.searchsorted(kept_ids, ids) if kept_ids.size else np.zeros(ids.size, dtype=np.intp)
    where = np.clip(where, 0, max(kept_ids.size - 1, 0))
    found = (kept_ids[where] == ids) if kept_ids.size else np.zeros(ids.size, dtype=bool)
    counts = np.where(found, group_counts[where] if kept_ids.size else 0, 0).astype(np.intp)
    group_starts = (np.concatenate([[0], np.cumsum(group_counts)[:-1]]).astype(np.intp) if kept_ids.size
                    else np.zeros(0, np.intp))
    # restrict (and reorder) the voxel list to the groups that are output columns
    used = where[found]
    if used.size != kept_ids.size or np.any(np.diff(used) <= 0):
        pieces = [c_index[group_starts[g] : group_starts[g] + group_counts[g]] for g in used]
        c_index = np.concatenate(pieces) if pieces else np.zeros(0, np.intp)
    nonempty_counts = counts[found]
    starts = (np.concatenate([[0], np.cumsum(nonempty_counts)[:-1]]).astype(np.intp) if nonempty_counts.size
              else np.zeros(0, np.intp))
    return LabelsOperator(shape=shape, region_ids=ids, c_index=c_index, starts=starts, counts=counts,
                          fill_value=fill_value, affine=None if affine is None else np.asarray(affine),
                          strategy=strategy)


# ----------------------------------------------------------------------------- public functions
def _check_same_grid(img, other, what: str) -> None:
    """nilearn's region-extraction test: exact shapes, affines within 1000 float32 eps."""
    if other is None:
        return
    if tuple(img.shape[:3]) != tuple(other.shape[:3]):
        raise GeometryError(
            f"Images have incompatible shapes: imgs has shape {tuple(img.shape[:3])} but {what} has "
            f"shape {tuple(other.shape[:3])}.",
            param=what, expected=tuple(img.shape[:3]), found=tuple(other.shape[:3]),
        )
    if np.max(np.abs(np.asarray(img.affine) - np.asarray(other.affine))) > 1000 * np.finfo(np.float32).eps:
        raise GeometryError(
            f"Images have different affine matrices: imgs has\n{img.affine}\nbut {what} has\n{other.affine}.",
            param=what,
        )


def _load_labels(labels_img, background_label):
    from .._niimg import check_niimg

    img = check_niimg(labels_img)
    if len(img.shape) == 4 and img.shape[3] == 1:
        img = check_niimg(img, ensure_ndim=3)
    if len(img.shape) != 3:
        raise DimensionError(
            len(img.shape), 3,
            f"'labels_img' must be a 3D labels image; found a {len(img.shape)}D image of shape "
            f"{tuple(img.shape)}. A 4D atlas is a maps image (use NiftiMapsMasker).",
            param="labels_img", path=img.get_filename(),
        )
    return img, check_labels_data(np.asanyarray(img.dataobj), background_label)


def _load_mask(mask_img):
    if mask_img is None:
        return None, None
    from .._niimg import check_niimg

    img = check_niimg(mask_img, ensure_ndim=3)
    try:
        from ..masking import load_mask_img

        return img, np.asarray(load_mask_img(img)[0], dtype=bool)
    except ImportError:  # pragma: no cover
        return img, np.nan_to_num(np.asanyarray(img.dataobj)) != 0


def masked_atlas(labels: np.ndarray, mask: np.ndarray | None, background_label: Any) -> np.ndarray:
    """The labels with voxels outside ``mask`` set to ``background_label``."""
    if mask is None:
        return labels
    out = np.array(labels, copy=True)
    out[~mask] = background_label
    return out


def warn_masked_labels(labels: np.ndarray, masked: np.ndarray, background_label: Any, *, keep: bool) -> None:
    """nilearn's warning (or error) when the mask removes regions."""
    before = np.unique(labels)
    after = np.unique(masked)
    removed = np.setdiff1d(before, after)
    if removed.size == 0:
        return
    if after.size == 1 and after[0] == background_label and not keep:
        raise AtlasError(
            f"No label left after applying mask to the labels image: the mask removes every region "
            f"({before.size - (background_label in before)} regions).",
            param="mask_img",
        )
    warnings.warn(
        f"After applying mask to the labels image, the following labels were removed: "
        f"{set(removed.tolist())}. Out of {before.size} labels, the masked labels image only contains "
        f"{after.size} labels (including background).",
        NimaskDataWarning, stacklevel=find_stack_level(),
    )


def img_to_signals_labels(
    imgs: Any,
    labels_img: Any,
    mask_img: Any = None,
    background_label: Any = 0,
    order: str = "F",
    strategy: str = "mean",
    keep_masked_labels: bool = False,
    return_masked_atlas: bool = True,
    n_jobs: int = 1,
):
    """One signal per label: ``strategy`` over the voxels of each region, scan by scan.

    Parameters
    ----------
    imgs : 3D/4D niimg-like
        Data, on the grid of ``labels_img`` (no resampling here).
    labels_img : 3D niimg-like
        Integer labels; ``background_label`` means "no region".
    mask_img : 3D niimg-like or None
        Voxels outside it count as background.
    background_label : number
    order : str
        Unused (kept for nilearn's signature).
    strategy : {"mean", "median", "sum", "minimum", "maximum", "standard_deviation", "variance"}
    keep_masked_labels : bool
        Keep regions removed by the mask as zero columns (deprecated in nilearn).
    return_masked_atlas : bool
        Also return the masked atlas (int32 image).
    n_jobs : int
        Unused (the extraction is vectorised over scans).

    Returns
    -------
    signals : ndarray (T, n_regions)
        float32 for float32 data, float64 otherwise.
    labels : list
        Label value of each column (sorted).
    masked_atlas : Nifti1Image (int32)
        Only when ``return_masked_atlas``.

    Differences from nilearn
    ------------------------
    Non-integer and negative label values, a 4D labels image and an atlas with only the
    background raise :class:`~nimask.exceptions.AtlasError` / ``DimensionError``.
    The median of integer data is averaged in float64 (scipy can overflow the integer type).
    """
    import nibabel as nib

    from .._niimg import check_niimg
    from ..pipeline import stream, values_dtype

    check_strategy(strategy)
    labels_ref, labels = _load_labels(labels_img, background_label)
    data_img = check_niimg(imgs, atleast_4d=True)
    mask_ref, mask = _load_mask(mask_img)
    _check_same_grid(data_img, labels_ref, "labels_img")
    _check_same_grid(data_img, mask_ref, "mask_img")
    masked = masked_atlas(labels, mask, background_label)
    warn_masked_labels(labels, masked, background_label, keep=keep_masked_labels)
    if keep_masked_labels:
        warnings.warn(
            'In version 0.15.0, "keep_masked_labels" parameter will be removed. Applying a mask with '
            "keep_masked_labels=True is deprecated: removed regions give all-zero columns.",
            FutureWarning, stacklevel=find_stack_level(),
        )
    op = prepare_labels(labels, mask, background_label=background_label, keep_masked_labels=keep_masked_labels)
    op.affine, op.strategy = np.asarray(data_img.affine), strategy  # the grid checked above
    signals = stream(data_img, [op], label="labels extraction")[0]
    signals = signals.astype(op.output_dtype(values_dtype(data_img, op)), copy=False)
    region_list = list(op.region_ids)
    if not return_masked_atlas:
        warnings.warn(
            'In version 0.15, "return_masked_atlas" parameter will be removed and the masked atlas will '
            'always be returned. Set "return_masked_atlas" to True to avoid this warning.',
            FutureWarning, stacklevel=find_stack_level(),
        )
        return signals, region_list
    atlas = nib.Nifti1Image(masked.astype(np.int32), labels_ref.affine)
    return signals, region_list, atlas


def signals_to_labels_array(signals: Any, labels: np.ndarray, region_ids: np.ndarray, mask: np.ndarray | None = None,
                            background_label: Any = 0) -> np.ndarray:
    """``(x, y, z[, T])`` array with column j of ``signals`` written into the voxels of region j."""
    signals = np.asarray(signals)
    squeeze = signals.ndim == 1
    signals2 = np.atleast_2d(signals)
    if signals2.ndim != 2 or signals2.shape[1] != region_ids.size:
        raise AtlasError(
            f"signals must have one column per region: expected shape (T, {region_ids.size}) or "
            f"({region_ids.size},), found {signals.shape}.",
            param="signals", expected=region_ids.size, found=signals.shape,
        )
    flat = np.asanyarray(labels).ravel(order="C")
    inside = flat != background_label
    if mask is not None:
        inside &= np.asarray(mask, dtype=bool).ravel(order="C")
    positions = np.flatnonzero(inside)
    sorter = np.argsort(region_ids, kind="stable")
    where = np.searchsorted(region_ids, flat[positions], sorter=sorter)
    where = np.clip(where, 0, max(region_ids.size - 1, 0))
    col = sorter[where] if region_ids.size else where
    ok = region_ids[col] == flat[positions] if region_ids.size else np.zeros(positions.size, bool)
    positions, col = positions[ok], col[ok]
    shape = tuple(labels.shape)
    n = signals2.shape[0]
    out = np.zeros(shape + (n,), dtype=signals2.dtype, order="F")
    f_positions = np.ravel_multi_index(np.unravel_index(positions, shape), shape, order="F")
    out.reshape(-1, n, order="F")[f_positions] = signals2[:, col].T
    return out[..., 0] if squeeze else out


def signals_to_img_labels(
    signals: Any,
    labels_img: Any,
    mask_img: Any = None,
    background_label: Any = 0,
    order: str = "F",
):
    """Image with each region's voxels set to its signal (the inverse of the extraction).

    Column j of ``signals`` goes to the j-th region: the sorted label values of the masked
    atlas without the background. 1-D signals give a 3D image, 2D signals a 4D image; the
    dtype is the signals' dtype. Background and masked-out voxels are 0.
    """
    import nibabel as nib

    labels_ref, labels = _load_labels(labels_img, background_label)
    mask_ref, mask = _load_mask(mask_img)
    _check_same_grid(labels_ref, mask_ref, "mask_img")
    masked = masked_atlas(labels, mask, background_label)
    ids = np.unique(masked)
    ids = ids[ids != background_label]
    data = signals_to_labels_array(signals, labels, ids, mask, background_label)
    if order == "C":
        data = np.ascontiguousarray(data)
    return nib.Nifti1Image(data, labels_ref.affine)


def resample_labels(labels_img: Any, target: Any) -> Any:
    """A labels image resampled (nearest) onto the grid of ``target``.

    Raises
    ------
    AtlasError
        No label is left on the target grid. Labels that disappear are named in a warning.
    """
    import nibabel as nib

    from ..image import resample_img

    before = np.unique(np.asanyarray(labels_img.dataobj))
    out = resample_img(labels_img, target_affine=target.affine, target_shape=target.shape[:3],
                       interpolation="nearest", copy_header=True, force_resample=True)
    after = np.unique(np.asanyarray(out.dataobj))
    if after.size <= 1:
        raise AtlasError(
            f"No label left after resampling the labels image to the data grid (shape "
            f"{tuple(target.shape[:3])}): the atlas of shape {tuple(labels_img.shape)} does not "
            f"overlap the data.",
            param="labels_img",
        )
    removed = np.setdiff1d(before, after)
    if removed.size:
        warnings.warn(
            f"After resampling the label image to the data image, the following labels were removed: "
            f"{set(removed.tolist())}. Label image only contains {after.size} labels (including "
            f"background).",
            NimaskDataWarning, stacklevel=find_stack_level(),
        )
    return nib.Nifti1Image(np.asanyarray(out.dataobj), out.affine, out.header)
