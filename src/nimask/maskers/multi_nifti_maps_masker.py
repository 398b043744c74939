"""MultiNiftiMapsMasker: NiftiMapsMasker applied to a list of images (one array per image)."""
from __future__ import annotations

import numpy as np

from .._niimg import _check_same_fov_list, check_niimg, is_niimg_like
from ..exceptions import ConfoundsError, SampleMaskError
from ..reporting._record import reported
from .nifti_maps_masker import NiftiMapsMasker

__all__ = ["MultiNiftiMapsMasker"]


class MultiNiftiMapsMasker(NiftiMapsMasker):
    """Maps masker for several subjects: ``transform`` of a list returns a list of arrays.

    Parameters are NiftiMapsMasker's plus ``n_jobs`` (images processed in parallel with
    joblib). Images of a list must share the first image's field of view.
    """

    def __init__(
        self,
        maps_img=None,
        mask_img=None,
        allow_overlap=True,
        smoothing_fwhm=None,
        standardize=False,
        standardize_confounds=True,
        high_variance_confounds=False,
        detrend=False,
        low_pass=None,
        high_pass=None,
        t_r=None,
        dtype=None,
        resampling_target="data",
        keep_masked_maps=False,
        memory=None,
        memory_level=0,
        verbose=0,
        reports=True,
        cmap="CMRmap_r",
        n_jobs=1,
        clean_args=None,
    ):
        super().__init__(
            maps_img=maps_img, mask_img=mask_img, allow_overlap=allow_overlap, smoothing_fwhm=smoothing_fwhm,
            standardize=standardize, standardize_confounds=standardize_confounds,
            high_variance_confounds=high_variance_confounds, detrend=detrend, low_pass=low_pass,
            high_pass=high_pass, t_r=t_r, dtype=dtype, resampling_target=resampling_target,
            keep_masked_maps=keep_masked_maps, memory=memory, memory_level=memory_level, verbose=verbose,
            reports=reports, cmap=cmap, clean_args=clean_args,
        )
        self.n_jobs = n_jobs

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.n_jobs, (int, np.integer)) or isinstance(self.n_jobs, bool):
            raise TypeError(f"'n_jobs' must be an int, found {self.n_jobs!r}.")

    @reported("fit")
    def fit(self, imgs=None, y=None):
        """As NiftiMapsMasker.fit; a list of images gives the grid of its first image."""
        if imgs is not None and not is_niimg_like(imgs):
            imgs = list(imgs)
            imgs = imgs[0] if imgs else None
        return super().fit(imgs, y)

    @reported("transform")
    def transform(self, imgs, confounds=None, sample_mask=None):
        """One image: as NiftiMapsMasker. A list: a list of arrays (one per image)."""
        self._check_fitted()
        if is_niimg_like(imgs):
            if isinstance(confounds, list):
                confounds = confounds[0] if confounds else None
            if isinstance(sample_mask, list) and sample_mask and not np.isscalar(sample_mask[0]):
                sample_mask = sample_mask[0]
            return self.transform_single_imgs(imgs, confounds=confounds, sample_mask=sample_mask)
        return self.transform_imgs(imgs, confounds=confounds, n_jobs=self.n_jobs, sample_mask=sample_mask)

    def transform_imgs(self, imgs_list, confounds=None, n_jobs=1, sample_mask=None):
        """Extract the signals of each image of ``imgs_list`` (list of arrays)."""
        self._check_fitted()
        imgs_list = list(imgs_list)
        n = len(imgs_list)
        confounds = _per_image(confounds, n, "confounds", ConfoundsError)
        sample_mask = _per_image(sample_mask, n, "sample_mask", SampleMaskError)
        loaded = [check_niimg(img) for img in imgs_list]
        if loaded:
            _check_same_fov_list(loaded)
        if n_jobs == 1 or n < 2:
            return [self.transform_single_imgs(i, confounds=c, sample_mask=s) for i, c, s in zip(loaded, confounds, sample_mask)]
        from joblib import Parallel, delayed

        return Parallel(n_jobs=n_jobs)(
            delayed(self.transform_single_imgs)(i, confounds=c, sample_mask=s)
            for i, c, s in zip(loaded, confounds, sample_mask)
        )

    @reported("fit_transform")
    def fit_transform(self, imgs, y=None, confounds=None, sample_mask=None):
        return self.fit(imgs, y).transform(imgs, confounds=confounds, sample_mask=sample_mask)


def _per_image(values, n: int, name: str, error):
    if values is None:
        return [None] * n
    if not isinstance(values, list):
        raise TypeError(f"'{name}' must be a None or a list. Got {type(values).__name__}.")
    if len(values) != n:
        raise error(f"number of {name} ({len(values)}) unequal to number of images ({n}).", param=name)
    return values
