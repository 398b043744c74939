"""Catalogue §2.4 (data values, D1-D13): one explicit non-finite policy in every masker.

nimask's policy (``nimask._nonfinite``): NaN/inf data inside the mask / regions / maps /
spheres are set to 0 and every transform emits one ``NimaskNonFiniteWarning`` giving the
count; ``warnings.simplefilter("error", NimaskNonFiniteWarning)`` refuses such data. nilearn
zeroes them silently for the voxel and labels/maps maskers (D1-D6, SILENT / WARN-ONLY).
"""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

from _rel import AFFINE, SHAPE, labels_img, maps_img, mask_img, raises, run_img
from nimask import masking, signal
from nimask.exceptions import MaskError, NimaskNonFiniteWarning, ParameterError
from nimask.maskers import (
    MultiNiftiLabelsMasker,
    MultiNiftiMapsMasker,
    MultiNiftiMasker,
    NiftiLabelsMasker,
    NiftiMapsMasker,
    NiftiMasker,
    NiftiSpheresMasker,
)


def _with_nonfinite(value=np.nan):
    data = np.asarray(run_img().dataobj).copy()
    data[2, 3, 4, :] = value  # inside the mask and inside region 1
    data[3, 4, 5, 3] = value  # inside the mask and region 2
    data[0, 0, 0, :] = value  # outside every mask/region: never counted
    return nib.Nifti1Image(data, AFFINE)


EXPECTED_COUNT = 31  # 30 + 1 values inside the mask / regions


def _maskers():
    return [
        ("NiftiMasker", lambda: NiftiMasker(mask_img()), False),
        ("MultiNiftiMasker", lambda: MultiNiftiMasker(mask_img()), True),
        ("NiftiLabelsMasker", lambda: NiftiLabelsMasker(labels_img()), False),
        ("MultiNiftiLabelsMasker", lambda: MultiNiftiLabelsMasker(labels_img()), True),
        ("NiftiMapsMasker", lambda: NiftiMapsMasker(maps_img()), False),
        ("MultiNiftiMapsMasker", lambda: MultiNiftiMapsMasker(maps_img()), True),
    ]


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["D1-nan", "D2-inf", "D2-neginf"])
@pytest.mark.parametrize("name, make, multi", _maskers(), ids=[m[0] for m in _maskers()])
def test_D1_D2_D5_D6_nonfinite_inside_is_zeroed_with_a_count(name, make, multi, value):
    img = _with_nonfinite(value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.warns(NimaskNonFiniteWarning, match=f"{EXPECTED_COUNT} NaN/inf values"):
            out = make().fit_transform([img] if multi else img)
    out = out[0] if multi else out
    assert np.isfinite(out).all()
    clean = np.asarray(img.dataobj).copy()
    clean[~np.isfinite(clean)] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        reference = make().fit_transform([nib.Nifti1Image(clean, AFFINE)] if multi else nib.Nifti1Image(clean, AFFINE))
    np.testing.assert_array_equal(out, reference[0] if multi else reference)


def test_D7_spheres_count_nonfinite_inside_the_spheres():
    img = _with_nonfinite()
    seeds = [(4.0, 6.0, 8.0)]  # voxel (2, 3, 4): 30 NaN at its centre
    with pytest.warns(NimaskNonFiniteWarning, match="30 NaN/inf values inside the spheres"):
        out = NiftiSpheresMasker(seeds, radius=1.0).fit_transform(img)
    assert np.isfinite(out).all()


@pytest.mark.parametrize("name, make, multi", _maskers()[:1] + _maskers()[2:3] + _maskers()[4:5],
                         ids=["NiftiMasker", "NiftiLabelsMasker", "NiftiMapsMasker"])
def test_nonfinite_policy_strict_mode_refuses_the_data(name, make, multi):
    """The policy's strict mode: the warning as an error stops the transform."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("error", NimaskNonFiniteWarning)
        with pytest.raises(NimaskNonFiniteWarning, match="NaN/inf"):
            make().fit_transform(_with_nonfinite())


def test_D3_nan_is_zeroed_before_cleaning_and_warned():
    """D3: the zeroed sample is cleaned like the others, but never silently."""
    with pytest.warns(NimaskNonFiniteWarning, match=f"{EXPECTED_COUNT} NaN/inf"):
        X = NiftiMasker(mask_img(), detrend=True, standardize="zscore_sample").fit_transform(_with_nonfinite())
    assert np.isfinite(X).all()


@pytest.mark.parametrize("make", [lambda: NiftiMasker(mask_img(), smoothing_fwhm=4.0),
                                  lambda: NiftiLabelsMasker(labels_img(), smoothing_fwhm=4.0),
                                  lambda: NiftiMapsMasker(maps_img(), smoothing_fwhm=4.0)],
                         ids=["NiftiMasker", "NiftiLabelsMasker", "NiftiMapsMasker"])
def test_D4_nan_with_smoothing_is_warned(make):
    """D4: zeros leak into the neighbours when smoothing (as nilearn), but with a warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.warns(NimaskNonFiniteWarning, match="NaN/inf"):
            out = make().fit_transform(_with_nonfinite())
    assert np.isfinite(out).all()


def test_D8_constant_image_background_strategy():
    img = nib.Nifti1Image(np.full(SHAPE + (5,), 5.0, np.float32), AFFINE)
    with pytest.warns(UserWarning):
        with raises(MaskError, ValueError, "empty"):
            NiftiMasker().fit(img)


@pytest.mark.parametrize("value", [0.0, 7.0], ids=["D9-zeros", "D9-constant"])
def test_D9_epi_mask_of_a_constant_image_raises(value):
    """D9: nilearn returns an eroded box of the whole field of view (336 voxels), silently."""
    img = nib.Nifti1Image(np.full(SHAPE + (5,), value, np.float32), AFFINE)
    with raises(MaskError, ValueError, "epi_img", "constant"):
        masking.compute_epi_mask(img)
    with raises(MaskError, ValueError, "constant"):
        NiftiMasker(mask_strategy="epi").fit(img)


def test_D10_zero_volume_image(tmp_path):
    path = str(tmp_path / "empty.nii")
    nib.save(nib.Nifti1Image(np.zeros(SHAPE + (0,), np.float32), AFFINE), path)
    with raises(ParameterError, ValueError, "empty", path):
        NiftiMasker(mask_img()).fit_transform(path)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int32, np.uint8])
def test_D11_integer_data_fractional_region_means(dtype):
    data = np.zeros(SHAPE + (2,), dtype)
    lab = np.asarray(labels_img().dataobj)
    region = np.flatnonzero(lab.ravel() == 1)
    flat = data.reshape(-1, 2)
    flat[region[: region.size // 2]] = 1
    flat[region[region.size // 2:]] = 2
    out = NiftiLabelsMasker(labels_img()).fit_transform(nib.Nifti1Image(data, AFFINE))
    np.testing.assert_array_equal(out[:, 0], [1.5, 1.5])


def test_D12_huge_offset_float64_is_standardised_accurately():
    rng = np.random.default_rng(0)
    X = 1e7 + rng.standard_normal((200, 3))
    z = signal.clean(X, detrend=False, standardize="zscore_sample")
    ref = (X - X.mean(0)) / X.std(0, ddof=1)
    np.testing.assert_allclose(z, ref, atol=1e-8)


def test_D12_huge_offset_float32_is_no_worse_than_nilearn():
    """D12, float32 input: cleaned in float32 as nilearn does (partly done, see the doc).

    Both libraries lose ~0.04 z-units on a 1e7 offset; nimask must not be worse.
    """
    from nilearn import signal as nsignal

    rng = np.random.default_rng(0)
    X = (1e7 + rng.standard_normal((200, 3))).astype(np.float32)
    X64 = X.astype(np.float64)
    ref = (X64 - X64.mean(0)) / X64.std(0, ddof=1)
    ours = np.abs(signal.clean(X, detrend=False, standardize="zscore_sample") - ref).max()
    theirs = np.abs(nsignal.clean(X, detrend=False, standardize="zscore_sample") - ref).max()
    assert ours <= 1.5 * theirs


def test_D13_tiny_variance_keeps_nilearns_absolute_threshold():
    """D13: kept nilearn's rule (columns with std < float64 eps are only centred).

    The catalogue suggests a relative threshold; nimask keeps nilearn's numbers (drop-in
    faithfulness), see docs/reliability.md.
    """
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2)) * 1e-101
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z = signal.clean(X, detrend=False, standardize="zscore_sample")
    np.testing.assert_allclose(z, X - X.mean(0), rtol=1e-12, atol=0)
