"""Catalogue §2.5 (masks, K1-K11): one mask check (``binarised_mask``) for every masker.

nilearn binarises non-binary masks silently in the maskers (K2-K4, K7); nimask refuses
them in NiftiMasker, MultiNiftiMasker, the labels, maps and spheres maskers alike.
"""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

from _rel import AFFINE, SHAPE, labels_img, maps_img, mask_img, raises, run_img
from nimask.exceptions import MaskError, NimaskDataWarning
from nimask.maskers import (
    MultiNiftiLabelsMasker,
    MultiNiftiMapsMasker,
    MultiNiftiMasker,
    NiftiLabelsMasker,
    NiftiMapsMasker,
    NiftiMasker,
    NiftiSpheresMasker,
)

MASKERS = {
    "NiftiMasker": lambda m: NiftiMasker(m),
    "MultiNiftiMasker": lambda m: MultiNiftiMasker(m),
    "NiftiLabelsMasker": lambda m: NiftiLabelsMasker(labels_img(), mask_img=m),
    "MultiNiftiLabelsMasker": lambda m: MultiNiftiLabelsMasker(labels_img(), mask_img=m),
    "NiftiMapsMasker": lambda m: NiftiMapsMasker(maps_img(), mask_img=m),
    "MultiNiftiMapsMasker": lambda m: MultiNiftiMapsMasker(maps_img(), mask_img=m),
    "NiftiSpheresMasker": lambda m: NiftiSpheresMasker([(4.0, 6.0, 8.0)], radius=2.0, mask_img=m),
}


def _three_values():
    data = np.asarray(mask_img().dataobj).copy()
    data[1:3] *= 2
    return nib.Nifti1Image(data, AFFINE)


def _no_zero():
    return nib.Nifti1Image(np.random.default_rng(0).integers(1, 3, SHAPE).astype(np.float32), AFFINE)


def _probability():
    return nib.Nifti1Image(np.random.default_rng(0).random(SHAPE).astype(np.float32), AFFINE)


def _several_volumes():
    data = np.asarray(mask_img().dataobj)
    return nib.Nifti1Image(np.stack([data, data], axis=-1), AFFINE)


BAD_MASKS = [
    ("K1", "all-zero", lambda: nib.Nifti1Image(np.zeros(SHAPE, np.uint8), AFFINE), "empty"),
    ("K2", "three-values", _three_values, "must be binary"),
    ("K3", "no-zero", _no_zero, "must be binary"),
    ("K4", "probability-map", _probability, "must be binary"),
    ("K7", "4d-several-volumes", _several_volumes, "(7, 8, 9, 2)"),
]


@pytest.mark.parametrize("masker", list(MASKERS), ids=list(MASKERS))
@pytest.mark.parametrize("cid, what, make, needle", BAD_MASKS, ids=[f"{b[0]}-{b[1]}" for b in BAD_MASKS])
def test_bad_masks_are_refused_by_every_masker(masker, cid, what, make, needle):
    with raises(MaskError, ValueError, "mask_img", needle):
        MASKERS[masker](make()).fit()


def test_bad_mask_file_is_named(tmp_path):
    path = str(tmp_path / "prob_mask.nii.gz")
    nib.save(_probability(), path)
    with raises(MaskError, ValueError, "mask_img"):
        NiftiMasker(path).fit()


def test_K5_two_values_one_zero_is_a_binary_mask():
    masker = NiftiMasker(mask_img(0.3)).fit()
    assert masker.n_elements_ == int((np.asarray(mask_img().dataobj) > 0).sum())


def test_K6_4d_mask_with_one_volume_is_squeezed():
    m = nib.Nifti1Image(np.asarray(mask_img().dataobj)[..., None], AFFINE)
    assert NiftiMasker(m).fit().n_elements_ == 64


@pytest.mark.parametrize("masker", ["NiftiMasker", "NiftiLabelsMasker", "NiftiMapsMasker"])
def test_K8_nan_in_the_mask_counts_as_outside_with_a_warning(masker):
    data = np.asarray(mask_img().dataobj).copy()
    data[0, 0, 0] = np.nan
    with pytest.warns(NimaskDataWarning, match="1 NaN/inf values; they are treated as outside"):
        MASKERS[masker](nib.Nifti1Image(data, AFFINE)).fit()


def test_K9_mask_is_validated_at_fit_even_when_images_are_given():
    with pytest.warns(RuntimeWarning, match="Given mask will be used"):
        with raises(MaskError, ValueError, "mask_img"):
            NiftiMasker(_probability()).fit(run_img(t=3))


def test_K10_all_ones_mask_is_accepted():
    m = nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFFINE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        X = NiftiMasker(m).fit_transform(run_img(t=3))
    assert X.shape == (3, int(np.prod(SHAPE)))


@pytest.mark.parametrize("dtype", [bool, np.int64, np.uint8, np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_K11_mask_dtype_matrix_gives_the_same_signals(dtype):
    ref = NiftiMasker(mask_img(dtype=np.uint8)).fit_transform(run_img(t=3))
    data = np.asarray(mask_img().dataobj).astype(dtype)
    header = None
    img = nib.Nifti1Image(data.astype(np.uint8) if dtype is bool else data, AFFINE,
                          dtype=None if dtype is bool else dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        np.testing.assert_array_equal(NiftiMasker(img).fit_transform(run_img(t=3)), ref)
    del header
