"""Built-in synthetic sample data, generated on the fly (no downloads).

The demo and the tests use it: a small 4D "BOLD" run with a brain-shaped ellipsoid, a brain
mask, a labels atlas, probabilistic maps, and fMRIPrep-style confounds whose first derivative
row is ``n/a``. Everything is deterministic for a given ``seed``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

__all__ = ["make_sample_data", "write_sample_data"]

_MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]


def _ellipsoid(shape: tuple[int, int, int], fill: float = 0.8) -> np.ndarray:
    grids = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    r2 = sum((g / fill) ** 2 for g in grids)
    return r2 <= 1.0


def _labels_in(brain: np.ndarray, n_regions: int, rng: np.random.Generator) -> np.ndarray:
    """Partition the brain into ``n_regions`` compact regions (nearest of random centres)."""
    coords = np.argwhere(brain)
    centres = coords[rng.choice(len(coords), n_regions, replace=False)].astype(float)
    d2 = ((coords[:, None, :] - centres[None, :, :]) ** 2).sum(-1)
    labels = np.zeros(brain.shape, dtype=np.int16)
    labels[tuple(coords.T)] = d2.argmin(1) + 1
    return labels


def make_sample_data(
    shape: tuple[int, int, int] = (40, 48, 38),
    n_volumes: int = 120,
    n_regions: int = 12,
    t_r: float = 2.0,
    voxel_size: float = 3.0,
    dtype: Any = np.int16,
    seed: int = 0,
) -> dict[str, Any]:
    """Make a synthetic fMRI run with its mask, atlases and confounds.

    Parameters
    ----------
    shape : tuple of 3 ints
        Spatial shape of the run.
    n_volumes : int
        Number of time points.
    n_regions : int
        Number of regions in the labels atlas and of probabilistic maps.
    t_r : float
        Repetition time in seconds (stored in the header's 4th zoom).
    voxel_size : float
        Isotropic voxel size in mm.
    dtype : numpy dtype
        Stored dtype of the run (``int16`` like most scanners, or ``float32``).
    seed : int
        Seed of the random generator; the same seed gives the same data.

    Returns
    -------
    dict
        ``func`` (4D Nifti1Image), ``mask`` (3D uint8 image), ``labels`` (3D int16 atlas, 0 is
        background), ``label_names`` (list of str), ``maps`` (4D float32 probabilistic maps),
        ``confounds`` (pandas DataFrame, fMRIPrep column names, first derivative row NaN),
        ``region_signals`` (the true (T, n_regions) signals) and ``t_r``.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    affine = np.diag([voxel_size, voxel_size, voxel_size, 1.0])
    affine[:3, 3] = -np.array(shape) * voxel_size / 2
    brain = _ellipsoid(shape)
    labels = _labels_in(brain, n_regions, rng)

    n_lat = 4
    latent = np.cumsum(rng.standard_normal((n_volumes, n_lat)), axis=0)
    latent = (latent - latent.mean(0)) / (latent.std(0) + 1e-6)
    region_signals = latent @ rng.standard_normal((n_lat, n_regions))
    motion = np.cumsum(rng.standard_normal((n_volumes, 6)) * 0.02, axis=0)
    motion_load = rng.standard_normal(shape) * brain

    base = np.where(brain, 800.0, 30.0)
    drift = np.linspace(0.0, 0.01, n_volumes)
    data = np.empty(shape + (n_volumes,), dtype=np.float32)
    in_reg = labels > 0
    reg_idx = labels[in_reg] - 1
    for t in range(n_volumes):
        vol = base * (1 + drift[t]) + rng.standard_normal(shape) * np.where(brain, 10.0, 3.0)
        vol[in_reg] += 8.0 * region_signals[t, reg_idx]
        vol += 6.0 * motion[t, 0] * motion_load
        data[..., t] = vol
    if np.dtype(dtype).kind in "iu":
        data = np.clip(np.rint(data), 0, np.iinfo(dtype).max)
    func = nib.Nifti1Image(data.astype(dtype), affine)
    func.header.set_xyzt_units("mm", "sec")
    func.header.set_zooms((voxel_size,) * 3 + (t_r,))

    # probabilistic maps: smooth blobs centred on the label regions
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    maps = np.zeros(shape + (n_regions,), dtype=np.float32)
    for r in range(n_regions):
        centre = np.argwhere(labels == r + 1).mean(0)
        d2 = ((grid - centre) ** 2).sum(-1)
        blob = np.exp(-d2 / (2 * 3.0**2))
        blob[blob < 0.05] = 0
        maps[..., r] = blob * brain

    deriv = np.vstack([np.full((1, 6), np.nan), np.diff(motion, axis=0)])
    confounds = pd.DataFrame(
        np.hstack([motion, deriv]), columns=_MOTION + [m + "_derivative1" for m in _MOTION]
    )
    return {
        "func": func,
        "mask": nib.Nifti1Image(brain.astype(np.uint8), affine),
        "labels": nib.Nifti1Image(labels, affine),
        "label_names": [f"region{r + 1:02d}" for r in range(n_regions)],
        "maps": nib.Nifti1Image(maps, affine),
        "confounds": confounds,
        "region_signals": region_signals,
        "t_r": t_r,
    }


def write_sample_data(directory: str | os.PathLike, **kwargs: Any) -> dict[str, Path]:
    """Write :func:`make_sample_data` to ``directory`` as NIfTI/TSV files; return their paths.

    The confounds TSV is written the way fMRIPrep writes it (tab-separated, header row,
    ``n/a`` for missing values).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = make_sample_data(**kwargs)
    paths = {
        "func": directory / "sub-01_task-rest_desc-preproc_bold.nii.gz",
        "mask": directory / "sub-01_task-rest_desc-brain_mask.nii.gz",
        "labels": directory / "atlas-sample_dseg.nii.gz",
        "maps": directory / "atlas-sample_probseg.nii.gz",
        "confounds": directory / "sub-01_task-rest_desc-confounds_timeseries.tsv",
        "lut": directory / "atlas-sample_dseg.tsv",
    }
    for key in ("func", "mask", "labels", "maps"):
        nib.save(data[key], paths[key])
    data["confounds"].to_csv(paths["confounds"], sep="\t", index=False, na_rep="n/a")
    with open(paths["lut"], "w") as f:
        f.write("index\tname\n")
        for i, name in enumerate(data["label_names"], start=1):
            f.write(f"{i}\t{name}\n")
    return paths
