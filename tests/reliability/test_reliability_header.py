"""Catalogue §2.2 (header fields, H1-H11): validated at load, errors name the file and field."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

from _rel import AFFINE, SHAPE, mask_img, nifti_bytes, patch, raises, run_img, write
from nimask import image
from nimask._niimg import header_t_r
from nimask.exceptions import (
    CorruptImageError,
    ImageTooLargeError,
    InconsistentImageError,
    NimaskDataWarning,
    UnsupportedImageError,
)
from nimask.maskers import NiftiMasker

RAW = nifti_bytes()
DATA = np.asarray(run_img(t=4).dataobj)


def _load(path):
    return np.asarray(image.load_img(path).dataobj)


def _doubled_dim1(raw):
    return patch(raw, "h", 42, 14)


HEADER_FAULTS = [
    ("H1", "bad magic", patch(RAW, "4s", 344, b"xxx\x00"), CorruptImageError, "magic"),
    ("H3a", "dim0 0", patch(RAW, "h", 40, 0), CorruptImageError, "dim[0]=0"),
    ("H3b", "dim0 9", patch(RAW, "h", 40, 9), CorruptImageError, "dim[0]=9"),
    ("H3c", "negative dim", patch(RAW, "h", 42, -6), CorruptImageError, "dim[1]=-6"),
    ("H3e", "dims claim more data", _doubled_dim1(RAW), CorruptImageError, "Truncated"),
    ("H4b", "vox_offset beyond EOF", patch(RAW, "f", 108, 1e9), ImageTooLargeError, "vox_offset"),
    ("H4c", "vox_offset off by 4", patch(RAW, "f", 108, 356.0), CorruptImageError, "vox_offset 356"),
    ("H5a", "datatype 0", patch(RAW, "h", 70, 0), UnsupportedImageError, "data code 0"),
    ("H5b", "RGB24", patch(patch(RAW, "h", 70, 128), "h", 72, 24), UnsupportedImageError, "RGB"),
    ("H6c", "valid slope, NaN intercept", patch(patch(RAW, "f", 112, 2.0), "f", 116, np.nan),
     InconsistentImageError, "intercept nan"),
    ("H6c", "valid slope, inf intercept", patch(patch(RAW, "f", 112, 2.0), "f", 116, np.inf),
     InconsistentImageError, "intercept inf"),
]


@pytest.mark.parametrize("cid, what, raw, cls, needle", HEADER_FAULTS,
                         ids=[f"{c[0]}-{c[1].replace(' ', '_')}" for c in HEADER_FAULTS])
def test_header_faults(tmp_path, cid, what, raw, cls, needle):
    path = write(tmp_path, "bad.nii", raw)
    with raises(cls, OSError, path, needle):
        _load(path)


def test_H4b_vox_offset_message_names_the_declared_size(tmp_path):
    path = write(tmp_path, "vo.nii", patch(RAW, "f", 108, 1e9))
    with raises(ImageTooLargeError, OSError, path, "declares shape"):
        _load(path)


def test_H5c_complex_is_refused_not_cast(tmp_path):
    """H5c: nilearn drops the imaginary part with only a ComplexWarning."""
    path = str(tmp_path / "c.nii")
    nib.save(nib.Nifti1Image((np.ones(SHAPE) + 1j).astype(np.complex64), AFFINE), path)
    with raises(UnsupportedImageError, OSError, path, "complex64"):
        _load(path)


def test_H1c_pair_magic_in_single_file_warns(tmp_path):
    path = write(tmp_path, "ni1.nii", patch(RAW, "4s", 344, b"ni1\x00"))
    with pytest.warns(NimaskDataWarning, match="magic of a .hdr/.img pair"):
        np.testing.assert_array_equal(_load(path), DATA)


def test_H2_wrong_sizeof_hdr_warns_not_logs(tmp_path, caplog):
    path = write(tmp_path, "sz.nii", patch(RAW, "i", 0, 300))
    with pytest.warns(NimaskDataWarning, match="sizeof_hdr") as rec:
        np.testing.assert_array_equal(_load(path), DATA)
    assert path in str(rec[0].message)
    assert not [r for r in caplog.records if "sizeof_hdr" in r.getMessage()]


@pytest.mark.parametrize("slope", [0.0, np.nan], ids=["H6-slope0", "H6-slopeNaN"])
def test_H6_zero_or_nan_slope_means_no_scaling(tmp_path, slope):
    path = write(tmp_path, "s.nii", patch(RAW, "f", 112, slope))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NimaskDataWarning)
        got = _load(path)
    np.testing.assert_array_equal(got, DATA)
    assert got.dtype == np.float32


def test_H6b_infinite_slope_is_ignored_with_a_warning(tmp_path):
    path = write(tmp_path, "s.nii", patch(RAW, "f", 112, np.inf))
    with pytest.warns(NimaskDataWarning, match="invalid scl_slope=inf"):
        np.testing.assert_array_equal(_load(path), DATA)


@pytest.mark.parametrize("slope", [-2.0, 1e-30, 1e38], ids=["H6d-negative", "H6d-tiny", "H6d-huge"])
def test_H6d_extreme_slopes_scale_in_float64_without_overflow(tmp_path, slope):
    path = write(tmp_path, "s.nii", patch(RAW, "f", 112, slope))
    got = _load(path)
    assert got.dtype == np.float64
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, DATA.astype(np.float64) * np.float64(np.float32(slope)), rtol=1e-12)
    X = NiftiMasker(mask_img()).fit_transform(path)
    assert np.isfinite(X).all()


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_H7_big_endian_gives_identical_output(tmp_path, ext):
    img = run_img(t=4)
    little = str(tmp_path / f"le{ext}")
    big = str(tmp_path / f"be{ext}")
    nib.save(img, little)
    header = nib.Nifti1Header(endianness=">")
    nib.save(nib.Nifti1Image(np.asarray(img.dataobj), AFFINE, header=header), big)
    assert image.load_img(big).header.endianness == ">"
    a = NiftiMasker(mask_img()).fit_transform(little)
    b = NiftiMasker(mask_img()).fit_transform(big)
    # same values and precision; the byte order of the stored data is kept, as nilearn does
    assert a.dtype == b.dtype.newbyteorder("=")
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_H8_nifti2_gives_identical_output(tmp_path, ext):
    img = run_img(t=4)
    one, two = str(tmp_path / f"n1{ext}"), str(tmp_path / f"n2{ext}")
    nib.save(img, one)
    nib.save(nib.Nifti2Image(np.asarray(img.dataobj), AFFINE), two)
    assert isinstance(image.load_img(two), nib.Nifti2Image)
    np.testing.assert_array_equal(NiftiMasker(mask_img()).fit_transform(one),
                                  NiftiMasker(mask_img()).fit_transform(two))


@pytest.mark.parametrize("dtype, out", [(np.uint8, np.float32), (np.int16, np.float32), (np.int32, np.float32),
                                        (np.int64, np.float32), (np.uint64, np.float32),
                                        (np.float32, np.float32), (np.float64, np.float64)],
                         ids=lambda v: np.dtype(v).name)
def test_H9_output_dtype_rule(tmp_path, dtype, out):
    """H9: integer data give float32 signals (nilearn's rule), floats keep their precision."""
    rng = np.random.default_rng(0)
    data = rng.integers(0, 100, SHAPE + (3,)).astype(dtype)
    path = str(tmp_path / "d.nii.gz")
    nib.save(nib.Nifti1Image(data, AFFINE, dtype=dtype), path)
    X = NiftiMasker(mask_img()).fit_transform(path)
    assert X.dtype == out
    np.testing.assert_array_equal(X, data[np.asarray(mask_img().dataobj) > 0].T.astype(out))


def _with_extension():
    img = run_img(t=4)
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"comment text 123"))
    return bytearray(img.to_bytes())


@pytest.mark.parametrize("esize", [3, 10**8], ids=["H10-esize-not-multiple-of-16", "H10-huge-esize"])
def test_H10_malformed_extension_never_shifts_the_data(tmp_path, esize):
    """H10: extensions are not used by nimask; the data are located by vox_offset only.

    A malformed or huge extension size can never make the reader allocate or read past the
    header: either the data come back exactly, or a NimaskError names the file.
    """
    raw = _with_extension()
    path = write(tmp_path, "ext.nii", patch(raw, "i", 352 + 4, esize))
    try:
        got = _load(path)
    except CorruptImageError as exc:  # pragma: no cover - allowed outcome
        assert path in str(exc)
    else:
        np.testing.assert_array_equal(got, DATA)


def test_H11_header_tr_is_read_unit_aware(tmp_path):
    for unit, value, expected in [("msec", 2000.0, 2.0), ("sec", 2.0, 2.0), ("usec", 2e6, 2.0), ("unknown", 2.0, None)]:
        img = run_img(t=4)
        img.header.set_xyzt_units("mm", unit)
        img.header["pixdim"][4] = value
        assert header_t_r(img) == expected


def test_H11_T8_t_r_disagreeing_with_the_header_warns():
    """H11/T8: header TR 2 s (in ms), t_r=3: warned (nilearn ignores the header)."""
    img = run_img(t=40)
    img.header.set_xyzt_units("mm", "msec")
    img.header["pixdim"][4] = 2000.0
    with pytest.warns(NimaskDataWarning, match=r"t_r=3.0 s but the header .* 2 s"):
        NiftiMasker(mask_img(), t_r=3.0).fit_transform(img)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NimaskDataWarning)
        warnings.simplefilter("ignore", FutureWarning)
        NiftiMasker(mask_img(), t_r=2.0).fit_transform(img)
