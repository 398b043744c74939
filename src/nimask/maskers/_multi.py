"""Lists of images for the Multi* maskers: one array per image, ``n_jobs`` images at a time.

One concurrency model for the three Multi maskers: ``n_jobs`` has nilearn's meaning (the
number of images processed at once; -1: all CPUs) and the images run in threads
(joblib's threading backend): the heavy steps release the GIL (decompression, numpy,
BLAS, scipy filters), the fitted masker is shared read-only (``transform`` writes nothing
to it) and the output arrays are not copied between processes.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .._memory import with_small_pages
from .._niimg import _check_same_fov_list, check_niimg, is_niimg_like, same_fov
from .._warnings import find_stack_level
from ..exceptions import ConfoundsError, DimensionError, NimaskGeometryWarning, SampleMaskError
from ..reporting._record import reported
from ._params import Interval
from ._verbose import describe, say

__all__ = ["MultiImagesMixin", "per_image"]

N_JOBS_CONSTRAINT = {"n_jobs": [Interval(integer=True)]}


def per_image(values: Any, n: int, name: str, error: type) -> list:
    """``values`` as one entry per image (None: None for each); must be a list of length ``n``."""
    if values is None:
        return [None] * n
    if not isinstance(values, list):
        raise TypeError(f"'{name}' must be a None or a list. Got {type(values).__name__}.")
    if len(values) != n:
        raise error(f"number of {name} ({len(values)}) unequal to number of images ({n}).", param=name)
    return values


def _first(value: Any, sample_mask: bool = False) -> Any:
    """The single image's entry of a per-image list (a plain value stays as it is)."""
    if not isinstance(value, list):
        return value
    if sample_mask and value and np.isscalar(value[0]):
        return value  # a list of volume indices, not a list of masks
    return value[0] if value else None


class MultiImagesMixin:
    """``transform`` of a list (or any iterable) of images returns a list of arrays.

    The classes using it are declared with ``auto_wrap_output_keys=None``: the mixin wraps
    single-image outputs itself (``set_output``) and never a list.

    Images of a list must share the first image's field of view; with ``_realign_list``
    (MultiNiftiMasker without ``target_affine``) other grids are resampled to it instead,
    with a warning. With ``_cast_list`` False the list outputs keep the pipeline dtype
    (nilearn 0.14.1's MultiNiftiMasker ignores ``dtype`` there).
    """

    _realign_list = False
    _cast_list = True
    _fit_on_list = False

    @with_small_pages
    @reported("transform")
    def transform(self, imgs: Any, confounds: Any = None, sample_mask: Any = None) -> Any:
        """One image: as the single masker (a DataFrame when ``set_output`` asks). A list: a list
        of arrays, one per image (never wrapped)."""
        self._check_fitted()
        if is_niimg_like(imgs):
            self._warn_bool_standardize()
            return self._wrap(self.transform_single_imgs(imgs, confounds=_first(confounds),
                                                         sample_mask=_first(sample_mask, sample_mask=True)))
        return self.transform_imgs(imgs, confounds=confounds, sample_mask=sample_mask, n_jobs=self.n_jobs)

    def set_output(self, *, transform: Any = None) -> Any:
        """As scikit-learn's: single-image outputs become DataFrames; list items stay numpy."""
        if transform is not None:
            self._sklearn_output_config = {**getattr(self, "_sklearn_output_config", {}), "transform": transform}
        return self

    def _wrap(self, signals: np.ndarray) -> Any:
        config = getattr(self, "_sklearn_output_config", {}).get("transform")
        if config in (None, "default"):
            return signals
        data, names = np.atleast_2d(signals), [str(n) for n in self.get_feature_names_out()]
        if config == "polars":
            import polars as pl

            return pl.DataFrame(data, schema=names, orient="row")
        import pandas as pd

        return pd.DataFrame(data, columns=names)

    @with_small_pages
    def transform_imgs(self, imgs_list: Any, confounds: Any = None, sample_mask: Any = None, copy: bool = True,
                       n_jobs: int = 1) -> list:
        """Signals of each image of ``imgs_list`` (a list of arrays, in order)."""
        self._check_fitted()
        self._warn_bool_standardize()
        imgs_list = list(imgs_list)
        n = len(imgs_list)
        confounds = per_image(confounds, n, "confounds", ConfoundsError)
        sample_mask = per_image(sample_mask, n, "sample_mask", SampleMaskError)
        say(self, "transform", f"Loading data from {describe(imgs_list)}")
        imgs_list = self._same_grid(imgs_list)
        # one line per step for the whole list; the lines of each image from verbose=2 on
        say(self, "transform", f"Extracting region signals of each image, {n_jobs} at a time")
        say(self, "transform", "Cleaning extracted signals of each image")
        jobs = [(i, c, s, self._cast_list, 2) for i, c, s in zip(imgs_list, confounds, sample_mask)]
        if n_jobs == 1 or n < 2:
            return [self._transform_one(*job) for job in jobs]
        from joblib import Parallel, delayed

        return Parallel(n_jobs=n_jobs, prefer="threads")(delayed(self._transform_one)(*job) for job in jobs)

    def _same_grid(self, imgs_list: list) -> list:
        """The list with every image on the first image's grid (checked, or resampled with a warning)."""
        if len(imgs_list) < 2:
            return imgs_list
        loaded = [check_niimg(img) for img in imgs_list]
        if not self._realign_list:
            _check_same_fov_list(loaded)
            ndims = {len(img.shape) for img in loaded}
            if len(ndims) > 1:
                raise DimensionError(4, 4, f"The images of the list mix 3D and 4D images (dimensions "
                                           f"{sorted(ndims)}); pass only 3D or only 4D images.")
            return loaded
        if self.target_affine is not None:
            return imgs_list
        import warnings

        from ..image import resample_img

        out, warned = [imgs_list[0]], False
        for raw, img in zip(imgs_list[1:], loaded[1:]):
            if same_fov(img, loaded[0]):
                out.append(raw)
                continue
            if not warned:
                warnings.warn("Affine is different across subjects. Realignment on first subject affine forced",
                              NimaskGeometryWarning, stacklevel=find_stack_level())
                warned = True
            out.append(resample_img(img, target_affine=loaded[0].affine, target_shape=loaded[0].shape[:3]))
        return out

    def _fit(self, imgs: Any, warn_given_mask: bool) -> None:
        """As the single masker's; a list of images is fitted on its first image (unless
        ``_fit_on_list``: MultiNiftiMasker computes one mask from the whole list)."""
        if not self._fit_on_list and imgs is not None and not is_niimg_like(imgs):
            items = list(imgs)
            imgs = items[0] if items else None
        super()._fit(imgs, warn_given_mask)
