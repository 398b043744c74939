"""MultiNiftiMasker vs nilearn 0.14.1 on small synthetic lists of images."""
from __future__ import annotations

import warnings

import nibabel as nib
import nilearn.maskers as nl_maskers
import numpy as np
import pytest

from _helpers import assert_oracle, random_img
from nimask.maskers import MultiNiftiMasker

SHAPE = (7, 8, 9)


def _mask(affine):
    data = np.zeros(SHAPE, np.uint8)
    data[1:6, 2:7, 2:8] = 1
    return nib.Nifti1Image(data, affine)


def _both(params, fit_imgs, imgs, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = MultiNiftiMasker(**params).fit(fit_imgs)
        theirs = nl_maskers.MultiNiftiMasker(**params).fit(fit_imgs)
        return ours, theirs, ours.transform(imgs, **kw), theirs.transform(imgs, **kw)


@pytest.fixture(scope="module")
def imgs():
    runs = ((40, np.float32), (45, np.int16), (42, np.float64))
    return [random_img(SHAPE + (t,), dtype, seed=t) for t, dtype in runs]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"detrend": True, "standardize": "zscore_sample"},
        {"low_pass": 0.2, "high_pass": 0.02, "t_r": 2.0, "detrend": True},
        {"smoothing_fwhm": 4.0},
        {"dtype": "auto"},
        {"dtype": np.float64, "standardize": "psc"},
        {"target_affine": np.diag([3.0, 3.0, 3.5])},
        {"high_variance_confounds": True},
    ],
    ids=lambda p: ",".join(p) or "default",
)
def test_lists_match_nilearn(imgs, params):
    mask = _mask(imgs[0].affine)
    _, _, a, b = _both({"mask_img": mask, **params}, None, imgs)
    assert isinstance(a, list) and len(a) == len(b) == 3
    for x, y in zip(a, b, strict=True):
        assert x.dtype == y.dtype
        assert_oracle(x, y, rtol=1e-5 if params.get("high_variance_confounds") else 1e-6)


def test_confounds_and_sample_mask_lists(imgs):
    mask = _mask(imgs[0].affine)
    rng = np.random.default_rng(0)
    conf = [rng.standard_normal((img.shape[3], 2)) for img in imgs]
    keep = [np.r_[np.ones(img.shape[3] - 2, bool), False, False] for img in imgs]
    params = {"mask_img": mask, "detrend": True}
    _, _, a, b = _both(params, None, imgs, confounds=conf, sample_mask=keep)
    for x, y in zip(a, b, strict=True):
        assert_oracle(x, y)
    _, _, a, b = _both(params, None, imgs[1], confounds=conf[1:], sample_mask=keep[1:])  # single image
    assert_oracle(a, b)


def test_single_images_3d_items_and_realignment(imgs):
    mask = _mask(imgs[0].affine)
    _, _, a, b = _both({"mask_img": mask}, None, imgs[0])
    assert_oracle(a, b)
    vol = imgs[0].slicer[..., 0]
    _, _, a, b = _both({"mask_img": mask}, None, [vol, imgs[1].slicer[..., 2]])
    assert a[0].shape == b[0].shape and a[0].ndim == 1
    for x, y in zip(a, b, strict=True):
        assert_oracle(x, y)
    other = nib.Nifti1Image(np.asarray(imgs[2].dataobj), np.diag([2.2, 2.4, 3.2, 1.0]))
    shifted_mask = _mask(np.diag([2.1, 2.6, 3.0, 1.0]))
    with pytest.warns(UserWarning, match="Realignment on first subject affine forced"):
        MultiNiftiMasker(shifted_mask).fit().transform([imgs[0], other])
    _, _, a, b = _both({"mask_img": shifted_mask}, None, [imgs[0], other])
    for x, y in zip(a, b, strict=True):
        assert_oracle(x, y)


def test_inverse_transform_matches_nilearn(imgs):
    ours, theirs, a, _ = _both({"mask_img": _mask(imgs[0].affine)}, None, imgs)
    x, y = ours.inverse_transform(a[0]), theirs.inverse_transform(a[0])
    np.testing.assert_array_equal(np.asarray(x.dataobj), np.asarray(y.dataobj))


@pytest.mark.parametrize("strategy", ["background", "epi", "whole-brain-template", "template"])
def test_computed_multi_masks_match_nilearn(strategy):
    rng = np.random.default_rng(11)
    affine = np.diag([8.0, 8.0, 8.0, 1.0])
    affine[:3, 3] = [-80, -100, -80]
    items = []
    for k in range(2):
        data = rng.random((20, 22, 24, 4)).astype(np.float32) * 10
        data[4 + k : 16, 4:18, 5:19] += 100
        items.append(nib.Nifti1Image(data, affine))
    if strategy.endswith("template"):  # nilearn's own template file (nilearn drops the key)
        from test_masker_nifti_oracle import nilearn_template

        extra_args = {"mask_args": {"template": nilearn_template("whole-brain-template")}}
    else:
        extra_args = {}
    for extra in ({}, {"target_affine": np.diag([9.0, 9.0, 9.0])}):
        ours, theirs, a, b = _both({"mask_strategy": strategy, **extra, **extra_args}, items, items)
        np.testing.assert_array_equal(np.asarray(ours.mask_img_.dataobj), np.asarray(theirs.mask_img_.dataobj))
        for x, y in zip(a, b, strict=True):
            assert_oracle(x, y)
