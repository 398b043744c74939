"""Masks of several runs: one mask per run, then ``intersect_masks``."""
from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .._niimg import _filename
from ..exceptions import GeometryError, ParameterError
from ._background import compute_background_mask
from ._checks import ParameterTypeError
from ._epi import compute_epi_mask
from ._intersect import _check_threshold, intersect_masks

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

__all__ = ["compute_multi_epi_mask", "compute_multi_background_mask", "check_image_list"]


def check_image_list(imgs: Any, func: str, param: str) -> list:
    """``imgs`` must be a non-empty list/tuple (nilearn raises ``TypeError`` otherwise)."""
    if not isinstance(imgs, (list, tuple)):
        raise ParameterTypeError(
            f"{func}: '{param}' must be a list of images (one per run); got {type(imgs).__name__}. "
            f"Wrap a single image in a list, or use the single-image function.",
            param=param, expected="list of niimg-like", found=type(imgs).__name__,
        )
    if len(imgs) == 0:
        raise ParameterTypeError(
            f"{func}: '{param}' is an empty list; expected at least one image.",
            param=param, expected="non-empty list", found=0,
        )
    return list(imgs)


def _n_workers(n_jobs: Any, n_items: int) -> int:
    if not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs == 0:
        raise ParameterError(
            f"'n_jobs' must be a nonzero int (-1 for all cores); got {n_jobs!r}.", param="n_jobs", found=n_jobs,
        )
    cpus = os.cpu_count() or 1
    n = n_jobs if n_jobs > 0 else max(1, cpus + 1 + n_jobs)
    return max(1, min(n, n_items))


def _run_name(item: Any) -> str | None:
    """The file a run was read from (a path, an image's file, a list's first file), or None."""
    if isinstance(item, (list, tuple)) and item:
        item = item[0]
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    return _filename(item)


def _intersect_runs(masks: list, items: list, threshold: float, connected: bool) -> SpatialImage:
    """``intersect_masks`` of the runs' masks; a field-of-view error names the runs' files."""
    try:
        return intersect_masks(masks, threshold=threshold, connected=connected)
    except GeometryError as exc:
        other = _run_name(items[exc.index]) if exc.index is not None and exc.path is None else None
        if other is None:
            raise
        raise GeometryError(
            f"{exc}\nThe masks were computed from the runs {_run_name(items[0])!r} (img_#0) and "
            f"{other!r} (img_#{exc.index}); give runs on one grid, or a target_affine/target_shape "
            f"to resample them.",
            param=exc.param, index=exc.index, path=other, expected=exc.expected, found=exc.found,
        ) from None


def _map(func: Callable, items: list, n_jobs: Any) -> list:
    n = _n_workers(n_jobs, len(items))
    if n == 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=n) as pool:  # numpy/scipy release the GIL
        return list(pool.map(func, items))


def compute_multi_epi_mask(
    epi_imgs: Any,
    lower_cutoff: float = 0.2,
    upper_cutoff: float = 0.85,
    connected: bool = True,
    opening: bool | int = 2,
    threshold: float = 0.5,
    target_affine: Any = None,
    target_shape: Any = None,
    exclude_zeros: bool = False,
    n_jobs: int = 1,
    memory: Any = None,
    verbose: int = 0,
) -> SpatialImage:
    """EPI mask of each run (:func:`compute_epi_mask`), combined by :func:`intersect_masks`.

    Parameters
    ----------
    epi_imgs : list of niimg-like
        One 3D/4D image (or list of 3D images) per run.
    threshold : float in [0, 1]
        Fraction of runs a voxel must be in (strictly more than) to be kept.
    n_jobs : int
        Runs processed in parallel (threads).
    Other parameters : as in :func:`compute_epi_mask` (``connected`` is also used when
        intersecting).

    Returns
    -------
    Nifti1Image (int8)
    """
    func = "compute_multi_epi_mask"
    items = check_image_list(epi_imgs, func, "epi_imgs")
    _check_threshold(threshold, "intersect_masks")
    masks = _map(
        lambda img: compute_epi_mask(
            img, lower_cutoff=lower_cutoff, upper_cutoff=upper_cutoff, connected=connected,
            opening=opening, exclude_zeros=exclude_zeros, target_affine=target_affine,
            target_shape=target_shape,
        ),
        items, n_jobs,
    )
    return _intersect_runs(masks, items, threshold, connected)


def compute_multi_background_mask(
    data_imgs: Any,
    border_size: int = 2,
    connected: bool = True,
    opening: bool | int = 2,
    threshold: float = 0.5,
    target_affine: Any = None,
    target_shape: Any = None,
    n_jobs: int = 1,
    memory: Any = None,
    verbose: int = 0,
) -> SpatialImage:
    """Background mask of each run (:func:`compute_background_mask`), intersected.

    Note the defaults ``connected=True, opening=2`` (unlike the single-image function),
    as in nilearn.

    Returns
    -------
    Nifti1Image (int8)
    """
    func = "compute_multi_background_mask"
    items = check_image_list(data_imgs, func, "data_imgs")
    _check_threshold(threshold, "intersect_masks")
    masks = _map(
        lambda img: compute_background_mask(
            img, border_size=border_size, connected=connected, opening=opening,
            target_affine=target_affine, target_shape=target_shape,
        ),
        items, n_jobs,
    )
    return _intersect_runs(masks, items, threshold, connected)
