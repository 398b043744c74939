"""apply_mask / unmask / load_mask_img vs nilearn, the gather/scatter kernels, and properties."""
import warnings

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nilearn import masking as nm
from scipy import ndimage

import nimask.masking as km
from _helpers import assert_oracle, oblique_affine, random_img
from nimask.masking._apply import gather, mask_indices, scatter

SHAPE = (7, 8, 9)


def make_mask(shape=SHAPE, seed=0, p=0.5, affine=None, value=1, dtype=np.uint8):
    m = np.random.default_rng(seed).random(shape) < p
    m[0, 0, 0] = True
    aff = np.diag([2.0, 2.5, 3.0, 1.0]) if affine is None else affine
    if affine is None:
        aff[:3, 3] = [-10, 5, 3]
    return nib.Nifti1Image(np.where(m, value, 0).astype(dtype), aff)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8, np.int32])
@pytest.mark.parametrize("out_dtype", ["f", np.float64, np.float32, np.int32])
@pytest.mark.parametrize("ndim", [3, 4])
def test_apply_mask_dtypes(dtype, out_dtype, ndim):
    img = random_img(SHAPE + ((5,) if ndim == 4 else ()), dtype=dtype, seed=1)
    mask = make_mask(seed=1)
    a = km.apply_mask(img, mask, dtype=out_dtype)
    b = nm.apply_mask(img, mask, dtype=out_dtype)
    assert a.dtype == b.dtype and a.shape == b.shape and a.flags.c_contiguous
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fwhm", [None, 4.0, 3, np.float32(2.5), 0])
@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_apply_mask_smoothing(fwhm, dtype):
    img = random_img(SHAPE + (4,), dtype=dtype, affine=oblique_affine(4), seed=2)
    mask = make_mask(affine=img.affine, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = km.apply_mask(img, mask, smoothing_fwhm=fwhm)
        b = nm.apply_mask(img, mask, smoothing_fwhm=fwhm)
    assert a.dtype == b.dtype
    assert_oracle(a, b, rtol=1e-6)


@pytest.mark.parametrize("ensure_finite", [True, False])
@pytest.mark.parametrize("fwhm", [None, 3.0])
def test_apply_mask_non_finite(ensure_finite, fwhm):
    img = random_img(SHAPE + (3,), seed=3)
    data = np.asanyarray(img.dataobj).copy()
    data[0, 0, 0, 0] = np.nan
    data[1, 2, 3, 1] = np.inf
    img = nib.Nifti1Image(data, img.affine)
    mask = make_mask(seed=3, p=1.0)
    a = km.apply_mask(img, mask, ensure_finite=ensure_finite, smoothing_fwhm=fwhm)
    b = nm.apply_mask(img, mask, ensure_finite=ensure_finite, smoothing_fwhm=fwhm)
    assert_oracle(a, b, rtol=1e-6)


@pytest.mark.parametrize("slope", [None, (0.25, -4.0)])
def test_apply_mask_files_and_lists(tmp_path, slope):
    img = random_img(SHAPE + (6,), dtype=np.int16, seed=4)
    if slope:
        img.header.set_slope_inter(*slope)
    path = str(tmp_path / "img.nii.gz")
    nib.save(img, path)
    mask = make_mask(seed=4)
    mpath = str(tmp_path / "mask.nii")
    nib.save(mask, mpath)
    for args in [(path, mpath), (path, mask)]:
        a, b = km.apply_mask(*args), nm.apply_mask(*args)
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    vols = [img.slicer[..., i] for i in range(3)]
    np.testing.assert_array_equal(km.apply_mask(vols, mask), nm.apply_mask(vols, mask))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, bool, np.int64])
@pytest.mark.parametrize("order", ["F", "C"])
def test_unmask_oracle(dtype, order):
    mask = make_mask(seed=5)
    n = int(np.asanyarray(mask.dataobj).sum())
    rng = np.random.default_rng(5)
    for X in (rng.standard_normal((4, n)) * 10, rng.standard_normal(n) * 10):
        X = X.astype(dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a = km.unmask(X, mask, order=order)
            b = nm.unmask(X, mask, order=order)
        da, db = np.asanyarray(a.dataobj), np.asanyarray(b.dataobj)
        assert da.dtype == db.dtype and a.get_data_dtype() == b.get_data_dtype()
        assert da.flags[f"{order}_CONTIGUOUS"]
        np.testing.assert_array_equal(da, db)
        np.testing.assert_array_equal(a.affine, b.affine)


def test_unmask_list():
    mask = make_mask(seed=6)
    n = int(np.asanyarray(mask.dataobj).sum())
    Xs = [np.ones((2, n), np.float32), np.arange(n, dtype=np.float64)]
    out = km.unmask(Xs, mask)
    assert isinstance(out, list) and [o.shape for o in out] == [SHAPE + (2,), SHAPE]


@pytest.mark.parametrize("values", [(0, 1), (0, 3.5), (-2, 0), (5,), (0, 2.0, np.nan), (np.inf, 0, 1.0)])
def test_load_mask_img_oracle(values):
    rng = np.random.default_rng(7)
    data = np.asarray(values, dtype=np.float32)[rng.integers(0, len(values), SHAPE)]
    data[0, 0, 0] = values[-1]
    data[0, 0, 1] = values[0]
    img = nib.Nifti1Image(data, np.eye(4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a_mask, a_aff = km.load_mask_img(img)
        b_mask, b_aff = nm.load_mask_img(img)
    assert a_mask.dtype == b_mask.dtype == bool
    np.testing.assert_array_equal(a_mask, b_mask)
    np.testing.assert_array_equal(a_aff, b_aff)


# ---------------------------------------------------------------------------------- kernels
@pytest.mark.parametrize("layout", ["F", "C", "strided"])
@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_gather_scatter_layouts(layout, dtype):
    rng = np.random.default_rng(8)
    mask = rng.random(SHAPE) < 0.4
    data = (rng.standard_normal(SHAPE + (5,)) * 100).astype(dtype)
    if layout == "F":
        data = np.asfortranarray(data)
    elif layout == "strided":
        data = np.asfortranarray(rng.standard_normal(SHAPE + (10,)).astype(dtype))[..., ::2]
    idx = mask_indices(mask)
    got = gather(data, idx)
    np.testing.assert_array_equal(got, data[mask].T)
    assert got.flags.c_contiguous and got.dtype == data.dtype
    np.testing.assert_array_equal(gather(data[..., 0], idx), data[..., 0][mask])
    out = np.empty((5, idx.n_voxels), np.float64)
    gather(data, idx, out=out)
    np.testing.assert_array_equal(out, data[mask].T.astype(np.float64))
    back = scatter(got, idx)
    np.testing.assert_array_equal(back[mask], data[mask])
    assert not back[~mask].any()


# ------------------------------------------------------------------------------- properties
@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6)),
    n_vol=st.integers(1, 4),
    seed=st.integers(0, 2**31 - 1),
    dtype=st.sampled_from([np.float32, np.float64]),
    order=st.sampled_from(["F", "C"]),
)
def test_unmask_inverts_apply_mask(shape, n_vol, seed, dtype, order):
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < 0.5
    mask.flat[rng.integers(mask.size)] = True
    data = rng.standard_normal(shape + (n_vol,)).astype(dtype)
    img = nib.Nifti1Image(data, np.eye(4))
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), np.eye(4))
    X = km.apply_mask(img, mask_img)
    assert X.shape == (n_vol, int(mask.sum())) and X.dtype == dtype
    back = np.asanyarray(km.unmask(X, mask_img, order=order).dataobj)
    np.testing.assert_array_equal(back[mask], data[mask])
    assert not back[~mask].any()
    np.testing.assert_array_equal(km.apply_mask(km.unmask(X, mask_img), mask_img), X)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(1, 5),
    seed=st.integers(0, 2**31 - 1),
    connected=st.booleans(),
)
def test_intersect_threshold_union_and_intersection(n, seed, connected):
    rng = np.random.default_rng(seed)
    masks = [rng.random((5, 6, 4)) < rng.uniform(0.2, 0.9) for _ in range(n)]
    imgs = [nib.Nifti1Image(m.astype(np.uint8), np.eye(4)) for m in masks]
    union = np.asanyarray(km.intersect_masks(imgs, threshold=0.0, connected=False).dataobj).astype(bool)
    inter = np.asanyarray(km.intersect_masks(imgs, threshold=1.0, connected=False).dataobj).astype(bool)
    np.testing.assert_array_equal(union, np.logical_or.reduce(masks))
    np.testing.assert_array_equal(inter, np.logical_and.reduce(masks))
    half = np.asanyarray(km.intersect_masks(imgs, threshold=0.5, connected=connected).dataobj).astype(bool)
    majority = np.sum(masks, axis=0) > 0.5 * n  # voxels in more than half of the masks
    assert not (half & ~union).any()
    if not connected:
        np.testing.assert_array_equal(half, majority)
        assert not (inter & ~half).any()
    elif not majority.any():
        assert not half.any()
    else:  # exactly one largest 6-connected component of the majority mask
        labels, _ = ndimage.label(majority)
        sizes = np.bincount(labels.ravel())[1:]
        kept = np.unique(labels[half])
        assert kept.size == 1 and kept[0] != 0
        np.testing.assert_array_equal(half, labels == kept[0])
        assert sizes[kept[0] - 1] == sizes.max()
