"""MultiNiftiMasker: NiftiMasker over a list of subjects (one array per image), nilearn 0.14.1 numbers.

Differences from nilearn
------------------------
As :class:`~nimask.maskers.NiftiMasker` (binary masks only, NaN/inf warnings, content-keyed
cache, no in-place change of ``memory_level``), plus:

* ``n_jobs`` runs the images in threads (the heavy steps release the GIL), so the output
  arrays are not copied between processes (as every Multi masker, see ``_multi``).
* ``dtype`` applies to single images only: like nilearn 0.14.1, the outputs of a list keep the
  pipeline dtype (float32 for float32 and integer images, float64 for float64 images).
* Lists mixing 3D and 4D images are accepted (nilearn raises a ``DimensionError``); with
  ``target_affine`` set, list items may have different grids (each is resampled to the mask).
* The user's ``confounds`` list is never modified (nilearn appends the high-variance
  confounds to it in place).
"""
from __future__ import annotations

import warnings
from typing import Any, ClassVar

from .._niimg import is_niimg_like
from .._warnings import find_stack_level
from ._cache import fingerprint
from ._docs import fill_doc
from ._inputs import pop_sessions, without_sessions_alias
from ._multi import N_JOBS_CONSTRAINT, MultiImagesMixin
from .nifti_masker import NiftiMasker

__all__ = ["MultiNiftiMasker"]


@fill_doc
@without_sessions_alias
class MultiNiftiMasker(MultiImagesMixin, NiftiMasker, auto_wrap_output_keys=None):
    """NiftiMasker for several subjects: ``transform`` of a list returns a list of arrays.

    Same parameters as :class:`NiftiMasker` plus ``n_jobs`` (default ``memory_level`` 0).
    The mask, when computed, comes from the *multi* mask functions (one mask per image,
    intersected), which receive ``target_affine``/``target_shape`` and ``n_jobs``. Images of
    a list whose field of view differs from the first image's are resampled to it first
    (when no ``target_affine`` is given), with a warning.

    Parameters
    ----------
    %(voxels.mask_img)s
    %(voxels.runs)s
    %(smoothing_fwhm)s
    %(standardize)s
    %(standardize_confounds)s
    %(detrend)s
    %(high_variance_confounds)s
    %(low_pass)s
    %(high_pass)s
    %(t_r)s
    %(voxels.target_affine)s
    %(voxels.target_shape)s
    %(voxels.mask_strategy)s
    %(voxels.mask_args)s
    %(dtype)s
    %(memory)s
    %(memory_level=0)s
    %(n_jobs)s
    %(verbose)s
    %(reports)s
    %(voxels.cmap)s
    %(clean_args)s
    %(voxels.kwargs)s

    Attributes
    ----------
    %(voxels.affine_)s
    %(clean_args_)s
    %(voxels.mask_img_)s
    %(memory_)s
    %(voxels.n_elements_)s

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> rng = np.random.default_rng(0)
    >>> imgs = [nib.Nifti1Image(rng.random((7, 8, 9, t), dtype=np.float32), np.eye(4)) for t in (10, 12)]
    >>> mask = np.zeros((7, 8, 9), np.uint8); mask[2:5, 2:6, 3:7] = 1
    >>> [x.shape for x in MultiNiftiMasker(nib.Nifti1Image(mask, np.eye(4))).fit_transform(imgs)]
    [(10, 48), (12, 48)]
    """

    _parameter_constraints: ClassVar[dict] = {**NiftiMasker._parameter_constraints, **N_JOBS_CONSTRAINT}
    _hv_first: ClassVar[bool] = False  # the Multi masker puts the user's confounds first
    _realign_list = True
    _cast_list = False
    _fit_on_list = True

    def __init__(
        self,
        mask_img: Any = None,
        runs: Any = None,
        smoothing_fwhm: Any = None,
        standardize: Any = False,
        standardize_confounds: Any = True,
        detrend: Any = False,
        high_variance_confounds: Any = False,
        low_pass: Any = None,
        high_pass: Any = None,
        t_r: Any = None,
        target_affine: Any = None,
        target_shape: Any = None,
        mask_strategy: Any = "background",
        mask_args: Any = None,
        dtype: Any = None,
        memory: Any = None,
        memory_level: Any = 0,
        n_jobs: Any = 1,
        verbose: Any = 0,
        reports: Any = True,
        cmap: Any = "gray",
        clean_args: Any = None,
        **kwargs: Any,
    ) -> None:
        runs = pop_sessions(runs, kwargs, type(self).__name__)
        super().__init__(
            mask_img=mask_img, runs=runs, smoothing_fwhm=smoothing_fwhm, standardize=standardize,
            standardize_confounds=standardize_confounds, detrend=detrend,
            high_variance_confounds=high_variance_confounds, low_pass=low_pass, high_pass=high_pass,
            t_r=t_r, target_affine=target_affine, target_shape=target_shape, mask_strategy=mask_strategy,
            mask_args=mask_args, dtype=dtype, memory=memory, memory_level=memory_level, verbose=verbose,
            reports=reports, cmap=cmap, clean_args=clean_args,
        )
        self.n_jobs = n_jobs

    # ---- fit -----------------------------------------------------------------------------
    def _compute_mask(self, imgs: Any, fit_imgs: Any) -> Any:
        if self.mask_strategy == "template":
            warnings.warn(
                "Masking strategy 'template' is deprecated. Please use 'whole-brain-template' instead.",
                UserWarning, stacklevel=find_stack_level(),  # nilearn's category (always shown)
            )
            from ..masking import compute_brain_mask

            kwargs = self._mask_kwargs(compute_brain_mask, {"mask_type": "whole-brain"})
            key = lambda: ("mask", "template", fingerprint(imgs), {k: fingerprint(v) for k, v in kwargs.items()})  # noqa: E731
            target = fit_imgs[0] if isinstance(fit_imgs, list) else fit_imgs
            return self._cache(key, lambda: compute_brain_mask(target, **kwargs))
        import inspect

        func, fixed = self._mask_function(multi=True)
        kwargs = self._mask_kwargs(func, fixed)
        accepted = inspect.signature(func).parameters
        extra = {"n_jobs": self.n_jobs, "target_affine": self.target_affine, "target_shape": self.target_shape}
        kwargs.update({k: v for k, v in extra.items() if v is not None and k in accepted})
        items = fit_imgs if isinstance(fit_imgs, list) else [fit_imgs]
        key = lambda: ("multi-mask", func.__name__, fingerprint(items),  # noqa: E731
                       {k: fingerprint(v) for k, v in kwargs.items() if k != "n_jobs"})
        return self._cache(key, lambda: func(items, **kwargs))

    def _set_mask(self, mask_img: Any, allow_empty: bool = False) -> None:
        # a computed mask may be empty (nilearn warns when computing it); a given one may not
        super()._set_mask(mask_img, allow_empty=allow_empty or self.mask_img is None)

    def _load_fit_imgs(self, imgs: Any) -> Any:
        """Each image of the list is checked (3D/4D, not empty); the list is not concatenated."""
        if is_niimg_like(imgs):
            return super()._load_fit_imgs(imgs)
        items = list(imgs)
        for item in items:
            super()._load_fit_imgs(item)
        return items
