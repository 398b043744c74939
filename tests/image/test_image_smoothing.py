"""smooth_img / smooth_array against nilearn 0.14.1."""
import functools
import warnings

import nibabel as nib
import nilearn.image as nilearn_image
import numpy as np
import pytest
from nilearn.image.image import smooth_array as nilearn_smooth_array  # noqa: E402

from _helpers import assert_oracle, oblique_affine, random_img
from nimask.exceptions import NimaskWarning, ParameterError
from nimask.image import smooth_array, smooth_img

AFFINE = np.array([[2.0, 0, 0, -10], [0, 2.5, 0, 5], [0, 0, 3.0, 3], [0, 0, 0, 1]])
FWHMS = [None, 0, 0.0, 3, 4.5, "fast", [0, None, 4], (2, 3, 5), np.array([1.0, 2.0, 3.0]), [None, None, None]]


def _both(imgs, fwhm):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return smooth_img(imgs, fwhm), nilearn_image.smooth_img(imgs, fwhm)


def _check_same(actual, expected):
    a, e = np.asarray(actual.dataobj), np.asarray(expected.dataobj)
    assert a.dtype == e.dtype
    assert_oracle(a, e)
    np.testing.assert_array_equal(actual.affine, expected.affine)
    assert actual.header.get_data_dtype() == expected.header.get_data_dtype()


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("fwhm", FWHMS, ids=repr)
def test_smooth_img_matches_nilearn(dtype, fwhm):
    img = random_img((7, 8, 9, 3), dtype=dtype, affine=AFFINE, seed=1)
    _check_same(*_both(img, fwhm))


@pytest.mark.parametrize("fwhm", [3.0, "fast", [5, 0, 2]], ids=repr)
@pytest.mark.parametrize("shape", [(7, 8, 9), (1, 5, 6), (4, 1, 3, 2)])
def test_smooth_img_oblique_and_odd_shapes(fwhm, shape):
    img = random_img(shape, dtype=np.float32, affine=oblique_affine(2), seed=3)
    _check_same(*_both(img, fwhm))


def test_smooth_img_non_finite_become_zero():
    data = np.random.default_rng(4).standard_normal((7, 8, 9))
    data[1, 2, 3] = np.nan
    data[4, 4, 4] = np.inf
    img = nib.Nifti1Image(data, AFFINE)
    for fwhm in (None, 4.0, "fast"):
        actual, expected = _both(img, fwhm)
        _check_same(actual, expected)
        assert np.all(np.isfinite(np.asarray(actual.dataobj)))


def test_smooth_img_list_returns_list():
    imgs = [random_img((7, 8, 9), seed=s, affine=AFFINE) for s in range(2)]
    actual, expected = _both(imgs, 3.0)
    assert isinstance(actual, list) and len(actual) == 2
    for a, e in zip(actual, expected, strict=True):
        _check_same(a, e)


def test_smooth_img_scaled_file_streamed_in_chunks(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    img = nib.Nifti1Image(rng.integers(-300, 300, (7, 8, 9, 5)).astype(np.int16), AFFINE)
    img.header.set_slope_inter(0.5, 3.0)
    path = tmp_path / "scaled.nii.gz"
    nib.save(img, path)
    import nimask._nifti_io as nifti_io

    monkeypatch.setattr(nifti_io, "iter_volume_chunks", functools.partial(nifti_io.iter_volume_chunks, chunk_size=2))
    actual, expected = _both(str(path), [3.0, None, 5.0])
    assert np.asarray(actual.dataobj).dtype == np.float64
    _check_same(actual, expected)


@pytest.mark.parametrize("dtype", [np.int8, np.uint16, np.int32, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("fwhm", [2.0, "fast", [1, None, 2], None], ids=repr)
def test_smooth_array_matches_nilearn(dtype, fwhm):
    arr = (np.random.default_rng(6).random((5, 6, 7, 2)) * 100).astype(dtype)
    actual = smooth_array(arr, AFFINE, fwhm)
    expected = nilearn_smooth_array(arr, AFFINE, fwhm)
    assert actual.dtype == expected.dtype
    assert_oracle(actual, expected)


def test_smooth_array_copy_and_ensure_finite():
    arr = np.random.default_rng(7).random((5, 6, 7)).astype(np.float32)
    arr[0, 0, 0] = np.nan
    kept = smooth_array(arr, AFFINE, None, ensure_finite=False)
    assert np.isnan(kept[0, 0, 0]) and np.isnan(arr[0, 0, 0])
    inplace = smooth_array(arr, AFFINE, 3.0, copy=False)
    assert inplace is arr and arr[0, 0, 0] == inplace[0, 0, 0]
    assert np.all(np.isfinite(arr))


def test_smooth_array_chunks_equal_whole_run():
    arr = np.random.default_rng(8).random((6, 7, 8, 5)).astype(np.float32)
    whole = smooth_array(arr, oblique_affine(1), [2.0, 3.0, None])
    pieces = [smooth_array(arr[..., t : t + 2], oblique_affine(1), [2.0, 3.0, None]) for t in range(0, 5, 2)]
    np.testing.assert_array_equal(np.concatenate(pieces, axis=3), whole)


def test_smooth_fwhm_zero_warns():
    img = random_img((7, 8, 9), affine=AFFINE)
    with pytest.warns(NimaskWarning, match="'fwhm' for smoothing is specified as 0"):
        smooth_img(img, 0)


@pytest.mark.parametrize("fwhm", [-3, [1, -2, 3], [3, 3], "slow", True, [1, "a", 2], float("nan")], ids=repr)
def test_smooth_bad_fwhm_names_parameter(fwhm):
    img = random_img((7, 8, 9), affine=AFFINE)
    with pytest.raises(ParameterError, match="fwhm") as info:
        smooth_img(img, fwhm)
    assert info.value.param == "fwhm"
    with pytest.raises(ParameterError, match="fwhm"):
        smooth_array(np.zeros((4, 5, 6)), AFFINE, fwhm)


def test_smooth_array_bad_array_and_affine():
    with pytest.raises(ParameterError, match="arr"):
        smooth_array(np.zeros((4, 5)), AFFINE, 2.0)
    with pytest.raises(ParameterError, match="affine"):
        smooth_array(np.zeros((4, 5, 6)), None, 2.0)


@pytest.mark.parametrize("fwhm", [3.0, "fast"], ids=repr)
def test_smooth_img_leaves_input_untouched(fwhm):
    data = np.random.default_rng(9).standard_normal((7, 8, 9, 2)).astype(np.float32)
    data[0, 0, 0, 0] = np.nan
    img = nib.Nifti1Image(data.copy(), AFFINE)
    smooth_img(img, fwhm)
    np.testing.assert_array_equal(np.asarray(img.dataobj), data)


@pytest.mark.parametrize("fwhm", [3.0, [2.0, None, 5.0], "fast"], ids=repr)
def test_smooth_array_4d_equals_volume_by_volume(fwhm):
    """4D arrays are filtered over a thread pool, volume by volume: the same bits as 3D calls."""
    arr = np.asfortranarray(np.random.default_rng(10).standard_normal((6, 7, 8, 5)).astype(np.float32))
    whole = smooth_array(arr, oblique_affine(3), fwhm)
    for t in range(arr.shape[3]):
        np.testing.assert_array_equal(whole[..., t], smooth_array(arr[..., t], oblique_affine(3), fwhm))
