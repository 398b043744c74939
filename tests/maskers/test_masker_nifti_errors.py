"""NiftiMasker / MultiNiftiMasker: bad inputs give clear errors naming the parameter and value."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

from nimask.exceptions import (
    ConfoundsError,
    DimensionError,
    MaskError,
    NimaskDataWarning,
    ParameterError,
    SampleMaskError,
)
from nimask.maskers import MultiNiftiMasker, NiftiMasker

SHAPE = (7, 8, 9)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
T = 40


def _mask(values=(1,)):
    data = np.zeros(SHAPE, np.float32)
    for i, v in enumerate(values):
        data[1 + i : 3 + i, 2:6, 3:7] = v
    return nib.Nifti1Image(data, AFFINE)


def _run(t=T):
    rng = np.random.default_rng(0)
    return nib.Nifti1Image(rng.standard_normal(SHAPE + (t,)).astype(np.float32), AFFINE)


def _quiet(masker, imgs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return masker.fit_transform(imgs, **kw)


# ---- masks ------------------------------------------------------------------------------------
def test_non_binary_mask_names_values():
    with pytest.raises(MaskError, match=r"'mask_img' must be binary .*found 2 nonzero values \[2\.0, 3\.0\]"):
        NiftiMasker(_mask((2, 3))).fit()


def test_two_valued_mask_is_accepted():
    masker = NiftiMasker(_mask((5,))).fit()
    assert set(np.unique(np.asarray(masker.mask_img_.dataobj))) == {0, 1}


def test_multi_volume_mask_refused():
    data = np.stack([np.asarray(_mask().dataobj)] * 2, axis=-1)
    with pytest.raises(MaskError, match=r"'mask_img' must be a 3D binary image; got an image of shape \(7, 8, 9, 2\)"):
        NiftiMasker(nib.Nifti1Image(data, AFFINE)).fit()


def test_empty_mask_refused():
    with pytest.raises(MaskError, match="The mask is invalid as it is empty"):
        NiftiMasker(_mask(())).fit()
    with pytest.raises(MaskError, match="empty"):
        MultiNiftiMasker(_mask(())).fit()


def test_nan_in_mask_counts_as_zero_with_warning():
    data = np.asarray(_mask().dataobj).copy()
    data[0, 0, 0] = np.nan
    with pytest.warns(NimaskDataWarning, match="1 NaN/inf values"):
        masker = NiftiMasker(nib.Nifti1Image(data, AFFINE)).fit()
    assert masker.n_elements_ == int(np.nansum(data))


def test_nan_inside_mask_warns_with_count():
    data = np.asarray(_run().dataobj).copy()
    data[2, 3, 4, :3] = np.nan
    data[1, 2, 3, 0] = np.inf
    data[0, 0, 0, :] = np.nan  # outside the mask: not counted
    img = nib.Nifti1Image(data, AFFINE)
    for params in ({}, {"smoothing_fwhm": 3.0}):
        with pytest.warns(NimaskDataWarning, match="4 NaN/inf values inside the mask were set to 0"):
            out = _quiet(NiftiMasker(_mask(), **params), img)
        assert np.isfinite(out).all()


def test_fit_without_mask_or_images():
    with pytest.raises(ParameterError, match="Parameter 'imgs' must be provided to NiftiMasker.fit()"):
        NiftiMasker().fit()


def test_mask_given_and_images_warns():
    with pytest.warns(RuntimeWarning, match="Given mask will be used"):
        NiftiMasker(_mask()).fit(_run())


def test_unknown_mask_strategy():
    with pytest.raises(ParameterError, match="Unknown value of mask_strategy 'template'"):
        NiftiMasker(mask_strategy="template").fit(_run())


# ---- parameters --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"standardize": "zscore"}, ValueError, r"'standardize' must be one of .*'zscore' was provided"),
        ({"smoothing_fwhm": "fast"}, TypeError, "'smoothing_fwhm' must be a number"),
        ({"smoothing_fwhm": -2.0}, ValueError, "'smoothing_fwhm' must be >= 0"),
        ({"t_r": "2"}, TypeError, "'t_r' must be a number"),
        ({"detrend": np.bool_(True)}, TypeError, "'detrend' must be a bool"),
        ({"memory_level": 1.5}, TypeError, "'memory_level' must be an int"),
        ({"dtype": bool}, TypeError, "'dtype' cannot be bool"),
        ({"clean_args": [1]}, TypeError, "'clean_args' must be a dict"),
        ({"target_shape": (4, 4, 4)}, ValueError, "If target_shape is specified, target_affine should be"),
        ({"memory": 3}, TypeError, "'memory' must be None, a path or a joblib.Memory"),
        ({"memory": "/no/such/parent/cache"}, ValueError, "parent folder '/no/such/parent' .* does not exist"),
    ],
)
def test_bad_parameters_at_fit(params, error, match):
    with pytest.raises(error, match=match):
        NiftiMasker(_mask(), **params).fit()


def test_multi_n_jobs_type():
    with pytest.raises(TypeError, match="'n_jobs' must be an int; got 'two'"):
        MultiNiftiMasker(_mask(), n_jobs="two").fit()


# ---- cleaning inputs (nimask.signal's checks, surfaced by the masker) ------------------------------
@pytest.mark.parametrize(
    "params, kw, error, match",
    [
        ({"low_pass": 0.1}, {}, ValueError, r"t_r"),
        ({"high_pass": 0.01, "t_r": -2.0}, {}, ValueError, r"t_r"),
        ({"high_pass": 0.01, "t_r": 2000.0}, {}, ValueError, r"t_r"),
        ({}, {"sample_mask": np.r_[np.ones(T - 1, int), 0]}, SampleMaskError, r"sample_mask"),
        ({}, {"sample_mask": np.ones(T - 3, bool)}, SampleMaskError, r"sample_mask"),
        ({}, {"confounds": np.r_[[np.nan], np.ones(T - 1)]}, ConfoundsError, r"NaN|finite"),
        ({}, {"confounds": np.ones((T - 2, 2))}, ConfoundsError, r"incorrect length.*Signal length: 40"),
        ({}, {"confounds": np.random.default_rng(0).standard_normal((T, T + 1))}, ConfoundsError, r"confounds"),
    ],
    ids=["filter-no-tr", "negative-tr", "ms-tr", "int01-sample-mask", "short-bool-sample-mask",
         "nan-confounds", "short-confounds", "too-many-confounds"],
)
def test_bad_cleaning_inputs(params, kw, error, match):
    with pytest.raises(error, match=match):  # t_r is checked at fit, the rest at transform
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            NiftiMasker(_mask(), **params).fit().transform(_run(), **kw)


# ---- image inputs ------------------------------------------------------------------------------
def test_image_input_errors():
    masker = NiftiMasker(_mask()).fit()
    with pytest.raises(TypeError, match="NiftiLike"):
        masker.transform(np.zeros(SHAPE + (3,)))
    with pytest.raises(DimensionError, match="4D"):
        masker.transform([_run(3), _run(3)])
    with pytest.raises(FileNotFoundError):
        masker.transform("/no/such/file.nii.gz")


def test_inverse_transform_wrong_shape():
    masker = NiftiMasker(_mask()).fit()
    n = masker.n_elements_
    with pytest.raises(ValueError, match=rf"has wrong shape.\nExpected \(20, {n}\).\nGot \(20, 5\)"):
        masker.inverse_transform(np.zeros((20, 5)))
    with pytest.raises(ValueError, match="wrong shape"):
        masker.inverse_transform(np.zeros((2, 3, n)))


def test_multi_confounds_must_be_lists_of_right_length():
    masker = MultiNiftiMasker(_mask()).fit()
    with pytest.raises(TypeError, match="'confounds' must be a None or a list. Got ndarray"):
        masker.transform([_run(), _run()], confounds=np.ones((T, 1)))
    with pytest.raises(ValueError, match=r"number of confounds \(1\) unequal to number of images \(2\)"):
        masker.transform([_run(), _run()], confounds=[np.ones((T, 1))])
    with pytest.raises(TypeError, match="'sample_mask' must be a None or a list"):
        masker.transform([_run(), _run()], sample_mask=np.ones(T, bool))
