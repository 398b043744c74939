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

from ._docs import fill_doc
from ._multi import N_JOBS_CONSTRAINT, MultiImagesMixin
from .nifti_labels_masker import NiftiLabelsMasker

__all__ = ["MultiNiftiLabelsMasker"]


@fill_doc
class MultiNiftiLabelsMasker(MultiImagesMixin, NiftiLabelsMasker, auto_wrap_output_keys=None):
    """Labels masker for several subjects: ``transform`` of a list returns a list of arrays.

    The parameters are NiftiLabelsMasker's plus ``n_jobs`` (and ``cmap`` defaults to
    "CMRmap_r").

    Parameters
    ----------
    %(labels.labels_img)s
    %(labels.labels)s
    %(labels.lut)s
    %(labels.background_label)s
    %(labels.mask_img)s
    %(smoothing_fwhm)s
    %(standardize)s
    %(standardize_confounds)s
    %(high_variance_confounds)s
    %(detrend)s
    %(low_pass)s
    %(high_pass)s
    %(t_r)s
    %(dtype)s
    %(labels.resampling_target)s
    %(memory)s
    %(memory_level=1)s
    %(verbose)s
    %(labels.strategy)s
    %(labels.keep_masked_labels)s
    %(reports)s
    %(labels.cmap="CMRmap_r")s
    %(n_jobs)s
    %(clean_args)s
    %(labels.keep_all_regions)s
    %(labels.min_coverage)s

    Attributes
    ----------
    %(clean_args_)s
    %(labels.labels_)s
    %(labels.labels_img_)s
    %(labels.lut_)s
    %(labels.mask_img_)s
    %(memory_)s
    %(labels.n_elements_)s
    %(labels.region_atlas_)s
    %(labels.region_coverage_)s
    %(labels.region_ids_)s
    %(labels.region_names_)s
    """

    _parameter_constraints: ClassVar[dict] = {**NiftiLabelsMasker._parameter_constraints, **N_JOBS_CONSTRAINT}

    def __init__(
        self,
        labels_img: Any = None,
        labels: Any = None,
        lut: Any = None,
        background_label: Any = 0,
        mask_img: Any = None,
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
        memory: Any = None,
        memory_level: Any = 1,
        verbose: Any = 0,
        strategy: Any = "mean",
        keep_masked_labels: Any = False,
        reports: Any = True,
        cmap: Any = "CMRmap_r",
        n_jobs: Any = 1,
        clean_args: Any = None,
        keep_all_regions: Any = False,
        min_coverage: Any = None,
    ) -> None:
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
