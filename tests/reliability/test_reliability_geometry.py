"""Catalogue §2.3 (geometry, G1-G12): affines validated at load, grids compared with a tolerance."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

from _rel import AFFINE, SHAPE, labels_img, mask_img, nifti_bytes, patch, raises, run_img, write
from nimask import image, masking
from nimask.exceptions import DimensionError, GeometryError, NimaskDataWarning, NimaskGeometryWarning
from nimask.maskers import MultiNiftiMasker, NiftiLabelsMasker, NiftiMasker

RAW = nifti_bytes()


def test_G1_5d_image_is_a_dimension_error_naming_the_file(tmp_path):
    path = str(tmp_path / "5d.nii")
    nib.save(nib.Nifti1Image(np.ones(SHAPE + (1, 4), np.float32), AFFINE), path)
    with raises(DimensionError, TypeError, path, "5D"):
        NiftiMasker(mask_img()).fit_transform(path)


def _zero_sform(raw):
    raw = patch(raw, "h", 254, 2)
    for off in range(280, 328, 4):
        raw = patch(raw, "f", off, 0.0)
    return raw


@pytest.mark.parametrize("cid, raw, form", [
    ("G2", _zero_sform(RAW), "sform"),
    ("G3", patch(patch(RAW, "h", 254, 2), "f", 280, np.nan), "sform"),
], ids=["G2-singular-sform", "G3-nan-sform"])
def test_G2_G3_unusable_affine_named_with_its_form(tmp_path, cid, raw, form):
    path = write(tmp_path, "aff.nii", raw)
    with raises(GeometryError, ValueError, path, form, "finite and invertible"):
        image.load_img(path)


def test_G2d_zero_pixdim_without_forms_warns(tmp_path):
    raw = patch(patch(patch(RAW, "h", 254, 0), "h", 252, 0), "f", 80, 0.0)
    path = write(tmp_path, "pd.nii", raw)
    with pytest.warns(NimaskDataWarning, match=r"pixdim\[1,2,3\] should be non-zero"):
        image.load_img(path)


def test_G4_qform_sform_disagreement_warns_and_uses_the_sform(tmp_path):
    img = nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE)
    shifted = AFFINE.copy()
    shifted[0, 3] = 20.0
    img.set_qform(AFFINE, 1)
    img.set_sform(shifted, 2)
    path = str(tmp_path / "qs.nii")
    nib.save(img, path)
    with pytest.warns(NimaskGeometryWarning, match="up to 20 mm apart") as rec:
        loaded = image.load_img(path)
    assert path in str(rec[0].message)
    np.testing.assert_array_equal(loaded.affine, shifted)


def test_G4_agreeing_forms_do_not_warn(tmp_path):
    path = str(tmp_path / "ok.nii")
    nib.save(nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE), path)  # nibabel sets both forms
    with warnings.catch_warnings():
        warnings.simplefilter("error", NimaskGeometryWarning)
        image.load_img(path)


def test_G5_qform_only_is_used(tmp_path):
    img = nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE)
    shifted = AFFINE.copy()
    shifted[1, 3] = -7.0
    img.set_qform(shifted, 1)
    img.set_sform(AFFINE, 0)
    path = str(tmp_path / "q.nii")
    nib.save(img, path)
    np.testing.assert_allclose(image.load_img(path).affine, shifted)


def test_G7_mask_on_another_grid_is_resampled_with_a_warning():
    """G7: kept nilearn's behaviour (resample onto the mask, with a warning) for drop-in use.

    The catalogue asks for an error by default; see docs/reliability.md (not done on purpose).
    """
    shifted = AFFINE.copy()
    shifted[0, 3] = 4.0
    with pytest.warns(UserWarning, match="resampled to the mask_img resolution"):
        X = NiftiMasker(nib.Nifti1Image(np.asarray(mask_img().dataobj), shifted)).fit_transform(run_img())
    assert X.shape == (30, 64)


@pytest.mark.parametrize("noise", [1e-6, 5e-5, 1e-4])
def test_affine_float_noise_never_triggers_resampling(noise):
    """Affine noise <= 1e-4 mm: the data are taken as they are (nilearn resamples at 1e-8)."""
    noisy = AFFINE.copy()
    noisy[:3, 3] += noise
    noisy[0, 0] += noise
    img = run_img(t=4)
    data = np.asarray(img.dataobj)
    m = mask_img()
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        X = NiftiMasker(nib.Nifti1Image(np.asarray(m.dataobj), noisy)).fit_transform(img)
        L = NiftiLabelsMasker(nib.Nifti1Image(np.asarray(labels_img().dataobj), noisy)).fit_transform(img)
        A = masking.apply_mask(img, nib.Nifti1Image(np.asarray(m.dataobj), noisy))
    np.testing.assert_array_equal(X, data[np.asarray(m.dataobj) > 0].T)
    np.testing.assert_array_equal(A, X)
    assert L.shape == (4, 3)


def test_affine_difference_above_tolerance_still_resamples():
    shifted = AFFINE.copy()
    shifted[0, 3] += 1e-2
    with pytest.warns(UserWarning, match="resampled"):
        NiftiMasker(nib.Nifti1Image(np.asarray(mask_img().dataobj), shifted)).fit_transform(run_img(t=4))


def test_G8_functional_api_refuses_a_mismatched_mask():
    shifted = AFFINE.copy()
    shifted[0, 3] = 4.0
    with raises(GeometryError, ValueError, "mask_img"):
        masking.apply_mask(run_img(t=3), nib.Nifti1Image(np.asarray(mask_img().dataobj), shifted))


def test_G9_labels_on_another_grid_vanishing_region_is_reported():
    """G9: resampling at transform time warns and names the labels that vanished."""
    shifted = AFFINE.copy()
    shifted[0, 3] = 6.0
    atlas = nib.Nifti1Image(np.asarray(labels_img().dataobj), shifted)
    with pytest.warns(UserWarning, match=r"labels were removed: \{3\}"):
        out = NiftiLabelsMasker(atlas).fit_transform(run_img(t=4))
    assert out.shape == (4, 2)


def test_G9_keep_all_regions_keeps_a_stable_schema():
    shifted = AFFINE.copy()
    shifted[0, 3] = 6.0
    atlas = nib.Nifti1Image(np.asarray(labels_img().dataobj), shifted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker = NiftiLabelsMasker(atlas, keep_all_regions=True)
        out = masker.fit_transform(run_img(t=4))
    assert out.shape == (4, 3)
    assert np.isnan(out[:, 2]).all()


def test_G10_subjects_with_different_shapes(tmp_path):
    a, b = str(tmp_path / "a.nii"), str(tmp_path / "b.nii")
    nib.save(run_img(t=3), a)
    nib.save(nib.Nifti1Image(np.ones((7, 8, 8, 3), np.float32), AFFINE), b)
    with raises(GeometryError, ValueError, "img_#1", "same shape", a, b):
        MultiNiftiMasker().fit([a, b])
    with raises(GeometryError, ValueError, "img_#1", a, b):  # the background strategy too
        MultiNiftiMasker(mask_strategy="background").fit([a, b])


def test_G11_list_of_3d_images_with_different_affines_names_the_file(tmp_path):
    a, b = str(tmp_path / "a.nii"), str(tmp_path / "b.nii")
    nib.save(nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE), a)
    nib.save(nib.Nifti1Image(np.ones(SHAPE, np.float32), AFFINE * 1.1), b)
    with raises(GeometryError, ValueError, b, "(7, 8, 9)"):
        NiftiMasker().fit_transform([a, b])
