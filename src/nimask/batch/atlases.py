"""Atlases of a batch job (labels, maps, sphere sets) and their per-run extractors.

An :class:`AtlasSpec` names an atlas file (or a coordinates TSV). For one run,
:func:`prepare_extractor` fits the matching nimask masker once on the run's grid (only the
header of the run is read) and returns an extractor whose :meth:`apply` reduces a chunk
of volumes to region values and whose :meth:`clean` turns the gathered ``(T, regions)``
signals into exactly what ``masker.fit_transform(run, confounds=..., sample_mask=...)``
returns for a strategy's cleaning parameters. The run itself is streamed once by the job
(:mod:`nimask.batch.job`), and every extractor consumes the same chunks.

Labels atlases use ``keep_all_regions=True``: one column per region of the atlas / LUT,
NaN (written ``n/a``) for the regions that the brain mask or resampling leave empty.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import AtlasError, ParameterError

__all__ = ["AtlasSpec", "parse_atlas", "parse_spheres", "prepare_extractor", "read_seeds"]


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
    """

    kind: str
    name: str
    path: str
    lut: str | None = None
    radius: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "path": self.path, "lut": self.lut, "radius": self.radius}


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
    """``PATH[,name=NAME][,lut=TSV][,kind=labels|maps]`` -> :class:`AtlasSpec`.

    Without ``kind``, a 3D image is a labels atlas and a 4D image a set of maps. Without
    ``lut``, a ``.tsv`` (or ``.csv``) next to the image with the same stem is used if present.
    """
    import nibabel as nib

    path, opts = _options(spec, "--atlas")
    unknown = sorted(set(opts) - {"name", "lut", "kind"})
    if unknown:
        raise ParameterError(f"--atlas {spec!r}: unknown options {unknown} (allowed: name, lut, kind).",
                             param="atlas", found=unknown)
    if not os.path.isfile(path):
        raise AtlasError(f"--atlas {spec!r}: the atlas image {path!r} does not exist.", param="atlas", path=path)
    kind = opts.get("kind")
    if kind is None:
        kind = "maps" if len(nib.load(path).shape) == 4 and nib.load(path).shape[3] > 1 else "labels"
    if kind not in ("labels", "maps"):
        raise ParameterError(f"--atlas {spec!r}: kind must be 'labels' or 'maps'; found {kind!r}.", param="kind",
                             found=kind)
    lut = opts.get("lut")
    if lut is None:
        stem = path[: -len(".nii.gz")] if path.endswith(".nii.gz") else os.path.splitext(path)[0]
        lut = next((stem + e for e in (".tsv", ".csv") if os.path.isfile(stem + e)), None)
    else:
        lut = os.path.abspath(os.path.expanduser(lut))
        if not os.path.isfile(lut):
            raise AtlasError(f"--atlas {spec!r}: the look-up table {lut!r} does not exist.", param="lut", path=lut)
    return AtlasSpec(kind, _check_name(opts.get("name") or _default_name(path), spec), path, lut)


def parse_spheres(spec: str) -> AtlasSpec:
    """``TSV[,name=NAME][,radius=MM]`` -> :class:`AtlasSpec` of kind ``spheres``."""
    path, opts = _options(spec, "--spheres")
    unknown = sorted(set(opts) - {"name", "radius"})
    if unknown:
        raise ParameterError(f"--spheres {spec!r}: unknown options {unknown} (allowed: name, radius).",
                             param="spheres", found=unknown)
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
    return AtlasSpec("spheres", _check_name(opts.get("name") or _default_name(path), spec), path, None, radius)


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
    from ..maskers.nifti_labels_masker import read_lut

    table = read_lut(lut)
    names = [str(v) for v in table["name"]]
    if len(names) != n:
        raise AtlasError(f"The look-up table {lut!r} has {len(names)} rows for {n} maps.", param="lut", path=lut,
                         expected=n, found=len(names))
    return names


_END = object()


class _Parts:
    """Per-chunk reduction (labels, spheres), gathered like the maskers gather it."""

    def __init__(self, apply, contiguous: bool) -> None:
        self._apply = apply
        self._contiguous = contiguous
        self._parts: list[np.ndarray] = []

    def add(self, item) -> None:
        self._parts.append(self._apply(item[1]))

    def result(self) -> np.ndarray:
        parts = self._parts
        if self._contiguous:  # labels_signals fills one C-ordered (T, regions) array
            out = np.empty((sum(p.shape[0] for p in parts), parts[0].shape[1]), dtype=parts[0].dtype)
            t = 0
            for p in parts:
                out[t : t + p.shape[0]] = p
                t += p.shape[0]
            return out
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)

    def close(self) -> None:
        self._parts = []


class _Pushed:
    """Run ``fn(iterator of items)`` in a thread and push the items to it one by one."""

    def __init__(self, fn) -> None:
        import queue
        import threading

        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._result = None
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self._thread.start()

    def _items(self):
        while True:
            item = self._queue.get()
            if item is _END:
                return
            yield item

    def _run(self, fn) -> None:
        items = self._items()
        try:
            self._result = fn(items)
        except BaseException as exc:  # re-raised by result()
            self._error = exc
        for _ in items:  # keep draining, so that the producer never blocks
            pass

    def add(self, item) -> None:
        self._queue.put(item)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(_END)
            self._thread.join()

    def result(self):
        self.close()
        if self._error is not None:
            raise self._error
        return self._result


class Extractor:
    """One atlas fitted on one run's grid: ``apply`` per chunk, ``clean`` per strategy."""

    def __init__(self, spec: AtlasSpec, masker, op, names: list[str], coverage, apply) -> None:
        self.spec = spec
        self.masker = masker
        self.op = op
        self.names = names
        self.coverage = coverage  # DataFrame, one row per output column
        self._apply = apply

    def apply(self, chunk: np.ndarray) -> np.ndarray:
        return self._apply(chunk)

    def accumulator(self):
        """A fresh consumer of this run's ``(t0, chunk)`` pairs: ``add`` each, then ``result()``.

        Labels and spheres reduce each chunk at once; maps run nimask's own
        ``extract_chunks`` (which solves batches of volumes) in a thread fed chunk by chunk.
        The result is laid out as the masker's own matrix (memory layout changes the
        rounding of float32 cleaning, so it is kept identical).
        """
        if self.spec.kind == "maps":
            from ..regions._maps import extract_chunks

            op = self.op
            return _Pushed(lambda chunks: extract_chunks(op, chunks))
        return _Parts(self._apply, contiguous=self.spec.kind == "labels")

    def clean(self, raw: np.ndarray, clean_params: dict, confounds, sample_mask, img) -> np.ndarray:
        """The masker's output for these raw signals of ``img``, cleaned with ``clean_params``."""
        masker = self.masker
        masker.set_params(**clean_params)
        if self.spec.kind == "labels":
            from ..maskers._base import source_dtype

            src = source_dtype(img)
            return masker._finish(_clean_labels(masker, raw.copy(order="K"), confounds, sample_mask), False, src)
        from ..maskers._base import source_dtype as _source_dtype

        src = _source_dtype(img)
        return masker._cast(masker._clean(raw.copy(order="K"), confounds, sample_mask, img, src), src)


def _clean_labels(masker, signals, confounds, sample_mask):
    """The cleaning half of ``NiftiLabelsMasker._signals`` (all-NaN columns are left out)."""
    from ..signal import clean

    finite_cols = ~np.isnan(signals).all(axis=0)
    kwargs = dict(
        detrend=masker.detrend, standardize=masker.standardize, standardize_confounds=masker.standardize_confounds,
        t_r=masker.t_r, low_pass=masker.low_pass, high_pass=masker.high_pass, confounds=confounds,
        sample_mask=sample_mask, **masker.clean_args_,
    )
    if finite_cols.all():
        return clean(signals, **kwargs)
    cleaned = clean(signals[:, finite_cols], **kwargs)
    out = np.full((cleaned.shape[0], signals.shape[1]), np.nan, dtype=cleaned.dtype)
    out[:, finite_cols] = cleaned
    return out


def make_masker(spec: AtlasSpec, mask: str | None, t_r: float | None, **clean_params):
    """The nimask masker that the batch job reproduces for ``spec`` (also used by the tests)."""
    from ..maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiSpheresMasker

    if spec.kind == "labels":
        return NiftiLabelsMasker(labels_img=spec.path, lut=spec.lut, mask_img=mask, t_r=t_r, keep_all_regions=True,
                                 **clean_params)
    if spec.kind == "maps":
        return NiftiMapsMasker(maps_img=spec.path, mask_img=mask, t_r=t_r, **clean_params)
    seeds, _ = read_seeds(spec.path)
    return NiftiSpheresMasker(seeds=seeds, radius=spec.radius, mask_img=mask, t_r=t_r, empty_spheres="nan",
                              **clean_params)


def prepare_extractor(spec: AtlasSpec, img, mask: str | None, t_r: float | None) -> Extractor:
    """Fit the atlas on the grid of ``img`` (a lazily loaded 4D run); no volume is read."""
    import pandas as pd

    masker = make_masker(spec, mask, t_r)
    if spec.kind == "labels":
        masker.fit(img)
        labels, mask_arr, affine = masker._grid(img)
        op, _masked, cov, _key = masker._operator(labels, mask_arr, affine)
        ids = op.region_ids
        names = masker._name_of(ids)
        coverage = pd.DataFrame({
            "index": ids, "name": names, "voxels_in_atlas": cov["in_atlas"], "voxels_kept": cov["kept"],
            "fraction": cov["fraction"], "reason": cov["reason"],
        })
        strategy = masker.strategy
        return Extractor(spec, masker, op, names, coverage, lambda chunk: op.apply(chunk, strategy))
    if spec.kind == "maps":
        masker.fit(img)
        if not masker.allow_overlap:
            masker._zero_small_weights(masker.maps_img_)
        op = masker._operator(masker.maps_img_, masker.mask_img_)
        names = _map_names(spec.lut, masker.n_elements_)
        data = np.asarray(masker.maps_img_.dataobj, dtype=np.float64)
        total = np.abs(data).sum(axis=(0, 1, 2))
        if masker.mask_img_ is not None:
            inside = np.asarray(masker.mask_img_.dataobj) != 0
            kept = np.abs(data[inside]).sum(axis=0)
        else:
            kept = total
        with np.errstate(divide="ignore", invalid="ignore"):
            fraction = np.where(total > 0, kept / np.where(total > 0, total, 1), 0.0)
        coverage = pd.DataFrame({"index": np.arange(len(names)), "name": names, "weight_in_map": total,
                                 "weight_kept": kept, "fraction": fraction})
        return Extractor(spec, masker, op, names, coverage, op.apply)
    masker.fit()
    op = masker._operator(img)
    _, names = read_seeds(spec.path)
    sizes = np.where(np.isin(np.arange(len(names)), op.empty), 0, op.sizes).astype(np.int64)
    coverage = pd.DataFrame({"index": np.arange(len(names)), "name": names, "voxels_kept": sizes,
                             "reason": ["no voxel in the mask" if s == 0 else "" for s in sizes]})
    return Extractor(spec, masker, op, names, coverage, op.apply)
