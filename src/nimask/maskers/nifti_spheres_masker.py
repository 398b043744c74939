"""NiftiSpheresMasker: mean signal in spheres around world-space seeds.

Same parameters, fitted attributes and numbers as nilearn 0.14.1's ``NiftiSpheresMasker``,
quirks included (the "truncated-coordinate" voxel added to each sphere; sphere means of
integer images truncated toward zero). The sphere membership is built once per grid as a
sparse matrix and each chunk of volumes is one sparse product; only the sphere voxels are
read.

Beyond nilearn (opt-in)
-----------------------
* ``radius`` may be a list with one radius per seed.
* ``empty_spheres="nan"``: a sphere with no voxel gives a NaN column and a warning instead
  of an error.

Differences from nilearn
------------------------
* Non-finite seeds and negative radii raise :class:`~nimask.exceptions.AtlasError` /
  :class:`~nimask.exceptions.ParameterError` naming the seed (nilearn: scikit-learn errors).
* Overlap errors name a pair of overlapping spheres; empty-sphere errors give the seed
  coordinates, radius and grid bounds.
* ``radius=None`` never depends on scikit-learn's choice of search algorithm.
"""
from __future__ import annotations

import numpy as np

from .._niimg import check_header_t_r, check_niimg, same_fov
from ..exceptions import AtlasError, MaskError
from ..regions._spheres import SpheresOperator, check_radius, check_seeds, prepare_spheres, spheres_to_array
from .nifti_maps_masker import _RegionMaskerMixin
from ..reporting._record import reported

__all__ = ["NiftiSpheresMasker"]


class NiftiSpheresMasker(_RegionMaskerMixin):
    """Extract the mean signal of spheres centred on seeds (world mm coordinates).

    Parameters
    ----------
    seeds : list of 3-element coordinates
        Seed centres in the world (mm) space of the images.
    radius : None, float, or list of floats (one per seed)
        Sphere radius in mm; None means the voxel nearest to the seed (plus nilearn's
        truncated-coordinate voxel).
    mask_img : niimg-like or None
        Restricts sphere voxels; must be two-valued at transform; needed by
        ``inverse_transform``.
    allow_overlap : bool, default=False
    empty_spheres : {"error", "nan"}, default="error"
        nimask extension: what a sphere without any voxel gives.
    smoothing_fwhm, standardize, standardize_confounds, high_variance_confounds, detrend,
    low_pass, high_pass, t_r, dtype, memory, memory_level, verbose, reports, clean_args
        As nilearn (``dtype`` is also applied when the data are loaded).
    """

    _fitted_attrs = ("seeds_", "n_elements_")

    def __init__(
        self,
        seeds=None,
        radius=None,
        mask_img=None,
        allow_overlap=False,
        smoothing_fwhm=None,
        standardize=False,
        standardize_confounds=True,
        high_variance_confounds=False,
        detrend=False,
        low_pass=None,
        high_pass=None,
        t_r=None,
        dtype=None,
        memory=None,
        memory_level=1,
        verbose=0,
        reports=True,
        clean_args=None,
        empty_spheres="error",
    ):
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

    @reported("fit")
    def fit(self, imgs=None, y=None):
        """Validate the seeds and the radius; the images are not needed."""
        self._check_params()
        self.seeds_ = check_seeds(self.seeds)
        check_radius(self.radius, len(self.seeds_))
        if self.empty_spheres not in ("error", "nan"):
            from ..exceptions import ParameterError

            raise ParameterError(
                f"empty_spheres must be 'error' or 'nan', found {self.empty_spheres!r}.", param="empty_spheres"
            )
        self.n_elements_ = len(self.seeds_)
        self.mask_img_ = self._binarised_mask(self.mask_img)
        self._operator_cache = None
        self._reporting_data = None
        return self

    def _strict_mask(self):
        """The raw ``mask_img`` as a boolean image (nilearn: must be two-valued)."""
        import nibabel as nib

        if self.mask_img is None:
            return None
        img = check_niimg(self.mask_img)
        data = np.asanyarray(img.dataobj)
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        values = np.unique(data)
        if values.size > 2 or (values.size == 2 and values[0] != 0):
            raise MaskError(
                f"mask_img: given mask is not made of 2 values: {values[:10]}. Cannot interpret as true "
                "or false.",
                param="mask_img",
                found=values[:10].tolist(),
            )
        return nib.Nifti1Image((data != 0).astype(np.uint8), img.affine)

    def _operator(self, img) -> SpheresOperator:
        affine = np.asarray(img.affine)
        key = (tuple(img.shape[:3]), affine.tobytes())
        cached = self._operator_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        mask_img = self._strict_mask()
        mask = None
        if mask_img is not None:
            if not same_fov(mask_img, img):
                mask_img = self._resample(mask_img, img, "nearest")
            mask = np.asarray(mask_img.dataobj) != 0
        op = prepare_spheres(
            self.seeds_, affine, img.shape[:3], mask, self.radius,
            allow_overlap=self.allow_overlap, empty_spheres=self.empty_spheres,
        )
        self._operator_cache = (key, op)
        return op

    def transform_single_imgs(self, imgs, confounds=None, sample_mask=None):
        """Sphere signals ``(T, n_seeds)`` of one 3D/4D image (``(n_seeds,)`` for a 3D image)."""
        from .._nifti_io import iter_volume_chunks
        from .._nonfinite import collecting
        from .._threads import prefetched
        from ._base import source_dtype as _source_dtype

        self._check_fitted()
        load_dtype = self.dtype
        img, was_3d = self._load_data(imgs, dtype=load_dtype)
        check_header_t_r(img, self.t_r, type(self).__name__)
        source_dtype = _source_dtype(img)
        if self.smoothing_fwhm is not None:
            img = self._smooth(img, self.smoothing_fwhm)
        op = self._operator(img)
        parts = []
        with collecting(
            f"{type(self).__name__}.transform: the imgs you have fed into fit_transform() contain NaN "
            f"values which will be converted to zeroes",
            "inside the spheres",
        ):
            for _, chunk in prefetched(iter_volume_chunks(img)):
                parts.append(op.apply(chunk))
        signals = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        signals = self._clean(signals, confounds, sample_mask, img, source_dtype)
        return self._finish(self._cast(signals, source_dtype), was_3d)

    def inverse_transform(self, region_signals):
        """Image on the mask grid: each voxel gets the mean signal of the spheres holding it."""
        import nibabel as nib

        self._check_fitted()
        if self.mask_img is None:
            raise AtlasError(
                "Please provide mask_img at initialization to provide a reference for the inverse_transform.",
                param="mask_img",
            )
        signals = np.asarray(region_signals)
        dtype = self._inverse_dtype(signals)
        mask_img = self._strict_mask()
        mask = np.asarray(mask_img.dataobj) != 0
        data = spheres_to_array(signals, self.seeds_, mask_img.affine, mask, self.radius)
        return nib.Nifti1Image(data.astype(dtype, copy=False), mask_img.affine)
