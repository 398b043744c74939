"""NiftiSpheresMasker: mean signal in spheres around world-space seeds.

Same parameters, fitted attributes and numbers as nilearn 0.14.1's ``NiftiSpheresMasker``,
quirks included (the "truncated-coordinate" voxel added to each sphere), except the
truncation of integer means (below). The sphere membership is built once per grid as a
sparse matrix and each chunk of volumes is one sparse product; only the sphere voxels are
read.

Beyond nilearn (opt-in)
-----------------------
* ``radius`` may be a list with one radius per seed.
* ``empty_spheres="nan"``: a sphere with no voxel gives a NaN column and a warning instead
  of an error.
* ``inverse_transform`` without ``mask_img`` writes onto the grid of the images given to
  ``fit`` (nilearn raises; still raised when ``fit`` had no images).

Differences from nilearn
------------------------
* Sphere means of integer images are not truncated (deliberate fix): nilearn stores them in
  the image's integer type, truncated toward zero (an int16 run's means lose up to one unit,
  8% of the output's range in a test run), then gives float32. nimask averages and cleans in
  float64 and casts the output to nilearn's dtype (float32 for int16 and uint8 images): an
  integer or float32 run gives its float64 copy's output within 1e-6 (catalogue D12).
* Non-finite seeds and negative radii raise :class:`~nimask.exceptions.AtlasError` /
  :class:`~nimask.exceptions.ParameterError` naming the seed (nilearn: scikit-learn errors).
* Overlap errors name a pair of overlapping spheres; empty-sphere errors give the seed
  coordinates, radius and grid bounds.
* ``radius=None`` never depends on scikit-learn's choice of search algorithm.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._niimg import same_fov
from ..exceptions import AtlasError
from ..regions._coverage import spheres_coverage
from ..regions._spheres import SpheresOperator, check_radius, check_seeds, prepare_spheres, spheres_to_array
from ._base import BaseMasker
from ._docs import fill_doc
from ._inputs import binarised_mask, in_memory, load_run, pipeline_dtype, resample_like
from ._params import COMMON_CONSTRAINTS, Options
from ._verbose import describe, say

__all__ = ["NiftiSpheresMasker"]


@fill_doc
class NiftiSpheresMasker(BaseMasker):
    """Extract the mean signal of spheres centred on seeds (world mm coordinates).

    Parameters
    ----------
    seeds : list of triplets of float, or None, default=None
        Sphere centres (x, y, z) in the world space of the images, in mm. ``fit`` needs
        them.
    radius : float, list of float or None, default=None
        Sphere radius in mm (a list: one radius per seed, a nimask extension). None: the
        voxel nearest to each seed (with nilearn's extra voxel at the truncated
        coordinates).
    mask_img : 3D niimg-like or None, default=None
        Binary mask: sphere voxels outside it are left out. Also the grid of
        ``inverse_transform``, which needs it.
    allow_overlap : bool, default=False
        False: two spheres sharing a voxel raise an error (naming the pair).
    %(smoothing_fwhm)s
    %(standardize)s
    %(standardize_confounds)s
    %(high_variance_confounds)s
    %(detrend)s
    %(low_pass)s
    %(high_pass)s
    %(t_r)s
    %(dtype)s
        For this masker it is also the type the image is read as (as nilearn).
    %(memory)s
    %(memory_level=1)s
    %(verbose)s
    %(reports)s
    %(clean_args)s
    empty_spheres : {"error", "nan"}, default="error"
        nimask only: what a sphere without any voxel on the image grid gives: an error
        (nilearn's behaviour) or a NaN column and a warning.

    Attributes
    ----------
    %(clean_args_)s
    mask_img_ : Nifti1Image or None
        The binary mask in use; None without ``mask_img``.
    %(memory_)s
    n_elements_ : int
        Number of spheres: the number of output columns.
    seeds_ : list of triplets
        The seeds, checked (finite coordinates, one triplet each).
    """

    _read_ahead = True  # the run is decoded while fitting (BaseMasker)
    _parameter_constraints: ClassVar[dict] = {
        **COMMON_CONSTRAINTS,
        "allow_overlap": [bool],
        "empty_spheres": [Options(("error", "nan"))],
    }
    _fitted_attrs: ClassVar[tuple] = ("seeds_", "n_elements_")
    _load_dtype_param: ClassVar[bool] = True

    def __init__(
        self,
        seeds: Any = None,
        radius: Any = None,
        mask_img: Any = None,
        allow_overlap: Any = False,
        smoothing_fwhm: Any = None,
        standardize: Any = False,
        standardize_confounds: Any = True,
        high_variance_confounds: Any = False,
        detrend: Any = False,
        low_pass: Any = None,
        high_pass: Any = None,
        t_r: Any = None,
        dtype: Any = None,
        memory: Any = None,
        memory_level: Any = 1,
        verbose: Any = 0,
        reports: Any = True,
        clean_args: Any = None,
        empty_spheres: Any = "error",
    ) -> None:
        self.seeds = seeds
        self.radius = radius
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
        self.memory = memory
        self.memory_level = memory_level
        self.verbose = verbose
        self.reports = reports
        self.clean_args = clean_args
        self.empty_spheres = empty_spheres

    def _fit(self, imgs: Any, warn_given_mask: bool) -> None:
        """Validate the seeds, the radius and the mask; check the images (not read) if given."""
        say(self, "fit", "Checking the seeds and radius")
        self.seeds_ = check_seeds(self.seeds)
        check_radius(self.radius, len(self.seeds_))
        self.n_elements_ = len(self.seeds_)
        if self.mask_img is not None:
            say(self, "fit", f"Loading mask from {describe(self.mask_img)}")
        self.mask_img_ = None if self.mask_img is None else in_memory(binarised_mask(self.mask_img))
        # the fit images are checked (as nilearn does); without mask_img, inverse_transform
        # writes onto their grid
        self._fit_grid = None
        items = [] if imgs is None else list(imgs) if isinstance(imgs, (list, tuple)) else [imgs]
        for i, item in enumerate(items):
            img, _ = load_run(item)
            if i == 0 and self.mask_img_ is None:
                self._fit_grid = (tuple(img.shape[:3]), np.asarray(img.affine))

    def operator_for(self, img: Any) -> SpheresOperator:
        """The spheres on the grid of ``img`` (built for that grid; checks overlap and empty spheres)."""
        self._check_fitted()
        mask = None
        if self.mask_img_ is not None:
            mask_img = self.mask_img_
            if not same_fov(mask_img, img):
                mask_img = resample_like(mask_img, img, "nearest")
            mask = np.asarray(mask_img.dataobj) != 0
        op = prepare_spheres(self.seeds_, np.asarray(img.affine), img.shape[:3], mask, self.radius,
                             allow_overlap=self.allow_overlap, empty_spheres=self.empty_spheres)
        op.names = [f"sphere{i}" for i in range(len(self.seeds_))]
        op.coverage = spheres_coverage(op, op.names)
        return op

    def _pipeline_dtype(self, img: Any, op: Any = None) -> np.dtype:
        return pipeline_dtype(img, img if op is None else op, self.smoothing_fwhm, SpheresOperator.output_dtype)

    def inverse_transform(self, region_signals: Any) -> Any:
        """Image on the mask grid: each voxel gets the mean signal of the spheres holding it.

        Without ``mask_img``, the grid of the images given to ``fit`` (all its voxels)."""
        self._check_fitted()
        signals, dtype = self._inverse_input(region_signals, "region_signals")
        if self.mask_img_ is not None:
            mask = np.asarray(self.mask_img_.dataobj) != 0
            shape, affine = mask.shape, np.asarray(self.mask_img_.affine)
        elif self._fit_grid is not None:
            (shape, affine), mask = self._fit_grid, None
        else:
            raise AtlasError(
                "Please provide mask_img at initialization to provide a reference for the inverse_transform "
                "(or fit the masker on images: their grid is then used).",
                param="mask_img",
            )
        op = prepare_spheres(self.seeds_, affine, shape, mask, self.radius,
                             allow_overlap=self.allow_overlap, empty_spheres=self.empty_spheres)
        return self._inverse_image(spheres_to_array(signals, op), affine, dtype)
