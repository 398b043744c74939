"""nilearn 0.14.1's silent-wrong cases (catalogue "SILENT"), one named test each.

Every test shows that nimask does not reproduce the case (an error, or a warning with a
count). Where it is cheap, the test also runs nilearn on the same input to document the
silent result (``_nilearn_*`` checks); those lines are documentation, not requirements.
"""
from __future__ import annotations

import os
import warnings

import nibabel as nib
import nilearn.maskers as nilearn_maskers
import nilearn.signal as nilearn_signal
import numpy as np
import pytest

from _rel import AFFINE, SHAPE, labels_img, maps_img, mask_img, raises, run_img
from nimask import masking, signal
from nimask.exceptions import (
    AtlasError,
    ConfoundsError,
    MaskError,
    NimaskCacheWarning,
    NimaskDataWarning,
    NimaskGeometryWarning,
    NimaskNonFiniteWarning,
    ParameterError,
    SampleMaskError,
)
from nimask.maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiMasker

T = 30


def _nil(func, *args, **kwargs):
    """Run nilearn with every warning recorded; return (result, warning messages)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = func(*args, **kwargs)
    return out, [str(w.message) for w in rec if not issubclass(w.category, (FutureWarning, DeprecationWarning))]


def _nan_run():
    data = np.asarray(run_img().dataobj).copy()
    data[2, 3, 4, :] = np.nan
    return nib.Nifti1Image(data, AFFINE)


# ---- F9 / L1: stale cache after an in-place rewrite --------------------------------------------
def test_silent_F9_L1_stale_cache_after_in_place_rewrite(tmp_path):
    from test_reliability_cache import _rewrite_same_size

    path = str(tmp_path / "bold.nii.gz")
    nib.save(run_img(t=5), path)
    cache = str(tmp_path / "cache")
    first = NiftiMasker(mask_img(), memory=cache).fit_transform(path)
    _rewrite_same_size(path, run_img(t=5, seed=7))
    second = NiftiMasker(mask_img(), memory=cache).fit_transform(path)
    np.testing.assert_array_equal(second, NiftiMasker(mask_img()).fit_transform(path))
    assert not np.array_equal(first, second)


def test_silent_L3_bit_flipped_cache_entry(tmp_path):
    import glob

    path = str(tmp_path / "bold.nii.gz")
    nib.save(run_img(t=5), path)
    cache = str(tmp_path / "cache")
    expected = NiftiMasker(mask_img(), memory=cache).fit_transform(path)
    (entry,) = glob.glob(os.path.join(cache, "**", "output.pkl"), recursive=True)
    raw = bytearray(open(entry, "rb").read())
    raw[-64] ^= 0x04
    open(entry, "wb").write(raw)
    with pytest.warns(NimaskCacheWarning, match="checksum"):
        got = NiftiMasker(mask_img(), memory=cache).fit_transform(path)
    np.testing.assert_array_equal(got, expected)


# ---- D: non-finite data ------------------------------------------------------------------------
def test_silent_D1_nan_inside_mask_zeroed_without_a_word():
    _, nil_warnings = _nil(nilearn_maskers.NiftiMasker(mask_img()).fit_transform, _nan_run())
    assert not [m for m in nil_warnings if "NaN" in m or "finite" in m]  # nilearn: silent
    with pytest.warns(NimaskNonFiniteWarning, match="30 NaN/inf values inside the mask were set to 0"):
        NiftiMasker(mask_img()).fit_transform(_nan_run())


def test_silent_D2_inf_inside_mask():
    data = np.asarray(run_img().dataobj).copy()
    data[2, 3, 4, 0] = np.inf
    with pytest.warns(NimaskNonFiniteWarning, match="1 NaN/inf values"):
        NiftiMasker(mask_img()).fit_transform(nib.Nifti1Image(data, AFFINE))


def test_silent_D3_nan_then_detrend_standardize():
    with pytest.warns(NimaskNonFiniteWarning, match="30 NaN/inf"):
        NiftiMasker(mask_img(), detrend=True, standardize="zscore_sample").fit_transform(_nan_run())


def test_silent_D4_nan_then_smoothing():
    with pytest.warns(NimaskNonFiniteWarning, match="NaN/inf"):
        NiftiMasker(mask_img(), smoothing_fwhm=4.0).fit_transform(_nan_run())


def test_silent_D5_D6_nan_in_regions_and_maps():
    for masker in (NiftiLabelsMasker(labels_img()), NiftiMapsMasker(maps_img())):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            with pytest.warns(NimaskNonFiniteWarning, match="30 NaN/inf values"):
                masker.fit_transform(_nan_run())


def test_silent_D9_epi_mask_of_an_all_zero_image():
    img = nib.Nifti1Image(np.zeros(SHAPE + (5,), np.float32), AFFINE)
    nil_mask, _ = _nil(__import__("nilearn.masking", fromlist=["x"]).compute_epi_mask, img)
    assert np.asarray(nil_mask.dataobj).sum() > 0  # nilearn: an arbitrary non-empty "mask"
    with raises(MaskError, ValueError, "constant"):
        masking.compute_epi_mask(img)


# ---- K: masks ----------------------------------------------------------------------------------
def _values_mask(data):
    return nib.Nifti1Image(data.astype(np.float32), AFFINE)


@pytest.mark.parametrize("cid, data", [
    ("K2-three-values", np.asarray(labels_img().dataobj).clip(0, 2)),
    ("K3-no-zero", np.random.default_rng(0).integers(1, 3, SHAPE)),
    ("K4-probability", np.random.default_rng(0).random(SHAPE)),
], ids=lambda v: v if isinstance(v, str) else "")
def test_silent_K2_K3_K4_non_binary_masks_binarised(cid, data):
    nil = nilearn_maskers.NiftiMasker(_values_mask(data)).fit()  # nilearn: silently binarised
    assert nil.n_elements_ > 0
    for masker in (NiftiMasker(_values_mask(data)), NiftiMapsMasker(maps_img(), mask_img=_values_mask(data))):
        with raises(MaskError, ValueError, "mask_img", "must be binary"):
            masker.fit()


def test_silent_K7_4d_mask_anded_across_volumes():
    data = np.asarray(mask_img().dataobj)
    m = nib.Nifti1Image(np.stack([data, np.roll(data, 1, 0)], -1), AFFINE)
    with raises(MaskError, ValueError, "mask_img", "(7, 8, 9, 2)"):
        NiftiMasker(m).fit()
    with raises(MaskError, ValueError, "mask_img"):
        NiftiMapsMasker(maps_img(), mask_img=m).fit()


# ---- A: atlases --------------------------------------------------------------------------------
def test_silent_A1_float_labels_treated_as_regions():
    data = np.asarray(labels_img().dataobj).astype(np.float32)
    data[data == 1] = 1.5
    atlas = nib.Nifti1Image(data, AFFINE)
    nil, _ = _nil(nilearn_maskers.NiftiLabelsMasker(atlas).fit, run_img())
    assert 1.5 in list(nil.region_ids_.values())  # nilearn: 1.5 is a "region"
    with raises(AtlasError, ValueError, "labels_img", "1.5"):
        NiftiLabelsMasker(atlas).fit()


def test_silent_A3_negative_label_treated_as_region():
    data = np.asarray(labels_img().dataobj).copy()
    data[data == 1] = -1
    with raises(AtlasError, ValueError, "labels_img", "negative"):
        NiftiLabelsMasker(nib.Nifti1Image(data, AFFINE)).fit()


def test_silent_A9_all_zero_map_gives_a_zero_column():
    data = np.asarray(maps_img().dataobj).copy()
    data[..., 2] = 0
    with pytest.warns(NimaskDataWarning, match=r"maps \[2\] are all zero"):
        NiftiMapsMasker(nib.Nifti1Image(data, AFFINE)).fit_transform(run_img())


def test_silent_A10_nan_in_maps():
    data = np.asarray(maps_img().dataobj).copy()
    data[1, 2, 3, 0] = np.nan
    with pytest.warns(NimaskDataWarning, match="1 NaN/inf weights"):
        NiftiMapsMasker(nib.Nifti1Image(data, AFFINE)).fit_transform(run_img())


# ---- C, S, T: confounds, censoring, t_r --------------------------------------------------------
def _signals():
    return np.random.default_rng(0).standard_normal((T, 4)) + 5


def test_silent_C6_more_confounds_than_time_points():
    conf = np.random.default_rng(1).standard_normal((T, 40))
    nil = nilearn_signal.clean(_signals(), confounds=conf, standardize=False, detrend=False)
    assert np.abs(nil - nil.mean(0)).max() < 1e-6  # nilearn: every sample is the mean
    with raises(ConfoundsError, ValueError, "40 confound columns for 30 time points"):
        signal.clean(_signals(), confounds=conf)


def test_silent_S3_short_boolean_sample_mask():
    keep = np.ones(T - 2, bool)
    nil = nilearn_signal.clean(_signals(), sample_mask=keep, standardize=False, detrend=False)
    assert nil.shape[0] == T - 2  # nilearn: last 2 volumes silently dropped
    with raises(SampleMaskError, ValueError, "sample_mask", "length 28"):
        signal.clean(_signals(), sample_mask=keep)


def test_silent_S5_zero_one_integer_sample_mask_read_as_indices():
    keep = (np.arange(T) % 6 != 0).astype(int)
    nil = nilearn_signal.clean(_signals(), sample_mask=keep, standardize=False, detrend=False)
    np.testing.assert_array_equal(nil[0], _signals()[0])  # nilearn: volumes 0 and 1 repeated
    np.testing.assert_array_equal(nil[-1], _signals()[1])
    with raises(SampleMaskError, ValueError, "sample_mask", "looks like a boolean mask"):
        signal.clean(_signals(), sample_mask=keep)
    with raises(SampleMaskError, ValueError, "sample_mask"):
        NiftiMasker(mask_img()).fit_transform(run_img(), sample_mask=keep)


def test_silent_S6_S7_duplicated_or_unsorted_indices():
    for bad, needle in ((np.array([1, 1, 2]), "repeats"), (np.array([5, 1, 3]), "not sorted")):
        with raises(SampleMaskError, ValueError, "sample_mask", needle):
            signal.clean(_signals(), sample_mask=bad)


def test_silent_T2_default_t_r_in_clean():
    nil = nilearn_signal.clean(_signals(), low_pass=0.1)  # nilearn: assumes t_r=2.5 s
    assert np.isfinite(nil).all()
    with raises(ParameterError, ValueError, "t_r"):
        signal.clean(_signals(), low_pass=0.1)


@pytest.mark.parametrize("t_r", [-2.0, 2000.0], ids=["T6-negative", "T7-milliseconds"])
def test_silent_T6_T7_wrong_t_r_wipes_the_signal(t_r):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nil = nilearn_signal.clean(_signals(), low_pass=0.1, t_r=t_r, standardize=False)
        right = nilearn_signal.clean(_signals(), low_pass=0.1, t_r=2.0, standardize=False)
    assert not np.allclose(nil, right, atol=0.1)  # nilearn: accepted, a different (wrong) result
    with raises(ParameterError, ValueError, "t_r"):
        signal.clean(_signals(), low_pass=0.1, t_r=t_r)
    with raises(ParameterError, ValueError, "t_r"):
        NiftiMasker(mask_img(), t_r=t_r).fit()


def test_silent_T8_header_tr_disagrees_with_t_r():
    img = run_img(t=40)
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.0
    with pytest.warns(NimaskDataWarning, match="t_r=3.0 s but the header"):
        NiftiMasker(mask_img(), t_r=3.0).fit_transform(img)


# ---- H, G: header fixes and geometry nilearn/nibabel apply silently ---------------------------
def test_silent_H2_G2d_header_fixes_are_warned(tmp_path):
    import struct

    raw = bytearray(run_img(t=2).to_bytes())
    struct.pack_into("<i", raw, 0, 300)
    path = tmp_path / "h.nii"
    path.write_bytes(bytes(raw))
    with pytest.warns(NimaskDataWarning, match="sizeof_hdr"):
        __import__("nimask").image.load_img(str(path))


def test_silent_G4_qform_sform_disagreement(tmp_path):
    img = nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE)
    other = AFFINE.copy()
    other[2, 3] = 20.0
    img.set_qform(AFFINE, 1)
    img.set_sform(other, 2)
    path = str(tmp_path / "qs.nii")
    nib.save(img, path)
    with pytest.warns(NimaskGeometryWarning, match="disagree"):
        __import__("nimask").image.load_img(path)
