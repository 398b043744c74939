"""compute_background_mask, its multi variant and intersect_masks vs nilearn 0.14.1."""
import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import masking as nm

import nimask.masking as km
from _helpers import oblique_affine
from _masking_data import brain_img, mask_equal


def both(func, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = getattr(km, func)(*args, **kw)
        b = getattr(nm, func)(*args, **kw)
    mask_equal(a, b)
    return a


def zero_bg_img(shape=(12, 13, 14, 4), dtype=np.float32, seed=0, affine=None):
    """Brain data in an exactly constant background (the typical background-mask input)."""
    img = brain_img(shape, dtype=dtype, seed=seed, affine=affine)
    data = np.asanyarray(img.dataobj).copy()
    rim = brain_img(shape, seed=seed, noise=0.0).get_fdata() < 500
    data[rim] = 0 if dtype != np.float32 else 7.5
    return nib.Nifti1Image(data.astype(dtype), img.affine)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
@pytest.mark.parametrize("ndim", [3, 4])
def test_background_mask_dtypes(dtype, ndim):
    shape = (12, 13, 14, 4) if ndim == 4 else (12, 13, 14)
    img = zero_bg_img(shape, dtype=dtype, seed=ndim)
    out = both("compute_background_mask", img)
    assert 0 < np.asanyarray(out.dataobj).sum() < np.prod(shape[:3])


@pytest.mark.parametrize(
    "kwargs",
    [dict(border_size=1), dict(border_size=3), dict(border_size=20), dict(connected=True),
     dict(opening=1), dict(opening=True, connected=True), dict(opening=2, connected=False)],
)
def test_background_mask_options(kwargs):
    both("compute_background_mask", zero_bg_img(seed=5), **kwargs)


def test_background_mask_noisy_background_and_oblique():
    # noisy background: the median is a data value, exact inequality keeps almost everything
    both("compute_background_mask", brain_img((11, 12, 13, 3), seed=6, affine=oblique_affine(2)))


def test_background_mask_nan_border():
    img = zero_bg_img(seed=7)
    data = np.asanyarray(img.dataobj).copy()
    data[0, 0, 0, 1] = np.nan
    data[6, 6, 6, :] = np.nan
    out = both("compute_background_mask", nib.Nifti1Image(data, img.affine))
    assert not np.asanyarray(out.dataobj)[0, 0, 0]


def test_background_mask_target_grid_and_list():
    img = zero_bg_img(seed=8)
    both("compute_background_mask", img, target_affine=np.diag([3.0, 3.0, 3.0]))
    both("compute_background_mask", [img.slicer[..., i] for i in range(img.shape[3])])


@pytest.mark.parametrize(
    "kwargs", [dict(), dict(threshold=0.0), dict(threshold=1.0), dict(connected=False, opening=0),
               dict(border_size=1, opening=1), dict(n_jobs=2)],
)
def test_multi_background_mask(kwargs):
    imgs = [zero_bg_img(seed=s) for s in (9, 10, 11)]
    both("compute_multi_background_mask", imgs, **kwargs)


def random_masks(n, shape=(10, 11, 12), seed=0, p=0.6, values=None):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        m = rng.random(shape) < p
        data = m.astype(np.uint8) if values is None else np.where(m, values[i], 0).astype(np.float32)
        out.append(nib.Nifti1Image(data, np.diag([2.0, 2.5, 3.0, 1.0])))
    return out


@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.5, 0.75, 1.0, 1, 0])
@pytest.mark.parametrize("connected", [True, False])
def test_intersect_masks(threshold, connected):
    both("intersect_masks", random_masks(4, seed=int(threshold * 4)), threshold=threshold, connected=connected)


def test_intersect_masks_values_empty_and_single():
    masks = random_masks(3, seed=1, values=[1.0, 5.0, -2.0])
    masks.append(nib.Nifti1Image(np.zeros((10, 11, 12), np.uint8), masks[0].affine))
    both("intersect_masks", masks, threshold=0.3)
    both("intersect_masks", masks[:1])
    both("intersect_masks", masks[-1:], connected=True)  # empty stays empty


def test_intersect_masks_files_and_header(tmp_path):
    masks = random_masks(2, seed=2)
    masks[0].header["descrip"] = b"first"
    paths = []
    for i, m in enumerate(masks):
        paths.append(str(tmp_path / f"m{i}.nii.gz"))
        nib.save(m, paths[-1])
    out = both("intersect_masks", paths, threshold=0.0)
    assert out.header["descrip"] == b"first"
