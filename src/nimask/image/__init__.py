"""Image functions with nilearn's names, parameters and defaults (``nilearn.image``)."""
from .._niimg import check_niimg, check_niimg_3d, check_niimg_4d, get_data
from ._basic import (
    coord_transform,
    crop_img,
    index_img,
    iter_img,
    load_img,
    math_img,
    mean_img,
    new_img_like,
)
from ._concat import concat_imgs
from ._resampling import resample_img, resample_to_img
from ._smoothing import smooth_array, smooth_img

__all__ = [
    "check_niimg",
    "check_niimg_3d",
    "check_niimg_4d",
    "concat_imgs",
    "coord_transform",
    "crop_img",
    "get_data",
    "index_img",
    "iter_img",
    "load_img",
    "math_img",
    "mean_img",
    "new_img_like",
    "resample_img",
    "resample_to_img",
    "smooth_array",
    "smooth_img",
]
