"""Errors and warnings carry nilearn's wording and are catchable as what nilearn raises or warns.

nimask's messages add context (file, parameter, counts, what to do); each test here checks the
substring nilearn's own tests match on and the builtin class, for the conditions where nimask
used to word or type them differently.
"""
from __future__ import annotations

import pickle

import nibabel as nib
import numpy as np
import pytest

from nimask.exceptions import (
    AffineParameterError,
    AtlasError,
    AtlasFileNotFoundError,
    AtlasMissingError,
    ImageNotFoundError,
    NimaskDataWarning,
    NimaskNonFiniteWarning,
)
from nimask.maskers import (
    MultiNiftiLabelsMasker,
    MultiNiftiMapsMasker,
    NiftiLabelsMasker,
    NiftiMapsMasker,
    NiftiMasker,
    NiftiSpheresMasker,
)

AFF = np.eye(4)
SHAPE = (7, 8, 9)


def _labels() -> np.ndarray:
    lab = np.zeros(SHAPE, np.int32)
    lab[1:3, 1:3, 1:3] = 1
    lab[4:6, 4:6, 4:6] = 2
    return lab


def _maps() -> nib.Nifti1Image:
    lab = _labels()
    return nib.Nifti1Image(np.stack([lab == 1, lab == 2], axis=-1).astype(np.float32), AFF)


def _data(n: int = 4, shape=SHAPE, affine=AFF) -> nib.Nifti1Image:
    return nib.Nifti1Image(np.random.default_rng(0).random(shape + (n,)).astype(np.float32) + 1, affine)


# ----------------------------------------------------------------------- deprecations
def test_keep_masked_deprecations_use_nilearns_wording():
    mask = nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFF)
    with pytest.warns(FutureWarning, match='In version 0.15.0, "keep_masked_labels" parameter will be removed'):
        NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF), mask_img=mask, keep_masked_labels=True).fit()
    with pytest.warns(FutureWarning, match=r'"keep_masked_maps" parameter will be removed in version 0\.15'):
        MultiNiftiMapsMasker(_maps(), mask_img=mask, keep_masked_maps=True).fit()


# ------------------------------------------------------------------------ labels names
def test_labels_type_errors_use_nilearns_wording():
    lab = nib.Nifti1Image(_labels(), AFF)
    with pytest.raises(TypeError, match=r"'labels' must be a list\."):
        NiftiLabelsMasker(lab, labels={"a", "b", "c"}).fit()
    with pytest.raises(TypeError, match="All elements of 'labels' must be a string"):
        NiftiLabelsMasker(lab, labels=[1, 2, 3]).fit()


def test_missing_atlas_is_a_type_error():
    for masker in (NiftiLabelsMasker(), MultiNiftiLabelsMasker(), NiftiMapsMasker(), MultiNiftiMapsMasker()):
        with pytest.raises(TypeError, match="input should be a NiftiLike object") as info:
            masker.fit()
        assert isinstance(info.value, AtlasMissingError) and isinstance(info.value, AtlasError)


# -------------------------------------------------------------------------- geometry
@pytest.mark.parametrize("cls", [NiftiLabelsMasker, MultiNiftiLabelsMasker])
def test_labels_transform_grid_mismatch_messages(cls):
    masker = cls(nib.Nifti1Image(_labels(), AFF), resampling_target=None).fit()
    with pytest.raises(ValueError, match=r"Images have different affine matrices\."):
        masker.transform(_data(affine=np.diag((1, 2, 3, 1))))
    with pytest.raises(ValueError, match=r"Images have incompatible shapes\."):
        masker.transform(_data(shape=(12, 10, 14)))
    with pytest.raises(ValueError, match="Following field of view errors were detected"):
        cls(nib.Nifti1Image(_labels(), AFF), resampling_target=None,
            mask_img=nib.Nifti1Image(np.ones(SHAPE, np.uint8), np.diag((1, 2, 3, 1)))).fit()


def test_mask_emptying_every_label_waits_for_the_data_grid():
    mask = np.zeros(SHAPE, np.uint8)
    mask[-1, -1, -1] = 1
    labels = np.zeros(tuple(s + 1 for s in SHAPE), np.int32)
    labels[0, 0, 0] = 2
    lab, msk = nib.Nifti1Image(labels, AFF), nib.Nifti1Image(mask, AFF)
    with pytest.raises(ValueError, match="No label left after applying mask to the labels image"):
        NiftiLabelsMasker(lab, mask_img=msk, resampling_target="labels").fit()
    with pytest.raises(ValueError, match="No label left after applying mask to the labels image"):
        NiftiLabelsMasker(lab, mask_img=msk).fit(_data())
    masker = NiftiLabelsMasker(lab, mask_img=msk).fit()  # the data grid is not known yet
    with pytest.raises(ValueError, match="No label left after applying mask to the labels image"):
        masker.transform(_data())
    on_labels_grid = _data(shape=labels.shape)
    with pytest.raises(ValueError, match="No label left after applying mask to the labels image"):
        masker.transform(on_labels_grid)


@pytest.mark.parametrize("target_affine", [[1, 2, 3], [[1, 2, 3]]])
def test_bad_target_affine_is_also_a_linalg_error(target_affine):
    with pytest.raises(np.linalg.LinAlgError, match="'target_affine' must be a 3x3 or 4x4 matrix") as info:
        NiftiMasker(target_affine=target_affine).fit_transform(_data(1))
    assert isinstance(info.value, AffineParameterError)
    assert isinstance(pickle.loads(pickle.dumps(info.value)), np.linalg.LinAlgError)


# ------------------------------------------------------------------------- non-finite
def test_nonfinite_warnings_say_non_finite_values_detected():
    mask = np.ones(SHAPE)
    mask[:, :, 3] = np.nan
    with pytest.warns(NimaskDataWarning, match=r"Non-finite values detected\..*NaN/inf values"):
        NiftiMasker(mask_img=nib.Nifti1Image(mask, AFF)).fit()
    data = np.asarray(_data().dataobj).copy()
    data[1, 1, 1] = np.nan
    with pytest.warns(NimaskNonFiniteWarning, match=r"Non-finite values detected\. 4 NaN/inf values"):
        NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF)).fit_transform(nib.Nifti1Image(data, AFF))
    labels = _labels().astype(np.float32)
    labels[0, :, :] = np.nan
    labels[6, 0, 0] = np.inf
    with pytest.warns(UserWarning, match=r"Non-finite values detected\..* 73 NaN/inf voxels"):
        signals = NiftiLabelsMasker(nib.Nifti1Image(labels, AFF)).fit_transform(_data())
    assert signals.shape == (4, 2) and np.isfinite(signals).all()


# --------------------------------------------------------------------------- inputs
def test_list_of_single_volume_4d_images_is_a_4d_run():
    mask = nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFF)
    vols = np.random.default_rng(1).random(SHAPE + (3,))
    as_4d = [nib.Nifti1Image(vols[..., i : i + 1], AFF) for i in range(3)]
    as_3d = [nib.Nifti1Image(vols[..., i], AFF) for i in range(3)]
    masker = NiftiMasker(mask_img=mask).fit()
    np.testing.assert_array_equal(masker.transform(as_4d), masker.transform(as_3d))
    two_volumes = [nib.Nifti1Image(vols[..., :2], AFF)] * 2
    with pytest.raises(TypeError, match="incompatible dimensionality"):
        masker.transform(two_volumes)


@pytest.mark.parametrize("masker", [
    NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF)),
    NiftiSpheresMasker([(1.0, 1.0, 1.0)]),
])
def test_fit_refuses_an_empty_image(masker):
    with pytest.raises(ValueError, match="The image is empty"):
        masker.fit(nib.Nifti1Image(np.zeros((64, 64, 0)), AFF))


def test_spheres_fit_checks_the_image_type():
    with pytest.raises(TypeError, match="input should be a NiftiLike object"):
        NiftiSpheresMasker([(1.0, 1.0, 1.0)]).fit(np.zeros(SHAPE))


def test_missing_files_are_catchable_as_nilearn_raises(tmp_path):
    missing = str(tmp_path / "absent.nii.gz")
    with pytest.raises(ValueError, match="File not found") as info:
        NiftiMasker().fit(missing)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, ImageNotFoundError)
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF), lut=str(tmp_path / "lut.tsv")).fit()
    assert isinstance(info.value, AtlasFileNotFoundError) and isinstance(info.value, ValueError)


# --------------------------------------------------------------------- inverse_transform
def test_spheres_inverse_checks_shape_first_and_refuses_overlap_and_empty_spheres():
    with pytest.raises(ValueError, match="Input to 'inverse_transform' has wrong shape"):
        NiftiSpheresMasker([(1.0, 1.0, 1.0)]).fit().inverse_transform(np.zeros(3))
    shape = (5, 5, 5)
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), AFF)
    seeds = [(0, 0, 0), (2, 2, 2)]
    NiftiSpheresMasker(seeds, radius=1, mask_img=mask).fit().inverse_transform(np.ones(2))
    with pytest.raises(ValueError, match="Overlap detected"):
        NiftiSpheresMasker(seeds, radius=2, mask_img=mask).fit().inverse_transform(np.ones(2))
    hole = np.ones(shape, np.uint8)
    hole[2, 2, 2] = 0
    masker = NiftiSpheresMasker(seeds, radius=0.1, mask_img=nib.Nifti1Image(hole, AFF)).fit()
    with pytest.raises(ValueError, match="These spheres are empty"):
        masker.inverse_transform(np.ones(2))


def test_inverse_transform_takes_the_scalar_of_a_single_region():
    lab = np.zeros(SHAPE, np.int32)
    lab[1:3, 1:3, 1:3] = 1
    masker = NiftiLabelsMasker(nib.Nifti1Image(lab, AFF)).fit()
    scalar = masker.transform(nib.Nifti1Image(np.ones(SHAPE, np.float32), AFF))
    assert np.ndim(scalar) == 0
    img = masker.inverse_transform(scalar)
    assert img.shape == SHAPE and np.asarray(img.dataobj)[1, 1, 1] == 1


def test_names_length_warnings_use_nilearns_wording():
    lab = nib.Nifti1Image(_labels(), AFF)
    with pytest.warns(UserWarning, match=r"Too many names for the indices\. Dropping excess names values\."):
        NiftiLabelsMasker(lab, labels=["Background", "a", "b", "c", "d"]).fit()
    with pytest.warns(UserWarning, match=r"Too many indices for the names\. Padding 'names' with 'unknown'\."):
        NiftiLabelsMasker(lab, labels=["Background", "a"]).fit()
