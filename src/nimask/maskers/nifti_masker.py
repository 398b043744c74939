"""NiftiMasker: voxel time series inside a binary mask, cleaned (nilearn 0.14.1 numbers).

The data path is one streamed pass over the volumes: read a chunk of volumes, resample it
to the mask grid if the grids differ, smooth it, take the mask voxels, then clean the
``(T, n_voxels)`` matrix (:func:`nimask.signal.clean` on blocks of columns in a thread
pool, written back in place: the same numbers as one call). With no resampling and no
smoothing the masked voxels are gathered straight from the decompressed bytes
(:func:`nimask._nifti_io.gather_masked`). Peak memory stays near twice the output matrix.

Differences from nilearn
------------------------
* ``mask_img`` must be binary: nilearn silently binarises a mask with values {0, 2, 3}
  (or keeps the voxels nonzero in every volume of a 4D mask); nimask raises a
  :class:`~nimask.exceptions.MaskError` naming the values (or the shape).
* NaN/inf values inside the mask are set to 0 as in nilearn, but with a
  :class:`~nimask.exceptions.NimaskDataWarning` giving their count.
* ``memory_level`` is never changed in place (nilearn sets it to 1 when a cache location is
  given with level 0; nimask warns and uses level 1 internally). Level 1 caches the mask
  computation and the whole extraction of each image; cache keys use the *content* of input
  files (size, mtime and a checksum), so an input rewritten in place is never served stale.
  There are no separate level-2 caches (caching never changes the numbers).
* ``memory_level > 1`` without a cache location warns (nilearn 0.14.1 crashes).
* ``generate_report()`` gives nimask's own self-contained HTML page (mask over the mean
  image, coverage, cleaning steps, warnings, carpet plot); ``reports=False`` records nothing
  for it (``cmap`` is accepted and stored).
* Old scripts: ``sessions=`` is accepted with a ``DeprecationWarning`` and used as ``runs``.
* ``t_r`` is checked at ``fit`` even without filters: zero, negative or > 100 s (milliseconds?)
  raise a :class:`~nimask.exceptions.ParameterError` (nilearn accepts them and, once a filter
  is on, wipes the signal).
* Template strategies use the MNI ICBM152 2009a templates shipped with nimask (nilearn's
  files, so the mask is nilearn's); ``mask_args={"template": <image or path>}`` uses another
  template instead (see :func:`nimask.masking.compute_brain_mask`), where nilearn drops the
  key with a warning.

scikit-learn
------------
``get_params``/``set_params``/``clone``, Pipeline and GridSearchCV (X = list of 3D images),
``set_output`` and ``get_feature_names_out`` work. In ``sklearn.utils.estimator_checks`` the
API checks pass; the checks that fit or transform numpy arrays do not apply (X is an image,
arrays are refused with a ``TypeError`` as in nilearn): they are listed with that reason in
``tests/maskers/test_masker_nifti_sklearn.py``, where the same properties are tested on images.
"""
from __future__ import annotations

import inspect
import warnings
from typing import Any, ClassVar

import numpy as np

from .._warnings import find_stack_level
from ..exceptions import MaskError, NimaskGeometryWarning, ParameterError
from ..pipeline import needs_resampling
from ..regions._voxels import VoxelOperator, prepare_voxels
from ._base import BaseMasker
from ._cache import as_key, fingerprint
from ._docs import fill_doc
from ._inputs import binarised_mask, in_memory, pop_sessions, without_sessions_alias
from ._params import COMMON_CONSTRAINTS
from ._verbose import describe, say

__all__ = ["NiftiMasker"]

_STRATEGIES = {
    "background": ("compute_background_mask", {}),
    "epi": ("compute_epi_mask", {}),
    "whole-brain-template": ("compute_brain_mask", {"mask_type": "whole-brain"}),
    "gm-template": ("compute_brain_mask", {"mask_type": "gm"}),
    "wm-template": ("compute_brain_mask", {"mask_type": "wm"}),
}
_TEMPLATE_KEYS = ("threshold", "connected", "opening", "memory", "verbose", "template")
_RESAMPLING_WARNING = (
    "imgs are being resampled to the mask_img resolution. This process is memory intensive. You "
    "might want to provide a target_affine that is equal to the affine of the imgs or resample "
    "the mask beforehand to save memory and computation time."
)


@fill_doc
@without_sessions_alias
class NiftiMasker(BaseMasker):
    """Extract voxel time series inside a mask, optionally smoothed, resampled and cleaned.

    Drop-in replacement for ``nilearn.maskers.NiftiMasker`` (0.14.1): same parameters in the
    same order, same fitted attributes, same numbers (<= 1e-6 relative).

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
    %(memory_level=1)s
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
    >>> img = nib.Nifti1Image(np.random.default_rng(0).random((7, 8, 9, 20), dtype=np.float32), np.eye(4))
    >>> mask = np.zeros((7, 8, 9), np.uint8); mask[2:5, 2:6, 3:7] = 1
    >>> masker = NiftiMasker(nib.Nifti1Image(mask, np.eye(4)))
    >>> masker.fit_transform(img).shape
    (20, 48)
    """

    _parameter_constraints: ClassVar[dict] = {**COMMON_CONSTRAINTS, "mask_args": [None, dict],
                                              "mask_strategy": [str], "cmap": [None, str]}
    _fitted_attrs: ClassVar[tuple] = ("mask_img_",)
    _hv_first: ClassVar[bool] = True

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
        memory_level: Any = 1,
        verbose: Any = 0,
        reports: Any = True,
        cmap: Any = "gray",
        clean_args: Any = None,
        **kwargs: Any,
    ) -> None:
        self.mask_img = mask_img
        self.runs = pop_sessions(runs, kwargs, type(self).__name__)
        self.smoothing_fwhm = smoothing_fwhm
        self.standardize = standardize
        self.standardize_confounds = standardize_confounds
        self.detrend = detrend
        self.high_variance_confounds = high_variance_confounds
        self.low_pass = low_pass
        self.high_pass = high_pass
        self.t_r = t_r
        self.target_affine = target_affine
        self.target_shape = target_shape
        self.mask_strategy = mask_strategy
        self.mask_args = mask_args
        self.dtype = dtype
        self.memory = memory
        self.memory_level = memory_level
        self.verbose = verbose
        self.reports = reports
        self.cmap = cmap
        self.clean_args = clean_args

    # ---- fit -----------------------------------------------------------------------------
    def _fit(self, imgs: Any, warn_given_mask: bool) -> None:
        """Binarise the given mask (or compute one from ``imgs``) and resample it to the target."""
        if self.target_shape is not None and self.target_affine is None:
            raise ParameterError("If target_shape is specified, target_affine should be specified too.",
                                 param="target_affine")
        fit_imgs = None if imgs is None else self._load_fit_imgs(imgs)
        if self.mask_img is not None:
            if imgs is not None and warn_given_mask:
                warnings.warn(
                    f"[{type(self).__name__}.fit] Generation of a mask has been requested (imgs != None) "
                    "while a mask was given at masker creation. Given mask will be used.",
                    RuntimeWarning, stacklevel=find_stack_level(),
                )
            say(self, "fit", f"Loading mask from {describe(self.mask_img)}")
            mask_img = binarised_mask(self.mask_img)
        elif imgs is None:
            raise ParameterError(
                f"Parameter 'imgs' must be provided to {type(self).__name__}.fit() if no mask is passed "
                "to mask_img.",
                param="imgs",
            )
        else:
            say(self, "fit", f"Computing mask (mask_strategy={self.mask_strategy!r})")
            mask_img = self._compute_mask(imgs, fit_imgs)
        mask_img = self._mask_to_target(mask_img)
        self._set_mask(mask_img)
        self.affine_ = self.target_affine if self.target_affine is not None else mask_img.affine

    def _load_fit_imgs(self, imgs: Any) -> Any:
        """The fit images as one image (a list is concatenated along time), checked non-empty."""
        from .._niimg import check_niimg
        from ._inputs import load_run

        img = check_niimg(imgs, atleast_4d=True)
        if any(s == 0 for s in img.shape):
            load_run(img)  # raises the empty-image error naming the file
        return img

    def _mask_to_target(self, mask_img: Any) -> Any:
        if self.target_affine is None and self.target_shape is None:
            return mask_img
        from ..image import resample_img

        say(self, "fit", "Resampling mask onto target_affine / target_shape")
        return self._cache(
            lambda: ("resample_mask", fingerprint(mask_img), as_key(self.target_affine), as_key(self.target_shape)),
            lambda: resample_img(mask_img, target_affine=self.target_affine, target_shape=self.target_shape,
                                 interpolation="nearest", copy=False),
        )

    def _set_mask(self, mask_img: Any, allow_empty: bool = False) -> None:
        import nibabel as nib

        mask = np.asanyarray(mask_img.dataobj) != 0
        if not mask.any() and not allow_empty:
            raise MaskError(
                f"The mask is invalid as it is empty: it masks all data ({type(self).__name__}, "
                f"mask of shape {mask.shape}).",
                param="mask_img",
            )
        header = getattr(mask_img, "header", None)
        self.mask_img_ = nib.Nifti1Image(mask.astype(np.uint8), mask_img.affine, header=header)
        self.mask_img_.set_data_dtype(np.uint8)
        self.mask_img_ = in_memory(self.mask_img_)
        self._operator = prepare_voxels(mask, mask_img.affine)
        self.n_elements_ = int(mask.sum())

    def _mask_function(self, multi: bool = False) -> tuple:
        from .. import masking

        if self.mask_strategy not in _STRATEGIES:
            raise ParameterError(
                f"Unknown value of mask_strategy '{self.mask_strategy}'. Acceptable values are "
                f"{tuple(_STRATEGIES)}.",
                param="mask_strategy", found=self.mask_strategy,
            )
        name, fixed = _STRATEGIES[self.mask_strategy]
        if multi:
            name = name.replace("compute_", "compute_multi_")
        return getattr(masking, name), dict(fixed)

    def _mask_kwargs(self, func: Any, fixed: dict) -> dict:
        accepted = set(inspect.signature(func).parameters)
        if "mask_type" in fixed:
            accepted &= set(_TEMPLATE_KEYS)
        args = dict(self.mask_args or {})
        dropped = sorted(k for k in args if k not in accepted)
        if dropped:
            warnings.warn(
                f"The following arguments are not supported by the masking strategy "
                f"'{self.mask_strategy}': {dropped}",
                UserWarning, stacklevel=find_stack_level(),
            )
        kwargs = {k: v for k, v in args.items() if k in accepted}
        kwargs.update(fixed)
        kwargs["verbose"] = max(0, int(self.verbose) - 1)
        return kwargs

    def _compute_mask(self, imgs: Any, fit_imgs: Any) -> Any:
        func, fixed = self._mask_function()
        kwargs = self._mask_kwargs(func, fixed)
        key = lambda: ("mask", func.__name__, fingerprint(imgs), {k: fingerprint(v) for k, v in kwargs.items()})  # noqa: E731
        return self._cache(key, lambda: func(fit_imgs, **kwargs))

    # ---- transform -----------------------------------------------------------------------
    def operator_for(self, img: Any) -> VoxelOperator:
        """The mask voxels on the mask grid; cropped to the mask's box when ``img`` must be resampled."""
        self._check_fitted()
        op = self._non_empty_operator()
        if not needs_resampling(img, op.shape, op.affine):
            return op
        warnings.warn(_RESAMPLING_WARNING, NimaskGeometryWarning, stacklevel=find_stack_level())
        return prepare_voxels(op.mask, op.affine, crop=True)

    def _non_empty_operator(self) -> VoxelOperator:
        """The fitted operator; an empty mask (a mask computed by MultiNiftiMasker.fit may be
        empty) is refused when used, as nilearn refuses it at transform / inverse_transform."""
        op = self._operator
        if not op.mask.any():
            raise MaskError(
                f"The mask is invalid as it is empty: it masks all data ({type(self).__name__}: the mask "
                f"computed at fit with mask_strategy={self.mask_strategy!r} has no voxel).",
                param="mask_img",
            )
        return op

    def _nothing_to_clean(self, confounds: Any, sample_mask: Any) -> bool:
        return (
            confounds is None and sample_mask is None and self.runs is None and not self.detrend
            and self.standardize in (False, None) and self.low_pass is None and self.high_pass is None
            and not self.clean_args_
        )

    # ---- inverse -------------------------------------------------------------------------
    def inverse_transform(self, X: Any) -> Any:
        """Image of ``X`` on the mask grid: 1-D ``(n_elements_,)`` gives 3D, 2D gives 4D."""
        X, dtype = self._inverse_input(X, "X")
        mask = self._non_empty_operator().mask
        if X.ndim == 1:
            data = np.zeros(mask.shape, dtype=dtype)
            data[mask] = X
        else:
            data = np.zeros(mask.shape + (X.shape[0],), dtype=dtype, order="F")
            data[mask] = X.T
        return self._inverse_image(data, self.mask_img_.affine, dtype)
