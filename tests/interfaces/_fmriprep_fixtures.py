"""fMRIPrep-format derivatives made at test time: confounds TSV + JSON, tiny BOLD images.

Nothing is downloaded: every value comes from a seeded generator, so a call with the same
arguments writes the same bytes. The layout is what fMRIPrep 23+ writes::

    <root>/sub-01/func/sub-01_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz  (+ .json: TR)
    <root>/sub-01/func/sub-01_task-rest_space-MNI152NLin2009cAsym_desc-brain_mask.nii.gz
    <root>/sub-01/func/sub-01_task-rest_space-MNI152NLin2009cAsym_desc-smoothAROMAnonaggr_bold.nii.gz
    <root>/sub-01/func/sub-01_task-rest_desc-confounds_timeseries.tsv
    <root>/sub-01/func/sub-01_task-rest_desc-confounds_timeseries.json

Use :func:`make_fmriprep_derivatives` for the standard set of runs (one per situation a
confounds loader or the batch command has to face, see :data:`RUNS`), or
:func:`confounds_frame` / :func:`write_run` for one run with chosen options.

The confounds columns (fMRIPrep 23+ names, in fMRIPrep's order):

* ``global_signal``, ``csf``, ``white_matter`` and their ``_derivative1``, ``_power2``,
  ``_derivative1_power2`` expansions, ``csf_wm``, ``tcompcor``;
* ``std_dvars``, ``dvars``, ``framewise_displacement``, ``rmsd`` (``n/a`` first row);
* ``t_comp_cor_NN``, ``c_comp_cor_NN``, ``w_comp_cor_NN``, ``a_comp_cor_NN``, described in
  the JSON sidecar (``Method``, ``Mask``, ``Retained``, ``CumulativeVarianceExplained``, ...),
  which also lists ``dropped_N`` components (``Retained: false``) that are not in the TSV;
* ``cosineNN`` (discrete cosine basis), ``non_steady_state_outlierNN`` (one-hot);
* ``trans_x`` .. ``rot_z`` and their expansions, ``motion_outlierNN`` (one-hot, FD > 0.5 mm
  or standardised DVARS > 1.5, as fMRIPrep flags them);
* ``aroma_motion_NN`` (the ICA-AROMA noise components, fMRIPrep < 24 with ``--use-aroma``).

ICA-AROMA needs nothing else: nilearn 0.14.1 reads the noise components from the
``aroma_motion_NN`` columns (``ica_aroma="basic"``) and, for ``ica_aroma="full"``, only the
name of the ``desc-smoothAROMAnonaggr`` image; the MELODIC mixing matrix and the noise-IC list
are not read, so they are not written.

Derivative columns are the backward difference (``n/a`` in the first row) and ``_power2``
columns the square, so the table is internally consistent; framewise displacement is
Power's (translations + 50 mm x rotations), computed from the motion columns.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "FAMILIES",
    "RUNS",
    "FmriprepRun",
    "confounds_frame",
    "make_fmriprep_derivatives",
    "write_run",
    "write_tedana_run",
]

MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
SPACE = "MNI152NLin2009cAsym"
FAMILIES = (
    "global_signal", "csf", "white_matter", "motion", "compcor", "cosine",
    "non_steady_state", "motion_outlier", "aroma", "scrub_metrics",
)


def _expansions(base: str, values: np.ndarray, order: str = "dpq") -> dict[str, np.ndarray]:
    """``base`` with its fMRIPrep expansions; ``order`` of d(erivative1), p(ower2), q(derivative1_power2)."""
    deriv = np.concatenate([[np.nan], np.diff(values)])
    extra = {"d": (f"{base}_derivative1", deriv), "p": (f"{base}_power2", values ** 2),
             "q": (f"{base}_derivative1_power2", deriv ** 2)}
    out = {base: values}
    for key in order:
        name, col = extra[key]
        out[name] = col
    return out


def _unit_columns(rng: np.random.Generator, n_volumes: int, k: int) -> np.ndarray:
    """``k`` orthonormal, zero-mean columns (what CompCor components look like)."""
    x = rng.normal(size=(n_volumes, k))
    x -= x.mean(axis=0)
    q, _ = np.linalg.qr(x)
    return q[:, :k]


def _compcor_meta(sets: list[tuple[list[str], str, str | None, int]],
                  rng: np.random.Generator) -> dict[str, dict[str, Any]]:
    """JSON entries of CompCor components: (retained names, method, mask, number dropped) per set.

    The components not retained are listed as ``dropped_N`` (numbered across the sets), as
    fMRIPrep does; they have no column in the TSV.
    """
    meta: dict[str, dict[str, Any]] = {}
    dropped = 0
    for names, method, mask, n_dropped in sets:
        n = len(names) + n_dropped
        var = np.sort(rng.uniform(0.02, 0.25, n))[::-1]
        var = var / var.sum() * 0.9
        cum = np.cumsum(var)
        for i in range(n):
            entry: dict[str, Any] = {
                "CumulativeVarianceExplained": round(float(cum[i]), 10),
                "Method": method,
                "Retained": i < len(names),
                "SingularValue": round(float(200 * np.sqrt(var[i])), 10),
                "VarianceExplained": round(float(var[i]), 10),
            }
            if mask is not None:
                entry["Mask"] = mask
            if i < len(names):
                meta[names[i]] = entry
            else:
                meta[f"dropped_{dropped}"] = entry
                dropped += 1
    return meta


def confounds_frame(
    n_volumes: int = 40,
    *,
    seed: int = 0,
    n_non_steady: int = 2,
    fd_spikes: tuple[int, ...] = (9, 12, 27),
    dvars_spikes: tuple[int, ...] = (20,),
    n_compcor: dict[str, tuple[int, int]] | None = None,
    n_cosine: int = 3,
    aroma_ids: tuple[int, ...] = (2, 5, 11, 17),
    omit: tuple[str, ...] = (),
    drop_columns: tuple[str, ...] = (),
    legacy_compcor: bool = False,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One run's fMRIPrep confounds table and its JSON sidecar content.

    Parameters
    ----------
    n_volumes : int
        Rows of the table.
    seed : int
        Seed of every random value.
    n_non_steady : int
        Leading volumes flagged by ``non_steady_state_outlierNN`` columns.
    fd_spikes, dvars_spikes : tuple of int
        Volumes given a framewise displacement above 0.5 mm (a head jump) / a standardised
        DVARS above 1.5.
    n_compcor : dict
        ``{"a": (retained, dropped), "c": ..., "w": ..., "t": ...}``: CompCor components kept in
        the TSV and listed as ``dropped_N`` in the JSON, per kind (a: combined mask, c: CSF,
        w: WM, t: temporal).
    n_cosine : int
        Discrete cosine regressors.
    aroma_ids : tuple of int
        Numbers of the ``aroma_motion_NN`` columns.
    omit : tuple of str
        Families (:data:`FAMILIES`) left out of the table (and of the JSON).
    drop_columns : tuple of str
        Single columns left out.
    legacy_compcor : bool
        Name every anatomical component ``a_comp_cor_NN`` (combined, then CSF, then WM, told
        apart only by the JSON ``Mask``), as fMRIPrep 1.4 - 20.1 did.

    Returns
    -------
    frame : DataFrame
    meta : dict
        The JSON sidecar.
    """
    rng = np.random.default_rng(seed)
    t = n_volumes
    fd_spikes = tuple(s for s in fd_spikes if 0 < s < t)  # spikes past the end of a short run are left out
    dvars_spikes = tuple(s for s in dvars_spikes if 0 < s < t)
    if n_compcor is None:
        n_compcor = {"t": (3, 2), "c": (3, 4), "w": (4, 3), "a": (5, 6)}
    cols: dict[str, np.ndarray] = {}
    meta: dict[str, dict[str, Any]] = {}

    # motion: random walks, with jumps at the FD spikes
    trans = np.cumsum(rng.normal(0, 0.02, (t, 3)), axis=0)
    rot = np.cumsum(rng.normal(0, 0.0003, (t, 3)), axis=0)
    for s in fd_spikes:
        trans[s:] += rng.choice([-1, 1], 3) * rng.uniform(0.25, 0.4, 3)
    motion = np.hstack([trans, rot])
    fd = np.concatenate([[np.nan], np.abs(np.diff(trans, axis=0)).sum(1) + 50 * np.abs(np.diff(rot, axis=0)).sum(1)])
    std_dvars = np.concatenate([[np.nan], 1.0 + rng.normal(0, 0.12, t - 1)])
    std_dvars[1:] = np.clip(std_dvars[1:], 0.6, 1.45)
    for s in dvars_spikes:
        std_dvars[s] = rng.uniform(1.7, 2.4)

    if "global_signal" not in omit:
        cols.update(_expansions("global_signal", 550 + np.cumsum(rng.normal(0, 1.5, t)), "dpq"))
        meta["global_signal"] = {"Method": "Mean"}
    if "csf" not in omit:
        cols.update(_expansions("csf", 650 + np.cumsum(rng.normal(0, 3.0, t)), "dpq"))
        meta["csf"] = {"Method": "Mean"}
    if "white_matter" not in omit:
        cols.update(_expansions("white_matter", 580 + np.cumsum(rng.normal(0, 0.8, t)), "dqp"))
        meta["white_matter"] = {"Method": "Mean"}
    if "csf" not in omit and "white_matter" not in omit:
        cols["csf_wm"] = 600 + rng.normal(0, 2.0, t)
    cols["tcompcor"] = 700 + rng.normal(0, 4.0, t)
    if "scrub_metrics" not in omit:
        cols["std_dvars"] = std_dvars
        cols["dvars"] = std_dvars * 25.0
        cols["framewise_displacement"] = fd
        cols["rmsd"] = np.concatenate([[np.nan], np.abs(rng.normal(0.05, 0.02, t - 1))])
    if "compcor" not in omit:
        kinds = (("t", "tCompCor", None), ("c", "aCompCor", "CSF"), ("w", "aCompCor", "WM"),
                 ("a", "aCompCor", "combined"))
        if legacy_compcor:  # t, then a_comp_cor_ numbered on through combined, CSF, WM
            kinds = (kinds[0], kinds[3], kinds[1], kinds[2])
        sets = []
        a_start = 0
        for kind, method, mask in kinds:
            n_ret, n_drop = n_compcor[kind]
            if legacy_compcor and kind != "t":
                names = [f"a_comp_cor_{a_start + i:02d}" for i in range(n_ret)]
                a_start += n_ret
            else:
                names = [f"{kind}_comp_cor_{i:02d}" for i in range(n_ret)]
            sets.append((names, method, mask, n_drop))
        comp_meta = _compcor_meta(sets, rng)
        meta.update(comp_meta)
        names = [n for n in comp_meta if not n.startswith("dropped_")]
        values = _unit_columns(rng, t, len(names))
        for j, name in enumerate(names):
            cols[name] = values[:, j]
    if "cosine" not in omit:
        k = np.arange(1, n_cosine + 1)
        basis = np.sqrt(2.0 / t) * np.cos(np.pi * (2 * np.arange(t)[:, None] + 1) * k / (2 * t))
        for j in range(n_cosine):
            cols[f"cosine{j:02d}"] = basis[:, j]
            meta[f"cosine{j:02d}"] = {"Cutoff": 128, "Method": "Discrete Cosine Transform"}
    if "non_steady_state" not in omit:
        for j in range(n_non_steady):
            cols[f"non_steady_state_outlier{j:02d}"] = np.eye(t)[:, j]
    if "motion" not in omit:
        for j, name in enumerate(MOTION):
            cols.update(_expansions(name, motion[:, j], "dpq" if j % 2 == 0 else "dqp"))
    if "motion_outlier" not in omit and "scrub_metrics" not in omit:
        flagged = np.flatnonzero((np.nan_to_num(fd) > 0.5) | (np.nan_to_num(std_dvars) > 1.5))
        for j, v in enumerate(flagged):
            cols[f"motion_outlier{j:02d}"] = np.eye(t)[:, v]
    if "aroma" not in omit:
        for j in aroma_ids:
            cols[f"aroma_motion_{j:02d}"] = rng.normal(0, 1, t)
    for name in drop_columns:
        cols.pop(name, None)
        meta.pop(name, None)
    frame = pd.DataFrame(cols)
    for c in frame.columns:  # one-hot flags are written as integers by fMRIPrep
        if c.startswith(("non_steady_state_outlier", "motion_outlier")):
            frame[c] = frame[c].astype(np.int64)
    return frame, meta


@dataclass(frozen=True)
class FmriprepRun:
    """The files of one fMRIPrep run (absolute paths; ``None`` when the run has none)."""

    name: str
    img: str
    confounds_tsv: str | None
    confounds_json: str | None
    aroma_img: str | None
    n_volumes: int
    options: dict = field(default_factory=dict, compare=False, hash=False)
    mask_img: str | None = None  # the run's desc-brain_mask (NIfTI runs)
    bold_json: str | None = None  # the image's sidecar, with RepetitionTime (NIfTI runs)

    @property
    def folder(self) -> str:
        return os.path.dirname(self.img)


TR = 2.0


def _write_img(path: Path, n_volumes: int, seed: int, shape: tuple[int, int, int]) -> None:
    import nibabel as nib

    rng = np.random.default_rng(seed)
    data = (100 + 10 * rng.standard_normal((*shape, n_volumes))).astype(np.float32)
    img = nib.Nifti1Image(data, np.diag([3.0, 3.0, 3.0, 1.0]))
    img.header.set_zooms((3.0, 3.0, 3.0, TR))
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(path))


def _write_mask(path: Path, shape: tuple[int, int, int]) -> None:
    import nibabel as nib

    mask = np.zeros(shape, dtype=np.uint8)
    mask[1:-1, 1:-1, :] = 1
    nib.save(nib.Nifti1Image(mask, np.diag([3.0, 3.0, 3.0, 1.0])), str(path))


def write_run(
    folder: str | os.PathLike,
    stem: str,
    *,
    space_entities: str = f"space-{SPACE}",
    n_volumes: int = 40,
    seed: int = 0,
    image: str = "nifti",
    aroma_img: bool = True,
    write_json: bool = True,
    write_tsv: bool = True,
    shape: tuple[int, int, int] = (4, 4, 3),
    name: str | None = None,
    **frame_options: Any,
) -> FmriprepRun:
    """Write one run's files under ``folder`` and describe them.

    Parameters
    ----------
    folder : path
        The ``func`` folder (created).
    stem : str
        Entities without the spatial ones, e.g. ``"sub-01_task-rest"``; the confounds files
        are ``<stem>_desc-confounds_timeseries.tsv/.json``.
    space_entities : str
        Spatial entities of the image name (``space-X[_res-Y]``, or ``""``).
    image : {"nifti", "cifti", "gifti"}
        The preprocessed image: a tiny 4D NIfTI, or an empty ``.dtseries.nii`` /
        a pair of empty ``hemi-L/R ... .func.gii`` files (their name is all a confounds
        loader reads).
    aroma_img : bool
        Also write ``..._desc-smoothAROMAnonaggr_bold.nii.gz`` (NIfTI runs only).
    write_json, write_tsv : bool
        Leave out the sidecar / the table.
    **frame_options
        Passed to :func:`confounds_frame`.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    space = f"_{space_entities}" if space_entities else ""
    aroma = mask = bold_json = None
    if image == "nifti":
        img = folder / f"{stem}{space}_desc-preproc_bold.nii.gz"
        _write_img(img, n_volumes, seed + 1000, shape)
        mask = folder / f"{stem}{space}_desc-brain_mask.nii.gz"
        _write_mask(mask, shape)
        bold_json = folder / f"{stem}{space}_desc-preproc_bold.json"
        bold_json.write_text(json.dumps({"RepetitionTime": TR, "SkullStripped": False}, indent=2), encoding="utf-8")
        if aroma_img:
            aroma = folder / f"{stem}{space}_desc-smoothAROMAnonaggr_bold.nii.gz"
            _write_img(aroma, n_volumes, seed + 2000, shape)
    elif image == "cifti":
        img = folder / f"{stem}{space}_bold.dtseries.nii"
        img.touch()
    elif image == "gifti":
        pair = [folder / f"{stem}_hemi-{h}{space}_bold.func.gii" for h in ("L", "R")]
        for p in pair:
            p.touch()
        img = pair[0]
    else:
        raise ValueError(f"image must be 'nifti', 'cifti' or 'gifti', not {image!r}")
    frame, meta = confounds_frame(n_volumes, seed=seed, **frame_options)
    tsv = folder / f"{stem}_desc-confounds_timeseries.tsv"
    js = folder / f"{stem}_desc-confounds_timeseries.json"
    if write_tsv:
        frame.to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    if write_json:
        js.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    options = dict(frame_options, image=image)
    if image == "gifti":
        options["pair"] = [str(p) for p in pair]
    return FmriprepRun(
        name=name or stem,
        img=str(img),
        confounds_tsv=str(tsv) if write_tsv else None,
        confounds_json=str(js) if write_json else None,
        aroma_img=None if aroma is None else str(aroma),
        mask_img=None if mask is None else str(mask),
        bold_json=None if bold_json is None else str(bold_json),
        n_volumes=n_volumes,
        options=options,
    )


def write_tedana_run(
    folder: str | os.PathLike,
    stem: str,
    *,
    n_volumes: int = 30,
    n_components: int = 9,
    seed: int = 0,
    name: str | None = None,
) -> FmriprepRun:
    """Write a TEDANA run: ``<stem>_space-X_desc-optcom_bold.nii.gz``, the ICA mixing matrix
    ``<stem>_desc-ICA_mixing.tsv`` (columns ``ICA_00`` ..) and the component table
    ``<stem>_desc-tedana_metrics.tsv`` (``Component``, metrics, ``classification`` among
    accepted / rejected / ignored, ``classification_tags``).

    ``confounds_tsv`` is the mixing matrix; ``options["metrics"]`` the component table.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    img = folder / f"{stem}_space-{SPACE}_desc-optcom_bold.nii.gz"
    _write_img(img, n_volumes, seed + 3000, (4, 4, 3))
    comps = [f"ICA_{i:02d}" for i in range(n_components)]
    mixing = pd.DataFrame(rng.normal(0, 1, (n_volumes, n_components)) + rng.normal(0, 0.3, n_components), columns=comps)
    classes = np.array(["accepted", "rejected", "ignored"])[np.arange(n_components) % 3]
    rng.shuffle(classes)
    metrics = pd.DataFrame({
        "Component": comps,
        "kappa": rng.uniform(10, 80, n_components),
        "rho": rng.uniform(5, 40, n_components),
        "variance explained": rng.uniform(0.5, 3, n_components),
        "classification": classes,
        "classification_tags": ["Likely BOLD" if c == "accepted" else "Unlikely BOLD" for c in classes],
    })
    mixing_path = folder / f"{stem}_desc-ICA_mixing.tsv"
    metrics_path = folder / f"{stem}_desc-tedana_metrics.tsv"
    mixing.to_csv(mixing_path, sep="\t", index=False)
    metrics.to_csv(metrics_path, sep="\t", index=False)
    return FmriprepRun(name=name or stem, img=str(img), confounds_tsv=str(mixing_path), confounds_json=None,
                       aroma_img=None, n_volumes=n_volumes, options={"metrics": str(metrics_path), "image": "nifti"})


#: The runs of :func:`make_fmriprep_derivatives`: name -> (folder, stem, write_run options).
RUNS: dict[str, tuple[str, str, dict[str, Any]]] = {
    # every family, 2 non-steady-state volumes, FD and DVARS spikes (short segments to scrub)
    "full": ("sub-01/func", "sub-01_task-rest", {"seed": 1}),
    # no non-steady-state volume, no spike: nothing to censor
    "clean": ("sub-02/func", "sub-02_task-rest", {
        "seed": 2, "n_non_steady": 0, "fd_spikes": (), "dvars_spikes": ()}),
    # no CompCor columns and no JSON sidecar
    "no_compcor": ("sub-03/func", "sub-03_task-rest", {
        "seed": 3, "omit": ("compcor",), "write_json": False}),
    # fMRIPrep 24+: no ICA-AROMA columns nor image, no cosine regressors
    "no_aroma": ("sub-04/func", "sub-04_task-rest", {
        "seed": 4, "omit": ("aroma", "cosine"), "aroma_img": False}),
    # partial families: global signal and WM without expansions, motion without derivatives
    "partial": ("sub-05/func", "sub-05_task-rest", {
        "seed": 5, "omit": ("non_steady_state",), "drop_columns": (
            "global_signal_derivative1", "global_signal_power2", "global_signal_derivative1_power2",
            "white_matter_derivative1_power2", "trans_x_derivative1", "rot_z_derivative1")}),
    # fMRIPrep 1.4 - 20.1 CompCor naming (a_comp_cor_ for every anatomical mask)
    "legacy_compcor": ("sub-06/func", "sub-06_task-rest", {"seed": 6, "legacy_compcor": True}),
    # session, run and res- entities; 3 non-steady-state volumes
    "entities": ("sub-07/ses-1/func", "sub-07_ses-1_task-nback_run-2", {
        "seed": 7, "space_entities": f"space-{SPACE}_res-2", "n_non_steady": 3, "n_volumes": 36}),
    # no scrubbing metrics (FD, DVARS) nor motion outliers
    "no_scrub_metrics": ("sub-08/func", "sub-08_task-rest", {"seed": 8, "omit": ("scrub_metrics",)}),
    # scrubbing censors everything at the defaults (high motion run)
    "high_motion": ("sub-09/func", "sub-09_task-rest", {
        "seed": 9, "n_volumes": 24, "fd_spikes": tuple(range(1, 24, 2)), "dvars_spikes": (2, 4)}),
    # surface outputs sharing sub-01's kind of confounds
    "cifti": ("sub-10/func", "sub-10_task-rest", {
        "seed": 10, "image": "cifti", "space_entities": "space-fsLR_den-91k"}),
    "gifti": ("sub-11/func", "sub-11_task-rest", {
        "seed": 11, "image": "gifti", "space_entities": "space-fsaverage5"}),
    # TEDANA outputs (optimally combined image, ICA mixing matrix, component table)
    "tedana": ("sub-12/func", "sub-12_task-rest", {"seed": 12}),
}


def make_fmriprep_derivatives(root: str | os.PathLike, runs: tuple[str, ...] | None = None) -> dict[str, FmriprepRun]:
    """Write an fMRIPrep derivatives folder under ``root`` (see :data:`RUNS`).

    Parameters
    ----------
    root : path
        The folder that gets ``dataset_description.json`` and the ``sub-*`` folders.
    runs : tuple of str, optional
        Names of :data:`RUNS` to write (default: all).

    Returns
    -------
    dict
        Run name -> :class:`FmriprepRun`.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({
        "Name": "nimask test derivatives", "BIDSVersion": "1.8.0", "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "fMRIPrep", "Version": "23.2.1"}]}, indent=2), encoding="utf-8")
    out = {}
    for name in runs or tuple(RUNS):
        folder, stem, options = RUNS[name]
        writer = write_tedana_run if name == "tedana" else write_run
        out[name] = writer(root / folder, stem, name=name, **options)
    return out
