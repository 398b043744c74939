"""NiftiLabelsMasker: one signal per region of a labels atlas (nilearn 0.14.1 numbers).

The atlas is analysed once per grid (:func:`nimask.regions._labels.prepare_labels`); the
image is then streamed chunk by chunk (resampled onto the atlas grid for
``resampling_target="labels"``, smoothed when asked) and each chunk is reduced to its
region values at once, so the 4D run is never held in memory. The ``(T, n_regions)``
signals are then cleaned by :func:`nimask.signal.clean`.

Beyond nilearn (opt-in; the defaults give nilearn's output)
-----------------------------------------------------------
* ``keep_all_regions=True``: one column for every label of the atlas (and of ``lut``),
  sorted by label value, NaN for regions left empty by the mask or by resampling. The
  fitted ``region_coverage_`` DataFrame gives, per region, its voxels in the atlas (on
  the atlas grid), the voxels kept on the extraction grid, the kept fraction of its
  volume and, for NaN columns, the reason.
* ``min_coverage`` (fraction in [0, 1]): regions whose kept fraction of volume is below
  it give NaN columns; ``region_coverage_`` records why.

Differences from nilearn
------------------------
* Bad atlases raise :class:`~nimask.exceptions.AtlasError` naming the values: non-integer
  labels (nilearn silently compares floats), negative labels other than
  ``background_label``, only background. A 4D atlas with several volumes raises
  ``DimensionError`` suggesting ``NiftiMapsMasker``.
* ``mask_img`` must be binary (as nimask's NiftiMasker; nilearn binarises {0, 2, 3}).
* ``lut`` missing label values present in the image: nilearn silently names them
  "unknown"; nimask does the same and warns, naming the values.
* ``self.labels`` is not rewritten in place ("background" → "Background" is applied to a
  copy), and ``memory_level`` is never changed in place.
* ``transform`` changes nothing in the masker. nilearn rewrites ``labels_``,
  ``region_ids_``, ``region_names_`` and ``n_elements_`` when a transform-time mask or
  resampling empties a region; nimask computes them at ``fit`` on the fit grid (the data
  grid of the fit images, else the atlas grid with the mask resampled onto it) and gives
  another grid's columns and coverage through ``operator_for(img).names`` /
  ``.coverage`` (``region_atlas_`` and ``region_coverage_`` are set at fit too).
* ``inverse_transform`` with ``keep_masked_labels=True`` writes each column into its own
  region (nilearn writes column j into the j-th region left by the mask, so the regions
  after a removed one receive their neighbour's column).
* Region values are cleaned in float64, then cast to nilearn's dtype (nilearn cleans a float32
  image's in float32, far from its float64 copy's output for a large mean with a small
  variance). The median of integer data is averaged in float64 (scipy can overflow).
* ``memory_level > 1`` without a cache location warns (nilearn 0.14.1 crashes).
* ``generate_report()`` gives nimask's own self-contained HTML page (regions over the mean
  image, coverage, dropped regions, cleaning steps, warnings, carpet plot); ``cmap`` colours
  the regions and ``reports=False`` records nothing for it.
"""
from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from .._niimg import check_niimg, same_fov
from .._warnings import find_stack_level
from ..exceptions import AtlasError, AtlasMissingError, NimaskGeometryWarning, ParameterError
from ..pipeline import needs_resampling
from ..regions._coverage import labels_coverage
from ..regions._labels import (
    STRATEGIES,
    LabelsOperator,
    check_labels_data,
    masked_atlas,
    prepare_labels,
    resample_labels,
    signals_to_labels_array,
    warn_masked_labels,
)
from ..regions._lut import all_region_ids, build_lut, read_lut, region_names
from ._base import BaseMasker
from ._docs import fill_doc
from ._inputs import (
    binarised_mask,
    check_data_grid,
    check_fov,
    check_labels_left,
    in_memory,
    load_run,
    pipeline_dtype,
    resample_like,
)
from ._params import COMMON_CONSTRAINTS, Check, Interval, Options
from ._verbose import describe, say

__all__ = ["NiftiLabelsMasker"]


def _names_check(labels: Any) -> str | None:
    if labels is None:
        return None
    if not isinstance(labels, (list, tuple)):  # nilearn's wording, and what is accepted
        raise TypeError(f"'labels' must be a list. Got: {type(labels).__name__} ({labels!r}); pass None or a "
                        f"list (or tuple) of str, one name per label value.")
    bad = sorted({type(n).__name__ for n in labels if not isinstance(n, str)})
    if bad:
        raise TypeError(f"All elements of 'labels' must be a string (one name per label value); got a list "
                        f"holding {', '.join(bad)}: {labels!r}.")
    return None


_NAMES_EXPECTED = "a list of str (one name per label value) or None"


@fill_doc
class NiftiLabelsMasker(BaseMasker):
    """Extract one signal per region of a 3D labels atlas (``strategy`` over its voxels).

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
    %(labels.cmap=None)s
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

    _read_ahead = True  # the run is decoded while fitting (BaseMasker)
    _parameter_constraints: ClassVar[dict] = {
        **COMMON_CONSTRAINTS,
        "strategy": [Options(STRATEGIES)],
        "resampling_target": [Options(("data", "labels", None))],
        "keep_masked_labels": [bool],
        "keep_all_regions": [bool],
        "min_coverage": [None, Interval(0, 1)],
        "labels": [Check(_names_check, _NAMES_EXPECTED)],
    }
    _fitted_attrs: ClassVar[tuple] = ("labels_img_", "lut_")

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
        cmap: Any = None,
        clean_args: Any = None,
        keep_all_regions: Any = False,
        min_coverage: Any = None,
    ) -> None:
        self.labels_img = labels_img
        self.labels = labels
        self.lut = lut
        self.background_label = background_label
        self.mask_img = mask_img
        self.smoothing_fwhm = smoothing_fwhm
        self.standardize = standardize
        self.standardize_confounds = standardize_confounds
        self.high_variance_confounds = high_variance_confounds
        self.detrend = detrend
        self.low_pass = low_pass
        self.high_pass = high_pass
        self.t_r = t_r
        self.dtype = dtype
        self.resampling_target = resampling_target
        self.memory = memory
        self.memory_level = memory_level
        self.verbose = verbose
        self.strategy = strategy
        self.keep_masked_labels = keep_masked_labels
        self.reports = reports
        self.cmap = cmap
        self.clean_args = clean_args
        self.keep_all_regions = keep_all_regions
        self.min_coverage = min_coverage

    # ---- fit -----------------------------------------------------------------------------
    def _fit(self, imgs: Any, warn_given_mask: bool) -> None:
        """Load the atlas, build ``lut_`` and prepare the regions on the fit grid."""
        import nibabel as nib

        if self.labels is not None and self.lut is not None:
            raise ParameterError("Pass either labels or a lookup table (lut) to the masker, but not both.",
                                 param="labels")
        if self.labels_img is None:
            raise AtlasMissingError("'labels_img' must be given (a 3D labels image or its path): input should be "
                                    "a NiftiLike object or an iterable of NiftiLike object. Got: NoneType",
                                    param="labels_img")
        if self.keep_masked_labels:
            warnings.warn('In version 0.15.0, "keep_masked_labels" parameter will be removed. It is deprecated: '
                          "regions removed by the mask give all-zero columns.", FutureWarning,
                          stacklevel=find_stack_level())
        bg = self.background_label
        say(self, "fit", f"Loading regions from {describe(self.labels_img)}")
        labels_img = check_niimg(self.labels_img)
        if len(labels_img.shape) == 4 and labels_img.shape[3] == 1:
            labels_img = check_niimg(labels_img, ensure_ndim=3)
        raw = np.asanyarray(labels_img.dataobj)
        name = labels_img.get_filename()
        data = check_labels_data(raw, bg, name=f"labels_img ({name})" if name else "labels_img")
        if data is not raw:
            labels_img = nib.Nifti1Image(data, labels_img.affine, labels_img.header)
        names = None if self.labels is None else ["Background" if n == "background" else n for n in self.labels]
        self.lut_ = build_lut(np.unique(data), bg, labels=names, lut=self.lut)
        self._native = (data, np.asarray(labels_img.affine))
        self._user_lut = None if self.lut is None else read_lut(self.lut)
        if self.mask_img is not None:
            say(self, "fit", f"Loading mask from {describe(self.mask_img)}")
        mask_img = None if self.mask_img is None else binarised_mask(self.mask_img)
        data_img = None if imgs is None else load_run(imgs)[0]  # header only; refuses an empty image
        target = self.resampling_target
        if target is None:
            check_fov(labels_img, "labels", [(mask_img, "mask"), (data_img, "data")])
        if target == "data" and data_img is not None and not same_fov(data_img, labels_img):
            say(self, "fit", "Resampling regions onto the grid of the data")
            labels_img = resample_labels(labels_img, data_img)
        ref = data_img if (target == "data" and data_img is not None) else labels_img
        if mask_img is not None and not same_fov(ref, mask_img):
            say(self, "fit", "Resampling mask onto the grid of the regions")
            mask_img = resample_like(mask_img, ref, "nearest")
        op_mask = mask_img
        if mask_img is not None:
            try:
                check_labels_left(labels_img, mask_img, bg)
            except AtlasError:
                if not (target == "data" and data_img is None):
                    raise
                # as nilearn: without images the data grid is unknown, so the error waits for
                # transform (operator_for raises it); the fitted regions are the unmasked ones
                op_mask = None
        self.labels_img_ = in_memory(labels_img)
        self.mask_img_ = in_memory(mask_img)
        op = self._operator = self._prepare(labels_img, op_mask)
        ids = op.region_ids
        present_bg = bool(np.any(op.masked == bg))
        self.labels_ = ([bg] if present_bg else []) + ids.tolist()
        self.region_ids_ = ({"background": bg} if present_bg else {}) | dict(enumerate(ids.tolist()))
        self.region_names_ = dict(enumerate(op.names))
        self.n_elements_ = int(ids.size)
        self.region_atlas_ = in_memory(nib.Nifti1Image(op.masked.astype(np.int32), labels_img.affine))
        self.region_coverage_ = op.coverage.drop(columns="low")

    def _prepare(self, labels_img: Any, mask_img: Any) -> LabelsOperator:
        """The regions of ``labels_img`` within ``mask_img`` (same grid), with names and coverage."""
        bg = self.background_label
        labels = check_labels_data(np.asanyarray(labels_img.dataobj), bg)
        mask = None if mask_img is None else np.asanyarray(mask_img.dataobj) != 0
        masked = masked_atlas(labels, mask, bg)
        warn_masked_labels(labels, masked, bg, keep=self.keep_masked_labels or self.keep_all_regions)
        extra = self._user_lut if self.keep_all_regions else None
        op = prepare_labels(
            labels, mask, background_label=bg, keep_masked_labels=self.keep_masked_labels,
            region_ids=all_region_ids(self.lut_, bg, extra) if self.keep_all_regions else None,
            fill_value=np.nan if self.keep_all_regions else 0.0, affine=labels_img.affine, strategy=self.strategy,
        )
        op.names = region_names(op.region_ids, self.lut_, extra)
        op.coverage = labels_coverage(op, *self._native, bg, op.names, self.min_coverage)
        low = op.coverage["low"].to_numpy()
        op.nan_columns = low if low.any() else None
        op.masked = masked
        return op

    # ---- transform -----------------------------------------------------------------------
    def operator_for(self, img: Any) -> LabelsOperator:
        """The regions on the grid ``img`` is extracted on (the fit grid's operator when it fits)."""
        self._check_fitted()
        op = self._operator
        target = self.resampling_target
        if target is None:
            check_data_grid(self.labels_img_, img)
        elif target == "labels":
            if needs_resampling(img, op.shape, op.affine):
                warnings.warn("Resampling images at transform time (the data grid differs from the labels grid)...",
                              NimaskGeometryWarning, stacklevel=find_stack_level())
        elif needs_resampling(img, op.shape, op.affine):
            warnings.warn("Resampling labels at transform time... The data grid differs from the grid the labels "
                          "were fitted on; fit the masker on these images to avoid it.",
                          NimaskGeometryWarning, stacklevel=find_stack_level())
            mask_img = self.mask_img_
            if mask_img is not None:
                warnings.warn("Resampling mask at transform time...", NimaskGeometryWarning,
                              stacklevel=find_stack_level())
                mask_img = resample_like(mask_img, img, "nearest")
            labels_img = resample_labels(self.labels_img_, img)
            if mask_img is not None:
                check_labels_left(labels_img, mask_img, self.background_label)
            return self._prepare(labels_img, mask_img)
        if target == "data" and self.mask_img_ is not None:  # fitted without images: not checked at fit
            check_labels_left(self.labels_img_, self.mask_img_, self.background_label)
        return op

    def _pipeline_dtype(self, img: Any, op: Any = None) -> np.dtype:
        grid = op if op is not None else self._operator if self.resampling_target == "labels" else img
        return pipeline_dtype(img, grid, self.smoothing_fwhm, LabelsOperator.output_dtype)

    def get_feature_names_out(self, input_features: Any = None) -> list:
        """The region names (one per output column), as nilearn's list."""
        self._check_fitted()
        return list(self.region_names_.values())

    # ---- inverse -------------------------------------------------------------------------
    def inverse_transform(self, signals: Any) -> Any:
        """Image on the ``labels_img_`` grid with each region's voxels set to its column."""
        X, dtype = self._inverse_input(signals, "signals")
        op = self._operator
        labels = check_labels_data(np.asanyarray(self.labels_img_.dataobj), self.background_label)
        mask = None if self.mask_img_ is None else np.asanyarray(self.mask_img_.dataobj) != 0
        data = signals_to_labels_array(X.astype(dtype, copy=False), labels, op.region_ids, mask,
                                       self.background_label)
        return self._inverse_image(data, self.labels_img_.affine, dtype)
