"""Small synthetic EPI-like images for the masking tests (distinct axis lengths)."""
from __future__ import annotations

import nibabel as nib
import numpy as np

AFFINE_ANISO = np.array([[2.0, 0, 0, -10], [0, 2.5, 0, 5], [0, 0, 3.0, 3], [0, 0, 0, 1]])


def brain_data(shape=(13, 14, 15, 6), seed=0, noise=0.15, background=0.0):
    """An ellipsoid 'brain' (intensity ~1 with a smooth gradient) in a noisy background."""
    rng = np.random.default_rng(seed)
    nx, ny, nz = shape[:3]
    x, y, z = np.meshgrid(
        np.linspace(-1, 1, nx), np.linspace(-1, 1, ny), np.linspace(-1, 1, nz), indexing="ij"
    )
    c = rng.uniform(-0.15, 0.15, 3)
    r = ((x - c[0]) / 0.7) ** 2 + ((y - c[1]) / 0.75) ** 2 + ((z - c[2]) / 0.65) ** 2
    vol = np.where(r < 1, 1.0 + 0.3 * x - 0.2 * z, 0.05 + background)
    if len(shape) == 3:
        return vol + noise * rng.standard_normal(shape)
    return vol[..., None] + noise * rng.standard_normal(shape)


def brain_img(shape=(13, 14, 15, 6), dtype=np.float32, affine=None, seed=0, scale=1000.0, **kw):
    data = brain_data(shape, seed=seed, **kw) * scale
    if np.dtype(dtype).kind in "iu":
        low = 0 if np.dtype(dtype).kind == "u" else -30000
        high = 30000 if np.dtype(dtype).itemsize > 1 else 255
        data = np.rint(np.clip(data, low, high))
    return nib.Nifti1Image(data.astype(dtype), AFFINE_ANISO if affine is None else affine)


def mask_equal(nimask_img, nilearn_img) -> None:
    """Voxel-for-voxel equality, same array dtype, same header dtype and affine."""
    a = np.asanyarray(nimask_img.dataobj)
    b = np.asanyarray(nilearn_img.dataobj)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert nimask_img.get_data_dtype() == nilearn_img.get_data_dtype()
    n_diff = int(np.count_nonzero(a != b))
    assert n_diff == 0, f"{n_diff} voxels differ (nilearn mask has {int(b.sum())} voxels)"
    np.testing.assert_allclose(nimask_img.affine, nilearn_img.affine, rtol=1e-12, atol=1e-12)
