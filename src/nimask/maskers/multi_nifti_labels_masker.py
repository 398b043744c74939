"""MultiNiftiLabelsMasker: NiftiLabelsMasker applied to a list of images (one array each).

Same parameters, numbers and fitted attributes as nilearn 0.14.1's
``MultiNiftiLabelsMasker``: ``transform`` of one image behaves as the single masker; a
list gives a list of arrays. The images of a list must share the first image's field of
view (no realignment, as nilearn). ``n_jobs`` runs images in parallel threads (the
extraction releases the GIL in numpy and in the reader); the atlas is analysed once.

Differences from nilearn: those of :class:`~nimask.maskers.NiftiLabelsMasker`.
"""
from __future__ import annotations

import numpy as np

from .._niimg import _check_same_fov_list, check_niimg, is_niimg_like
from ..exceptions import ConfoundsError, SampleMaskError
from ..reporting._record import reported
from .nifti_labels_masker import NiftiLabelsMasker

__all__ = ["MultiNiftiLabelsMasker"]


class MultiNiftiLabelsMasker(NiftiLabelsMasker):
    """Labels masker for several subjects: ``transform`` of a list returns a list of arrays.

    Parameters are NiftiLabelsMasker's plus ``n_jobs`` (default ``cmap="CMRmap_r"``).
    """

    def __init__(
        self,
        labels_img=None,
        labels=None,
        lut=None,
        background_label=0,
        mask_img=None,
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
        memory=None,
        memory_level=1,
        verbose=0,
        strategy="mean",
        keep_masked_labels=False,
        reports=True,
        cmap="CMRmap_r",
        n_jobs=1,
        clean_args=None,
        keep_all_regions=False,
        min_coverage=None,
    ):
        super().__init__(
            labels_img=labels_img, labels=labels, lut=lut, background_label=background_label, mask_img=mask_img,
            smoothing_fwhm=smoothing_fwhm, standardize=standardize, standardize_confounds=standardize_confounds,
            high_variance_confounds=high_variance_confounds, detrend=detrend, low_pass=low_pass,
            high_pass=high_pass, t_r=t_r, dtype=dtype, resampling_target=resampling_target, memory=memory,
            memory_level=memory_level, verbose=verbose, strategy=strategy, keep_masked_labels=keep_masked_labels,
            reports=reports, cmap=cmap, clean_args=clean_args, keep_all_regions=keep_all_regions,
            min_coverage=min_coverage,
        )
        self.n_jobs = n_jobs

    def _check_params(self) -> None:
        super()._check_params()
        if not isinstance(self.n_jobs, (int, np.integer)) or isinstance(self.n_jobs, bool):
            raise TypeError(f"'n_jobs' must be an int; got {self.n_jobs!r} ({type(self.n_jobs).__name__}).")

    @reported("fit")
    def fit(self, imgs=None, y=None):
        """As NiftiLabelsMasker.fit; a list of images gives the grid of its first image."""
        if imgs is not None and not is_niimg_like(imgs):
            imgs = list(imgs)
            imgs = imgs[0] if imgs else None
        return super().fit(imgs, y)

    @reported("fit_transform")
    def fit_transform(self, imgs, y=None, confounds=None, sample_mask=None):
        """Fit on ``imgs`` then transform them (a list gives a list)."""
        return self.fit(imgs, y).transform(imgs, confounds=confounds, sample_mask=sample_mask)

    @reported("transform")
    def transform(self, imgs, confounds=None, sample_mask=None):
        """One image: as NiftiLabelsMasker. A list: a list of arrays, one per image."""
        self._check_fitted()
        if is_niimg_like(imgs):
            if isinstance(confounds, list):
                confounds = confounds[0] if confounds else None
            if isinstance(sample_mask, list) and sample_mask and not np.isscalar(sample_mask[0]):
                sample_mask = sample_mask[0]
            return self.transform_single_imgs(imgs, confounds=confounds, sample_mask=sample_mask)
        return self.transform_imgs(imgs, confounds=confounds, n_jobs=self.n_jobs, sample_mask=sample_mask)

    def transform_imgs(self, imgs_list, confounds=None, n_jobs=1, sample_mask=None):
        """Region signals of each image of ``imgs_list`` (a list of arrays)."""
        self._check_fitted()
        imgs_list = list(imgs_list)
        n = len(imgs_list)
        confounds = _per_image(confounds, n, "confounds", ConfoundsError)
        sample_mask = _per_image(sample_mask, n, "sample_mask", SampleMaskError)
        loaded = [check_niimg(img) for img in imgs_list]
        if loaded:
            _check_same_fov_list(loaded)
            ndims = {len(img.shape) for img in loaded}
            if len(ndims) > 1:
                from ..exceptions import DimensionError

                raise DimensionError(
                    4, 4,
                    f"The images of the list mix 3D and 4D images (dimensions {sorted(ndims)}); pass only 3D "
                    f"or only 4D images.",
                )
        if n_jobs == 1 or n < 2:
            return [self.transform_single_imgs(i, confounds=c, sample_mask=s)
                    for i, c, s in zip(loaded, confounds, sample_mask)]
        from joblib import Parallel, delayed

        if loaded:  # analyse the atlas once, before the threads share it
            self._operator(*self._grid(loaded[0]))
        return Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(self.transform_single_imgs)(i, confounds=c, sample_mask=s)
            for i, c, s in zip(loaded, confounds, sample_mask)
        )


def _per_image(values, n: int, name: str, error):
    if values is None:
        return [None] * n
    if not isinstance(values, list):
        raise TypeError(f"'{name}' must be a None or a list. Got {type(values).__name__}.")
    if len(values) != n:
        raise error(f"number of {name} ({len(values)}) unequal to number of images ({n}).", param=name)
    return values
