"""NiftiMapsMasker: one signal per (weighted, possibly overlapping) map, by least squares.

Same parameters, fitted attributes and numbers as nilearn 0.14.1's ``NiftiMapsMasker``.
The maps are factored once per grid (:func:`nimask.regions._maps.prepare_maps`) and the
image is streamed chunk by chunk: each chunk is one matrix product, and only the voxels
where a kept map is nonzero are read.

Beyond nilearn (opt-in; the default gives nilearn's output)
------------------------------------------------------------
* ``min_coverage`` (fraction in [0, 1]): the output has one column per map, in the order of
  ``maps_img``; a map whose summed absolute weight inside the mask (on the extraction grid)
  is below this fraction of its whole weight there gives a NaN column, as do maps that are
  all zero or have no weight inside the mask. The other columns are the default output's
  (the regression is unchanged: a low-coverage map still takes part in it). The fitted
  ``region_coverage_`` DataFrame gives each map's weight, weight inside the mask, fraction
  and the reason of a NaN column; ``inverse_transform`` writes NaN where the map of a NaN
  value has weight.

Differences from nilearn
------------------------
* The signals are solved and cleaned in float64, then cast to nilearn's dtype (nilearn solves
  and cleans in float32 for float32 maps, far from its float64 copy's output for a large
  mean with a small variance).
* A map that is all zero (after NaN removal and resampling) gives a warning naming its
  index (nilearn returns a silent zero column).
* ``allow_overlap=False`` names a pair of overlapping maps in the error.
* A 3D maps image whose values look like integer labels (more than 2 distinct integer
  values) gives a warning suggesting ``NiftiLabelsMasker`` (it is still used as one map).
* ``memory_level >= 2`` without a cache location warns instead of crashing.
* ``allow_overlap=False`` zeroes the weights below float epsilon in the operator's own copy:
  ``maps_img_`` is never changed (nilearn zeroes them in place during ``transform``).
  The overlap check is done at each transform, as nilearn's.
"""
from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from .._niimg import check_niimg, same_fov
from .._warnings import find_stack_level
from ..exceptions import (
    AtlasError,
    AtlasMissingError,
    DimensionError,
    NimaskDataWarning,
    NimaskGeometryWarning,
    ParameterError,
)
from ..regions._coverage import _abs_sum, maps_coverage
from ..regions._maps import (
    MapsOperator,
    NonFiniteMaps,
    check_no_overlap,
    maps_array,
    maps_output_dtype,
    prepare_maps,
    signals_to_array,
)
from ..regions._maps_sparse import SparseCollector, prepare_maps_sparse
from ._base import BaseMasker
from ._docs import fill_doc
from ._inputs import binarised_mask, check_fov, has_scaling, in_memory, load_run, pipeline_dtype, resample_like
from ._params import COMMON_CONSTRAINTS, Interval, Options
from ._verbose import describe, say

__all__ = ["NiftiMapsMasker"]


@fill_doc
class NiftiMapsMasker(BaseMasker):
    """Extract one signal per map of a 4D maps image (least-squares fit of each scan).

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

    _read_ahead = True  # the run is decoded while fitting (BaseMasker)
    _parameter_constraints: ClassVar[dict] = {
        **COMMON_CONSTRAINTS,
        "allow_overlap": [bool],
        "keep_masked_maps": [bool],
        "resampling_target": [Options(("data", "mask", "maps", None))],
        "min_coverage": [None, Interval(0, 1)],
    }
    _fitted_attrs: ClassVar[tuple] = ("maps_img_", "n_elements_")

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
        clean_args: Any = None,
        min_coverage: Any = None,
    ) -> None:
        self.maps_img = maps_img
        self.mask_img = mask_img
        self.allow_overlap = allow_overlap
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
        self.keep_masked_maps = keep_masked_maps
        self.memory = memory
        self.memory_level = memory_level
        self.verbose = verbose
        self.reports = reports
        self.cmap = cmap
        self.clean_args = clean_args
        self.min_coverage = min_coverage

    # ---- fit -----------------------------------------------------------------------------
    def _fit(self, imgs: Any, warn_given_mask: bool) -> None:
        """Load (and resample) the maps and the mask; ``imgs`` gives the grid for ``"data"``."""
        import nibabel as nib

        if self.maps_img is None:
            raise AtlasMissingError("'maps_img' must be given (a 4D image with one map per volume): input should be "
                                    "a NiftiLike object or an iterable of NiftiLike object. Got: NoneType",
                                    param="maps_img")
        if self.keep_masked_maps:
            warnings.warn('"keep_masked_maps" parameter will be removed in version 0.15. It is deprecated: maps '
                          'outside the mask give zero columns. Set "keep_masked_maps=False" to silence this warning.',
                          FutureWarning, stacklevel=find_stack_level())
        say(self, "fit", f"Loading regions from {describe(self.maps_img)}")
        raw = check_niimg(self.maps_img)
        if len(raw.shape) not in (3, 4):
            raise DimensionError(len(raw.shape), 4, f"maps_img must be a 3D or 4D image (one map per volume), "
                                                    f"found a {len(raw.shape)}D image of shape {raw.shape}.")
        maps_img = check_niimg(raw, atleast_4d=True)
        if len(raw.shape) == 3 and np.asanyarray(raw.dataobj).dtype.kind in "iu":
            n_values = np.unique(np.asanyarray(raw.dataobj)).size
            if n_values > 2:
                warnings.warn(f"maps_img is a 3D integer image with {n_values} distinct values: it looks like a "
                              "labels atlas (use NiftiLabelsMasker); here it is used as ONE weighted map.",
                              NimaskDataWarning, stacklevel=find_stack_level())
        if self.mask_img is not None:
            say(self, "fit", f"Loading mask from {describe(self.mask_img)}")
        mask_img = None if self.mask_img is None else binarised_mask(self.mask_img)
        target = self.resampling_target
        if target == "mask" and mask_img is None:
            raise ParameterError("resampling_target has been set to 'mask' but no mask has been provided.\n"
                                 "Set resampling_target to something else or provide a mask.",
                                 param="resampling_target")
        ref = {"data": None if imgs is None else load_run(imgs)[0], "mask": mask_img, "maps": maps_img}.get(target)
        if target is None:
            check_fov(maps_img, "maps", [(mask_img, "mask"), (None if imgs is None else load_run(imgs)[0], "data")])
        sparse = None  # the resampled maps' nonzero values: the operator is built from them
        if ref is not None and not same_fov(ref, maps_img):
            say(self, "fit", f"Resampling regions (the maps) onto the grid of the {target}")
            sparse = self._resample_maps(maps_img, ref, sparse=True)  # streamed from the file, per chunk
            maps_img = nib.Nifti1Image(sparse.dense(), np.asarray(ref.affine, dtype=np.float64))
        else:
            maps_img = nib.Nifti1Image(maps_array(maps_img), maps_img.affine)
        if mask_img is not None and ref is not None and not same_fov(ref, mask_img):
            say(self, "fit", f"Resampling mask onto the grid of the {target}")
            mask_img = resample_like(mask_img, ref, "nearest")
        data = np.asarray(maps_img.dataobj)
        if (sparse.is_empty() if sparse is not None else not np.any(data)):
            raise AtlasError("maps_img contains no map (every value is 0 or non-finite).", param="maps_img")
        # one map at a time (no boolean copy of the 4D maps)
        empty = np.flatnonzero([v.size == 0 for v in sparse.values] if sparse is not None else
                               [not np.any(data[..., j]) for j in range(data.shape[3])])
        if empty.size:
            warnings.warn(f"maps_img: maps {empty.tolist()} are all zero; their signals are zero columns.",
                          NimaskDataWarning, stacklevel=find_stack_level())
        same_grid = mask_img is None or same_fov(mask_img, maps_img)
        if mask_img is not None and ref is not None and same_grid:
            inside = np.asarray(mask_img.dataobj) != 0
            if not any(np.any(data[..., j][inside]) for j in range(data.shape[3])):
                raise AtlasError("No map left after applying mask to the maps image (no nonzero map value inside "
                                 "mask_img).", param="mask_img")
        self.maps_img_ = in_memory(maps_img)
        self.mask_img_ = in_memory(mask_img)
        self.n_elements_ = int(data.shape[3])
        self._operator = self._prepare(maps_img, mask_img, sparse) if ref is not None and same_grid else None
        if self._operator is not None:
            self.region_coverage_ = self._operator.coverage.drop(columns="low")
        else:  # no extraction grid yet: the coverage on the maps grid
            if mask_img is not None and not same_grid:
                mask_img = resample_like(mask_img, maps_img, "nearest")
            mask = None if mask_img is None else np.asarray(mask_img.dataobj) != 0
            self.region_coverage_ = self._coverage(data, mask).drop(columns="low")

    def _resample_maps(self, maps_img: Any, ref: Any, sparse: bool = False) -> Any:
        """Maps resampled to ``ref`` (linear, clipped), as float maps with non-finite values 0 (an image,
        or with ``sparse`` the :class:`~nimask.regions._maps_sparse.SparseMaps` of their nonzero values)."""
        from ..image._resampling import resample_prepared

        sink = SparseCollector(tuple(ref.shape[:3])) if sparse else None
        tally = NonFiniteMaps()
        stored = np.dtype(maps_img.get_data_dtype())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if stored.kind in "iub" and not has_scaling(maps_img):
                # integer maps (no NaN possible) go straight into float: no float copy of the 1 mm maps
                float_dtype = np.float64 if stored.itemsize == 8 else np.float32
                maps_img = resample_prepared(maps_img, ref, "linear", clip=True, dtype=float_dtype, sink=sink)
            else:
                maps_img = resample_prepared(maps_img, ref, "linear", clip=True, prepare=tally, sink=sink)
        tally.warn(stacklevel=find_stack_level())
        if sink is not None:
            maps = sink.finish(maps_img)  # maps_img: the clip still to apply
            if maps.is_empty():
                raise AtlasError("No map left after resampling maps_img (every resampled value is 0).",
                                 param="maps_img")
            return maps
        if not np.any(np.asarray(maps_img.dataobj)):
            raise AtlasError("No map left after resampling maps_img (every resampled value is 0).", param="maps_img")
        return maps_img

    def _prepare(self, maps_img: Any, mask_img: Any, sparse: Any = None) -> MapsOperator:
        mask = None if mask_img is None else np.asarray(mask_img.dataobj) != 0
        data = np.asarray(maps_img.dataobj)
        kwargs = dict(keep_masked_maps=self.keep_masked_maps, affine=maps_img.affine,
                      zero_small_weights=not self.allow_overlap)
        op = prepare_maps_sparse(sparse, mask, **kwargs) if sparse is not None else prepare_maps(data, mask, **kwargs)
        total = kept = None
        if sparse is not None:
            total, kept = sparse.abs_totals(), None if mask is None else sparse.abs_totals(mask)
        elif mask is None and self.allow_overlap:
            # without a mask the operator's rows hold every nonzero value of every map, unchanged
            # (allow_overlap=False zeroes the small weights: then the maps themselves are summed)
            total = np.array([_abs_sum(op.weights[:, j]) for j in range(op.weights.shape[1])])
        op.coverage = self._coverage(data, mask, total, kept)
        if self.min_coverage is None:
            op.names = [f"map{int(j)}" for j in op.kept]
        else:  # one column per map, NaN for the maps below min_coverage (and the empty ones)
            op.n_out = int(op.coverage.shape[0])
            low = op.coverage["low"].to_numpy()
            op.nan_columns = low if low.any() else None
            op.names = list(op.coverage["name"])
        return op

    def _coverage(self, data: np.ndarray, mask: np.ndarray | None, total: Any = None, kept: Any = None) -> Any:
        """Per-map coverage table of ``data`` within ``mask`` (same grid), for ``min_coverage``."""
        k = 1 if data.ndim == 3 else data.shape[3]
        return maps_coverage(data, mask, [f"map{j}" for j in range(k)], self.min_coverage, total, kept)

    # ---- transform -----------------------------------------------------------------------
    def operator_for(self, img: Any) -> MapsOperator:
        """The maps on the grid ``img`` is extracted on (the fit grid's operator when it fits)."""
        self._check_fitted()
        maps_img, mask_img = self.maps_img_, self.mask_img_
        target = self.resampling_target
        if target is None:
            check_fov(maps_img, "maps", [(mask_img, "mask"), (img, "data")])
        elif target == "data":
            if not same_fov(img, maps_img):
                warnings.warn("Resampling maps at transform time...", NimaskGeometryWarning,
                              stacklevel=find_stack_level())
                maps_img = self._resample_maps(maps_img, img)
            if mask_img is not None and not same_fov(img, mask_img):
                warnings.warn("Resampling mask at transform time...", NimaskGeometryWarning,
                              stacklevel=find_stack_level())
                mask_img = resample_like(mask_img, img, "nearest")
        elif not same_fov(img, maps_img):
            warnings.warn("Resampling images at transform time (the data grid differs from the maps grid)...",
                          NimaskGeometryWarning, stacklevel=find_stack_level())
        if not self.allow_overlap:
            check_no_overlap(np.asarray(maps_img.dataobj))
        if self._operator is not None and maps_img is self.maps_img_ and mask_img is self.mask_img_:
            return self._operator
        return self._prepare(maps_img, mask_img)

    def _pipeline_dtype(self, img: Any, op: Any = None) -> np.dtype:
        maps = self.maps_img_  # the data are resampled onto the maps' grid unless it is theirs
        grid = op if op is not None else maps if self.resampling_target not in (None, "data") else img
        weights = (op.weights if op is not None else np.asarray(maps.dataobj)).dtype
        return pipeline_dtype(img, grid, self.smoothing_fwhm, lambda values: maps_output_dtype(weights, values))

    # ---- inverse -------------------------------------------------------------------------
    def inverse_transform(self, region_signals: Any) -> Any:
        """Image ``signals @ maps.T`` on the ``maps_img_`` grid (mask support only)."""
        signals, dtype = self._inverse_input(region_signals, "region_signals")
        mask = None
        if self.mask_img_ is not None:
            mask_img = self.mask_img_
            if not same_fov(mask_img, self.maps_img_):
                mask_img = resample_like(mask_img, self.maps_img_, "nearest")
            mask = np.asarray(mask_img.dataobj) != 0
        op = prepare_maps(np.asarray(self.maps_img_.dataobj), mask, for_inverse=True)
        nan = np.isnan(signals) if self.min_coverage is not None and signals.dtype.kind == "f" else None
        if nan is None or not nan.any():
            data = signals_to_array(signals, op)
        else:  # min_coverage's NaN columns: NaN only where their maps have weight (not everywhere)
            data = signals_to_array(np.where(nan, 0, signals), op)
            hit = (op.weights != 0) @ np.atleast_2d(nan).T  # (rows, T): a NaN value's map is there
            values = data[op.rows].reshape(hit.shape)
            values[hit] = np.nan
            data[op.rows] = values.reshape(data[op.rows].shape)
        return self._inverse_image(data, self.maps_img_.affine, dtype)
