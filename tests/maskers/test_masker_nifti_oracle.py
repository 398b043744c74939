"""NiftiMasker vs nilearn 0.14.1 (the oracle) on small synthetic images."""
from __future__ import annotations

import warnings

import nibabel as nib
import nilearn.maskers as nl_maskers
import numpy as np
import pytest

from _helpers import assert_oracle, oblique_affine, random_img
from nimask.maskers import NiftiMasker

SHAPE = (7, 8, 9)
T = 60


def _mask(affine, seed=0):
    rng = np.random.default_rng(seed)
    data = np.zeros(SHAPE, np.uint8)
    data[1:6, 2:7, 2:8] = 1
    data[rng.random(SHAPE) < 0.1] = 0
    return nib.Nifti1Image(data, affine)


def _both(params, fit_imgs, imgs, **transform_kw):
    """(nimask output, nilearn output) of fit + transform with the same parameters."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = NiftiMasker(**params).fit(fit_imgs)
        theirs = nl_maskers.NiftiMasker(**params).fit(fit_imgs)
        a = ours.transform(imgs, **transform_kw)
        b = theirs.transform(imgs, **transform_kw)
    return ours, theirs, a, b


@pytest.fixture(scope="module")
def run():
    return random_img(SHAPE + (T,), np.float32, seed=1)


CLEAN_GRID = [
    {},
    {"detrend": True},
    {"standardize": "zscore_sample"},
    {"standardize": "psc"},
    {"standardize": True, "detrend": True},
    {"low_pass": 0.2, "high_pass": 0.02, "t_r": 2.0},
    {"detrend": True, "standardize": "zscore_sample", "low_pass": 0.1, "high_pass": 0.01, "t_r": 2.0},
    {"high_pass": 0.02, "t_r": 2.0, "clean_args": {"filter": "cosine"}},
    {"standardize_confounds": False, "detrend": True},
    {"smoothing_fwhm": 4.0},
    {"smoothing_fwhm": 6, "detrend": True},
    {"high_variance_confounds": True},
]


@pytest.mark.parametrize("params", CLEAN_GRID, ids=lambda p: ",".join(p) or "default")
def test_cleaning_options_match_nilearn(run, params):
    mask = _mask(run.affine)
    conf = np.random.default_rng(3).standard_normal((T, 3))
    _, _, a, b = _both({"mask_img": mask, **params}, None, run, confounds=conf)
    assert a.dtype == b.dtype
    # float32 high-variance confounds: LAPACK's SVD rounding depends on the memory layout
    # (nilearn's own function differs by 4e-6 between C and F copies of the same matrix)
    assert_oracle(a, b, rtol=1e-5 if params.get("high_variance_confounds") else 1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8, np.int64])
@pytest.mark.parametrize("out_dtype", [None, "auto", np.float32, np.float64])
def test_dtypes_match_nilearn(dtype, out_dtype):
    img = random_img(SHAPE + (6,), np.int32 if dtype == np.int64 else dtype, seed=2)
    if dtype == np.int64:
        img = nib.Nifti1Image(np.asarray(img.dataobj).astype(np.int64), img.affine, dtype=np.int64)
    mask = _mask(img.affine)
    _, _, a, b = _both({"mask_img": mask, "dtype": out_dtype}, None, img)
    assert a.dtype == b.dtype
    assert_oracle(a, b)


def test_3d_input_and_list_of_3d(run):
    mask = _mask(run.affine)
    vol = run.slicer[..., 3]
    _, _, a, b = _both({"mask_img": mask}, None, vol)
    assert a.shape == b.shape == (int(np.asarray(mask.dataobj).sum()),)
    assert_oracle(a, b)
    vols = [run.slicer[..., i] for i in range(4)]
    _, _, a, b = _both({"mask_img": mask, "detrend": True}, None, vols)
    assert a.shape == b.shape
    assert_oracle(a, b)


@pytest.mark.parametrize(
    "target",
    [
        {"target_affine": np.diag([3.0, 3.0, 3.5])},
        {"target_affine": np.diag([3.0, 2.0, 2.5, 1.0]), "target_shape": (6, 9, 10)},
        {"target_affine": np.diag([3.0, 3.0, 3.5]), "smoothing_fwhm": 5.0},
        {"target_affine": np.diag([1.5, 2.0, 2.0]), "smoothing_fwhm": 4.0, "detrend": True},
    ],
    ids=["3x3", "4x4+shape", "3x3+smooth", "fine+smooth"],
)
def test_target_grid_matches_nilearn(run, target):
    mask = _mask(run.affine)
    ours, theirs, a, b = _both({"mask_img": mask, **target}, None, run)
    np.testing.assert_array_equal(np.asarray(ours.mask_img_.dataobj), np.asarray(theirs.mask_img_.dataobj))
    np.testing.assert_allclose(ours.mask_img_.affine, theirs.mask_img_.affine)
    assert ours.n_elements_ == theirs.n_elements_
    assert_oracle(a, b)


def test_data_on_another_grid_is_resampled_to_mask(run):
    img = nib.Nifti1Image(np.asarray(run.dataobj)[..., :8], oblique_affine(4))
    mask = _mask(run.affine)
    with pytest.warns(UserWarning, match="resampled to the mask_img resolution"):
        NiftiMasker(mask).fit().transform(img)
    for fwhm in (None, 3.0):
        _, _, a, b = _both({"mask_img": mask, "smoothing_fwhm": fwhm}, None, img)
        assert_oracle(a, b)


def test_int_data_resampled_and_nan_data(run):
    img = random_img(SHAPE + (5,), np.int16, seed=5)
    mask = _mask(np.diag([2.2, 2.5, 3.0, 1.0]))
    _, _, a, b = _both({"mask_img": mask}, None, img)
    assert a.dtype == b.dtype
    assert_oracle(a, b)
    data = np.asarray(run.dataobj)[..., :5].copy()
    data[3, 4, 4, 1] = np.nan
    data[0, 0, 0, :] = np.inf  # outside the mask
    nan_img = nib.Nifti1Image(data, run.affine)
    for params in ({}, {"smoothing_fwhm": 3.0}):
        _, _, a, b = _both({"mask_img": _mask(run.affine), **params}, None, nan_img)
        assert_oracle(a, b)


def test_confounds_sample_mask_runs(run, tmp_path):
    mask = _mask(run.affine)
    rng = np.random.default_rng(7)
    conf = rng.standard_normal((T, 4))
    path = tmp_path / "conf.tsv"
    np.savetxt(path, conf, delimiter="\t", header="a\tb\tc\td", comments="")
    keep = np.ones(T, bool)
    keep[[5, 17, 40]] = False
    base = {"mask_img": mask, "detrend": True, "standardize": "zscore_sample"}
    for kw in ({"confounds": conf}, {"confounds": str(path)}, {"confounds": [conf[:, :2], conf[:, 2:]]},
               {"sample_mask": keep}, {"sample_mask": np.flatnonzero(keep)},
               {"confounds": conf, "sample_mask": keep}):
        _, _, a, b = _both(base, None, run, **kw)
        assert_oracle(a, b)
    runs = np.repeat([1, 0], T // 2)
    _, _, a, b = _both({**base, "runs": runs}, None, run, confounds=conf)
    assert_oracle(a, b)
    filt = {**base, "runs": runs, "low_pass": 0.2, "t_r": 2.0}
    _, _, a, b = _both(filt, None, run, sample_mask=[keep[:30], keep[30:]])
    assert_oracle(a, b)


def test_file_inputs(run, tmp_path):
    path = tmp_path / "run.nii.gz"
    run.to_filename(path)
    mpath = tmp_path / "mask.nii"
    _mask(run.affine).to_filename(mpath)
    for params in ({}, {"smoothing_fwhm": 4.0}, {"target_affine": np.diag([3.0, 3.0, 3.0])}, {"detrend": True}):
        _, _, a, b = _both({"mask_img": str(mpath), **params}, None, str(path))
        assert_oracle(a, b)


def test_inverse_transform_matches_nilearn(run):
    mask = _mask(run.affine)
    ours, theirs, a, b = _both({"mask_img": mask}, None, run)
    for X in (a, a[0], a.astype(np.float64), (a > 0)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, y = ours.inverse_transform(X), theirs.inverse_transform(X)
        assert x.shape == y.shape
        assert x.get_fdata().dtype == y.get_fdata().dtype
        assert np.asarray(x.dataobj).dtype == np.asarray(y.dataobj).dtype
        np.testing.assert_array_equal(np.asarray(x.dataobj), np.asarray(y.dataobj))
        np.testing.assert_allclose(x.affine, y.affine)


def test_fitted_attributes_match_nilearn(run):
    ta = np.diag([3.0, 3.0, 3.5])
    ours, theirs, _, _ = _both({"mask_img": _mask(run.affine), "target_affine": ta}, None, run)
    assert ours.n_elements_ == theirs.n_elements_
    assert np.asarray(ours.mask_img_.dataobj).dtype == np.asarray(theirs.mask_img_.dataobj).dtype
    np.testing.assert_array_equal(ours.affine_, theirs.affine_)
    assert ours.clean_args_ == theirs.clean_args_
    np.testing.assert_array_equal(ours.get_feature_names_out(), theirs.get_feature_names_out())


def nilearn_template(strategy):
    """Path of nilearn's packaged MNI template for a template mask strategy."""
    import os

    import nilearn.datasets

    kind = {"whole-brain-template": "t1", "gm-template": "gm", "wm-template": "wm"}[strategy]
    folder = os.path.join(os.path.dirname(nilearn.datasets.__file__), "data")
    return os.path.join(folder, f"mni_icbm152_{kind}_tal_nlin_sym_09a_converted.nii.gz")


STRATEGIES = ["background", "epi", "whole-brain-template", "gm-template", "wm-template"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_computed_masks_match_nilearn(strategy):
    rng = np.random.default_rng(11)
    data = rng.random((20, 22, 24, 5)).astype(np.float32) * 10
    data[4:16, 4:18, 5:19] += 100
    affine = np.diag([8.0, 8.0, 8.0, 1.0])
    affine[:3, 3] = [-80, -100, -80]
    img = nib.Nifti1Image(data, affine)
    # an explicit template= (nilearn's own file; nilearn drops the key with a warning); the shipped
    # default is tested in tests/masking/test_masking_templates_oracle.py
    tpl = {"template": nilearn_template(strategy)} if strategy.endswith("-template") else {}
    params = {"mask_strategy": strategy, "mask_args": tpl or None}
    if strategy == "wm-template":  # 8 mm voxels: opening=2 erodes the WM mask away, in both
        with pytest.raises(ValueError, match="empty"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nl_maskers.NiftiMasker(**params).fit(img)
        with pytest.raises(ValueError, match="empty"):
            NiftiMasker(**params).fit(img)
    else:
        ours, theirs, a, b = _both(params, img, img)
        np.testing.assert_array_equal(np.asarray(ours.mask_img_.dataobj), np.asarray(theirs.mask_img_.dataobj))
        assert_oracle(a, b)
    args = {"opening": 1} if strategy != "background" else {"border_size": 1}
    ours, theirs, a, b = _both({"mask_strategy": strategy, "mask_args": {**args, **tpl},
                                "target_affine": np.diag([9.0, 9.0, 9.0])}, img, img)
    np.testing.assert_array_equal(np.asarray(ours.mask_img_.dataobj), np.asarray(theirs.mask_img_.dataobj))
    assert_oracle(a, b)
