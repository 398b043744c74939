"""Morphological post-processing of boolean masks (nilearn's opening / largest component)."""
from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage

from ..exceptions import MaskWarning

__all__ = ["largest_connected_component", "post_process_mask"]


def largest_connected_component(mask: np.ndarray) -> np.ndarray:
    """The largest 6-connected component of a boolean volume.

    Ties go to the component met first in a C-order scan (lowest label), as in nilearn.
    An empty mask is returned unchanged.
    """
    mask = np.asarray(mask, dtype=bool)
    labels, n = ndimage.label(mask)
    if n <= 1:
        return labels > 0 if n == 1 else mask.copy()
    counts = np.bincount(labels.ravel())
    counts[0] = 0
    return labels == int(np.argmax(counts))


def post_process_mask(mask: np.ndarray, opening: int, connected: bool, warning_msg: str = "") -> np.ndarray:
    """Erode ``opening`` times, keep the largest component, then close (dilate 2n, erode n).

    Parameters
    ----------
    mask : bool ndarray (3D)
    opening : int
        Number of erosion iterations (0: no morphology).
    connected : bool
        Keep only the largest 6-connected component (skipped for an empty mask).
    warning_msg : str
        Context appended to the ``MaskWarning`` raised when the mask is empty after erosion.

    Returns
    -------
    bool ndarray
    """
    mask = np.asarray(mask, dtype=bool)
    if opening:
        mask = ndimage.binary_erosion(mask, iterations=opening)
    non_empty = bool(mask.any())
    if not non_empty:
        warnings.warn(f"Computed an empty mask. {warning_msg}", MaskWarning, stacklevel=3)
    if connected and non_empty:
        mask = largest_connected_component(mask)
    if opening:
        mask = ndimage.binary_dilation(mask, iterations=2 * opening)
        mask = ndimage.binary_erosion(mask, iterations=opening)
    return mask
