"""MultiNiftiMapsMasker: NiftiMapsMasker applied to a list of images (one array per image)."""
from __future__ import annotations

from typing import Any, ClassVar

from ._docs import fill_doc
from ._multi import N_JOBS_CONSTRAINT, MultiImagesMixin
from .nifti_maps_masker import NiftiMapsMasker

__all__ = ["MultiNiftiMapsMasker"]


@fill_doc
class MultiNiftiMapsMasker(MultiImagesMixin, NiftiMapsMasker, auto_wrap_output_keys=None):
    """Maps masker for several subjects: ``transform`` of a list returns a list of arrays.

    The parameters are NiftiMapsMasker's plus ``n_jobs``. Images of a list must share the
    first image's field of view.

    Parameters
    ----------
    %(maps.maps_img)s
    %(maps.mask_img)s
    %(maps.allow_overlap)s
    %(smoothing_fwhm)s
    %(standardize)s
    %(standardize_confounds)s
    %(high_variance_confounds)s
    %(detrend)s
    %(low_pass)s
    %(high_pass)s
    %(t_r)s
    %(dtype)s
    %(maps.resampling_target)s
    %(maps.keep_masked_maps)s
    %(memory)s
    %(memory_level=0)s
    %(verbose)s
    %(reports)s
    %(maps.cmap)s
    %(n_jobs)s
    %(clean_args)s
    %(maps.min_coverage)s

    Attributes
    ----------
    %(clean_args_)s
    %(maps.maps_img_)s
    %(maps.mask_img_)s
    %(memory_)s
    %(maps.n_elements_)s
    %(maps.region_coverage_)s
    """

    _parameter_constraints: ClassVar[dict] = {**NiftiMapsMasker._parameter_constraints, **N_JOBS_CONSTRAINT}

    def __init__(
        self,
        maps_img: Any = None,
        mask_img: Any = None,
        allow_overlap: Any = True,
        smoothing_fwhm: Any = None,
        standardize: Any = False,
        standardize_confounds: Any = True,
        high_variance_confounds: Any = False,
        detrend: Any = False,
        low_pass: Any = None,
        high_pass: Any = None,
        t_r: Any = None,
        dtype: Any = None,
        resampling_target: Any = "data",
        keep_masked_maps: Any = False,
        memory: Any = None,
        memory_level: Any = 0,
        verbose: Any = 0,
        reports: Any = True,
        cmap: Any = "CMRmap_r",
        n_jobs: Any = 1,
        clean_args: Any = None,
        min_coverage: Any = None,
    ) -> None:
        super().__init__(
            maps_img=maps_img, mask_img=mask_img, allow_overlap=allow_overlap, smoothing_fwhm=smoothing_fwhm,
            standardize=standardize, standardize_confounds=standardize_confounds,
            high_variance_confounds=high_variance_confounds, detrend=detrend, low_pass=low_pass,
            high_pass=high_pass, t_r=t_r, dtype=dtype, resampling_target=resampling_target,
            keep_masked_maps=keep_masked_maps, memory=memory, memory_level=memory_level, verbose=verbose,
            reports=reports, cmap=cmap, clean_args=clean_args,
            min_coverage=min_coverage,
        )
        self.n_jobs = n_jobs
