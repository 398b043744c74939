"""The streamed NIfTI reader: loader paths, bad files, chunked reads and masked gathers."""
import gzip

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _helpers import random_img
from nimask import _nifti_io
from nimask._nifti_io import gather_masked, iter_volume_chunks, load_data, load_file
from nimask.exceptions import (
    CorruptImageError,
    GeometryError,
    ImageLoadError,
    ImageNotFoundError,
    ImageTooLargeError,
    UnsupportedImageError,
)

SHAPE = (7, 8, 9, 5)


def _scaled_img(shape=SHAPE):
    img = random_img(shape, dtype=np.int16, seed=1)
    img.header.set_slope_inter(0.5, -3.0)
    return img


def _save(img, path):
    img.to_filename(str(path))
    return str(path)


@pytest.fixture(params=[".nii", ".nii.gz"])
def ext(request):
    return request.param


# ---------------------------------------------------------------- loading
@pytest.mark.parametrize("make", [lambda: random_img(dtype=np.float32), _scaled_img,
                                  lambda: random_img(dtype=np.uint8), lambda: random_img((7, 8, 9), np.int16)])
def test_load_file_matches_nibabel(tmp_path, ext, make):
    path = _save(make(), tmp_path / f"img{ext}")
    ref, img = nib.load(path), load_file(path)
    assert type(img) is type(ref)
    assert img.header.binaryblock == ref.header.binaryblock
    np.testing.assert_array_equal(img.affine, ref.affine)
    expected = np.asanyarray(ref.dataobj)
    got = np.asanyarray(img.dataobj)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(load_data(path), expected)
    assert img.get_filename() == path


def test_gzip_proxy_slicing_matches_nibabel(tmp_path):
    path = _save(_scaled_img(), tmp_path / "img.nii.gz")
    ref, img = nib.load(path), load_file(path)
    assert isinstance(img.dataobj, _nifti_io.GzipArrayProxy)
    for sl in [(..., 2), (..., slice(1, 4)), (0, slice(None), 2, slice(None, None, -2)),
               (slice(None), 1), (0, 0, 0, 0), (..., slice(4, 1, -1)), (..., slice(3, 3)), (1,)]:
        a, b = ref.dataobj[sl], img.dataobj[sl]
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_nifti2_and_big_endian(tmp_path, ext):
    data = random_img(dtype=np.float32).get_fdata(dtype=np.float32)
    n2 = nib.Nifti2Image(data, np.eye(4))
    p2 = _save(n2, tmp_path / f"n2{ext}")
    img = load_file(p2)
    assert type(img) is nib.Nifti2Image
    np.testing.assert_array_equal(np.asanyarray(img.dataobj), data)
    be = nib.Nifti1Image(data, np.eye(4), header=nib.Nifti1Header(endianness=">"))
    pbe = _save(be, tmp_path / f"be{ext}")
    np.testing.assert_array_equal(np.asanyarray(load_file(pbe).dataobj), data)
    mask = data[..., 0] > 0
    np.testing.assert_array_equal(gather_masked(pbe, mask), data[mask].T)


def test_zlib_fallback(tmp_path, monkeypatch):
    import zlib

    path = _save(_scaled_img(), tmp_path / "img.nii.gz")
    monkeypatch.setattr(_nifti_io, "_zlib", zlib)
    monkeypatch.setattr(_nifti_io, "_ZLIB_ERRORS", (zlib.error,))
    np.testing.assert_array_equal(load_data(path), np.asanyarray(nib.load(path).dataobj))
    raw = bytearray(open(path, "rb").read())
    raw[-8] ^= 0xFF
    bad = tmp_path / "crc.nii.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(CorruptImageError, match="crc.nii.gz"):
        load_data(str(bad))


def test_multimember_gzip(tmp_path):
    img = random_img(dtype=np.float32)
    raw = img.to_bytes() if hasattr(img, "to_bytes") else None
    p = tmp_path / "m.nii.gz"
    half = len(raw) // 2
    p.write_bytes(gzip.compress(raw[:half]) + gzip.compress(raw[half:]))
    np.testing.assert_array_equal(load_data(str(p)), img.get_fdata(dtype=np.float32))


# ---------------------------------------------------------------- bad files
def _raw_nii(img=None):
    img = img if img is not None else random_img(dtype=np.float32)
    return img.to_bytes()


def test_missing_file(tmp_path):
    with pytest.raises(ImageNotFoundError, match="nope.nii") as info:
        load_file(tmp_path / "nope.nii")
    assert isinstance(info.value, FileNotFoundError)


def test_directory_is_rejected(tmp_path):
    d = tmp_path / "dir.nii"
    d.mkdir()
    with pytest.raises(ImageLoadError, match="directory"):
        load_file(d)


@pytest.mark.parametrize("name", ["empty.nii", "empty.nii.gz"])
def test_zero_byte_file(tmp_path, name):
    p = tmp_path / name
    p.write_bytes(b"")
    with pytest.raises(CorruptImageError, match="0 bytes"):
        load_file(p)


def test_truncated_nii_checked_before_reading(tmp_path):
    raw = _raw_nii()
    p = tmp_path / "trunc.nii"
    n = len(raw) - 352
    p.write_bytes(raw[: 352 + n // 2])
    with pytest.raises(CorruptImageError, match=rf"trunc.nii.*expected {len(raw)} bytes.*{352 + n // 2} bytes") as info:
        load_file(p)
    assert info.value.expected == len(raw)


def test_header_only_nii(tmp_path):
    p = tmp_path / "hdr.nii"
    p.write_bytes(_raw_nii()[:352])
    with pytest.raises(CorruptImageError, match="hdr.nii.*expected"):
        load_file(p)


def test_short_header(tmp_path):
    p = tmp_path / "short.nii"
    p.write_bytes(_raw_nii()[:100])
    with pytest.raises(CorruptImageError, match="too short"):
        load_file(p)


def test_truncated_gzip(tmp_path):
    gz = gzip.compress(_raw_nii())
    p = tmp_path / "trunc.nii.gz"
    p.write_bytes(gz[: len(gz) // 2])
    # the gzip trailer (ISIZE) does not match the header, so the stream is measured at load
    with pytest.raises(CorruptImageError, match="truncated in .*trunc.nii.gz"):
        load_file(p)
    with pytest.raises(CorruptImageError, match="truncated"):
        gather_masked(str(p), np.ones(SHAPE[:3], bool))


def test_gzip_of_short_data(tmp_path):
    raw = _raw_nii()
    p = tmp_path / "short.nii.gz"
    p.write_bytes(gzip.compress(raw[: len(raw) - 100]))
    with pytest.raises(CorruptImageError, match=rf"expected {len(raw)} bytes.*has {len(raw) - 100} bytes"):
        load_data(str(p))


def test_corrupt_deflate_and_crc(tmp_path):
    gz = bytearray(gzip.compress(_raw_nii()))
    bad = bytearray(gz)
    for i in range(16):
        bad[len(bad) // 2 + i] ^= 0x55
    p = tmp_path / "deflate.nii.gz"
    p.write_bytes(bytes(bad))
    with pytest.raises(CorruptImageError, match="deflate.nii.gz"):
        load_data(str(p))
    crc = bytearray(gz)
    crc[-8] ^= 0xFF
    p = tmp_path / "crc.nii.gz"
    p.write_bytes(bytes(crc))
    with pytest.raises(CorruptImageError, match="CRC"):
        load_data(str(p))
    with pytest.raises(CorruptImageError, match="CRC"):
        list(iter_volume_chunks(str(p), chunk_size=2))


def test_trailing_garbage_warns(tmp_path):
    p = tmp_path / "trail.nii.gz"
    p.write_bytes(gzip.compress(_raw_nii()) + b"garbage!")
    with pytest.warns(UserWarning, match="trailing"):
        load_data(str(p))


def test_plain_file_named_gz_and_gzip_named_nii(tmp_path):
    raw = _raw_nii()
    p = tmp_path / "plain.nii.gz"
    p.write_bytes(raw)
    with pytest.raises(CorruptImageError, match="not a gzip file"):
        load_file(p)
    q = tmp_path / "gz.nii"
    q.write_bytes(gzip.compress(raw))
    with pytest.raises(CorruptImageError, match="gzip-compressed but named .nii"):
        load_file(q)


def test_gzip_of_text(tmp_path):
    p = tmp_path / "text.nii.gz"
    p.write_bytes(gzip.compress(b"hello"))
    with pytest.raises(CorruptImageError, match="text.nii.gz"):
        load_file(p)


def test_bad_magic(tmp_path):
    raw = bytearray(_raw_nii())
    raw[344:348] = b"xxx\x00"
    p = tmp_path / "magic.nii"
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptImageError, match="magic"):
        load_file(p)


@pytest.mark.parametrize("dim0", [0, 9])
def test_invalid_dim0(tmp_path, dim0):
    raw = bytearray(_raw_nii())
    raw[40:42] = np.int16(dim0).tobytes()
    p = tmp_path / "dim0.nii"
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptImageError, match=r"dim\[0\]"):
        load_file(p)


def test_negative_dim(tmp_path):
    raw = bytearray(_raw_nii())
    raw[42:44] = np.int16(-6).tobytes()
    p = tmp_path / "neg.nii"
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptImageError, match=r"dim\[1\]=-6"):
        load_file(p)


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_memory_bomb(tmp_path, ext):
    hdr = random_img((3, 4, 5), dtype=np.float32)
    hdr.header.set_data_shape((2000, 2000, 2000))
    raw = hdr.header.binaryblock + b"\x00" * 4 + np.zeros(60, np.float32).tobytes()
    p = tmp_path / f"bomb{ext}"
    p.write_bytes(gzip.compress(raw) if ext.endswith("gz") else raw)
    with pytest.raises(ImageTooLargeError, match=r"bomb.*\(2000, 2000, 2000\)"):
        load_file(p)


def test_unsupported_dtypes(tmp_path):
    rgb = np.zeros((3, 4, 5), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    p = _save(nib.Nifti1Image(rgb, np.eye(4)), tmp_path / "rgb.nii")
    with pytest.raises(UnsupportedImageError, match="RGB"):
        load_file(p)
    c = _save(nib.Nifti1Image(np.zeros((3, 4, 5), np.complex64), np.eye(4)), tmp_path / "c.nii.gz")
    with pytest.raises(UnsupportedImageError, match="complex"):
        load_file(c)


def test_singular_affine(tmp_path):
    img = random_img((3, 4, 5))
    img.set_sform(np.zeros((4, 4)), code=2)
    p = _save(img, tmp_path / "sing.nii")
    with pytest.raises(GeometryError, match="sform.*sing.nii"):
        load_file(p)


def test_empty_image_loads_but_gives_no_volumes(tmp_path, ext):
    p = _save(nib.Nifti1Image(np.zeros((3, 4, 5, 0), np.float32), np.eye(4)), tmp_path / f"e{ext}")
    img = load_file(p)
    assert img.shape == (3, 4, 5, 0)
    assert gather_masked(p, np.ones((3, 4, 5), bool)).shape == (0, 60)
    from nimask._niimg import load_niimg

    with pytest.raises(ValueError, match="The image is empty"):
        load_niimg(p)


# ---------------------------------------------------------------- streaming
def test_chunks_of_in_memory_image():
    img = random_img(dtype=np.float32)
    data = np.asanyarray(img.dataobj)
    chunks = list(iter_volume_chunks(img, chunk_size=2))
    assert [t0 for t0, _ in chunks] == [0, 2, 4]
    np.testing.assert_array_equal(np.concatenate([c for _, c in chunks], axis=-1), data)
    t0, only = next(iter_volume_chunks(random_img((7, 8, 9))))
    assert only.shape == (7, 8, 9, 1) and t0 == 0


def test_gather_masked_validates_mask(tmp_path):
    img = random_img()
    with pytest.raises(GeometryError, match="mask_bool"):
        gather_masked(img, np.ones((7, 8, 10), bool))
    with pytest.raises(ValueError, match="boolean"):
        gather_masked(img, np.ones((7, 8, 9), np.uint8))


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int32, np.int64, np.float32, np.float64])
def test_gather_masked_dtype_matrix_vs_apply_mask(tmp_path, ext, dtype):
    from nilearn.masking import apply_mask

    if dtype is np.int64:
        base = random_img(dtype=np.int32, seed=3)
        img = nib.Nifti1Image(np.asanyarray(base.dataobj).astype(np.int64), base.affine, dtype=np.int64)
    else:
        img = random_img(dtype=dtype, seed=3)
    if dtype is np.float32:
        d = np.asanyarray(img.dataobj)
        d[1, 2, 3, 1] = np.nan
        d[2, 2, 2, 0] = np.inf
    path = _save(img, tmp_path / f"x{ext}")
    mask = np.random.default_rng(0).random(SHAPE[:3]) > 0.4
    expected = apply_mask(path, nib.Nifti1Image(mask.astype(np.uint8), img.affine))
    got = gather_masked(path, mask)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
    got3d = gather_masked(path, mask, dtype=np.float64, chunk_size=3)
    assert got3d.dtype == np.float64
    np.testing.assert_allclose(got3d, expected, rtol=1e-7)


def test_gather_masked_3d_gives_1d(tmp_path, ext):
    img = random_img((7, 8, 9), dtype=np.int16)
    path = _save(img, tmp_path / f"v{ext}")
    mask = np.asanyarray(img.dataobj) > 0
    got = gather_masked(path, mask)
    assert got.shape == (int(mask.sum()),) and got.dtype == np.float32
    np.testing.assert_array_equal(got, np.asanyarray(img.dataobj)[mask])


def test_gather_masked_from_nibabel_loaded_image(tmp_path, ext):
    path = _save(_scaled_img(), tmp_path / f"s{ext}")
    img = nib.load(path)  # nibabel's own proxy: streamed from its file too
    mask = np.asanyarray(img.dataobj)[..., 0] > 0
    np.testing.assert_array_equal(gather_masked(img, mask), np.asanyarray(img.dataobj)[mask].T)


_DTYPES = st.sampled_from(["int16", "int16-scaled", "float32", "uint8"])


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=_DTYPES, chunk=st.integers(1, 7), n_vol=st.integers(1, 6), gz=st.booleans(), seed=st.integers(0, 99))
def test_streamed_chunks_equal_whole_load(tmp_path, kind, chunk, n_vol, gz, seed):
    from nilearn.masking import apply_mask

    dtype = kind.split("-")[0]
    img = random_img((5, 6, 4, n_vol), dtype=np.dtype(dtype), seed=seed)
    if kind.endswith("scaled"):
        img.header.set_slope_inter(1.5, 2.0)
    path = _save(img, tmp_path / f"h{seed}_{kind}_{n_vol}.nii{'.gz' if gz else ''}")
    whole = np.asanyarray(nib.load(path).dataobj)
    parts = list(iter_volume_chunks(path, chunk_size=chunk))
    assert [t0 for t0, _ in parts] == list(range(0, n_vol, chunk))
    streamed = np.concatenate([c for _, c in parts], axis=-1)
    assert streamed.dtype == whole.dtype
    np.testing.assert_array_equal(streamed, whole)
    mask = np.random.default_rng(seed).random((5, 6, 4)) > 0.5
    mask[0, 0, 0] = True
    expected = apply_mask(path, nib.Nifti1Image(mask.astype(np.uint8), img.affine))
    got = gather_masked(path, mask, chunk_size=chunk)
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)
