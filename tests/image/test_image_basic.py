"""Oracle tests of the basic image functions against nilearn 0.14.1."""
import warnings

import nibabel as nib
import nilearn.image as nl
import numpy as np
import pandas as pd
import pytest

from _helpers import assert_oracle, random_img
from nimask import image as ni


def _same_img(ours, theirs, exact=True):
    assert type(ours) is type(theirs)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours.affine, theirs.affine, rtol=1e-12, atol=1e-12)
    a, b = np.asanyarray(ours.dataobj), np.asanyarray(theirs.dataobj)
    assert a.dtype == b.dtype
    if exact:
        np.testing.assert_array_equal(a, b)
    else:
        assert_oracle(a, b)
    assert ours.get_data_dtype() == theirs.get_data_dtype()


def _scaled_ref():
    ref = random_img((7, 8, 9, 4), dtype=np.int16, seed=2)
    ref.header.set_slope_inter(2.0, 1.0)
    ref.header["glmax"] = 7
    ref.header["descrip"] = b"hello"
    return ref


@pytest.mark.parametrize(
    "data",
    [np.ones((7, 8, 9), bool), np.arange(504).reshape(7, 8, 9).astype(np.int64),
     np.full((7, 8, 9), 2**40, np.int64), np.random.default_rng(0).random((7, 8, 9)).astype(np.float32)],
)
@pytest.mark.parametrize("copy_header", [True, False])
def test_new_img_like_oracle(data, copy_header):
    ref = _scaled_ref()
    if data.dtype == np.int64 and data.max() > 2**31 and not copy_header:
        for func in (ni.new_img_like, nl.new_img_like):  # nibabel refuses int64 without a header
            with pytest.raises(ValueError, match="int64"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                func(ref, data, copy_header=copy_header)
        return
    with warnings.catch_warnings(record=True) as ours_w:
        warnings.simplefilter("always")
        ours = ni.new_img_like(ref, data, copy_header=copy_header)
    with warnings.catch_warnings(record=True) as theirs_w:
        warnings.simplefilter("always")
        theirs = nl.new_img_like(ref, data, copy_header=copy_header)
    _same_img(ours, theirs)
    assert ours.header.binaryblock == theirs.header.binaryblock
    assert len([w for w in ours_w if "64-bit" in str(w.message)]) == len(
        [w for w in theirs_w if "64-bit" in str(w.message)])


def test_new_img_like_keeps_class_and_path_reference(tmp_path):
    n2 = nib.Nifti2Image(np.zeros((2, 3, 4), np.float32), np.eye(4))
    assert type(ni.new_img_like(n2, np.ones((2, 3, 4)))) is nib.Nifti2Image
    p = str(tmp_path / "r.nii.gz")
    n2.to_filename(p)
    _same_img(ni.new_img_like(p, np.ones((2, 3, 4))), nl.new_img_like(p, np.ones((2, 3, 4))))


@pytest.mark.parametrize(
    "index", [1, -1, slice(1, 3), [0, 2], np.array([True, False, True, False]), slice(None, None, -2)]
)
@pytest.mark.parametrize("on_disk", [False, True])
def test_index_img_oracle(tmp_path, index, on_disk):
    img = _scaled_ref()
    if on_disk:
        p = str(tmp_path / "i.nii.gz")
        img.to_filename(p)
        img = p
    ours, theirs = ni.index_img(img, index), nl.index_img(img, index)
    _same_img(ours, theirs)
    assert ours.header.binaryblock == theirs.header.binaryblock


def test_index_img_errors():
    img = random_img((7, 8, 9, 4))
    with pytest.raises(IndexError, match="out of range"):
        ni.index_img(img, 4)
    with pytest.raises(IndexError):
        ni.index_img(img, [10])
    _same_img(ni.index_img(img, pd.Series([0, 3])), nl.index_img(img, pd.Series([0, 3])))


def test_iter_img_oracle(tmp_path):
    p = str(tmp_path / "it.nii.gz")
    _scaled_ref().to_filename(p)
    ours, theirs = list(ni.iter_img(p)), list(nl.iter_img(p))
    assert len(ours) == len(theirs) == 4
    for a, b in zip(ours, theirs, strict=True):
        _same_img(a, b)


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64, np.uint8])
@pytest.mark.parametrize("shape", [(7, 8, 9, 6), (7, 8, 9)])
def test_mean_img_single_oracle(tmp_path, dtype, shape):
    img = random_img(shape, dtype=dtype, seed=4)
    p = str(tmp_path / "m.nii.gz")
    img.to_filename(p)
    for src in (img, p):
        ours, theirs = ni.mean_img(src), nl.mean_img(src)
        _same_img(ours, theirs, exact=False)
        assert ours.header.binaryblock == theirs.header.binaryblock


def test_mean_img_list_oracle():
    imgs = [random_img((7, 8, 9, 3), dtype=np.float32, seed=s) for s in range(3)]
    _same_img(ni.mean_img(imgs), nl.mean_img(imgs), exact=False)


def test_mean_img_target_oracle():
    imgs = [random_img((7, 8, 9, 3), dtype=np.float32, seed=s) for s in range(2)]
    kwargs = dict(target_affine=np.diag([3.0, 3.0, 3.0, 1.0]), target_shape=(6, 7, 8))
    _same_img(ni.mean_img(imgs, **kwargs), nl.mean_img(imgs, **kwargs), exact=False)
    other = random_img((7, 8, 9, 2), dtype=np.float32, seed=9, affine=np.diag([2.2, 2.4, 2.6, 1.0]))
    _same_img(ni.mean_img([imgs[0], other]), nl.mean_img([imgs[0], other]), exact=False)


@pytest.mark.parametrize("pad", [True, False])
@pytest.mark.parametrize("ndim", [3, 4])
def test_crop_img_oracle(pad, ndim):
    rng = np.random.default_rng(0)
    data = np.zeros((7, 8, 9, 2))
    data[2:4, 3:6, 1:2, 0] = rng.random((2, 3, 1))
    data[3:5, 5:7, 0:3, 1] = -rng.random((2, 2, 3))
    data[0, 0, 0, 0] = 1e-12  # below rtol
    if ndim == 3:
        data = data[..., 0]
    img = nib.Nifti1Image(data, random_img().affine)
    ours, ours_off = ni.crop_img(img, pad=pad, return_offset=True)
    theirs, theirs_off = nl.crop_img(img, pad=pad, return_offset=True)
    _same_img(ours, theirs)
    assert ours_off == theirs_off


def test_crop_img_all_zero_warns():
    img = nib.Nifti1Image(np.zeros((7, 8, 9)), np.eye(4))
    with pytest.warns(UserWarning, match="No values above"):
        out = ni.crop_img(img)
    assert out.shape == (7, 8, 9)


def test_math_img_oracle():
    ref = _scaled_ref()
    other = random_img((7, 8, 9, 4), dtype=np.float32, seed=7, affine=ref.affine)
    for formula, kw in [("img > 50", {}), ("img * 2", dict(copy_header_from="img")),
                        ("np.mean(img, axis=-1)", {}), ("img + other", dict(copy_header_from="other"))]:
        with warnings.catch_warnings(record=True) as ours_w:
            warnings.simplefilter("always")
            ours = ni.math_img(formula, img=ref, other=other, **kw)
        with warnings.catch_warnings(record=True) as theirs_w:
            warnings.simplefilter("always")
            theirs = nl.math_img(formula, img=ref, other=other, **kw)
        assert [str(w.message) for w in ours_w] == [str(w.message) for w in theirs_w]
        _same_img(ours, theirs)
        assert ours.header.binaryblock == theirs.header.binaryblock
    with pytest.raises(ValueError, match="Cannot copy the header"):
        ni.math_img("np.mean(img, axis=-1)", img=ref, copy_header_from="img")
    with pytest.raises(ValueError, match="field of view"):
        ni.math_img("a + b", a=ref, b=random_img((7, 8, 9, 4), affine=np.eye(4)))


def test_coord_transform_oracle():
    aff = random_img().affine
    assert ni.coord_transform(1, 2, 3, aff) == nl.coord_transform(1, 2, 3, aff)
    assert isinstance(ni.coord_transform(1, 2, 3, aff)[0], float)
    for args in [([1, 2], [2, 3], [3, 4]), (np.ones((2, 3)), np.zeros((2, 3)), np.arange(6.0).reshape(2, 3))]:
        for a, b in zip(ni.coord_transform(*args, aff), nl.coord_transform(*args, aff), strict=True):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)


def test_load_img_oracle(tmp_path):
    imgs = [random_img((7, 8, 9), dtype=np.int16, seed=s) for s in range(3)]
    _same_img(ni.load_img(imgs), nl.load_img(imgs))
    _same_img(ni.load_img(imgs[0], dtype="auto"), nl.load_img(imgs[0], dtype="auto"))
    p = str(tmp_path / "l.nii.gz")
    _scaled_ref().to_filename(p)
    _same_img(ni.load_img(p), nl.load_img(p))


def test_concat_imgs_oracle(tmp_path):
    imgs = [random_img((7, 8, 9), dtype=np.int16, seed=s) for s in range(3)]
    p = str(tmp_path / "c.nii.gz")
    _scaled_ref().to_filename(p)
    for items, kw in [(imgs, {}), (imgs, dict(dtype=None)), ([p, p], {}), ([p, _scaled_ref()], dict(dtype=None))]:
        ours, theirs = ni.concat_imgs(items, **kw), nl.concat_imgs(items, **kw)
        _same_img(ours, theirs)
        assert np.asanyarray(ours.dataobj).flags.f_contiguous
    with pytest.raises(TypeError, match="empty"):
        ni.concat_imgs([])
