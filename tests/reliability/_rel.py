"""Builders for the bad-input catalogue (small NIfTI files and byte patches) and error checks."""
from __future__ import annotations

import contextlib
import gzip
import struct
import warnings

import nibabel as nib
import numpy as np
import pytest

from nimask.exceptions import NimaskError

SHAPE = (7, 8, 9)
T = 30
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
HDR = 352  # vox_offset of a NIfTI-1 single file without extensions


def run_img(t: int = T, seed: int = 0, dtype=np.float32, offset: float = 100.0) -> nib.Nifti1Image:
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image((rng.standard_normal(SHAPE + (t,)) + offset).astype(dtype), AFFINE)


def mask_img(value=1, dtype=np.float32) -> nib.Nifti1Image:
    data = np.zeros(SHAPE, dtype)
    data[1:5, 2:6, 3:7] = value
    return nib.Nifti1Image(data, AFFINE)


def mask_bool() -> np.ndarray:
    return np.asarray(mask_img().dataobj) != 0


def labels_img(dtype=np.int16) -> nib.Nifti1Image:
    data = np.zeros(SHAPE, dtype)
    data[1:3, 2:6, 3:7] = 1
    data[3:5, 2:6, 3:7] = 2
    data[5:7, 2:6, 3:7] = 3
    return nib.Nifti1Image(data, AFFINE)


def maps_img() -> nib.Nifti1Image:
    lab = np.asarray(labels_img().dataobj)
    return nib.Nifti1Image(np.stack([lab == k for k in (1, 2, 3)], axis=-1).astype(np.float32), AFFINE)


def nifti_bytes(img=None) -> bytearray:
    """Uncompressed single-file NIfTI bytes of ``img`` (default: a small 4D float32 run)."""
    img = run_img(t=4) if img is None else img
    return bytearray(img.to_bytes())


def patch(raw: bytes, fmt: str, offset: int, value) -> bytearray:
    out = bytearray(raw)
    struct.pack_into("<" + fmt, out, offset, value)
    return out


def write(tmp_path, name: str, raw: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(bytes(raw))
    return str(path)


def gz(raw: bytes) -> bytearray:
    return bytearray(gzip.compress(bytes(raw), mtime=0))


@contextlib.contextmanager
def raises(cls, builtin, *needles):
    """``pytest.raises(cls)`` that also checks the family, the builtin and the message parts."""
    with pytest.raises(cls) as info:
        yield info
    exc = info.value
    assert isinstance(exc, NimaskError), f"{type(exc).__name__} is not a NimaskError"
    assert isinstance(exc, builtin), f"{type(exc).__name__} is not a {builtin.__name__}"
    for needle in needles:
        assert str(needle) in str(exc), f"{needle!r} not in {str(exc)!r}"


def quiet(func, *args, **kwargs):
    """Call ``func`` with FutureWarnings (nilearn's standardize deprecation) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return func(*args, **kwargs)
