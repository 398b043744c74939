"""Template-based brain masks (nilearn's ``compute_brain_mask``).

nilearn 0.14.1 resamples its packaged MNI ICBM152 2009a symmetric templates (1 mm, uint8)
onto the target grid. nimask ships the same three files (T1, grey matter, white matter) as
package data in ``nimask/data/templates`` (with their copyright notice in ``NOTICE``); they
are read only when a template mask is computed. ``template=`` replaces them with any image,
e.g. a TemplateFlow file found by :func:`find_templateflow_template`.
"""
from __future__ import annotations

import glob
import os
import warnings
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from .._niimg import _check_same_fov_list, check_niimg, check_niimg_3d
from .._warnings import find_stack_level
from ..exceptions import MaskError, MaskWarning, ParameterError
from ._checks import ParameterTypeError, check_bool, check_opening
from ._morphology import post_process_mask

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

__all__ = ["compute_brain_mask", "compute_multi_brain_mask", "find_templateflow_template", "shipped_template"]

_MASK_TYPES = ("whole-brain", "gm", "wm")
# the files nilearn 0.14.1 uses (nilearn/datasets/data), shipped byte for byte in nimask/data/templates
_SHIPPED = {
    "whole-brain": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
_TEMPLATEFLOW_SPACE = "tpl-MNI152NLin2009cAsym"
# preferred TemplateFlow files per mask type, best first (brain-extracted T1 as in nilearn)
_TEMPLATEFLOW_SUFFIXES = {
    "whole-brain": ("desc-brain_T1w", "desc-brain_mask"),
    "gm": ("label-GM_probseg",),
    "wm": ("label-WM_probseg",),
}


def _templateflow_home() -> str:
    return os.path.expanduser(os.environ.get("TEMPLATEFLOW_HOME") or os.path.join("~", ".cache", "templateflow"))


def find_templateflow_template(mask_type: str = "whole-brain") -> str | None:
    """Path of a cached TemplateFlow MNI152NLin2009cAsym template for ``mask_type``, or None.

    Looks in ``$TEMPLATEFLOW_HOME`` (default ``~/.cache/templateflow``) for
    ``tpl-MNI152NLin2009cAsym/tpl-MNI152NLin2009cAsym_res-01_<suffix>.nii.gz`` (1 mm first,
    then other resolutions), with suffix ``desc-brain_T1w`` (or ``desc-brain_mask``) for
    "whole-brain", ``label-GM_probseg`` for "gm" and ``label-WM_probseg`` for "wm".
    """
    folder = os.path.join(_templateflow_home(), _TEMPLATEFLOW_SPACE)
    if not os.path.isdir(folder):
        return None
    for suffix in _TEMPLATEFLOW_SUFFIXES[mask_type]:
        for res in ("res-01_", "res-1_", "res-02_", "res-2_", ""):
            hits = sorted(
                p for p in glob.glob(os.path.join(folder, f"{_TEMPLATEFLOW_SPACE}_{res}*{suffix}.nii*"))
                if os.path.getsize(p) > 0  # TemplateFlow leaves empty placeholders for undownloaded files
            )
            if res == "":
                hits = [p for p in hits if "_desc-" not in os.path.basename(p).replace(suffix, "")]
            if hits:
                return hits[0]
    return None


def shipped_template(mask_type: str = "whole-brain") -> Any:
    """The shipped MNI ICBM152 2009a template file for ``mask_type`` (a ``Traversable``), or None.

    "whole-brain": the T1 average, "gm" / "wm": the grey / white matter probability maps,
    each 197 x 233 x 189 voxels of 1 mm, uint8 (nilearn 0.14.1's files). None when the file
    is missing from the installation (e.g. a repackaging that dropped the package data).
    """
    if mask_type not in _SHIPPED:
        raise ParameterError(
            f"Unknown mask type {mask_type}. Only 'whole-brain', 'gm' or 'wm' are accepted.",
            param="mask_type", expected=_MASK_TYPES, found=mask_type,
        )
    path = resources.files("nimask").joinpath("data", "templates", _SHIPPED[mask_type])
    return path if path.is_file() else None


def _read_shipped(mask_type: str):
    """The shipped template loaded in memory, or None when it is not installed."""
    import nibabel as nib

    path = shipped_template(mask_type)
    if path is None:
        return None
    with resources.as_file(path) as filename:
        img = nib.load(filename)
        return nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine)


def _load_template(template: Any, mask_type: str):
    if template is None:
        template = _read_shipped(mask_type)
    if template is None:  # package data missing: a TemplateFlow cache, else an explanation
        template = find_templateflow_template(mask_type)
        missing = f"nimask/data/templates/{_SHIPPED[mask_type]}"
        if template is None:
            raise MaskError(
                f"compute_brain_mask: no template for mask_type={mask_type!r}: the shipped file "
                f"{missing} is not installed (reinstall nimask) and no TemplateFlow "
                f"{_TEMPLATEFLOW_SPACE} file was found in {_templateflow_home()!r} (TEMPLATEFLOW_HOME). "
                f"Pass one with template=<path or image> (a T1 template for 'whole-brain', a "
                f"probability map for 'gm'/'wm').",
                param="template", expected="a template image, the shipped file or a TemplateFlow cache",
                found=None,
            )
        warnings.warn(
            f"compute_brain_mask: the shipped template {missing} is not installed; using the "
            f"TemplateFlow file {template} (another MNI template than nilearn's: the mask differs "
            f"from nilearn's).",
            MaskWarning, stacklevel=find_stack_level(),
        )
    import nibabel as nib

    img = check_niimg_3d(template)
    data = np.asarray(np.asanyarray(img.dataobj), dtype=np.float32)
    peak = np.max(data) if data.size else np.float32(0)
    if not np.isfinite(peak) or peak <= 0:
        raise MaskError(
            f"compute_brain_mask: the template must have a finite positive maximum; found {peak} "
            f"(template {getattr(img, 'get_filename', lambda: None)() or 'in-memory image'}).",
            param="template", expected="max > 0", found=float(peak),
        )
    data /= peak
    return nib.Nifti1Image(data, img.affine)


def _check_brain_params(threshold, connected, opening, mask_type, func):
    if not isinstance(threshold, (int, float, np.integer, np.floating)) or isinstance(threshold, (bool, np.bool_)):
        raise ParameterTypeError(
            f"{func}: 'threshold' must be a number; got {threshold!r} ({type(threshold).__name__}).",
            param="threshold", expected="float", found=type(threshold).__name__,
        )
    if mask_type not in _MASK_TYPES:
        raise ParameterError(
            f"Unknown mask type {mask_type}. Only 'whole-brain', 'gm' or 'wm' are accepted.",
            param="mask_type", expected=_MASK_TYPES, found=mask_type,
        )
    return check_bool(connected, "connected", func), check_opening(opening, func)


def compute_brain_mask(
    target_img: Any,
    threshold: float = 0.5,
    connected: bool = True,
    opening: bool | int = 2,
    memory: Any = None,
    verbose: int = 0,
    mask_type: str = "whole-brain",
    *,
    template: Any = None,
) -> SpatialImage:
    """Brain (or grey / white matter) mask from an MNI template resampled onto ``target_img``.

    The template (by default the shipped MNI ICBM152 2009a symmetric file for ``mask_type``,
    the one nilearn 0.14.1 uses) is cast to float32, divided by its maximum, resampled onto
    the grid of ``target_img`` (cubic spline, no clipping), thresholded (``>= threshold``) and
    post-processed (opening, largest component) as in nilearn: the mask is nilearn's, voxel
    for voxel.

    Parameters
    ----------
    target_img : niimg-like
        Only its grid (3D shape and affine) is used.
    threshold : float
        Threshold on the max-normalised template.
    connected : bool
        Keep only the largest 6-connected component.
    opening : bool or int
        Number of erosion iterations of the morphological opening.
    memory, verbose :
        Accepted for compatibility.
    mask_type : {"whole-brain", "gm", "wm"}
        Which shipped template to use when ``template`` is not given: the T1 average
        ("whole-brain"), the grey matter or the white matter probability map.
    template : niimg-like, optional (keyword only; nimask addition)
        Another template: a brain-extracted T1 for "whole-brain", a probability map for
        "gm"/"wm" (e.g. a TemplateFlow file, see :func:`find_templateflow_template`).

    Returns
    -------
    Nifti1Image
        0/1 mask on the grid of ``target_img``: uint8, or int8 (as nilearn's) when neither
        ``opening`` nor ``connected`` is on.

    Differences from nilearn
    ------------------------
    None in the mask. nimask adds ``template=``. The shipped files are read only when a
    mask is computed; if they are missing from the installation, a cached TemplateFlow
    MNI152NLin2009cAsym file is used with a :class:`~nimask.exceptions.MaskWarning` (another
    MNI template, so the mask differs slightly from nilearn's), else a ``MaskError`` says
    how to provide one.
    """
    from ..image import new_img_like, resample_to_img

    func = "compute_brain_mask"
    connected, n_open = _check_brain_params(threshold, connected, opening, mask_type, func)
    target = check_niimg(target_img)
    templ = _load_template(template, mask_type)
    resampled = resample_to_img(templ, target, interpolation="continuous", clip=False, copy_header=False)
    mask = np.asanyarray(resampled.dataobj) >= threshold
    mask = post_process_mask(
        mask, n_open, connected,
        f"{mask_type} mask is empty, lower the threshold or check your input FOV",
    )
    # nilearn thresholds into an int8 array that only opening / largest component turn into bool
    # (stored as uint8): with neither, its mask stays int8
    dtype = np.uint8 if (n_open or connected) else np.int8
    return new_img_like(target, mask.astype(dtype), target.affine, copy_header=True)


def compute_multi_brain_mask(
    target_imgs: Any,
    threshold: float = 0.5,
    connected: bool = True,
    opening: bool | int = 2,
    memory: Any = None,
    verbose: int = 0,
    mask_type: str = "whole-brain",
    *,
    template: Any = None,
) -> SpatialImage:
    """``compute_brain_mask`` for a list of images that share one grid (uses the first).

    Raises
    ------
    TypeError (ParameterError)
        Empty list, or not a list.
    GeometryError
        The images do not share one field of view.
    """
    from ._multi import check_image_list

    items = check_image_list(target_imgs, "compute_multi_brain_mask", "target_imgs")
    imgs = [check_niimg(i) for i in items]
    _check_same_fov_list(imgs)
    return compute_brain_mask(
        imgs[0], threshold=threshold, connected=connected, opening=opening, memory=memory,
        verbose=verbose, mask_type=mask_type, template=template,
    )
