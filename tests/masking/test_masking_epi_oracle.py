"""compute_epi_mask / compute_multi_epi_mask vs nilearn 0.14.1: identical voxels."""
import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import masking as nm

import nimask.masking as km
from _helpers import oblique_affine
from _masking_data import brain_img, mask_equal
from nimask.exceptions import MaskWarning


def both(func, *args, **kw):
    with warnings.catch_warnings(record=True) as w_nimask:
        warnings.simplefilter("always")
        a = getattr(km, func)(*args, **kw)
    with warnings.catch_warnings(record=True) as w_nilearn:
        warnings.simplefilter("always")
        b = getattr(nm, func)(*args, **kw)
    empty_a = any("empty mask" in str(w.message) for w in w_nimask)
    empty_b = any("empty mask" in str(w.message) for w in w_nilearn)
    assert empty_a == empty_b
    mask_equal(a, b)
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8, np.int32])
@pytest.mark.parametrize("ndim", [3, 4])
def test_epi_mask_dtypes(dtype, ndim):
    shape = (13, 14, 15, 6) if ndim == 4 else (13, 14, 15)
    scale = 200.0 if dtype == np.uint8 else 1000.0
    img = brain_img(shape, dtype=dtype, seed=ndim, scale=scale)
    out = both("compute_epi_mask", img)
    assert 0 < np.asanyarray(out.dataobj).sum() < np.prod(shape[:3])


@pytest.mark.parametrize("seed", range(6))
def test_epi_mask_float32_many_seeds(seed):
    # float32 means must stay float32 (numpy mean in the data dtype) or thresholds flip
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in rng.integers(7, 16, 3)) + (int(rng.integers(2, 9)),)
    img = brain_img(shape, dtype=np.float32, seed=seed, noise=0.4)
    for opening in (0, 1, 2):
        both("compute_epi_mask", img, opening=opening)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(lower_cutoff=0.1, upper_cutoff=0.9),
        dict(lower_cutoff=0.0, upper_cutoff=1.0),
        dict(lower_cutoff=0.5, upper_cutoff=0.95),
        dict(upper_cutoff=1.5),
        dict(connected=False),
        dict(opening=False),
        dict(opening=True),
        dict(opening=1),
        dict(opening=3),
        dict(opening=np.int64(1)),
        dict(connected=False, opening=0),
        dict(exclude_zeros=True),
        dict(ensure_finite=False),
    ],
)
def test_epi_mask_options(kwargs):
    img = brain_img((12, 13, 14, 5), seed=3, noise=0.3)
    both("compute_epi_mask", img, **kwargs)


def test_epi_mask_exclude_zeros_with_zero_background():
    img = brain_img((12, 13, 14, 4), seed=4)
    data = np.asanyarray(img.dataobj).copy()
    data[:, :3] = 0
    img = nib.Nifti1Image(data, img.affine)
    for ez in (False, True):
        both("compute_epi_mask", img, exclude_zeros=ez, opening=1)


def test_epi_mask_two_components_connected():
    data = np.zeros((15, 12, 11, 3), np.float32)
    data[1:6, 2:9, 2:9] = 10
    data[9:14, 2:8, 2:8] = 10  # the smaller blob goes with connected=True
    data += np.random.default_rng(0).standard_normal(data.shape).astype(np.float32) * 0.1
    img = nib.Nifti1Image(data, np.eye(4))
    a = both("compute_epi_mask", img, opening=0, connected=True)
    b = both("compute_epi_mask", img, opening=0, connected=False)
    assert np.asanyarray(a.dataobj).sum() < np.asanyarray(b.dataobj).sum()


def test_epi_mask_tied_components():
    # two identical blobs: the first in C-order scan wins (nilearn's argmax)
    data = np.zeros((16, 9, 9), np.float32)
    data[1:6, 2:7, 2:7] = 10
    data[10:15, 2:7, 2:7] = 10
    img = nib.Nifti1Image(data, np.eye(4))
    out = both("compute_epi_mask", img, opening=0, connected=True)
    got = np.asanyarray(out.dataobj)
    assert got[1:6, 2:7, 2:7].all() and not got[8:].any()


@pytest.mark.parametrize("kind", ["oblique", "aniso", "flip"])
def test_epi_mask_affines(kind):
    affine = {
        "oblique": oblique_affine(1),
        "aniso": np.diag([1.0, 3.0, 2.0, 1.0]),
        "flip": np.diag([-2.0, 2.0, 2.5, 1.0]),
    }[kind]
    img = brain_img((11, 13, 12, 4), affine=affine, seed=5)
    both("compute_epi_mask", img)


def test_epi_mask_nan_and_inf():
    img = brain_img((12, 13, 14, 4), seed=6)
    data = np.asanyarray(img.dataobj).copy()
    data[0, 0, 0, :] = np.nan
    data[5, 5, 5, 1] = np.inf
    data[6, 6, 6, 2] = -np.inf
    img = nib.Nifti1Image(data, img.affine)
    for opening in (0, 2):
        both("compute_epi_mask", img, opening=opening)
    both("compute_epi_mask", img, opening=0, ensure_finite=False)


def test_epi_mask_list_of_3d_and_single_volume_4d():
    img = brain_img((12, 13, 14, 4), seed=7)
    vols = [img.slicer[..., i] for i in range(4)]
    both("compute_epi_mask", vols)
    both("compute_epi_mask", img.slicer[..., :1])


@pytest.mark.parametrize("slope", [None, (0.5, 3.0), (2.0, 0.0)])
def test_epi_mask_int16_files(tmp_path, slope):
    img = brain_img((12, 13, 14, 5), dtype=np.int16, seed=8)
    if slope is not None:
        img.header.set_slope_inter(*slope)
    path = tmp_path / "epi.nii.gz"
    nib.save(img, path)
    both("compute_epi_mask", str(path))
    both("compute_background_mask", str(path))


def test_epi_mask_empty_warns():
    img = brain_img((9, 10, 11, 3), seed=9)
    with pytest.warns(MaskWarning, match="empty mask"):
        km.compute_epi_mask(img, opening=8)
    both("compute_epi_mask", img, opening=8)


def test_epi_mask_target_grid():
    img = brain_img((12, 13, 14, 4), seed=10)
    target = np.diag([3.0, 3.0, 3.5])
    both("compute_epi_mask", img, target_affine=target)
    aff4 = np.eye(4)
    aff4[:3, :3] = target
    aff4[:3, 3] = [-12, 3, 2]
    both("compute_epi_mask", img, target_affine=aff4, target_shape=(9, 10, 11))


@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(threshold=0.0), dict(threshold=1.0), dict(threshold=1), dict(connected=False, opening=1),
     dict(exclude_zeros=True, lower_cutoff=0.3), dict(n_jobs=2)],
)
def test_multi_epi_mask(kwargs):
    imgs = [brain_img((12, 13, 14, 4), seed=s, noise=0.35) for s in (11, 12, 13)]
    both("compute_multi_epi_mask", imgs, **kwargs)


def test_multi_epi_mask_target_grid():
    imgs = [brain_img((12, 13, 14, 3), seed=s) for s in (14, 15)]
    both("compute_multi_epi_mask", imgs, target_affine=np.diag([3.0, 3.0, 3.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
@pytest.mark.parametrize("ext", ["nii", "nii.gz"])
def test_streamed_mean_is_numpy_mean_bit_for_bit(tmp_path, monkeypatch, dtype, ext):
    from nimask.masking._mean import mean_volume

    img = brain_img((9, 10, 11, 23), dtype=dtype, seed=20, scale=200.0 if dtype == np.uint8 else 1000.0)
    path = tmp_path / f"run.{ext}"
    nib.save(img, path)
    import nimask._nifti_io as io

    monkeypatch.setattr(io, "_DEFAULT_CHUNK_BYTES", 5 * 9 * 10 * 11 * np.dtype(dtype).itemsize)  # 5 chunks
    _, got, _ = mean_volume(str(path))
    expected = np.asanyarray(nib.load(path).dataobj).mean(axis=-1)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    both("compute_epi_mask", str(path))
