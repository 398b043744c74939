"""Atlases of a batch job (labels, maps, sphere sets) and their per-run extractors.

An :class:`AtlasSpec` names an atlas file (or a coordinates TSV). For one run,
:func:`prepare_extractor` fits the matching nimask masker once on the run's grid (only the
header of the run is read) and returns an extractor holding the masker's operator on that
grid (``masker.operator_for(run)``) and whose :meth:`Extractor.clean` turns the gathered
``(T, regions)`` signals into exactly what ``masker.fit_transform(run, confounds=...,
sample_mask=...)`` returns for a strategy's cleaning parameters
(``masker.clean_signals``). The run itself is streamed once by the job through every
extractor's operator at once (:func:`nimask.pipeline.stream`).

Labels atlases use ``keep_all_regions=True``: one column per region of the atlas / LUT,
NaN (written ``n/a``) for the regions that the brain mask or resampling leave empty.

``min_coverage`` (``--min-coverage``, or ``min_coverage=`` of one ``--atlas`` / ``--spheres``):
a region keeping less than this fraction of itself inside the run's brain mask gives an
``n/a`` column; the coverage table and the sidecars give the reason. Labels: the fraction of
the region's atlas volume kept on the run's grid (the labels masker's ``min_coverage``);
maps: the fraction of the map's summed absolute weight (on the run's grid) inside the mask
(the maps masker's ``min_coverage``, which also gives a column per map); spheres: the
fraction of the sphere's voxels on the run's grid that are inside the mask.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import AtlasError, ParameterError

__all__ = ["AtlasSpec", "check_labels_atlas", "check_min_coverage", "parse_atlas", "parse_spheres",
           "prepare_extractor", "read_seeds"]


@dataclass(frozen=True)
class AtlasSpec:
    """One atlas of a batch job.

    Parameters
    ----------
    kind : {"labels", "maps", "spheres"}
    name : str
        ``atlas-<name>`` in the output file names (letters and digits).
    path : str
        The atlas image, or for spheres the TSV of coordinates (``x``, ``y``, ``z`` in mm
        and an optional ``name`` column).
    lut : str or None
        Look-up table (``index`` and ``name`` columns) of a labels atlas, or names of maps
        (one row per map, in order).
    radius : float or None
        Sphere radius in mm (spheres only; None means single voxels, as nilearn).
    min_coverage : float in [0, 1] or None
        Regions keeping less than this fraction inside the run's mask give ``n/a`` columns
        (None: no threshold, the masker's default output).
    """

    kind: str
    name: str
    path: str
    lut: str | None = None
    radius: float | None = None
    min_coverage: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "name": self.name, "path": self.path, "lut": self.lut, "radius": self.radius}
        if self.min_coverage is not None:  # absent otherwise: the keys of earlier outputs stay the same
            out["min_coverage"] = float(self.min_coverage)
        return out


def check_min_coverage(value: Any, where: str = "--min-coverage") -> float | None:
    """``value`` as a fraction in [0, 1] (None stays None); a :class:`ParameterError` naming ``where``."""
    if value is None:
        return None
    try:
        number = float(value) if isinstance(value, (str, int, float, np.floating, np.integer)) \
            and not isinstance(value, bool) else float("nan")
    except ValueError:
        number = float("nan")
    if not 0.0 <= number <= 1.0:
        raise ParameterError(f"{where} must be a fraction in [0, 1] (e.g. 0.5: a region with less than half of "
                             f"itself inside the brain mask becomes an n/a column); got {value!r}.",
                             param="min_coverage", expected="a number in [0, 1]", found=value)
    return number


def _options(spec: str, what: str) -> tuple[str, dict[str, str]]:
    parts = spec.split(",")
    path, opts = parts[0], {}
    for part in parts[1:]:
        if "=" not in part:
            raise ParameterError(f"{what} {spec!r}: expected PATH[,key=value...]; {part!r} has no '='.",
                                 param=what.lstrip("-"), found=part)
        k, v = part.split("=", 1)
        opts[k.strip()] = v.strip()
    return os.path.abspath(os.path.expanduser(path)), opts


def _default_name(path: str) -> str:
    base = os.path.basename(path).split(".", 1)[0]
    m = re.search(r"atlas-([A-Za-z0-9]+)", base)
    return m.group(1) if m else re.sub(r"[^A-Za-z0-9]", "", base)


def _check_name(name: str, spec: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9]+", name):
        raise ParameterError(f"Atlas {spec!r}: name {name!r} must be letters and digits only (a BIDS label).",
                             param="name", found=name)
    return name


def parse_atlas(spec: str) -> AtlasSpec:
    """``PATH[,name=NAME][,lut=TSV][,kind=labels|maps][,min_coverage=F]`` -> :class:`AtlasSpec`.

    Without ``kind``, a 3D image is a labels atlas and a 4D image a set of maps. Without
    ``lut``, a ``.tsv`` (or ``.csv``) next to the image with the same stem is used if present.
    """
    import nibabel as nib

    path, opts = _options(spec, "--atlas")
    unknown = sorted(set(opts) - {"name", "lut", "kind", "min_coverage"})
    if unknown:
        raise ParameterError(f"--atlas {spec!r}: unknown options {unknown} (allowed: name, lut, kind, "
                             f"min_coverage).", param="atlas", found=unknown)
    min_coverage = check_min_coverage(opts.get("min_coverage"), f"--atlas {spec!r}: min_coverage")
    if not os.path.isfile(path):
        raise AtlasError(f"--atlas {spec!r}: the atlas image {path!r} does not exist.", param="atlas", path=path)
    kind = opts.get("kind")
    if kind is None:
        kind = "maps" if len(nib.load(path).shape) == 4 and nib.load(path).shape[3] > 1 else "labels"
    if kind not in ("labels", "maps"):
        raise ParameterError(f"--atlas {spec!r}: kind must be 'labels' or 'maps'; found {kind!r}.", param="kind",
                             found=kind)
    if kind == "labels":
        check_labels_atlas(path, spec)
    lut = opts.get("lut")
    if lut is None:
        stem = path[: -len(".nii.gz")] if path.endswith(".nii.gz") else os.path.splitext(path)[0]
        lut = next((stem + e for e in (".tsv", ".csv") if os.path.isfile(stem + e)), None)
    else:
        lut = os.path.abspath(os.path.expanduser(lut))
        if not os.path.isfile(lut):
            raise AtlasError(f"--atlas {spec!r}: the look-up table {lut!r} does not exist.", param="lut", path=lut)
    return AtlasSpec(kind, _check_name(opts.get("name") or _default_name(path), spec), path, lut,
                     min_coverage=min_coverage)


def check_labels_atlas(path: str, spec: str) -> None:
    """Refuse an image that cannot be a labels atlas, before any run is done.

    The rule: a labels atlas holds one integer label per voxel, so **float data (after the
    header's scaling) with any finite non-integer value is not a labels atlas**: an anatomical
    image (a T1 template gives thousands of "regions"), a probability map, or a labels atlas
    resampled with continuous interpolation. Integer data, and float data whose values are all
    integers, are accepted. The maskers apply the same rule to each run (catalogue A1); checking
    it here makes the batch stop at once (exit code 2) instead of failing every run.

    Raises
    ------
    AtlasError
        Naming the file, the count of non-integer values and examples, and pointing at maps
        atlases (4D, one probability map per region).
    """
    from .._niimg import check_niimg

    img = check_niimg(path, wildcards=False)
    data = np.asarray(img.dataobj)
    if data.dtype.kind != "f":
        _check_regions_are_patches(data, path, spec)
        return
    values = np.unique(data[np.isfinite(data)])
    fractional = values[values != np.round(values)]
    if not fractional.size:
        _check_regions_are_patches(data, path, spec)
        return
    shown = ", ".join(f"{v:.6g}" for v in fractional[:: max(1, fractional.size // 5)][:5])
    raise AtlasError(
        f"--atlas {spec!r}: {path!r} is not a labels atlas. A labels atlas holds one integer label per voxel; "
        f"this {len(img.shape)}D float image has {fractional.size} distinct non-integer values (of "
        f"{values.size} distinct values; e.g. {shown}). An anatomical image (a T1 or template) is not an atlas; "
        f"a probabilistic atlas is a maps atlas: a 4D image with one probability map per region (read as maps "
        f"when 4D, or give kind=maps); a labels atlas resampled with continuous interpolation must be resampled "
        f"with nearest-neighbour interpolation instead.",
        param="atlas", path=path, expected="integer labels", found=fractional[:5].tolist())


MIN_PATCH_FRACTION = 0.5


def _check_regions_are_patches(data: np.ndarray, path: str, spec: str) -> None:
    """Refuse integer data whose "regions" are not patches of neighbouring voxels.

    In a labels atlas nearly every labelled voxel shares its label with a face neighbour
    (measured: 100% for Harvard-Oxford and AAL at 2 mm, 99.7% for a 20,000-region parcellation
    of the 2 mm brain); in an anatomical image stored as integers (the int16 MNI152 T1: 9,709
    distinct values) only 6% do. Fewer than :data:`MIN_PATCH_FRACTION` is refused."""
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        return
    labelled = data != 0
    n = int(labelled.sum())
    if n == 0:
        return
    shared = np.zeros(data.shape, dtype=bool)
    for axis in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        same = data[tuple(lo)] == data[tuple(hi)]
        shared[tuple(lo)] |= same
        shared[tuple(hi)] |= same
    fraction = float(shared[labelled].sum()) / n
    if fraction >= MIN_PATCH_FRACTION:
        return
    n_labels = int(np.unique(data[labelled]).size)
    raise AtlasError(
        f"--atlas {spec!r}: {path!r} is not a labels atlas. Its {n_labels} distinct values do not form regions: "
        f"only {fraction:.0%} of its non-zero voxels share their value with a neighbouring voxel (a labels atlas: "
        f"nearly all). An anatomical image (a T1 or template, even stored as integers) is not an atlas; a "
        f"probabilistic atlas is a maps atlas: a 4D image with one probability map per region (read as maps when "
        f"4D, or give kind=maps).",
        param="atlas", path=path, expected="regions of neighbouring voxels", found=f"{fraction:.1%}")


def parse_spheres(spec: str) -> AtlasSpec:
    """``TSV[,name=NAME][,radius=MM][,min_coverage=F]`` -> :class:`AtlasSpec` of kind ``spheres``."""
    path, opts = _options(spec, "--spheres")
    unknown = sorted(set(opts) - {"name", "radius", "min_coverage"})
    if unknown:
        raise ParameterError(f"--spheres {spec!r}: unknown options {unknown} (allowed: name, radius, "
                             f"min_coverage).", param="spheres", found=unknown)
    min_coverage = check_min_coverage(opts.get("min_coverage"), f"--spheres {spec!r}: min_coverage")
    radius = None
    if "radius" in opts:
        try:
            radius = float(opts["radius"])
        except ValueError:
            radius = -1.0
        if not radius > 0:
            raise ParameterError(f"--spheres {spec!r}: radius must be a positive number of mm; found "
                                 f"{opts['radius']!r}.", param="radius", found=opts["radius"])
    read_seeds(path)  # fail early on a bad file
    return AtlasSpec("spheres", _check_name(opts.get("name") or _default_name(path), spec), path, None, radius,
                     min_coverage)


def read_seeds(path: str) -> tuple[list[list[float]], list[str]]:
    """(seeds, names) of a coordinates TSV with ``x``, ``y``, ``z`` (mm) and optional ``name``."""
    import pandas as pd

    if not os.path.isfile(path):
        raise AtlasError(f"Spheres file {path!r} does not exist.", param="spheres", path=path)
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in ("x", "y", "z") if c not in table.columns]
    if missing or len(table) == 0:
        raise AtlasError(f"Spheres file {path!r} must have the columns x, y, z and at least one row; found "
                         f"columns {list(table.columns)} and {len(table)} rows.", param="spheres", path=path,
                         expected=["x", "y", "z"], found=list(table.columns))
    seeds = table[["x", "y", "z"]].to_numpy(dtype=np.float64).tolist()
    names = [str(n) for n in table["name"]] if "name" in table.columns else [f"sphere{i:03d}" for i in
                                                                               range(len(seeds))]
    return seeds, names


def _map_names(lut: str | None, n: int) -> list[str]:
    if lut is None:
        return [f"map{i:03d}" for i in range(n)]
    from ..regions._lut import read_lut

    table = read_lut(lut)
    names = [str(v) for v in table["name"]]
    if len(names) != n:
        raise AtlasError(f"The look-up table {lut!r} has {len(names)} rows for {n} maps.", param="lut", path=lut,
                         expected=n, found=len(names))
    return names


class Extractor:
    """One atlas fitted on one run's grid: its operator (streamed by the job) and its cleaning.

    Attributes
    ----------
    spec : AtlasSpec
    masker : the fitted nimask masker the outputs reproduce
    op : the masker's operator on the run's grid (see :mod:`nimask.pipeline`)
    names : list of str, one per output column
    coverage : DataFrame, one row per output column
    nan_columns : bool ndarray or None
        Columns made NaN before cleaning (spheres below ``min_coverage``; the labels and maps
        maskers make their own).
    """

    def __init__(self, spec: AtlasSpec, masker: Any, op: Any, names: list[str], coverage: Any,
                 nan_columns: np.ndarray | None = None) -> None:
        self.spec = spec
        self.masker = masker
        self.op = op
        self.names = names
        self.coverage = coverage
        self.nan_columns = nan_columns

    def excluded(self) -> list[dict]:
        """The ``n/a`` columns with their reason (``name``, ``index``, ``reason``), from the coverage table."""
        cov = self.coverage
        if "reason" not in cov.columns:
            return []
        return [{"name": str(r["name"]), "index": int(r["index"]), "reason": str(r["reason"])}
                for _, r in cov.iterrows() if r["reason"]]

    def clean(self, raw: np.ndarray, clean_params: dict, confounds: Any, sample_mask: Any, img: Any,
              censor: str = "drop") -> np.ndarray:
        """The masker's output for these raw signals of ``img``, cleaned with ``clean_params``
        (``censor``: what becomes of the volumes ``sample_mask`` censors, see :func:`nimask.signal.clean`)."""
        self.masker.set_params(**clean_params)
        if self.nan_columns is not None:
            raw = np.array(raw, dtype=np.result_type(raw.dtype, np.float32))
            raw[:, self.nan_columns] = np.nan
        return self.masker.clean_signals(raw, img, confounds=confounds, sample_mask=sample_mask, censor=censor)


def make_masker(spec: AtlasSpec, mask: str | None, t_r: float | None, **clean_params: Any) -> Any:
    """The nimask masker that the batch job reproduces for ``spec`` (also used by the tests)."""
    from ..maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiSpheresMasker

    if spec.kind == "labels":
        return NiftiLabelsMasker(labels_img=spec.path, lut=spec.lut, mask_img=mask, t_r=t_r, keep_all_regions=True,
                                 min_coverage=spec.min_coverage, **clean_params)
    if spec.kind == "maps":
        return NiftiMapsMasker(maps_img=spec.path, mask_img=mask, t_r=t_r, min_coverage=spec.min_coverage,
                               **clean_params)
    seeds, _ = read_seeds(spec.path)
    return NiftiSpheresMasker(seeds=seeds, radius=spec.radius, mask_img=mask, t_r=t_r, empty_spheres="nan",
                              **clean_params)


def prepare_extractor(spec: AtlasSpec, img: Any, mask: str | None, t_r: float | None) -> Extractor:
    """Fit the atlas on the grid of ``img`` (a lazily loaded 4D run); no volume is read."""
    from ..regions._coverage import spheres_coverage

    masker = make_masker(spec, mask, t_r)
    masker.fit(img)
    op = masker.operator_for(img)
    if spec.kind == "labels":
        return Extractor(spec, masker, op, list(op.names), op.coverage.drop(columns="low"))
    if spec.kind == "maps":
        names = _map_names(spec.lut, masker.n_elements_)
        coverage = op.coverage.assign(name=names)  # computed by the masker on this grid, named by the LUT
        return Extractor(spec, masker, op, [names[int(j)] for j in op.kept] if op.n_out is None else names,
                         coverage.drop(columns="low"))
    _, names = read_seeds(spec.path)
    coverage = spheres_coverage(op, names)
    if spec.min_coverage is None:
        return Extractor(spec, masker, op, names, coverage)
    coverage, low = _spheres_min_coverage(coverage, masker, op, img, spec.min_coverage)
    return Extractor(spec, masker, op, names, coverage, low if low.any() else None)


def _spheres_min_coverage(coverage: Any, masker: Any, op: Any, img: Any, min_coverage: float) -> tuple:
    """The spheres' coverage table with their voxels on the grid without the mask (``voxels_in_sphere``),
    the ``fraction`` inside the mask and the reason of the ones below ``min_coverage`` (and which they are)."""
    from ..regions._spheres import sphere_members

    whole = np.array([m.size for m in sphere_members(masker.seeds_, np.asarray(img.affine), img.shape[:3], None,
                                                     masker.radius)], dtype=np.int64)
    kept = coverage["voxels_kept"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.where(whole > 0, np.minimum(kept / np.maximum(whole, 1), 1.0), 0.0)
    reason = coverage["reason"].to_numpy(dtype=object).copy()
    low = (kept > 0) & (fraction < min_coverage)
    for j in np.flatnonzero(low):
        reason[j] = f"coverage {fraction[j]:.3g} < min_coverage {min_coverage}"
    table = coverage.drop(columns="reason").assign(voxels_in_sphere=whole, fraction=fraction, reason=reason)
    return table[["index", "name", "voxels_in_sphere", "voxels_kept", "fraction", "reason"]], low
