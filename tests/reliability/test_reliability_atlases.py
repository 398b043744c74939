"""Catalogue §2.6 (labels, maps and spheres, A1-A18)."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

from _rel import AFFINE, SHAPE, labels_img, maps_img, raises, run_img
from nimask.exceptions import AtlasError, DimensionError, NimaskDataWarning, ParameterError
from nimask.maskers import (
    MultiNiftiLabelsMasker,
    NiftiLabelsMasker,
    NiftiMapsMasker,
    NiftiSpheresMasker,
)

IMG = run_img()


def _float_labels():
    data = np.asarray(labels_img().dataobj).astype(np.float32)
    data[data == 1] = 1.5
    data[data == 2] = 2.7
    return nib.Nifti1Image(data, AFFINE)


@pytest.mark.parametrize("cls", [NiftiLabelsMasker, MultiNiftiLabelsMasker])
def test_A1_fractional_labels_are_refused(cls):
    """A1 (SILENT in nilearn: region_ids_ 1.5, 2.7)."""
    with raises(AtlasError, ValueError, "labels_img", "integer labels", "1.5"):
        cls(_float_labels()).fit()


def test_A1_integral_float_labels_are_accepted():
    data = np.asarray(labels_img().dataobj).astype(np.float32)
    out = NiftiLabelsMasker(nib.Nifti1Image(data, AFFINE)).fit_transform(IMG)
    np.testing.assert_array_equal(out, NiftiLabelsMasker(labels_img()).fit_transform(IMG))


def test_A3_negative_labels_are_refused():
    data = np.asarray(labels_img().dataobj).copy()
    data[data == 1] = -1
    with raises(AtlasError, ValueError, "labels_img", "[-1]"):
        NiftiLabelsMasker(nib.Nifti1Image(data, AFFINE)).fit()


@pytest.mark.parametrize("big, dtype", [(200, np.int16), (256, np.int16), (300, np.int16), (32767, np.int16),
                                        (65535, np.uint16), (2**31 - 1, np.int32)])
def test_A4_large_label_values(big, dtype):
    data = np.asarray(labels_img().dataobj).astype(dtype)
    data[data == 3] = big
    masker = NiftiLabelsMasker(nib.Nifti1Image(data, AFFINE))
    out = masker.fit_transform(IMG)
    assert list(masker.region_ids_.values())[-1] == big
    np.testing.assert_array_equal(out, NiftiLabelsMasker(labels_img()).fit_transform(IMG))


def test_A5_4d_labels_image_is_named(tmp_path):
    path = str(tmp_path / "atlas4d.nii.gz")
    data = np.asarray(labels_img().dataobj)
    nib.save(nib.Nifti1Image(np.stack([data, data], -1), AFFINE), path)
    with raises(DimensionError, TypeError, "labels_img", "4D"):
        NiftiLabelsMasker(path).fit()


def test_A6_empty_atlas():
    with raises(AtlasError, ValueError, "labels_img", "no label"):
        NiftiLabelsMasker(nib.Nifti1Image(np.zeros(SHAPE, np.int16), AFFINE)).fit()


def test_A7_names_list_of_the_wrong_length_warns_and_names_the_values():
    """A7: kept nilearn's warning (padding with 'unknown'); the message lists the values."""
    with pytest.warns(UserWarning, match=r"Too many indices for the names\. Padding .* the values \[3\]"):
        NiftiLabelsMasker(labels_img(), labels=["bg", "a"]).fit_transform(IMG)


def test_A8_region_removed_by_the_mask_keep_all_regions_gives_a_stable_schema():
    """A8: nilearn drops the column (WARN-ONLY); keep_all_regions=True keeps it as NaN."""
    lab = np.asarray(labels_img().dataobj)
    mask = nib.Nifti1Image(((lab > 0) & (lab != 2)).astype(np.uint8), AFFINE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker = NiftiLabelsMasker(labels_img(), mask_img=mask, keep_all_regions=True)
        out = masker.fit_transform(IMG)
    assert out.shape == (30, 3)
    assert np.isnan(out[:, 1]).all() and np.isfinite(out[:, [0, 2]]).all()
    assert list(masker.region_coverage_["voxels_kept"]) == [32, 0, 32]


def test_A9_all_zero_map_warns():
    data = np.asarray(maps_img().dataobj).copy()
    data[..., 1] = 0
    with pytest.warns(NimaskDataWarning, match=r"maps \[1\] are all zero"):
        NiftiMapsMasker(nib.Nifti1Image(data, AFFINE)).fit_transform(IMG)


def test_A10_nan_in_maps_warns_with_count():
    data = np.asarray(maps_img().dataobj).copy()
    data[1, 2, 3, 0] = np.nan
    data[2, 2, 3, 0] = np.inf
    with pytest.warns(NimaskDataWarning, match=r"2 NaN/inf weights in maps \[0\]"):
        out = NiftiMapsMasker(nib.Nifti1Image(data, AFFINE)).fit_transform(IMG)
    assert np.isfinite(out).all()


def test_A11_overlapping_maps_named():
    data = np.asarray(maps_img().dataobj).copy()
    data[..., 1] = data[..., 0]
    with raises(AtlasError, ValueError, "maps 0 and 1"):
        NiftiMapsMasker(nib.Nifti1Image(data, AFFINE), allow_overlap=False).fit_transform(IMG)


def test_A12_a_3d_maps_image_is_one_map():
    one = nib.Nifti1Image(np.asarray(maps_img().dataobj)[..., 0], AFFINE)
    assert NiftiMapsMasker(one).fit_transform(IMG).shape == (30, 1)


def test_A13_overlapping_spheres_name_the_pair():
    with raises(AtlasError, ValueError, "#0", "#1", "(0, 1)"):
        NiftiSpheresMasker([(4, 6, 8), (5, 6, 8)], radius=2, allow_overlap=False).fit_transform(IMG)


def test_A14_seed_outside_the_grid_names_coordinates_radius_and_bounds():
    with raises(AtlasError, ValueError, "(100, 100, 100)", "radius 2.0", "bounding box"):
        NiftiSpheresMasker([(100, 100, 100)], radius=2).fit_transform(IMG)


def test_A14_empty_spheres_nan_option():
    out = NiftiSpheresMasker([(4, 6, 8), (100, 100, 100)], radius=2, empty_spheres="nan").fit_transform(IMG)
    assert np.isnan(out[:, 1]).all() and np.isfinite(out[:, 0]).all()


def test_A15_nan_seed():
    with raises(AtlasError, ValueError, "seed #0", "non-finite"):
        NiftiSpheresMasker([(np.nan, 4, 4)], radius=2).fit()


def test_A16_two_coordinate_seed():
    with raises(AtlasError, ValueError, "Seed #0 is of length 2"):
        NiftiSpheresMasker([(4, 4)], radius=2).fit()


def test_A17_negative_radius():
    with raises(ParameterError, ValueError, "radius", "-3"):
        NiftiSpheresMasker([(4, 4, 4)], radius=-3).fit()


def test_A18_no_radius_uses_the_nearest_voxel():
    """A18: radius=None takes the voxel nearest to a seed between voxel centres."""
    out = NiftiSpheresMasker([(4.4, 6.4, 8.4)]).fit_transform(IMG)
    np.testing.assert_allclose(out[:, 0], np.asarray(IMG.dataobj)[2, 3, 4, :], rtol=1e-6)
