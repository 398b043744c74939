"""Small helpers shared by the test modules (tiny synthetic images, oracle comparisons)."""
from __future__ import annotations

import os

import nibabel as nib
import numpy as np

RTOL_DEFAULT = 1e-6  # default (float64) mode must match nilearn to this relative error
RTOL_FLOAT32 = 1e-4  # opt-in float32 mode


def max_rel_err(actual, expected) -> float:
    """Max |a - e| / max(|e|) over the array (0 for two empty arrays)."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    if e.size == 0:
        return 0.0
    scale = max(np.max(np.abs(e)), np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - e)) / scale)


def assert_oracle(actual, expected, rtol: float = RTOL_DEFAULT) -> None:
    """Assert nimask's result equals nilearn's within ``rtol`` relative error (scaled by max |e|)."""
    a = np.asarray(actual)
    e = np.asarray(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e))
    err = max_rel_err(np.nan_to_num(a), np.nan_to_num(e))
    assert err <= rtol, f"max relative error {err:.3g} > {rtol:.1g}"


def float64_copy(img):
    """The float64 copy of an image or image file (or of each image of a list)."""
    if isinstance(img, (list, tuple)):
        return [float64_copy(i) for i in img]
    if isinstance(img, (str, os.PathLike)):
        img = nib.load(img)
    return nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float64), img.affine)


def assert_float64_oracle(actual, expected, expected_f64, rtol: float = RTOL_DEFAULT) -> None:
    """The oracle where nimask computes in float64 and nilearn does not (catalogue D12).

    ``expected`` is nilearn's result on the image, ``expected_f64`` nilearn's on its float64
    copy. nimask's result has nilearn's dtype, is within ``rtol`` of ``expected_f64`` and no
    farther from it than ``expected`` is (up to the rounding of a float32 output).
    """
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.dtype == e.dtype, f"dtype {a.dtype} != nilearn's {e.dtype}"
    assert_oracle(a, expected_f64, rtol)
    ours = max_rel_err(np.nan_to_num(a), np.nan_to_num(expected_f64))
    theirs = max_rel_err(np.nan_to_num(e), np.nan_to_num(expected_f64))
    assert ours <= max(theirs, 2 * np.finfo(np.float32).eps), f"nimask {ours:.3g} > nilearn {theirs:.3g} from float64"


def random_img(shape=(7, 8, 9, 5), dtype=np.float32, affine=None, seed=0, scale=100.0):
    """A random image with distinct axis lengths (int dtypes get a positive range)."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal(shape) * scale
    if np.dtype(dtype).kind in "iu":
        data = np.abs(data) if np.dtype(dtype).kind == "u" else data
        data = np.rint(data)
    if affine is None:
        affine = np.diag([2.0, 2.5, 3.0, 1.0])
        affine[:3, 3] = [-10, 5, 3]
    return nib.Nifti1Image(data.astype(dtype), affine)


def oblique_affine(seed=0):
    """A rotated, anisotropic affine."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    aff = np.eye(4)
    aff[:3, :3] = q @ np.diag([2.0, 2.5, 3.0])
    aff[:3, 3] = rng.uniform(-20, 20, 3)
    return aff


def apply_op(op, data: np.ndarray, chunk_size: int | None = None) -> np.ndarray:
    """An operator's signals of an in-memory ``(x, y, z, n)`` array, through nimask.pipeline.stream
    (an operator prepared without an affine is given the identity)."""
    from nimask.pipeline import stream

    if op.affine is None:
        op.affine = np.eye(4)
    return stream(nib.Nifti1Image(data, op.affine), [op], chunk_size=chunk_size)[0]
