"""Bad inputs to nimask.masking: clear errors (nilearn's exception types) and documented deviations."""
import pickle
import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import masking as nm

import nimask.masking as km
from _masking_data import brain_img
from nimask.exceptions import DimensionError, GeometryError, MaskError, NimaskDataWarning, NimaskError, ParameterError

IMG = brain_img((9, 10, 11, 3), seed=0)
MASK = nib.Nifti1Image((np.random.default_rng(0).random((9, 10, 11)) < 0.5).astype(np.uint8), IMG.affine)


@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(lower_cutoff=0), TypeError, "lower_cutoff"),
        (dict(upper_cutoff=1), TypeError, "upper_cutoff"),
        (dict(connected=1), TypeError, "connected"),
        (dict(opening=1.5), TypeError, "opening"),
        (dict(opening="2"), TypeError, "opening"),
    ],
)
def test_epi_mask_type_errors_like_nilearn(kwargs, exc, match):
    with pytest.raises(exc):
        nm.compute_epi_mask(IMG, **kwargs)
    with pytest.raises(exc, match=match) as err:
        km.compute_epi_mask(IMG, **kwargs)
    assert isinstance(err.value, ParameterError) and err.value.param == match


@pytest.mark.parametrize("kwargs", [dict(lower_cutoff=-0.1), dict(lower_cutoff=0.9, upper_cutoff=0.1),
                                    dict(lower_cutoff=0.5, upper_cutoff=0.5), dict(lower_cutoff=float("nan"))])
def test_epi_mask_bad_cutoffs(kwargs):
    # nilearn: "attempt to get argmax of an empty sequence"; nimask names both cut-offs
    with pytest.raises(ParameterError, match="cutoff"):
        km.compute_epi_mask(IMG, **kwargs)


def test_epi_mask_too_few_values():
    tiny = nib.Nifti1Image(np.arange(4, dtype=np.float32).reshape(1, 2, 2), np.eye(4))
    with pytest.raises(ValueError):
        nm.compute_epi_mask(tiny, lower_cutoff=0.5, upper_cutoff=0.6, opening=0)
    with pytest.raises(MaskError, match="4 values") as err:
        km.compute_epi_mask(tiny, lower_cutoff=0.5, upper_cutoff=0.6, opening=0)
    assert err.value.found == 4


def test_negative_opening_rejected():
    # nilearn erodes "until nothing changes" and returns an empty mask
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.asanyarray(nm.compute_epi_mask(IMG, opening=-1).dataobj).sum() == 0
    for func in (km.compute_epi_mask, km.compute_background_mask):
        with pytest.raises(ParameterError, match="opening.*-1"):
            func(IMG, opening=-1)


@pytest.mark.parametrize("border_size", [0, -1])
def test_background_border_size_must_be_positive(border_size):
    nm.compute_background_mask(IMG, border_size=border_size)  # nilearn accepts, wrong border
    with pytest.raises(ParameterError, match="border_size"):
        km.compute_background_mask(IMG, border_size=border_size)
    with pytest.raises(TypeError, match="border_size"):
        km.compute_background_mask(IMG, border_size=1.5)


def test_uint8_epi_threshold_does_not_overflow():
    # 3D uint8 without opening: nilearn adds the two uint8 values around the gap (100 + 200
    # wraps to 44) and thresholds at 22; nimask thresholds at 150.
    data = np.full((8, 9, 10), 100, np.uint8)
    data[2:6, 2:7, 2:8] = 200
    data[0] = 90
    img = nib.Nifti1Image(data, np.eye(4))
    got = np.asanyarray(km.compute_epi_mask(img, opening=False, connected=False,
                                            lower_cutoff=0.05, upper_cutoff=0.99).dataobj)
    np.testing.assert_array_equal(got.astype(bool), data >= 150)


def test_multi_errors():
    for func in ("compute_multi_epi_mask", "compute_multi_background_mask", "compute_multi_brain_mask"):
        with pytest.raises(TypeError):
            getattr(nm, func)([])
        with pytest.raises(TypeError, match="empty"):
            getattr(km, func)([])
        with pytest.raises(TypeError, match="list"):
            getattr(km, func)(IMG)
    with pytest.raises(ValueError, match="smaller than 1"):
        km.compute_multi_epi_mask([IMG], threshold=1.5)


def test_intersect_masks_errors():
    with pytest.raises(ValueError, match="No mask provided"):
        km.intersect_masks([])
    with pytest.raises(ValueError, match="smaller than 1"):
        km.intersect_masks([MASK], threshold=1.01)
    with pytest.raises(ValueError, match="greater than 0"):
        km.intersect_masks([MASK], threshold=-0.1)
    with pytest.raises(TypeError, match="list"):
        km.intersect_masks(MASK)
    with pytest.raises(DimensionError):
        km.intersect_masks([IMG])
    other = nib.Nifti1Image(np.asanyarray(MASK.dataobj), np.diag([1.0, 2.0, 3.0, 1.0]))
    with pytest.raises(GeometryError, match="img_#1") as err:
        km.intersect_masks([MASK, other])
    assert err.value.index == 1
    bad = nib.Nifti1Image(np.arange(990, dtype=np.float32).reshape(9, 10, 11) % 3, MASK.affine)
    with pytest.raises(MaskError, match=r"mask_imgs\[1\]"):
        km.intersect_masks([MASK, bad])


def test_load_mask_img_errors_name_file_and_values(tmp_path):
    three = nib.Nifti1Image(np.arange(24, dtype=np.float32).reshape(2, 3, 4) % 3, np.eye(4))
    path = str(tmp_path / "three.nii.gz")
    nib.save(three, path)
    with pytest.raises(MaskError, match=r"not made of 2 values: \[0\. 1\. 2\.\]") as err:
        km.load_mask_img(path)
    assert "three.nii.gz" in str(err.value) and err.value.path == path
    many = nib.Nifti1Image(np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.eye(4))
    with pytest.raises(MaskError, match="24 distinct values"):
        km.load_mask_img(many)
    no_zero = nib.Nifti1Image(np.arange(24, dtype=np.float32).reshape(2, 3, 4) % 2 + 1, np.eye(4))
    with pytest.raises(MaskError, match="Background of the mask must be represented with 0"):
        km.load_mask_img(no_zero)
    empty = nib.Nifti1Image(np.zeros((2, 3, 4), np.uint8), np.eye(4))
    with pytest.raises(MaskError, match="empty"):
        km.load_mask_img(empty)
    assert not km.load_mask_img(empty, allow_empty=True)[0].any()
    with pytest.raises(DimensionError):
        km.load_mask_img(IMG)
    err = pickle.loads(pickle.dumps(MaskError("m", param="mask_img", path=path)))
    assert isinstance(err, NimaskError) and err.path == path


def test_load_mask_img_warns_with_nonfinite_count():
    data = np.asanyarray(MASK.dataobj).astype(np.float32)
    data[0, 0, :3] = np.nan
    data[1, 1, 1] = np.inf
    with pytest.warns(NimaskDataWarning, match="4 NaN/inf voxel"):
        mask, _ = km.load_mask_img(nib.Nifti1Image(data, np.eye(4)))
    assert not mask[0, 0, :3].any() and not mask[1, 1, 1]


def test_apply_mask_errors(tmp_path):
    shifted = nib.Nifti1Image(np.asanyarray(MASK.dataobj), np.diag([1.0, 2.0, 3.0, 1.0]))
    path = str(tmp_path / "shifted_mask.nii")
    nib.save(shifted, path)
    with pytest.raises(ValueError, match="Mask affine") as err:
        km.apply_mask(IMG, path)
    assert isinstance(err.value, GeometryError) and "shifted_mask.nii" in str(err.value)
    small = nib.Nifti1Image(np.ones((3, 3, 3), np.uint8), IMG.affine)
    with pytest.raises(ValueError, match="Mask shape"):
        km.apply_mask(IMG, small)
    for fwhm in ([2.0, 2.0, 2.0], "fast", True):
        with pytest.raises(TypeError, match="smoothing_fwhm"):
            km.apply_mask(IMG, MASK, smoothing_fwhm=fwhm)
    with pytest.raises(MaskError, match="empty"):
        km.apply_mask(IMG, nib.Nifti1Image(np.zeros((9, 10, 11), np.uint8), IMG.affine))


def test_unmask_errors():
    n = int(np.asanyarray(MASK.dataobj).sum())
    with pytest.raises(TypeError, match=rf"X must be of shape \(samples, {n}\)"):
        km.unmask(np.zeros((3, n + 1)), MASK)
    with pytest.raises(TypeError, match="2D or 1D"):
        km.unmask(np.zeros((2, 3, n)), MASK)
    with pytest.raises(ValueError, match="order"):
        km.unmask(np.zeros(n), MASK, order="X")


def test_brain_mask_errors():
    with pytest.raises(ValueError, match="Unknown mask type foo"):
        km.compute_brain_mask(IMG, mask_type="foo", template=IMG.slicer[..., 0])
    with pytest.raises(TypeError, match="threshold"):
        km.compute_brain_mask(IMG, threshold="0.5", template=IMG.slicer[..., 0])
    zero = nib.Nifti1Image(np.zeros((5, 6, 7), np.float32), np.eye(4))
    with pytest.raises(MaskError, match="maximum"):
        km.compute_brain_mask(IMG, template=zero)


def test_apply_mask_int_dtype_never_garbles_values():
    data = np.random.default_rng(1).standard_normal((9, 10, 11, 2)).astype(np.float32) * 100
    data[0, 0, 0, 0] = np.nan
    img = nib.Nifti1Image(data, IMG.affine)
    full = nib.Nifti1Image(np.ones((9, 10, 11), np.uint8), IMG.affine)
    # nilearn casts NaN to int32 first: -2147483648; nimask zeroes it first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert nm.apply_mask(img, full, dtype=np.int32)[0, 0] == np.iinfo(np.int32).min
    got = km.apply_mask(img, full, dtype=np.int32)
    assert got[0, 0] == 0
    np.testing.assert_array_equal(got[:, 1:], km.apply_mask(img, full)[:, 1:].astype(np.int32))  # truncation
    with pytest.raises(ParameterError, match="1 masked value"):
        km.apply_mask(img, full, dtype=np.int16, ensure_finite=False)
    big = nib.Nifti1Image(np.full((9, 10, 11), 1e6, np.float32), IMG.affine)
    with pytest.raises(ParameterError, match="outside the range"):
        km.apply_mask(big, full, dtype=np.int16)
    ints = nib.Nifti1Image(np.arange(990, dtype=np.int32).reshape(9, 10, 11), IMG.affine)
    np.testing.assert_array_equal(km.apply_mask(ints, full, dtype=np.int16), nm.apply_mask(ints, full, dtype=np.int16))
    wide = nib.Nifti1Image(np.full((9, 10, 11), 2**24 + 1, np.int32), IMG.affine)
    assert km.apply_mask(wide, full, dtype=np.int64)[0] == 2**24 + 1  # no float32 detour
    with pytest.raises(ParameterError, match="outside the range"):
        km.apply_mask(wide, full, dtype=np.int16)


def test_empty_mask_warnings_keep_nilearn_text_and_add_context(tmp_path):
    from nimask.exceptions import MaskWarning

    path = str(tmp_path / "small_run.nii.gz")
    nib.save(IMG, path)
    with pytest.warns(MaskWarning, match=r"^Computed an empty mask\. Are you sure.*small_run\.nii\.gz.*opening=8"):
        km.compute_epi_mask(path, opening=8)
    flat = nib.Nifti1Image(np.ones((6, 7, 8), np.float32), np.eye(4))
    with pytest.warns(MaskWarning, match=r"^Computed an empty mask\..*in-memory image of shape \(6, 7, 8\)"):
        km.compute_background_mask(flat)
