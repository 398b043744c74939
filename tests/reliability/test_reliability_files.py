"""Catalogue §2.1 (files and containers, F1-F14): every fault is a NimaskError naming the file.

Each case is built from the bytes of a small NIfTI file, loaded with ``nimask.image.load_img``
(data read) and through a masker; the error must be in nimask's family, also be the builtin
callers catch (``OSError`` for files) and name the path. Reader-level details (messages,
CRC, multi-member gzip) are in ``tests/io/test_io_nifti_reader.py``.
"""
from __future__ import annotations

import os
import threading
import warnings

import nibabel as nib
import numpy as np
import pytest

from _rel import HDR, gz, mask_img, nifti_bytes, raises, run_img, write
from nimask import image
from nimask._nifti_io import iter_volume_chunks
from nimask.exceptions import (
    CorruptImageError,
    ImageLoadError,
    ImageNotFoundError,
    ImageTooLargeError,
    NimaskDataWarning,
)
from nimask.maskers import MultiNiftiMasker, NiftiMasker

RAW = nifti_bytes()
GZ = gz(RAW)


def _xor_middle(raw: bytes) -> bytearray:
    out = bytearray(raw)
    mid = len(out) // 2
    for i in range(mid, mid + 16):
        out[i] ^= 0xFF
    return out


def _crc(raw: bytes) -> bytearray:
    out = bytearray(raw)
    out[-8] ^= 0xFF
    return out


def _memory_bomb(compressed: bool) -> bytes:
    raw = bytearray(RAW)
    import struct

    struct.pack_into("<8h", raw, 40, 3, 2000, 2000, 2000, 1, 1, 1, 1)
    return gz(raw) if compressed else raw


# (catalogue id, file name, bytes, error class)
FILE_FAULTS = [
    ("F1", "trunc.nii", RAW[: HDR + (len(RAW) - HDR) // 2], CorruptImageError),
    ("F2", "trunc.nii.gz", GZ[: len(GZ) // 2], CorruptImageError),
    ("F3", "header_only.nii", RAW[:HDR], CorruptImageError),
    ("F4", "empty.nii", b"", CorruptImageError),
    ("F4", "empty.nii.gz", b"", CorruptImageError),
    ("F5a", "deflate.nii.gz", _xor_middle(GZ), CorruptImageError),
    ("F5c", "crc.nii.gz", _crc(GZ), CorruptImageError),
    ("F6a", "plain.nii.gz", RAW, CorruptImageError),
    ("F6b", "gzipped.nii", GZ, CorruptImageError),
    ("F6c", "text.nii.gz", gz(b"hello"), CorruptImageError),
    ("F8", "bomb.nii", _memory_bomb(False), ImageTooLargeError),
    ("F8", "bomb.nii.gz", _memory_bomb(True), ImageTooLargeError),
]


@pytest.mark.parametrize("cid, name, raw, cls", FILE_FAULTS, ids=[f"{c[0]}-{c[1]}" for c in FILE_FAULTS])
def test_file_faults_name_the_file(tmp_path, cid, name, raw, cls):
    path = write(tmp_path, name, raw)
    with raises(cls, OSError, path):
        np.asarray(image.load_img(path).dataobj)
    with raises(cls, OSError, path):  # nilearn's masker path gave "Whoops, not enough data" / EOFError
        NiftiMasker(mask_img()).fit_transform(path)


def test_F5c_crc_only_damage_is_detected_by_the_masker_stream(tmp_path):
    """F5c: nibabel loads a file whose CRC trailer alone is wrong; the streamed read does not."""
    path = write(tmp_path, "crc.nii.gz", _crc(GZ))
    with raises(CorruptImageError, OSError, path, "CRC32"):
        for _ in iter_volume_chunks(path):
            pass


def test_F5d_trailing_garbage_warns_and_keeps_the_data(tmp_path):
    path = write(tmp_path, "trail.nii.gz", GZ + b"garbage!")
    with pytest.warns(NimaskDataWarning, match="8 bytes of trailing data"):
        data = np.asarray(image.load_img(path).dataobj)
    np.testing.assert_array_equal(data, np.asarray(run_img(t=4).dataobj))


def test_F6c_text_error_shows_first_bytes_or_size(tmp_path):
    path = write(tmp_path, "text.nii.gz", gz(b"hello"))
    with raises(CorruptImageError, OSError, path, "5 bytes"):
        image.load_img(path)


def test_F6b_gzip_named_nii_says_so(tmp_path):
    path = write(tmp_path, "gz.nii", GZ)
    with raises(CorruptImageError, OSError, path, "gzip-compressed but named .nii"):
        image.load_img(path)


def test_F7_file_rewritten_during_a_streamed_read(tmp_path):
    """F7: the file changes between two chunks of a read: an error, not a mix of two files."""
    path = str(tmp_path / "run.nii.gz")
    nib.save(run_img(t=12), path)
    chunks = iter_volume_chunks(path, chunk_size=3)
    next(chunks)
    nib.save(run_img(t=12, seed=5), path)  # a concurrent writer replaces the file
    with raises(CorruptImageError, OSError, path, "changed during the read"):
        for _ in chunks:
            pass


def test_F7_concurrent_writer_thread_never_gives_mixed_data(tmp_path):
    """F7 with a real writer thread: each read is either an error or one file's exact data."""
    path = str(tmp_path / "run.nii")
    versions = [run_img(t=6, seed=s) for s in range(2)]
    blobs = [v.to_bytes() for v in versions]
    nib.save(versions[0], path)
    expected = [np.asarray(v.dataobj)[mask_img().get_fdata() > 0].T for v in versions]
    stop = threading.Event()
    writes = []

    def writer():
        k = 0
        while not stop.is_set():
            tmp = path + ".tmp"
            with open(tmp, "wb") as fh:
                fh.write(blobs[k % 2])
            os.replace(tmp, path)
            k += 1
        writes.append(k)

    thread = threading.Thread(target=writer)
    thread.start()
    outcomes = {"ok": 0, "error": 0}
    try:
        for _ in range(30):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    X = NiftiMasker(mask_img()).fit_transform(path)
            except (CorruptImageError, ImageLoadError):
                outcomes["error"] += 1
                continue
            assert any(np.array_equal(X, e) for e in expected), "a read mixed two versions"
            outcomes["ok"] += 1
    finally:
        stop.set()
        thread.join()
    assert sum(outcomes.values()) == 30
    assert writes[0] > 0


def test_F9_file_rewritten_in_place_after_a_cached_run(tmp_path):
    """F9 = L1: see test_reliability_cache.py::test_L1_rewritten_input_is_never_served_stale."""
    from test_reliability_cache import _rewrite_same_size

    path = str(tmp_path / "bold.nii.gz")
    nib.save(run_img(t=5), path)
    masker = NiftiMasker(mask_img(), memory=str(tmp_path / "cache"))
    first = masker.fit_transform(path)
    _rewrite_same_size(path, run_img(t=5, seed=9))
    second = masker.fit_transform(path)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("kind", ["loop", "fifo", "directory"])
def test_F10_not_a_regular_file(tmp_path, kind):
    path = str(tmp_path / f"{kind}.nii")
    if kind == "loop":
        os.symlink(path, path)
    elif kind == "fifo":
        os.mkfifo(path)  # never opened: a read would block forever
    else:
        os.mkdir(path)
    with raises(ImageLoadError, OSError, path):
        image.load_img(path)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads a chmod 000 file")
def test_F10_unreadable_file(tmp_path):
    path = write(tmp_path, "locked.nii", RAW)
    os.chmod(path, 0)
    try:
        with raises(ImageLoadError, OSError, path):
            np.asarray(image.load_img(path).dataobj)
    finally:
        os.chmod(path, 0o600)


def test_F11_pair_with_missing_img(tmp_path):
    hdr = str(tmp_path / "pair.hdr")
    nib.save(nib.Nifti1Pair(np.ones((4, 4, 4), np.float32), np.eye(4)), hdr)
    os.remove(str(tmp_path / "pair.img"))
    with raises(ImageNotFoundError, FileNotFoundError, "pair.img", "pair"):
        image.load_img(hdr)


def test_F12_pattern_matching_nothing_is_file_not_found(tmp_path):
    pattern = str(tmp_path / "sub-*_bold.nii.gz")
    with raises(ImageNotFoundError, FileNotFoundError, pattern):
        NiftiMasker(mask_img()).fit_transform(pattern)


def test_F12_wildcards_off_means_literal_path(tmp_path):
    """With wildcards=False a pattern is a literal (missing) path, never expanded."""
    from nimask._niimg import load_niimg

    nib.save(run_img(t=2), str(tmp_path / "sub-01_bold.nii.gz"))
    pattern = str(tmp_path / "sub-*_bold.nii.gz")
    with raises(ImageNotFoundError, FileNotFoundError, pattern):
        load_niimg(pattern, wildcards=False)


def test_F13_missing_path_is_a_file_not_found_error(tmp_path):
    path = str(tmp_path / "nope.nii.gz")
    with raises(ImageNotFoundError, FileNotFoundError, path):
        NiftiMasker(mask_img()).fit_transform(path)


def test_F14_one_bad_file_in_a_list_is_named(tmp_path):
    good = write(tmp_path, "good.nii.gz", GZ)
    bad = write(tmp_path, "bad.nii.gz", GZ[: len(GZ) // 2])
    masker = MultiNiftiMasker(nib.Nifti1Image(np.ones((7, 8, 9), np.uint8), np.diag([2.0, 2.0, 2.0, 1.0])))
    with raises(CorruptImageError, OSError, bad):
        masker.fit_transform([good, bad])


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_F7_file_rewritten_between_load_and_read(tmp_path, ext):
    """F7: a loaded image whose file is then replaced is not read with the old header."""
    from nimask._nifti_io import gather_masked, load_file

    path = str(tmp_path / f"run{ext}")
    nib.save(run_img(t=4), path)
    img = load_file(path)
    nib.save(run_img(t=6, seed=2), path)  # another shape: the old header would misread it
    with raises(CorruptImageError, OSError, path, "changed after its header was read"):
        gather_masked(img, np.asarray(mask_img().dataobj) > 0)
    fresh = load_file(path)
    assert gather_masked(fresh, np.asarray(mask_img().dataobj) > 0).shape == (6, 64)
