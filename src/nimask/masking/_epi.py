"""EPI masks: threshold the mean image at the largest gap of its sorted values."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import MaskError, ParameterError
from ._checks import check_bool, check_float, check_opening
from ._mean import mean_volume
from ._morphology import post_process_mask

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

__all__ = ["compute_epi_mask", "epi_threshold"]

_EMPTY_MSG = "Are you sure that input data are EPI images not detrended. "


def epi_threshold(mean: np.ndarray, lower_cutoff: float, upper_cutoff: float, exclude_zeros: bool) -> Any:
    """Midpoint of the first largest gap between sorted values within the cut-off fractions.

    ``lo = floor(lower_cutoff * n)``, ``hi = min(floor(upper_cutoff * n), n - 1)`` over the
    ``n`` sorted values (zeros dropped with ``exclude_zeros``). Float data are handled in
    their own dtype (float32 stays float32, as in nilearn); integer data in 64-bit, which
    gives nilearn's threshold wherever nilearn's small-integer arithmetic does not overflow.
    """
    values = np.sort(mean, axis=None)
    if values.dtype.kind in "iub":
        values = values.astype(np.int64)
    if exclude_zeros:
        values = values[values != 0]
    n = values.size
    lo = int(np.floor(lower_cutoff * n))
    hi = min(int(np.floor(upper_cutoff * n)), n - 1)
    gaps = values[lo + 1 : hi + 1] - values[lo:hi]
    if gaps.size == 0:
        raise MaskError(
            f"compute_epi_mask: no values to threshold between lower_cutoff={lower_cutoff} and "
            f"upper_cutoff={upper_cutoff}: the {n} {'nonzero ' if exclude_zeros else ''}values of "
            f"the mean image give an empty index range [{lo}, {hi}). Use a larger image or "
            f"cut-offs further apart.",
            param="lower_cutoff", expected="at least 2 values between the cut-offs", found=n,
        )
    i = int(np.argmax(gaps)) + lo
    return 0.5 * (values[i] + values[i + 1])


def compute_epi_mask(
    epi_img: Any,
    lower_cutoff: float = 0.2,
    upper_cutoff: float = 0.85,
    connected: bool = True,
    opening: bool | int = 2,
    exclude_zeros: bool = False,
    ensure_finite: bool = True,
    target_affine: Any = None,
    target_shape: Any = None,
    memory: Any = None,
    verbose: int = 0,
) -> SpatialImage:
    """Brain mask of an EPI run from its mean image (nilearn's algorithm, same voxels).

    The mean image (optionally resampled) is smoothed with a 1-voxel FWHM Gaussian when
    ``opening`` is set, thresholded at the midpoint of the largest gap between its sorted
    values between the ``lower_cutoff`` and ``upper_cutoff`` fractions, then eroded
    ``opening`` times, reduced to its largest connected component (``connected``) and
    closed.

    Parameters
    ----------
    epi_img : niimg-like
        3D or 4D EPI image, or a list of 3D images.
    lower_cutoff, upper_cutoff : float
        Fractions of the sorted values between which the largest gap is searched.
    connected : bool
        Keep only the largest 6-connected component.
    opening : bool or int
        Number of erosion iterations of the morphological opening (True is 1).
    exclude_zeros : bool
        Ignore exact zeros when sorting the values.
    ensure_finite : bool
        Set non-finite values of the mean to 0 before thresholding.
    target_affine, target_shape : optional
        Resample the mean image to this grid first.
    memory, verbose :
        Accepted for compatibility (no caching, no printing).

    Returns
    -------
    Nifti1Image
        uint8 mask (header copied from the input image).

    Differences from nilearn
    ------------------------
    * Cut-offs that leave no values to threshold raise a ``MaskError`` naming them (nilearn:
      "attempt to get argmax of an empty sequence"); ``lower_cutoff`` must be in [0, 1) and
      below ``upper_cutoff``.
    * A negative ``opening`` is rejected (nilearn returns an empty mask).
    * Integer mean images (3D integer input without opening) are thresholded in 64-bit
      integers: nilearn's int16/uint8 arithmetic can overflow and give a wrong threshold.
    """
    from ..image import new_img_like, smooth_array

    func = "compute_epi_mask"
    lower_cutoff = check_float(lower_cutoff, "lower_cutoff", func)
    upper_cutoff = check_float(upper_cutoff, "upper_cutoff", func)
    connected = check_bool(connected, "connected", func)
    n_open = check_opening(opening, func)
    exclude_zeros = bool(exclude_zeros)  # nilearn accepts any truthy value here
    if not 0 <= lower_cutoff < 1 or lower_cutoff >= upper_cutoff:
        raise ParameterError(
            f"{func}: expected 0 <= lower_cutoff < upper_cutoff and lower_cutoff < 1; got "
            f"lower_cutoff={lower_cutoff}, upper_cutoff={upper_cutoff}.",
            param="lower_cutoff", expected="0 <= lower_cutoff < min(upper_cutoff, 1)",
            found=(lower_cutoff, upper_cutoff),
        )
    img, mean, affine = mean_volume(epi_img, target_affine, target_shape)
    finite = mean[np.isfinite(mean)] if mean.dtype.kind == "f" else mean.ravel()
    if finite.size == 0 or finite.min() == finite.max():
        from .._niimg import _filename

        value = finite.flat[0].item() if finite.size else "NaN"
        raise MaskError(
            f"{func}: the mean image of epi_img {_filename(img) or '(in memory)'!r} is constant "
            f"(every voxel = {value}): the input has no signal to threshold (nilearn returns "
            f"an arbitrary eroded box).",
            param="epi_img", found=f"constant {value}",
        )
    if n_open:
        nan_pos = np.isnan(mean) if mean.dtype.kind == "f" else None
        mean = smooth_array(mean, np.eye(4), fwhm=1, ensure_finite=True, copy=False)
        if nan_pos is not None and nan_pos.any():
            mean[nan_pos] = np.nan
    if ensure_finite and mean.dtype.kind == "f":
        mean[~np.isfinite(mean)] = 0
    threshold = epi_threshold(mean, lower_cutoff, upper_cutoff, exclude_zeros)
    mask = mean >= threshold
    from .._niimg import _filename

    source = _filename(img) or f"an in-memory image of shape {tuple(img.shape)}"
    context = (
        f"{_EMPTY_MSG}(compute_epi_mask: threshold {threshold} on the mean of {source}, "
        f"opening={n_open}, {int(mask.sum())} voxels before the opening.)"
    )
    mask = post_process_mask(mask, n_open, connected, context)
    return new_img_like(img, mask.astype(np.uint8), affine, copy_header=True)
