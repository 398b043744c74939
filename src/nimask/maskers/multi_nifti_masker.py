"""MultiNiftiMasker: NiftiMasker over a list of subjects (one array per image), nilearn 0.14.1 numbers.

Differences from nilearn
------------------------
As :class:`~nimask.maskers.NiftiMasker` (binary masks only, NaN/inf warnings, content-keyed
cache, no in-place change of ``memory_level``), plus:

* ``n_jobs`` runs the images in threads (the heavy steps release the GIL), so the output
  arrays are not copied between processes.
* ``dtype`` applies to single images only: like nilearn 0.14.1, the outputs of a list keep the
  pipeline dtype (float32 for float32 and integer images, float64 for float64 images).
* Lists mixing 3D and 4D images are accepted (nilearn raises a ``DimensionError``); with
  ``target_affine`` set, list items may have different grids (each is resampled to the mask).
* The user's ``confounds`` list is never modified (nilearn appends the high-variance
  confounds to it in place).
"""
from __future__ import annotations

import warnings

import numpy as np

from .._niimg import check_niimg, is_niimg_like, same_fov
from ..exceptions import ConfoundsError, NimaskGeometryWarning, SampleMaskError
from ..reporting._record import reported
from ._base import fingerprint
from .nifti_masker import NiftiMasker, _pop_sessions

__all__ = ["MultiNiftiMasker"]


class MultiNiftiMasker(NiftiMasker, auto_wrap_output_keys=None):
    """NiftiMasker for several subjects: ``transform`` of a list returns a list of arrays.

    Same parameters as :class:`NiftiMasker` plus ``n_jobs`` (default ``memory_level`` 0).
    The mask, when computed, comes from the *multi* mask functions (one mask per image,
    intersected), which receive ``target_affine``/``target_shape`` and ``n_jobs``. Images of
    a list whose field of view differs from the first image's are resampled to it first
    (when no ``target_affine`` is given), with a warning.

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> rng = np.random.default_rng(0)
    >>> imgs = [nib.Nifti1Image(rng.random((7, 8, 9, t), dtype=np.float32), np.eye(4)) for t in (10, 12)]
    >>> mask = np.zeros((7, 8, 9), np.uint8); mask[2:5, 2:6, 3:7] = 1
    >>> [x.shape for x in MultiNiftiMasker(nib.Nifti1Image(mask, np.eye(4))).fit_transform(imgs)]
    [(10, 48), (12, 48)]
    """

    def __init__(
        self,
        mask_img=None,
        runs=None,
        smoothing_fwhm=None,
        standardize=False,
        standardize_confounds=True,
        detrend=False,
        high_variance_confounds=False,
        low_pass=None,
        high_pass=None,
        t_r=None,
        target_affine=None,
        target_shape=None,
        mask_strategy="background",
        mask_args=None,
        dtype=None,
        memory=None,
        memory_level=0,
        n_jobs=1,
        verbose=0,
        reports=True,
        cmap="gray",
        clean_args=None,
        **kwargs,
    ):
        runs = _pop_sessions(runs, kwargs, type(self).__name__)
        super().__init__(
            mask_img=mask_img, runs=runs, smoothing_fwhm=smoothing_fwhm, standardize=standardize,
            standardize_confounds=standardize_confounds, detrend=detrend,
            high_variance_confounds=high_variance_confounds, low_pass=low_pass, high_pass=high_pass,
            t_r=t_r, target_affine=target_affine, target_shape=target_shape, mask_strategy=mask_strategy,
            mask_args=mask_args, dtype=dtype, memory=memory, memory_level=memory_level, verbose=verbose,
            reports=reports, cmap=cmap, clean_args=clean_args,
        )
        self.n_jobs = n_jobs

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.n_jobs, (int, np.integer)) or isinstance(self.n_jobs, bool):
            raise TypeError(f"MultiNiftiMasker: 'n_jobs' must be an int; got {self.n_jobs!r} ({type(self.n_jobs).__name__}).")

    # ---- fit -----------------------------------------------------------------------------
    def _compute_mask(self, imgs, imgs_img):
        if self.mask_strategy == "template":
            warnings.warn(
                "Masking strategy 'template' is deprecated. Please use 'whole-brain-template' instead.",
                DeprecationWarning, stacklevel=4,
            )
            from ..masking import compute_brain_mask

            kwargs = self._mask_kwargs(compute_brain_mask, {"mask_type": "whole-brain"})
            key = lambda: ("mask", "template", fingerprint(imgs), {k: fingerprint(v) for k, v in kwargs.items()})  # noqa: E731
            target = imgs_img[0] if isinstance(imgs_img, list) else imgs_img
            return self._cache(key, lambda: compute_brain_mask(target, **kwargs))
        import inspect

        func, fixed = self._mask_function(multi=True)
        kwargs = self._mask_kwargs(func, fixed)
        accepted = inspect.signature(func).parameters
        extra = {"n_jobs": self.n_jobs, "target_affine": self.target_affine, "target_shape": self.target_shape}
        kwargs.update({k: v for k, v in extra.items() if v is not None and k in accepted})
        items = imgs_img if isinstance(imgs_img, list) else [imgs_img]
        key = lambda: ("multi-mask", func.__name__, fingerprint(items),  # noqa: E731
               {k: fingerprint(v) for k, v in kwargs.items() if k != "n_jobs"})
        return self._cache(key, lambda: func(items, **kwargs))

    def _set_mask(self, mask_img, allow_empty: bool = False) -> None:
        # a computed mask may be empty (nilearn warns when computing it); a given one may not
        super()._set_mask(mask_img, allow_empty=allow_empty or self.mask_img is None)

    # ---- output container (a list is never wrapped) -----------------------------------------
    def set_output(self, *, transform=None):
        """As scikit-learn's: single-image outputs become DataFrames; list items stay numpy."""
        if transform is not None:
            self._sklearn_output_config = {**getattr(self, "_sklearn_output_config", {}), "transform": transform}
        return self

    def _wrap(self, signals):
        config = getattr(self, "_sklearn_output_config", {}).get("transform")
        if config in (None, "default"):
            return signals
        data, names = np.atleast_2d(signals), [str(n) for n in self.get_feature_names_out()]
        if config == "polars":
            import polars as pl

            return pl.DataFrame(data, schema=names, orient="row")
        import pandas as pd

        return pd.DataFrame(data, columns=names)

    # ---- transform -----------------------------------------------------------------------
    @reported("transform")
    def transform(self, imgs, confounds=None, sample_mask=None):
        """One image: as NiftiMasker. A list (or other iterable): a list of arrays."""
        self._check_fitted()
        for name, value in (("confounds", confounds), ("sample_mask", sample_mask)):
            if value is not None and not isinstance(value, list):
                raise TypeError(f"'{name}' must be a None or a list. Got {type(value).__name__}.")
        if is_niimg_like(imgs):
            self._warn_bool_standardize()
            confounds = confounds[0] if confounds else None
            sample_mask = sample_mask[0] if sample_mask else None
            return self._wrap(self.transform_single_imgs(imgs, confounds, sample_mask))
        return self.transform_imgs(imgs, confounds=confounds, sample_mask=sample_mask, n_jobs=self.n_jobs)

    def transform_imgs(self, imgs_list, confounds=None, sample_mask=None, copy=True, n_jobs=1):
        """Signals of each image of ``imgs_list`` (list of arrays, in order)."""
        self._check_fitted()
        self._warn_bool_standardize()
        imgs_list = list(imgs_list)
        n = len(imgs_list)
        confounds = _per_image(confounds, n, "confounds", ConfoundsError)
        sample_mask = _per_image(sample_mask, n, "sample_mask", SampleMaskError)
        imgs_list = self._realigned(imgs_list)
        # nilearn 0.14.1's list path never applies ``dtype``: the pipeline dtype is returned
        jobs = [(i, c, s, False) for i, c, s in zip(imgs_list, confounds, sample_mask)]
        if n_jobs == 1 or n < 2:
            return [self._transform_one(*job) for job in jobs]
        from joblib import Parallel, delayed

        return Parallel(n_jobs=n_jobs, prefer="threads")(delayed(self._transform_one)(*job) for job in jobs)

    def _realigned(self, imgs_list):
        """Images on another grid than the first one are resampled to it (no target_affine)."""
        if self.target_affine is not None or len(imgs_list) < 2:
            return imgs_list
        from ..image import resample_img

        loaded = [check_niimg(img) for img in imgs_list]
        ref = loaded[0]
        out = [imgs_list[0]]
        warned = False
        for raw, img in zip(imgs_list[1:], loaded[1:]):
            if same_fov(img, ref):
                out.append(raw)
                continue
            if not warned:
                warnings.warn("Affine is different across subjects. Realignment on first subject affine forced",
                              NimaskGeometryWarning, stacklevel=3)
                warned = True
            out.append(resample_img(img, target_affine=ref.affine, target_shape=ref.shape[:3]))
        return out

    def _with_high_variance(self, img, confounds):
        """The Multi masker's order: the user's confounds first, then the 5 high-variance ones."""
        from ..signal import load_confounds_array

        hv = NiftiMasker._with_high_variance(img, None)
        if confounds is None:
            return hv
        user = load_confounds_array(confounds, hv.shape[0])
        return np.hstack([user, hv])

    @reported("fit_transform")
    def fit_transform(self, imgs, y=None, confounds=None, sample_mask=None):
        """Fit on ``imgs`` and transform them (a list gives a list)."""
        self._in_fit_transform = True
        try:
            self.fit(imgs, y)
        finally:
            del self._in_fit_transform
        return self.transform(imgs, confounds=confounds, sample_mask=sample_mask)

    def _load_fit_imgs(self, imgs):
        """Each image of the list is checked (3D/4D, not empty); the list is not concatenated."""
        if is_niimg_like(imgs):
            return super()._load_fit_imgs(imgs)
        items = list(imgs)
        for item in items:
            super()._load_fit_imgs(item)
        return items


def _per_image(values, n: int, name: str, error):
    if values is None:
        return [None] * n
    if len(values) != n:
        raise error(f"number of {name} ({len(values)}) unequal to number of images ({n}).", param=name)
    return values
