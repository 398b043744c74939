"""MultiNiftiMapsMasker: NiftiMapsMasker applied to a list of images (one array per image)."""
from __future__ import annotations

from typing import Any, ClassVar

from ._multi import N_JOBS_CONSTRAINT, MultiImagesMixin
from .nifti_maps_masker import NiftiMapsMasker

__all__ = ["MultiNiftiMapsMasker"]


class MultiNiftiMapsMasker(MultiImagesMixin, NiftiMapsMasker):
    """Maps masker for several subjects: ``transform`` of a list returns a list of arrays.

    Parameters are NiftiMapsMasker's plus ``n_jobs`` (images processed in parallel with
    joblib). Images of a list must share the first image's field of view.
    """

    _parameter_constraints: ClassVar[dict] = {**NiftiMapsMasker._parameter_constraints, **N_JOBS_CONSTRAINT}

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

    def _fit(self, imgs: Any, warn_given_mask: bool) -> None:
        """As NiftiMapsMasker's; a list of images gives the grid of its first image."""
        super()._fit(self._first_image(imgs), warn_given_mask)
