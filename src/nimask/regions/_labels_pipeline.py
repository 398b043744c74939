"""Streamed labels extraction from an image: resample, smooth, reduce, chunk by chunk.

This is nilearn's ``clean(img_to_signals_labels(smooth_img(resample_img(img))))`` without
the cleaning and without ever holding the 4D run: each chunk of volumes is resampled onto
the atlas grid (when asked), smoothed (when asked) and reduced to ``(n, n_regions)``.
"""
from __future__ import annotations

import numpy as np

from .._threads import prefetched
from ._labels import LabelsOperator

__all__ = ["labels_signals"]


def labels_signals(
    img,
    op: LabelsOperator,
    *,
    strategy: str = "mean",
    grid_affine: np.ndarray | None = None,
    smoothing_fwhm: float | None = None,
    chunk_size: int | None = None,
) -> np.ndarray:
    """Region signals ``(T, n_regions)`` of a 3D/4D image for a prepared atlas.

    Parameters
    ----------
    img : nibabel image (3D or 4D)
    op : LabelsOperator
        The atlas on its grid (``op.shape``).
    strategy : str
        One of :data:`nimask.regions._labels.STRATEGIES`.
    grid_affine : (4, 4) array or None
        Affine of the atlas grid. When the image is on another grid, each chunk is
        resampled onto it (continuous, clipped to the whole run's ``[min(data, 0),
        max(data, 0)]``, as ``resample_img`` of the 4D image does).
    smoothing_fwhm : float or None
        Gaussian smoothing in mm, after resampling (non-finite values become 0 first).
    chunk_size : int or None
        Volumes per chunk (default: the reader's).
    """
    from .._nifti_io import iter_volume_chunks
    from .._niimg import affines_close
    from .._nonfinite import collecting, note

    affine = np.asarray(img.affine) if grid_affine is None else np.asarray(grid_affine)
    resample = tuple(img.shape[:3]) != tuple(op.shape) or not affines_close(img.affine, affine)
    bounds = None
    if resample:
        from ..image._resampling import clip_bounds

        for _, chunk in iter_volume_chunks(img, chunk_size):
            bounds = clip_bounds(chunk, bounds)
    in_memory = isinstance(img.dataobj, np.ndarray)
    n_vol = img.shape[3] if len(img.shape) == 4 else 1
    out = None
    chunks = iter_volume_chunks(img, chunk_size)
    where = "in the image (before smoothing)" if smoothing_fwhm is not None else "inside the regions"
    with collecting("labels extraction", where):
        for t0, chunk in (chunks if in_memory else prefetched(chunks, depth=2)):
            part = _one_chunk(chunk, op, strategy, img, affine, resample, bounds, smoothing_fwhm, in_memory, note)
            if out is None:
                out = np.empty((n_vol, op.n_regions), dtype=part.dtype)
            out[t0 : t0 + part.shape[0]] = part
    return out


def _one_chunk(chunk, op, strategy, img, affine, resample, bounds, smoothing_fwhm, in_memory, note):
    """Resample, smooth (counting the NaN/inf it zeroes) and reduce one chunk of volumes."""
    fresh = not in_memory
    if resample:
        from ..image._resampling import resample_array

        chunk = resample_array(chunk, img.affine, affine, op.shape, clip=bounds if bounds is not None else False)
        fresh = True
    if smoothing_fwhm is not None:
        from ..image._smoothing import smooth_array

        if chunk.dtype.kind == "f":  # smoothing zeroes them: count them first (whole grid)
            with np.errstate(over="ignore", invalid="ignore"):
                if not np.isfinite(np.add.reduce(chunk, axis=None, dtype=np.float64)):
                    note(int((~np.isfinite(chunk)).sum()), "labels extraction", "in the image (before smoothing)")

        chunk = smooth_array(chunk, affine, smoothing_fwhm, ensure_finite=True, copy=not fresh)
    return op.apply(chunk, strategy)
