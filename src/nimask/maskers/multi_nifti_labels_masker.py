"""MultiNiftiLabelsMasker: NiftiLabelsMasker applied to a list of images (one array each).

Same parameters, numbers and fitted attributes as nilearn 0.14.1's
``MultiNiftiLabelsMasker``: ``transform`` of one image behaves as the single masker; a
list gives a list of arrays. The images of a list must share the first image's field of
view (no realignment, as nilearn). ``n_jobs`` runs images in parallel threads (the
extraction releases the GIL in numpy and in the reader); the atlas is analysed once.

Differences from nilearn: those of :class:`~nimask.maskers.NiftiLabelsMasker`.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ._multi import N_JOBS_CONSTRAINT, MultiImagesMixin
from .nifti_labels_masker import NiftiLabelsMasker

__all__ = ["MultiNiftiLabelsMasker"]


class MultiNiftiLabelsMasker(MultiImagesMixin, NiftiLabelsMasker):
    """Labels masker for several subjects: ``transform`` of a list returns a list of arrays.

    Parameters are NiftiLabelsMasker's plus ``n_jobs`` (default ``cmap="CMRmap_r"``).
    """

    _parameter_constraints: ClassVar[dict] = {**NiftiLabelsMasker._parameter_constraints, **N_JOBS_CONSTRAINT}

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

    def _fit(self, imgs: Any, warn_given_mask: bool) -> None:
        """As NiftiLabelsMasker's; a list of images gives the grid of its first image."""
        super()._fit(self._first_image(imgs), warn_given_mask)
