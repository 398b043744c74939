"""resample_img / resample_to_img / resample_array against nilearn 0.14.1."""
import warnings

import nibabel as nib
import nilearn.image as nilearn_image
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import assert_oracle, oblique_affine, random_img
from nimask.exceptions import GeometryError, NimaskWarning, ParameterError
from nimask.image import resample_img, resample_to_img
from nimask.image._resampling import clip_bounds, resample_array, target_grid

SRC_AFFINE = np.array([[2.0, 0, 0, -10], [0, 2.5, 0, 5], [0, 0, 3.0, 3], [0, 0, 0, 1]])


def _target_4x4():
    aff = np.diag([3.0, 2.0, 2.5, 1.0])
    aff[:3, 3] = [-8, 6, 5]
    return aff


def _oblique_target():
    """A rotated target whose origin sits at the source's first voxel (so the boxes overlap)."""
    aff = oblique_affine(1)
    aff[:3, 3] = SRC_AFFINE[:3, 3]
    return aff


TARGETS = {
    "3x3": dict(target_affine=np.diag([3.0, 3.0, 3.0])),
    "3x3-oblique": dict(target_affine=oblique_affine(2)[:3, :3]),
    "4x4": dict(target_affine=_target_4x4()),
    "4x4+shape": dict(target_affine=_target_4x4(), target_shape=(6, 7, 8)),
    "oblique+shape": dict(target_affine=_oblique_target(), target_shape=(6, 7, 5)),
}


def _both(func_name, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = getattr(nilearn_image, func_name)(*args, **kwargs)
        actual = {"resample_img": resample_img, "resample_to_img": resample_to_img}[func_name](*args, **kwargs)
    return actual, expected


def _check_same(actual, expected):
    a, e = np.asarray(actual.dataobj), np.asarray(expected.dataobj)
    assert a.dtype == e.dtype
    np.testing.assert_allclose(actual.affine, expected.affine, rtol=1e-12, atol=1e-12)
    assert_oracle(a, e)
    assert actual.header.get_data_dtype() == expected.header.get_data_dtype()


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("interpolation", ["continuous", "linear", "nearest"])
@pytest.mark.parametrize("target", list(TARGETS))
def test_resample_img_matches_nilearn(dtype, interpolation, target):
    img = random_img((7, 8, 9, 3), dtype=dtype, affine=SRC_AFFINE, seed=1)
    _check_same(*_both("resample_img", img, interpolation=interpolation, **TARGETS[target]))


@pytest.mark.parametrize("shape", [(7, 8, 9), (5, 1, 6), (1, 2, 3, 2)])
def test_resample_img_odd_shapes_and_3d(shape):
    img = random_img(shape, dtype=np.float32, affine=oblique_affine(3), seed=2)
    for kw in (dict(target_affine=np.diag([1.5, 2.0, 2.5])), dict(target_affine=np.eye(3) * 2)):
        _check_same(*_both("resample_img", img, **kw))


def test_resample_img_int16_with_scl_slope(tmp_path):
    rng = np.random.default_rng(3)
    img = nib.Nifti1Image(rng.integers(-300, 300, (7, 8, 9, 2)).astype(np.int16), SRC_AFFINE)
    img.header.set_slope_inter(0.5, 3.0)
    path = tmp_path / "scaled.nii.gz"
    nib.save(img, path)
    for interpolation in ("continuous", "nearest"):
        actual, expected = _both("resample_img", str(path), target_affine=np.diag([3.0, 2.0, 2.0]),
                                 interpolation=interpolation)
        assert np.asarray(actual.dataobj).dtype == np.float64
        _check_same(actual, expected)


def test_resample_img_int64_and_int32_dtypes():
    for dtype in (np.int32, np.int64):
        data = np.random.default_rng(4).integers(-50, 50, (7, 8, 9)).astype(dtype)
        img = nib.Nifti1Image(data, SRC_AFFINE, dtype=dtype)
        for interpolation in ("continuous", "linear"):
            _check_same(*_both("resample_img", img, target_affine=np.eye(3) * 2, interpolation=interpolation))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resample_img_non_finite(dtype):
    rng = np.random.default_rng(5)
    data = rng.standard_normal((12, 13, 14, 2))
    data[rng.random(data.shape) < 0.2] = np.nan
    data[:6, :6, :6, 0] = np.nan  # a block bigger than the 2-voxel extrapolation
    data[3, 9, 9, 1] = np.inf
    data[9, 2, 2, 1] = -np.inf
    img = nib.Nifti1Image(data.astype(dtype), SRC_AFFINE)
    for interpolation in ("continuous", "linear", "nearest"):
        actual, expected = _both("resample_img", img, target_affine=oblique_affine(6)[:3, :3],
                                 interpolation=interpolation)
        _check_same(actual, expected)
    with pytest.warns(NimaskWarning, match="NaNs or infinite values"):
        resample_img(img, target_affine=np.eye(3) * 2)


@pytest.mark.parametrize("clip", [True, False])
@pytest.mark.parametrize("fill_value", [0.0, 7.5])
def test_resample_img_clip_and_fill_value(clip, fill_value):
    img = random_img((7, 8, 9), dtype=np.float64, affine=SRC_AFFINE, seed=7)
    target = _target_4x4()
    _check_same(*_both("resample_img", img, target_affine=target, target_shape=(12, 9, 10), clip=clip,
                       fill_value=fill_value))


def test_resample_to_img_matches_nilearn():
    source = random_img((7, 8, 9, 2), dtype=np.float32, affine=SRC_AFFINE, seed=8)
    target = random_img((6, 5, 4), dtype=np.float32, affine=_oblique_target(), seed=9)
    for interpolation in ("continuous", "linear", "nearest"):
        for clip in (False, True):
            _check_same(*_both("resample_to_img", source, target, interpolation=interpolation, clip=clip))


def test_resample_img_no_op_and_copy():
    img = random_img((7, 8, 9), dtype=np.int16, affine=SRC_AFFINE)
    same = resample_img(img, target_affine=img.affine, target_shape=img.shape, copy=False)
    assert same is img
    copied = resample_img(img, target_affine=img.affine + 1e-9, target_shape=img.shape)
    assert copied is not img
    assert np.asarray(copied.dataobj).dtype == np.int16  # no interpolation, no cast
    np.testing.assert_array_equal(np.asarray(copied.dataobj), np.asarray(img.dataobj))
    assert not np.shares_memory(np.asarray(copied.dataobj), np.asarray(img.dataobj))
    assert resample_img(img, copy=False) is img


def test_resample_img_order_c():
    img = random_img((7, 8, 9), dtype=np.float32, affine=SRC_AFFINE)
    out = resample_img(img, target_affine=np.eye(3) * 2, order="C")
    assert np.asarray(out.dataobj).flags["C_CONTIGUOUS"]


def test_resample_img_warnings():
    rng = np.random.default_rng(10)
    binary = nib.Nifti1Image((rng.random((7, 8, 9)) > 0.5).astype(np.float32), SRC_AFFINE)
    with pytest.warns(NimaskWarning, match="Resampling binary images"):
        resample_img(binary, target_affine=np.eye(3) * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resample_img(binary, target_affine=np.eye(3) * 2, interpolation="nearest")
    img = random_img((7, 8, 9), dtype=np.int16, affine=SRC_AFFINE)
    with pytest.warns(NimaskWarning, match="Casting data from int16 to float32"):
        resample_img(img, target_affine=np.eye(3) * 2)
    no_sform = random_img((7, 8, 9), dtype=np.float32, affine=SRC_AFFINE)
    no_sform.header.set_sform(None, code=0)
    with pytest.warns(NimaskWarning, match="no sform"):
        resample_img(no_sform, target_affine=np.eye(3) * 2)


@pytest.mark.parametrize(
    "kwargs, param",
    [
        (dict(target_affine=np.eye(4), interpolation="cubic"), "interpolation"),
        (dict(target_shape=(3, 3, 3)), "target_affine"),
        (dict(target_affine=np.eye(3), target_shape=(3, 3, 3)), "target_affine"),
        (dict(target_affine=np.eye(4), target_shape=(3, 3)), "target_shape"),
        (dict(target_affine=np.eye(4), target_shape=(3, 0, 3)), "target_shape"),
        (dict(target_affine=np.eye(2)), "target_affine"),
        (dict(target_affine=np.eye(4), order="X"), "order"),
    ],
)
def test_resample_img_bad_parameters(kwargs, param):
    img = random_img((7, 8, 9), dtype=np.float32, affine=SRC_AFFINE)
    with pytest.raises(ParameterError, match=param) as info:
        resample_img(img, **kwargs)
    assert info.value.param == param


def test_resample_img_bounding_box_error_like_nilearn():
    img = random_img((7, 8, 9), dtype=np.float32, affine=np.eye(4))
    far = np.eye(4)
    far[:3, 3] = 20
    for shape in (None, (3, 3, 3)):
        with pytest.raises(ValueError):
            nilearn_image.resample_img(img, target_affine=far, target_shape=shape)
        with pytest.raises(GeometryError, match="does not contain any of the data"):
            resample_img(img, target_affine=far, target_shape=shape)


def test_target_grid_3x3_bounding_box():
    affine, shape = target_grid(SRC_AFFINE, (7, 8, 9), np.diag([3.0, 3.0, 3.0]))
    # the box of the source corners: x from -10 to 2, y from 5 to 22.5, z from 3 to 27
    np.testing.assert_allclose(affine[:3, 3], [-10, 5, 3])
    assert shape == (5, 7, 9)


def test_resample_array_bad_clip_and_data():
    data = np.zeros((4, 5, 6), np.float32)
    with pytest.raises(ParameterError, match="clip"):
        resample_array(data, np.eye(4), np.eye(4), (4, 5, 6), clip=(1.0, 0.0))
    with pytest.raises(ParameterError, match="data"):
        resample_array(np.zeros((4, 5)), np.eye(4), np.eye(4), (4, 5, 6))


def test_resample_array_threads_give_identical_numbers():
    data = random_img((9, 10, 11, 5), dtype=np.float32, affine=SRC_AFFINE).get_fdata(dtype=np.float32)
    target, shape = target_grid(SRC_AFFINE, data.shape, oblique_affine(4)[:3, :3])
    one = resample_array(data, SRC_AFFINE, target, shape, n_threads=1)
    many = resample_array(data, SRC_AFFINE, target, shape, n_threads=3)
    np.testing.assert_array_equal(one, many)
    assert one.dtype == np.float32


@settings(max_examples=15, deadline=None)
@given(
    n_vol=st.integers(2, 6),
    chunk=st.integers(1, 4),
    interpolation=st.sampled_from(["continuous", "linear", "nearest"]),
    seed=st.integers(0, 1000),
)
def test_chunked_resampling_with_global_clip_equals_whole_run(n_vol, chunk, interpolation, seed):
    rng = np.random.default_rng(seed)
    data = (rng.standard_normal((6, 7, 5, n_vol)) * rng.uniform(0.1, 100, n_vol)).astype(np.float32)
    data[rng.random(data.shape) < 0.05] = np.nan
    target, shape = target_grid(SRC_AFFINE, data.shape, oblique_affine(seed % 7)[:3, :3])
    whole = resample_array(data, SRC_AFFINE, target, shape, interpolation=interpolation, clip=True)
    bounds = None
    for t0 in range(0, n_vol, chunk):
        bounds = clip_bounds(data[..., t0 : t0 + chunk], bounds)
    pieces = [
        resample_array(data[..., t0 : t0 + chunk], SRC_AFFINE, target, shape, interpolation=interpolation,
                       clip=bounds)
        for t0 in range(0, n_vol, chunk)
    ]
    np.testing.assert_array_equal(np.concatenate(pieces, axis=3), whole)


def test_resample_img_file_streamed_in_chunks_uses_global_clip(tmp_path, monkeypatch):
    import functools

    import nimask._nifti_io as nifti_io

    rng = np.random.default_rng(11)
    data = rng.standard_normal((7, 8, 9, 5)) * np.array([1.0, 50.0, 0.1, 10.0, 3.0])
    data = np.where(data < 0, data * 0.2, data).astype(np.float32)
    path = tmp_path / "run.nii.gz"
    nib.save(nib.Nifti1Image(data, SRC_AFFINE), path)
    monkeypatch.setattr(nifti_io, "iter_volume_chunks", functools.partial(nifti_io.iter_volume_chunks, chunk_size=2))
    _check_same(*_both("resample_img", str(path), target_affine=oblique_affine(3)[:3, :3]))


@pytest.mark.parametrize("values", [[0, 2], [1, 2], [3], [0, 0.5, 1]])
def test_resample_img_non_binary_values_do_not_warn(values):
    data = np.random.default_rng(12).choice(values, (7, 8, 9)).astype(np.float32)
    img = nib.Nifti1Image(data, SRC_AFFINE)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        resample_img(img, target_affine=np.eye(3) * 2)


def test_force_resample_false_gives_the_correct_force_resample_true_numbers():
    img = random_img((7, 8, 9), dtype=np.float32, affine=np.diag([2.0, 2.5, 3.0, 1.0]))
    target = np.diag([2.0, 2.5, 3.0, 1.0])
    target[:3, 3] = [4, -5, 6]  # an integer voxel shift: nilearn's crop-and-pad shortcut case
    expected = nilearn_image.resample_img(img, target_affine=target, target_shape=(8, 9, 7), force_resample=True)
    actual = resample_img(img, target_affine=target, target_shape=(8, 9, 7), force_resample=False)
    _check_same(actual, expected)
    # target voxel i holds source voxel i + (2, -2, 2)
    np.testing.assert_allclose(np.asarray(actual.dataobj)[0:5, 2:9, 0:7], np.asarray(img.dataobj)[2:7, 0:7, 2:9],
                               rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.int16, np.int64, np.float32])
@pytest.mark.parametrize(
    "kwargs",
    [dict(), dict(target_affine=SRC_AFFINE, target_shape=(7, 8, 9)), dict(target_affine=SRC_AFFINE),
     dict(target_affine=SRC_AFFINE[:3, :3])],
    ids=["none", "same-4x4+shape", "same-4x4-alone", "same-3x3"],
)
@pytest.mark.parametrize("copy_header", [True, False])
def test_resample_img_no_op_rules_match_nilearn(dtype, kwargs, copy_header):
    """Only (no target) or (4x4 + shape matching the image) skip the work; a lone affine resamples."""
    data = np.random.default_rng(13).integers(-60, 60, (7, 8, 9)).astype(dtype)
    img = nib.Nifti1Image(data, SRC_AFFINE, dtype=dtype)
    img.header["descrip"] = b"kept"
    actual, expected = _both("resample_img", img, copy_header=copy_header, **kwargs)
    _check_same(actual, expected)
    for key in ("cal_min", "cal_max", "descrip"):
        assert actual.header[key] == expected.header[key], key


def _warning_messages(func, *args, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        func(*args, **kwargs)
    return {str(w.message).split(".")[0] for w in caught if "All-NaN slice" not in str(w.message)}


@pytest.mark.parametrize("case", ["binary-then-random", "random-then-binary", "all-nan-volume", "inf-and-zero",
                                  "binary-with-nan", "random"])
@pytest.mark.parametrize("interpolation", ["continuous", "linear", "nearest"])
def test_resample_img_warnings_match_nilearn_per_volume(case, interpolation):
    """nilearn tests each volume for binary values after filling its non-finite voxels."""
    rng = np.random.default_rng(14)
    rand = rng.standard_normal((6, 7, 5))
    binary = (rand > 0).astype(float)
    volumes = {
        "binary-then-random": [binary, rand],
        "random-then-binary": [rand, binary],
        "all-nan-volume": [np.full(rand.shape, np.nan), rand],
        "inf-and-zero": [np.where(rand > 0, np.inf, 0.0)],
        "binary-with-nan": [np.where(np.arange(rand.size).reshape(rand.shape) == 40, np.nan, binary)],
        "random": [rand, rand * 2],
    }[case]
    img = nib.Nifti1Image(np.stack(volumes, axis=-1).astype(np.float32), SRC_AFFINE)
    kwargs = dict(target_affine=np.eye(3) * 2, interpolation=interpolation)
    expected = _warning_messages(nilearn_image.resample_img, img, **kwargs)
    assert _warning_messages(resample_img, img, **kwargs) == expected
    _check_same(*_both("resample_img", img, **kwargs))


def test_resample_img_all_nan_with_clip_is_all_nan_like_nilearn():
    img = nib.Nifti1Image(np.full((6, 7, 5), np.nan, dtype=np.float32), SRC_AFFINE)
    for clip in (True, False):
        actual, expected = _both("resample_img", img, target_affine=np.eye(3) * 2, clip=clip)
        _check_same(actual, expected)
    assert np.isnan(np.asarray(actual.dataobj)).sum() < np.asarray(actual.dataobj).size  # clip=False: NaN only inside


def test_non_finite_warning_is_also_a_runtime_warning():
    data = np.random.default_rng(15).standard_normal((6, 7, 5)).astype(np.float32)
    data[2, 3, 1] = np.nan
    with pytest.warns(RuntimeWarning, match="NaNs or infinite values"):
        resample_img(nib.Nifti1Image(data, SRC_AFFINE), target_affine=np.eye(3) * 2)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    interpolation=st.sampled_from(["continuous", "linear"]),
    fill_value=st.sampled_from([0.0, 7.5, -2.0]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_separable_path_equals_scipy_path(seed, interpolation, fill_value, dtype):
    """Axis-aligned mappings use three matrix products; they must give scipy's per-volume numbers."""
    import nimask.image._resampling as resampling

    rng = np.random.default_rng(seed)
    in_shape = tuple(int(n) for n in rng.integers(1, 9, 3))
    out_shape = tuple(int(n) for n in rng.integers(1, 10, 3))
    target = np.diag(np.append(rng.choice([-3.0, -2.0, 1.0, 1.5, 2.0, 2.5, 4.0], 3), 1.0))
    target[:3, 3] = rng.uniform(-12, 12, 3)
    data = np.asfortranarray((rng.standard_normal(in_shape + (3,)) * 50).astype(dtype))
    fast = resample_array(data, SRC_AFFINE, target, out_shape, interpolation=interpolation, fill_value=fill_value)
    saved = resampling._SEPARABLE_ORDERS
    resampling._SEPARABLE_ORDERS = ()
    try:
        slow = resample_array(data, SRC_AFFINE, target, out_shape, interpolation=interpolation, fill_value=fill_value)
    finally:
        resampling._SEPARABLE_ORDERS = saved
    assert fast.dtype == slow.dtype
    assert_oracle(fast, slow, rtol=1e-12 if dtype == np.float64 else 1e-6)


def test_separable_path_with_some_non_finite_volumes():
    """Finite volumes go through the separable path, the others through scipy with the fill."""
    rng = np.random.default_rng(16)
    data = rng.standard_normal((8, 9, 7, 4)).astype(np.float32)
    data[2, 3, 4, 1] = np.nan
    data[..., 3] = np.nan
    img = nib.Nifti1Image(data, SRC_AFFINE)
    for interpolation in ("continuous", "linear"):
        _check_same(*_both("resample_img", img, target_affine=_target_4x4(), target_shape=(6, 9, 8),
                           interpolation=interpolation, fill_value=3.0))


def test_separable_path_threads_give_identical_numbers():
    img = random_img((9, 10, 11, 5), dtype=np.float32, affine=SRC_AFFINE)
    data = np.asfortranarray(img.get_fdata(dtype=np.float32))
    target, shape = target_grid(SRC_AFFINE, data.shape, np.diag([1.5, 3.0, 2.0]))
    one = resample_array(data, SRC_AFFINE, target, shape, n_threads=1)
    many = resample_array(data, SRC_AFFINE, target, shape, n_threads=3)
    np.testing.assert_array_equal(one, many)


@pytest.mark.parametrize("flip", [False, True])
def test_linear_resampling_between_whole_multiple_grids_is_a_selection(flip):
    """1 mm -> 2 mm grids (and flips) take values straight from the source: scipy's numbers exactly."""
    import nimask.image._resampling as resampling
    from nimask.image._resample_separable import _as_taps, separable_weights

    rng = np.random.default_rng(3)
    src_affine = np.diag([-1.0 if flip else 1.0, 1.0, 1.0, 1.0])
    src_affine[:3, 3] = [10.0 if flip else -10.0, -8.0, -6.0]
    data = np.asfortranarray(rng.uniform(0, 100, (21, 17, 13, 3)).astype(np.float32))
    target = np.diag([2.0, 2.0, 2.0, 1.0])
    target[:3, 3] = [-12.0, -10.0, -8.0]  # starts outside the source: dropped rows too
    shape = (13, 10, 8)
    matrix, offset = resampling._voxel_mapping(src_affine, target)
    ops = separable_weights(matrix, offset, data.shape[:3], shape, 1)
    assert all(_as_taps(m).is_selection for m, _ in ops)
    fast = resample_array(data, src_affine, target, shape, interpolation="linear")
    saved = resampling._SEPARABLE_ORDERS
    resampling._SEPARABLE_ORDERS = ()
    try:
        slow = resample_array(data, src_affine, target, shape, interpolation="linear")
    finally:
        resampling._SEPARABLE_ORDERS = saved
    np.testing.assert_array_equal(fast, slow)
    assert np.count_nonzero(fast == 0) > 0 and np.count_nonzero(fast) > 0


@pytest.mark.parametrize("seed", range(4))
def test_strided_selection_equals_scipy(seed):
    """Whole-multiple grids become one strided, converting copy (:func:`_as_slices`): scipy's linear
    numbers exactly, for integer and float sources, flips, shifts outside the source and a fill value."""
    from scipy import ndimage

    import nimask.image._resample_separable as separable

    rng = np.random.default_rng(seed)
    used = []
    original = separable._as_slices

    def spy(*args):
        result = original(*args)
        used.append(result is not None)
        return result

    separable._as_slices = spy
    try:
        for _ in range(60):
            shape = tuple(int(v) for v in rng.integers(3, 12, 3))
            n = int(rng.integers(1, 4))
            dtype = [np.uint8, np.int16, np.float32][int(rng.integers(3))]
            vol = np.asfortranarray(rng.integers(0, 200, shape + (n,)).astype(dtype))
            scale = rng.choice([1.0, 2.0, 3.0, -1.0, -2.0], 3)
            offset = rng.integers(-4, 12, 3).astype(float)
            out_shape = tuple(int(v) for v in rng.integers(2, 10, 3))
            fill = float(rng.choice([0.0, 7.0]))
            ops = separable.separable_weights(scale, offset, shape, out_shape, 1)
            out = np.zeros(out_shape + (n,), np.float32, order="F")
            separable.resample_separable(vol, ops, fill, out, n_threads=2)
            for t in range(n):
                ref = ndimage.affine_transform(vol[..., t].astype(np.float64), scale, offset=offset,
                                               output_shape=out_shape, order=1, mode="constant", cval=fill)
                np.testing.assert_array_equal(out[..., t], ref.astype(np.float32))
    finally:
        separable._as_slices = original
    assert any(used) and not all(used)  # both the strided copy and the gathers were exercised


def test_selection_needs_no_clip_pass(monkeypatch):
    """A resampling that only copies source values skips the clip pass (the values are within the bounds)."""
    import nimask.image._resampling as resampling

    calls = []
    original = resampling._clip_in_place
    monkeypatch.setattr(resampling, "_clip_in_place", lambda out, bounds: calls.append(bounds) or original(out, bounds))
    src_affine = np.eye(4)
    data = np.asfortranarray(np.random.default_rng(0).uniform(-5, 100, (12, 10, 8, 2)).astype(np.float32))
    img = nib.Nifti1Image(data, src_affine)
    half = np.diag([2.0, 2.0, 2.0, 1.0])
    selected = resample_img(img, target_affine=half, target_shape=(6, 5, 4), interpolation="linear")
    assert calls == []
    shifted = half.copy()
    shifted[:3, 3] = 0.5  # not on the source samples: interpolation, clip pass
    resample_img(img, target_affine=shifted, target_shape=(6, 5, 4), interpolation="linear")
    assert len(calls) == 1
    np.testing.assert_array_equal(np.asarray(selected.dataobj), data[::2, ::2, ::2])
