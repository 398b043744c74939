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

__all__ = ["make_sample_data", "write_sample_data", "write_bids_derivatives"]

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


def _fmriprep_confounds(motion: np.ndarray, func_data: np.ndarray, brain: np.ndarray,
                        rng: np.random.Generator, n_spikes: int = 2):
    """An fMRIPrep-like confounds table (motion 24, WM/CSF/global with derivatives, FD)."""
    import pandas as pd

    n = motion.shape[0]
    motion = motion.copy()
    motion[:, 3:] *= 0.05  # rotations in radians are small
    flat = func_data.reshape(-1, n)
    inside = brain.ravel()
    series = {
        "global_signal": flat[inside].mean(0),
        "white_matter": flat[inside][::3].mean(0) + rng.standard_normal(n),
        "csf": flat[~inside].mean(0) + rng.standard_normal(n),
    }
    cols: dict[str, np.ndarray] = {}
    for name, values in [*zip(_MOTION, motion.T, strict=True), *series.items()]:
        deriv = np.concatenate([[np.nan], np.diff(values)])
        cols[name] = values
        cols[name + "_derivative1"] = deriv
        cols[name + "_power2"] = values**2
        cols[name + "_derivative1_power2"] = deriv**2
    d = np.abs(np.diff(motion, axis=0))
    fd = d[:, :3].sum(1) + 50.0 * d[:, 3:].sum(1)
    spikes = rng.choice(np.arange(1, n), size=min(n_spikes, n - 1), replace=False)
    fd[spikes - 1] = 0.8 + rng.random(spikes.size)
    cols["framewise_displacement"] = np.concatenate([[np.nan], fd])
    cols["std_dvars"] = np.concatenate([[np.nan], 1.0 + 0.1 * rng.standard_normal(n - 1)])
    return pd.DataFrame(cols)


def write_bids_derivatives(
    directory: str | os.PathLike,
    subjects: tuple[str, ...] = ("01", "02"),
    sessions: tuple[str | None, ...] = (None,),
    runs: tuple[int | None, ...] = (None,),
    shape: tuple[int, int, int] = (10, 12, 10),
    n_volumes: int = 40,
    n_regions: int = 6,
    space: str = "MNI152NLin2009cAsym",
    t_r: float = 2.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Write a small synthetic fMRIPrep derivatives tree, with atlases to extract from it.

    Every subject x session x run gets a ``desc-preproc_bold.nii.gz`` (int16 and float32
    alternate), its ``desc-brain_mask``, a JSON sidecar with ``RepetitionTime`` and a
    ``desc-confounds_timeseries.tsv`` with fMRIPrep's columns (``n/a`` in the first row of
    derivatives and of ``framewise_displacement``, a few motion spikes). The atlases go to
    ``directory/atlases``: a labels atlas with its LUT (``atlas-sample_dseg``), probabilistic
    maps (``atlas-sampleprob_probseg``) and sphere coordinates (``spheres.tsv``).

    Returns
    -------
    dict
        ``root`` (the derivatives folder), ``runs`` (list of bold paths), ``labels``, ``lut``,
        ``maps``, ``maps_lut``, ``spheres`` (paths).
    """
    import json

    import pandas as pd

    root = Path(directory)
    deriv = root / "fmriprep"
    atlas_dir = root / "atlases"
    atlas_dir.mkdir(parents=True, exist_ok=True)
    ref = make_sample_data(shape=shape, n_volumes=2, n_regions=n_regions, seed=seed)
    paths: dict[str, Any] = {
        "root": deriv,
        "labels": atlas_dir / "atlas-sample_dseg.nii.gz",
        "lut": atlas_dir / "atlas-sample_dseg.tsv",
        "maps": atlas_dir / "atlas-sampleprob_probseg.nii.gz",
        "maps_lut": atlas_dir / "atlas-sampleprob_probseg.tsv",
        "spheres": atlas_dir / "spheres.tsv",
        "runs": [],
    }
    nib.save(ref["labels"], paths["labels"])
    nib.save(ref["maps"], paths["maps"])
    names = ref["label_names"]
    pd.DataFrame({"index": np.arange(1, n_regions + 1), "name": names}).to_csv(paths["lut"], sep="\t", index=False)
    pd.DataFrame({"index": np.arange(n_regions), "name": [f"map{n}" for n in names]}).to_csv(
        paths["maps_lut"], sep="\t", index=False)
    centres = [nib.affines.apply_affine(ref["labels"].affine, np.argwhere(np.asarray(ref["labels"].dataobj) == r + 1)
                                        .mean(0)) for r in range(min(3, n_regions))]
    pd.DataFrame({"name": [f"seed{i}" for i in range(len(centres))], "x": [c[0] for c in centres],
                  "y": [c[1] for c in centres], "z": [c[2] for c in centres]}).to_csv(paths["spheres"], sep="\t",
                                                                                     index=False)
    (deriv).mkdir(parents=True, exist_ok=True)
    (deriv / "dataset_description.json").write_text(json.dumps(
        {"Name": "nimask synthetic fMRIPrep", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
         "GeneratedBy": [{"Name": "nimask.datasets"}]}, indent=1))
    k = 0
    for sub in subjects:
        for ses in sessions:
            for run in runs:
                dtype = np.int16 if k % 2 == 0 else np.float32
                data = make_sample_data(shape=shape, n_volumes=n_volumes, n_regions=n_regions, t_r=t_r,
                                        dtype=dtype, seed=seed + 1 + k)
                rng = np.random.default_rng(seed + 1000 + k)
                ents = [f"sub-{sub}"] + ([f"ses-{ses}"] if ses is not None else []) + ["task-rest"] + \
                       ([f"run-{run}"] if run is not None else [])
                folder = deriv / f"sub-{sub}" / (f"ses-{ses}" if ses is not None else "") / "func"
                folder.mkdir(parents=True, exist_ok=True)
                stem = "_".join(ents + [f"space-{space}"])
                bold = folder / f"{stem}_desc-preproc_bold.nii.gz"
                nib.save(data["func"], bold)
                nib.save(data["mask"], folder / f"{stem}_desc-brain_mask.nii.gz")
                (folder / f"{stem}_desc-preproc_bold.json").write_text(json.dumps({"RepetitionTime": t_r}))
                motion = np.nan_to_num(data["confounds"][_MOTION].to_numpy())
                func = np.asarray(data["func"].dataobj, dtype=np.float64)
                table = _fmriprep_confounds(motion, func, np.asarray(data["mask"].dataobj) > 0, rng)
                table.to_csv(folder / ("_".join(ents) + "_desc-confounds_timeseries.tsv"), sep="\t", index=False,
                             na_rep="n/a")
                paths["runs"].append(bold)
                k += 1
    return paths
