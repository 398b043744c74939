"""Mask computation and masking with nilearn's names, parameters and numbers (``nilearn.masking``).

* ``compute_epi_mask`` / ``compute_background_mask`` / ``compute_brain_mask`` and their
  ``compute_multi_*`` variants compute masks voxel for voxel as nilearn 0.14.1 does
  (``compute_brain_mask`` with nilearn's MNI templates, shipped in ``nimask/data/templates``;
  ``find_templateflow_template`` finds a TemplateFlow file to pass as ``template=`` instead);
* ``intersect_masks`` combines masks;
* ``apply_mask`` / ``unmask`` go from images to ``(n_volumes, n_voxels)`` matrices and back;
* ``load_mask_img`` validates a binary mask.

The array kernels ``mask_indices``, ``gather`` and ``scatter`` (in ``_apply``) work on
chunks of volumes and are shared with the maskers.
"""
from ._apply import apply_mask, unmask
from ._background import compute_background_mask
from ._brain import compute_brain_mask, compute_multi_brain_mask, find_templateflow_template
from ._epi import compute_epi_mask
from ._intersect import intersect_masks
from ._load import load_mask_img
from ._morphology import largest_connected_component as largest_connected_component  # reachable, as in nilearn
from ._multi import compute_multi_background_mask, compute_multi_epi_mask

__all__ = [
    "apply_mask",
    "compute_background_mask",
    "compute_brain_mask",
    "compute_epi_mask",
    "compute_multi_background_mask",
    "compute_multi_brain_mask",
    "compute_multi_epi_mask",
    "find_templateflow_template",
    "intersect_masks",
    "load_mask_img",
    "unmask",
]
