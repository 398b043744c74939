"""NiftiSpheresMasker against nilearn 0.14.1."""
import warnings

import nibabel as nib
import nilearn.maskers as nl
import numpy as np
import pytest

from _helpers import assert_float64_oracle, assert_oracle, float64_copy
from nimask.exceptions import AtlasError, MaskError, NimaskDataWarning, ParameterError
from nimask.maskers.nifti_spheres_masker import NiftiSpheresMasker

AFF = np.diag([2.0, 2.5, 3.0, 1.0])
SEEDS = [(2, 5, 3), (6.3, 10.1, 9), (8, 2.5, 12.2)]


def _mask():
    mask = np.zeros((7, 8, 9), np.int8)
    mask[:5, :, :] = 1
    return nib.Nifti1Image(mask, AFF)


def _img(dtype, t=40, seed=1):
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image((rng.random((7, 8, 9, t)) * 100).astype(dtype), AFF)


def _both(kw, img, call, seeds=SEEDS):
    out = []
    for klass in (nl.NiftiSpheresMasker, NiftiSpheresMasker):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(call(klass(seeds, **kw).fit(img)))
    return out


OPTIONS = [
    {"radius": None},
    {"radius": 0},
    {"radius": 3},
    {"radius": 3, "mask_img": "mask"},
    {"radius": 5, "mask_img": "mask", "allow_overlap": True},
    {"radius": 4, "standardize": "zscore_sample", "detrend": True},
    {"radius": 3, "dtype": "auto"},
    {"radius": 3, "dtype": np.float32},
    {"radius": 2, "high_variance_confounds": True},
    {"radius": 3, "low_pass": 0.1, "t_r": 2.0},
]


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
@pytest.mark.parametrize("kw", OPTIONS, ids=lambda kw: "-".join(f"{k}{v}" for k, v in kw.items() if k != "mask_img"))
def test_transform_oracle(dtype, kw):
    kw = {k: (_mask() if v == "mask" else v) for k, v in kw.items()}
    img = _img(dtype)
    expected, actual = _both(kw, img, lambda m: m.transform(img))
    if dtype == np.float64 or "dtype" in kw:  # float64 in both, or the data loaded as float32 / int32 output
        assert actual.dtype == expected.dtype
        assert_oracle(actual, expected, rtol=1e-6 if dtype == np.float64 else 2e-6)
    else:
        # nimask averages and cleans in float64 and does not truncate the means of integer images (nilearn
        # does, spec §12 item 3): deliberate fix, catalogue D12. The oracle is nilearn on the float64 copy.
        expected64, _ = _both(kw, img, lambda m: m.transform(float64_copy(img)))
        assert_float64_oracle(actual, expected, expected64)


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
def test_3d_and_inverse_oracle(dtype):
    img = _img(dtype, t=4)
    vol = nib.Nifti1Image(np.asanyarray(img.dataobj)[..., 0], AFF)
    for kw in ({"radius": 3, "mask_img": _mask()}, {"radius": 5, "mask_img": _mask(), "allow_overlap": True}):
        expected, actual = _both(kw, img, lambda m: m.transform(vol))
        assert actual.shape == expected.shape == (3,)
        if dtype == np.int16:  # nilearn truncates integer means, nimask does not (catalogue D12)
            expected64, _ = _both(kw, img, lambda m: m.transform(float64_copy(vol)))
            assert_float64_oracle(actual, expected, expected64)
        else:
            assert_oracle(actual, expected)
        sig = np.random.default_rng(0).standard_normal((4, 3))
        expected, actual = _both(kw, img, lambda m, sig=sig: m.inverse_transform(sig))
        assert actual.shape == expected.shape
        assert_oracle(actual.get_fdata(), expected.get_fdata())


def test_seed_outside_mask_radius_none_uses_truncation_voxel_like_nilearn():
    img = _img(np.float64)
    seeds = [(-0.6, 0, 0), (2, 5, 3)]
    expected, actual = _both({"radius": None}, img, lambda m: m.transform(img), seeds=seeds)
    assert_oracle(actual, expected)


def test_errors():
    img = _img(np.float32)
    with pytest.raises(AtlasError, match="Overlap detected between spheres"):
        NiftiSpheresMasker([(2, 2, 3), (4, 2.5, 3)], radius=3).fit_transform(img)
    with pytest.raises(AtlasError, match=r"These spheres are empty: \[1\]"):
        NiftiSpheresMasker([(2, 2, 3), (100, 100, 100)], radius=2).fit_transform(img)
    with pytest.raises(AtlasError, match="seed #0 has non-finite"):
        NiftiSpheresMasker([(np.nan, 4, 4)]).fit()
    with pytest.raises(AtlasError, match="Seed #0 is of length 2"):
        NiftiSpheresMasker([(4, 4)]).fit()
    with pytest.raises(ParameterError, match="found -3"):
        NiftiSpheresMasker([(4, 4, 4)], radius=-3).fit()
    with pytest.raises(AtlasError, match="Please provide mask_img"):
        NiftiSpheresMasker([(4, 4, 4)]).fit().inverse_transform(np.zeros(1))
    bad_mask = nib.Nifti1Image((np.arange(7 * 8 * 9).reshape(7, 8, 9) % 3).astype(np.int16), AFF)
    with pytest.raises(MaskError, match="not made of 2 values|must be binary"):
        NiftiSpheresMasker([(4, 4, 4)], radius=2, mask_img=bad_mask).fit().transform(img)


def test_empty_spheres_nan_option_and_per_seed_radii():
    img = _img(np.float64)
    with pytest.warns(NimaskDataWarning, match="empty"):
        out = NiftiSpheresMasker([(2, 5, 3), (100, 100, 100)], radius=2, empty_spheres="nan").fit_transform(img)
    assert np.all(np.isnan(out[:, 1]))
    ref = NiftiSpheresMasker([(2, 5, 3)], radius=2).fit_transform(img)
    np.testing.assert_array_equal(out[:, :1], ref)
    a = NiftiSpheresMasker([(2, 5, 3), (10, 15, 21)], radius=[0, 4]).fit_transform(img)
    b0 = NiftiSpheresMasker([(2, 5, 3)], radius=0).fit_transform(img)
    b1 = NiftiSpheresMasker([(10, 15, 21)], radius=4).fit_transform(img)
    np.testing.assert_array_equal(a, np.hstack([b0, b1]))


def test_feature_names_and_fitted():
    from sklearn.exceptions import NotFittedError

    masker = NiftiSpheresMasker(SEEDS, radius=2)
    with pytest.raises(NotFittedError):
        masker.transform(_img(np.float32))
    masker.fit()
    assert masker.seeds_ == [list(s) for s in SEEDS] and masker.n_elements_ == 3
    assert masker.get_feature_names_out().tolist() == [f"niftispheresmasker{i}" for i in range(3)]
