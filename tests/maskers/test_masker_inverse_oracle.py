"""inverse_transform of the seven maskers against nilearn 0.14.1: dtypes, warnings, shapes, spheres."""
import warnings

import nibabel as nib
import nilearn.maskers as nl
import numpy as np
import pandas as pd
import pytest

import nimask.maskers as nm
from _helpers import assert_oracle

SHAPE = (7, 8, 9)
AFF = np.array([[2.0, 0, 0, -5], [0, 2.0, 0, -6], [0, 0, 2.0, 3], [0, 0, 0, 1]])
SEEDS = [(-1.0, 0.0, 10.0), (3.0, 4.0, 12.0)]


def _imgs():
    rng = np.random.default_rng(0)
    img = nib.Nifti1Image(rng.random(SHAPE + (5,)) + 10, AFF)
    lab = np.zeros(SHAPE, np.int32)
    lab[1:3, 1:4, 1:5], lab[4:6, 2:6, 3:8], lab[2:5, 5:7, 1:3] = 1, 2, 3
    maps = rng.random(SHAPE + (3,)) * (rng.random(SHAPE + (3,)) > 0.5)
    mask = (rng.random(SHAPE) > 0.2).astype(np.int8)
    return img, nib.Nifti1Image(lab, AFF), nib.Nifti1Image(maps, AFF), nib.Nifti1Image(mask, AFF)


IMG, LABELS, MAPS, MASK = _imgs()
ONE_VOXEL = nib.Nifti1Image((np.arange(np.prod(SHAPE)) == 200).reshape(SHAPE).astype(np.int8), AFF)
MAKERS = {
    "NiftiMasker": lambda mod: mod.NiftiMasker(mask_img=MASK),
    "MultiNiftiMasker": lambda mod: mod.MultiNiftiMasker(mask_img=MASK),
    "NiftiLabelsMasker": lambda mod: mod.NiftiLabelsMasker(LABELS, mask_img=MASK),
    "MultiNiftiLabelsMasker": lambda mod: mod.MultiNiftiLabelsMasker(LABELS, mask_img=MASK),
    "NiftiMapsMasker": lambda mod: mod.NiftiMapsMasker(MAPS, mask_img=MASK),
    "MultiNiftiMapsMasker": lambda mod: mod.MultiNiftiMapsMasker(MAPS, mask_img=MASK),
    "NiftiSpheresMasker": lambda mod: mod.NiftiSpheresMasker(SEEDS, radius=5.0, mask_img=MASK, allow_overlap=True),
}
# nilearn builds these images from the signals directly, so it warns for any 64-bit signals;
# maps and spheres go through a float product first (nimask warns for 64-bit signals there too)
SIGNALS_TO_IMAGE = {"NiftiMasker", "MultiNiftiMasker", "NiftiLabelsMasker", "MultiNiftiLabelsMasker"}
_FITTED: dict = {}


def _fitted(name):
    if name not in _FITTED:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _FITTED[name] = tuple(MAKERS[name](mod).fit(IMG) for mod in (nl, nm))
    return _FITTED[name]


def _inverse(masker, dtype, X):
    masker.dtype = dtype  # only read by transform / inverse_transform
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = masker.inverse_transform(X)
    flags = {key for w in caught for key in ("converted to int32", "Casting boolean input to", "too large")
             if key in str(w.message)}
    return img, flags


@pytest.mark.parametrize("name", list(MAKERS))
@pytest.mark.parametrize("in_dtype", [np.float32, np.float64, np.int64, np.int32, bool, np.uint8])
@pytest.mark.parametrize("dtype", [None, np.float32, "float64", np.int32, np.int64, "i4", "auto"])
@pytest.mark.parametrize("one_volume", [False, True])
def test_inverse_transform_dtypes_values_and_warnings_match_nilearn(name, in_dtype, dtype, one_volume):
    if in_dtype is bool and dtype == "auto":
        pytest.skip("nilearn 0.14.1 crashes (astype('auto')); nimask casts booleans to int32")
    theirs, ours = _fitted(name)
    n = ours.n_elements_
    X = (np.random.default_rng(1).random((n,) if one_volume else (4, n)) * 10).astype(in_dtype)
    expected, expected_flags = _inverse(theirs, dtype, X)
    actual, flags = _inverse(ours, dtype, X)
    assert actual.shape == expected.shape
    assert np.asanyarray(actual.dataobj).dtype == np.asanyarray(expected.dataobj).dtype
    assert actual.get_data_dtype() == expected.get_data_dtype()
    np.testing.assert_array_equal(actual.affine, expected.affine)
    assert_oracle(np.asanyarray(actual.dataobj), np.asanyarray(expected.dataobj), rtol=1e-12)
    if name in SIGNALS_TO_IMAGE or np.dtype(in_dtype) != np.int64:
        assert flags == expected_flags
    else:
        assert flags == expected_flags | {"converted to int32"}


@pytest.mark.parametrize("name", list(MAKERS))
def test_int64_images_keep_the_int64_header_with_int32_data(name):
    _, ours = _fitted(name)
    ours.dtype = np.int64
    with pytest.warns(UserWarning, match="data has been converted to int32"):
        img = ours.inverse_transform(np.ones((2, ours.n_elements_)))
    assert np.asanyarray(img.dataobj).dtype == np.int32
    assert img.get_data_dtype() == np.int64


def test_int64_values_beyond_int32_stay_int64():
    """nilearn gives the same image from float signals; from int64 signals it crashes in nibabel."""
    theirs, ours = _fitted("NiftiMasker")
    X = np.full((2, ours.n_elements_), 2.0**40)
    expected, _ = _inverse(theirs, np.int64, X)
    for signals in (X, X.astype(np.int64)):
        actual, flags = _inverse(ours, np.int64 if signals.dtype.kind == "f" else None, signals)
        assert flags == {"too large"}
        assert np.asanyarray(actual.dataobj).dtype == actual.get_data_dtype() == np.int64
        np.testing.assert_array_equal(np.asanyarray(actual.dataobj), np.asanyarray(expected.dataobj))


def test_boolean_signals_warn_and_are_cast():
    _, ours = _fitted("NiftiLabelsMasker")
    ours.dtype = None
    with pytest.warns(UserWarning, match="Casting boolean input to int32"):
        img = ours.inverse_transform(np.array([True, False, True]))
    assert img.get_data_dtype() == np.int32
    assert set(np.unique(np.asanyarray(img.dataobj))) == {0, 1}


@pytest.mark.parametrize("maker", [
    lambda mod: mod.NiftiLabelsMasker(nib.Nifti1Image((np.asarray(LABELS.dataobj) == 2).astype(np.int8), AFF)),
    lambda mod: mod.NiftiMapsMasker(nib.Nifti1Image(np.asarray(MAPS.dataobj)[..., :1], AFF)),
    lambda mod: mod.NiftiSpheresMasker(SEEDS[:1], radius=4.0, mask_img=MASK),
    lambda mod: mod.NiftiMasker(ONE_VOXEL),
])
@pytest.mark.parametrize("kind", ["0-d", "scalar", "frame"])
def test_a_single_value_for_a_single_region_gives_a_3d_image(maker, kind):
    """transform of a 3D image with one region gives a 0-d array; inverse_transform takes it back."""
    value = {"0-d": np.array(3.5), "scalar": 3.5, "frame": pd.DataFrame([[3.5]])}[kind]
    out = []
    for mod in (nl, nm):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            masker = maker(mod).fit(IMG)
            assert masker.n_elements_ == 1
            out.append(masker.inverse_transform(value))
    assert out[1].shape == out[0].shape == SHAPE
    assert_oracle(out[1].get_fdata(), out[0].get_fdata(), rtol=1e-12)


# ---- NiftiSpheresMasker ------------------------------------------------------------------
def test_spheres_without_mask_use_the_grid_of_the_fit_images():
    """nilearn needs mask_img; nimask writes onto the fit images' grid (nilearn with a mask of ones)."""
    ones = nib.Nifti1Image(np.ones(SHAPE, np.int8), AFF)
    signals = np.random.default_rng(2).standard_normal((3, 2))
    kw = {"radius": 5.0, "allow_overlap": True}
    expected = nl.NiftiSpheresMasker(SEEDS, mask_img=ones, **kw).fit().inverse_transform(signals)
    masker = nm.NiftiSpheresMasker(SEEDS, **kw).fit(IMG)
    actual = masker.inverse_transform(signals)
    np.testing.assert_array_equal(actual.affine, expected.affine)
    assert_oracle(actual.get_fdata(), expected.get_fdata(), rtol=1e-12)
    masker.transform(IMG)  # transform changes nothing
    np.testing.assert_array_equal(masker.inverse_transform(signals).get_fdata(), actual.get_fdata())


def test_spheres_without_mask_nor_fit_images_cannot_invert():
    for mod in (nl, nm):
        masker = mod.NiftiSpheresMasker(SEEDS, radius=2.0).fit()
        masker.transform(IMG)  # a transform image is no reference (transform has no side effect)
        with pytest.raises(ValueError, match="Please provide mask_img at initialization"):
            masker.inverse_transform(np.ones(2))


def test_spheres_fit_checks_the_images_like_nilearn():
    empty = nib.Nifti1Image(np.zeros((4, 4, 0)), np.eye(4))
    for mod in (nl, nm):
        with pytest.raises(ValueError, match="The image is empty"):
            mod.NiftiSpheresMasker(SEEDS, radius=5.0, mask_img=MASK).fit(empty)


@pytest.mark.parametrize("radius", [1.0, 3.0, 6.0])
def test_spheres_overlap_in_inverse_transform_like_nilearn(radius):
    seeds = [(-3.0, -2.0, 7.0), (1.0, 0.0, 9.0)]
    signals = np.array([2.0, 5.0])
    ones = nib.Nifti1Image(np.ones(SHAPE, np.int8), AFF)
    for allow in (True, False):
        out = []
        for mod in (nl, nm):
            masker = mod.NiftiSpheresMasker(seeds, radius=radius, mask_img=ones, allow_overlap=allow).fit()
            try:
                out.append(masker.inverse_transform(signals).get_fdata())
            except ValueError as exc:
                out.append(str(exc))
        if isinstance(out[0], str):
            assert "Overlap detected" in out[0] and "Overlap detected" in out[1]
        else:
            assert_oracle(out[1], out[0], rtol=1e-12)
    assert radius < 3 or isinstance(out[0], str)  # the larger radii do overlap


def test_spheres_empty_in_inverse_transform_like_nilearn():
    mask = np.zeros(SHAPE, np.int8)
    mask[0, 0, 0] = 1
    mask_img = nib.Nifti1Image(mask, AFF)
    for mod in (nl, nm):
        masker = mod.NiftiSpheresMasker(SEEDS, radius=0.5, mask_img=mask_img).fit()
        with pytest.raises(ValueError, match="These spheres are empty"):
            masker.inverse_transform(np.ones(2))
    masker = nm.NiftiSpheresMasker(SEEDS, radius=0.5, mask_img=mask_img, empty_spheres="nan").fit()
    with pytest.warns(UserWarning, match="These spheres are empty"):
        img = masker.inverse_transform(np.ones(2))
    assert not np.asanyarray(img.dataobj).any()


# ---- an empty computed mask, and the cache of an empty result ----------------------------
def test_multi_masker_empty_computed_mask_is_refused_at_transform_like_nilearn():
    data = nib.Nifti1Image(np.full((9, 10, 11), 10, np.int32), np.eye(4), dtype=np.int32)
    for mod in (nl, nm):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            masker = mod.MultiNiftiMasker().fit(data)
        assert masker.n_elements_ == 0
        with pytest.raises(ValueError, match="The mask is invalid as it is empty: it masks all data"):
            masker.transform(data)
        with pytest.raises(ValueError, match="The mask is invalid as it is empty: it masks all data"):
            masker.inverse_transform(np.zeros(0))


def test_the_cache_stores_empty_arrays(tmp_path):
    from joblib import Memory

    from nimask.maskers._cache import cached_call

    memory = Memory(str(tmp_path), verbose=0)
    for _ in range(2):  # computed, then read back and verified
        out = cached_call(memory, ("empty",), lambda: np.zeros((3, 0), np.float32))
        assert out.shape == (3, 0) and out.dtype == np.float32
