"""The group step of a batch: ``nimask group OUTPUT_DIR`` (:func:`group_outputs`).

It reads the finished outputs of ``nimask extract`` in ``OUTPUT_DIR`` (found by file name: every
``<run>_atlas-<A>_desc-<S>_timeseries.tsv`` with its JSON sidecar, and the per-run QC tables
``<run>_desc-<S>_qc.tsv`` written with ``--qc``) and writes, under ``OUTPUT_DIR/group/``:

* ``desc-<S>_qc.tsv``: the per-run QC metrics of strategy ``S``, one row per run (column ``run``);
* ``atlas-<A>_desc-<S>_qcfc.tsv`` (+ ``.json``): QC-FC, the correlation across runs of each run's
  mean framewise displacement with each edge's correlation, its p-value and the edge's length;
* ``qcfc_summary.tsv``: one row per atlas x strategy, the numbers that compare denoising strategies
  (median |QC-FC|, fraction of edges with p < 0.05, distance dependence, degrees of freedom lost);
* with ``tangent=True``: per-run tangent-space matrices and their group mean (``_relmat.tsv`` + ``.json``);
* ``qc.html``: one self-contained page with the plots of all of it (:mod:`nimask.batch.qc_page`).

Definitions (also in each JSON and in the page):

* **Regions used**: a region (column) is left out of an atlas x strategy's group analysis when it is
  missing from, has an ``n/a`` value in, or is constant in any run of that atlas x strategy (a region
  the brain mask left empty is an all-``n/a`` column); the JSON files list each with the reason.
* **Rows used**: every row of the time series; with ``--censor zero`` / ``interpolate`` the censored
  volumes (``Censoring.VolumesCensored`` of the sidecar) are dropped first, so that the correlations
  and covariances are those of the kept volumes, as with ``--censor drop``.
* **QC-FC** of an edge (i, j): Pearson's r, across the runs that have a QC table with a finite
  ``mean_fd``, between the run's ``mean_fd`` and the run's Pearson correlation of regions i and j;
  two-sided p from Student's t with ``n_runs - 2`` degrees of freedom. Computed for at least 3 runs.
* **Edge length** (``distance_mm``): Euclidean distance between region centroids in world (mm)
  coordinates: a label's mean voxel position, a map's mean voxel position weighted by ``|weight|``,
  a sphere's seed. ``n/a`` when the atlas file cannot be read or a column name matches no region.
* **Distance dependence**: Spearman's rho between ``qcfc_r`` and ``distance_mm`` over the edges
  that have both.
* **Degrees of freedom lost** of a run (from its time series sidecar): ``NumberOfVolumes -
  DegreesOfFreedom.Left``, i.e. the censored volumes plus the regressors (confounds, mean and trend,
  filter); ``fraction_dof_lost`` divides it by ``NumberOfVolumes``.
"""
from __future__ import annotations

import json
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..exceptions import NimaskError, ParameterError
from .atomic import atomic_write_text, matrix_tsv_text, tsv_text
from .qc import QC_COLUMNS

__all__ = ["GroupSummary", "QC_COLUMNS", "group_outputs", "region_centroids", "qcfc"]

MIN_QCFC_RUNS = 3
GROUP_DIR = "group"
_TS_RE = re.compile(r"^(?P<stem>.+)_atlas-(?P<atlas>[A-Za-z0-9]+)_desc-(?P<desc>[A-Za-z0-9]+)_timeseries\.tsv$")
_QC_RE = re.compile(r"^(?P<stem>.+)_desc-(?P<desc>[A-Za-z0-9]+)_qc\.tsv$")
SUMMARY_COLUMNS = ("atlas", "strategy", "n_runs", "n_runs_qcfc", "n_regions", "n_regions_excluded", "n_edges",
                   "median_abs_qcfc", "fraction_p_below_0.05", "distance_dependence", "mean_dof_lost",
                   "mean_fraction_dof_lost", "mean_fd", "mean_fraction_censored")


@dataclass
class GroupSummary:
    """What :func:`group_outputs` read and wrote.

    Attributes
    ----------
    output_dir, group_dir : str
        The batch's output folder and the folder the group files were written to.
    runs : list of str
        Every run (``relpath/stem``) with a time series or a QC table.
    atlases, strategies : list of str
        The atlas names and strategy labels (``desc-``) analysed.
    files : list of str
        Every file written (paths relative to ``group_dir``).
    warnings : list of str
        What was skipped and why (too few runs with QC for QC-FC, regions left out, ...).
    table : list of dict
        The rows of ``qcfc_summary.tsv``.
    wall_s : float
    """

    output_dir: str
    group_dir: str
    runs: list[str] = field(default_factory=list)
    atlases: list[str] = field(default_factory=list)
    strategies: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    table: list[dict] = field(default_factory=list)
    wall_s: float = 0.0

    def lines(self, warnings: bool = True) -> list[str]:
        """The summary as printed by ``nimask group`` (its warnings go to stderr there)."""
        out = [f"nimask group: {len(self.runs)} runs, {len(self.atlases)} atlases ({', '.join(self.atlases)}), "
               f"{len(self.strategies)} strategies ({', '.join(self.strategies)}): {len(self.files)} files written "
               f"to {self.group_dir} ({self.wall_s:.2f} s)"]
        for row in self.table:
            if np.isfinite(row["median_abs_qcfc"]):
                out.append(f"  {row['atlas']} x {row['strategy']}: {row['n_runs_qcfc']} runs, median |QC-FC| "
                           f"{row['median_abs_qcfc']:.3f}, p<0.05 {row['fraction_p_below_0.05']:.1%}, distance "
                           f"dependence {row['distance_dependence']:.3f}, dof lost {row['mean_dof_lost']:.1f}")
        out.append(f"  page: {os.path.join(self.group_dir, 'qc.html')}")
        if warnings:
            out += [f"  warning: {w}" for w in self.warnings]
        return out


@dataclass
class _Series:
    run: str  # relpath/stem
    relpath: str
    stem: str
    atlas: str
    desc: str
    tsv: str


# ------------------------------------------------------------------------------------------ discovery
def _discover(root: Path, skip: list[Path]) -> tuple[list[_Series], dict[tuple[str, str], str]]:
    """Time series files and QC tables under ``root`` (hidden folders and ``skip`` left out)."""
    series, qc = [], {}
    skip_real = {os.path.realpath(p) for p in skip}
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and os.path.realpath(os.path.join(folder, d)) not in skip_real)
        rel = os.path.relpath(folder, root).replace(os.sep, "/")
        rel = "" if rel == "." else rel
        for name in sorted(files):
            m = _TS_RE.match(name)
            if m:
                run = f"{rel}/{m['stem']}" if rel else m["stem"]
                series.append(_Series(run, rel, m["stem"], m["atlas"], m["desc"], os.path.join(folder, name)))
                continue
            m = _QC_RE.match(name)
            if m and "_atlas-" not in m["stem"]:
                run = f"{rel}/{m['stem']}" if rel else m["stem"]
                qc[(run, m["desc"])] = os.path.join(folder, name)
    return series, qc


def _select(found: list[str], wanted: list[str] | None, what: str, folder: str) -> list[str]:
    if wanted is None:
        return found
    chosen = []
    for w in wanted:
        label = w
        if w not in found and what == "strategy":
            try:
                from .strategies import parse_strategy

                label = parse_strategy(w).label
            except (NimaskError, OSError, ValueError):
                label = w
        if label not in found:
            raise ParameterError(f"nimask group: no {what} {w!r} among the outputs in {folder!r} (found: "
                                 f"{', '.join(found) or 'none'}).", param=what, found=w, expected=found)
        if label not in chosen:
            chosen.append(label)
    return chosen


# ------------------------------------------------------------------------------------------ reading
def read_table(path: str):
    """A BIDS TSV (``n/a`` for NaN) as a DataFrame of floats where possible."""
    import pandas as pd

    return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=False)


def _read_qc(path: str) -> dict[str, float]:
    table = read_table(path)
    if len(table) < 1:
        return {}
    row = table.iloc[0]
    out = {}
    for col in table.columns:
        try:
            out[str(col)] = float(row[col])
        except (TypeError, ValueError):
            out[str(col)] = float("nan")
    return out


def _read_series(s: _Series) -> tuple[Any, dict]:
    """The time series (a DataFrame, float64) of one output and its sidecar; censored rows dropped
    when the batch kept them (``--censor zero`` / ``interpolate``)."""
    table = read_table(s.tsv).astype(np.float64)
    sidecar_path = s.tsv[: -len(".tsv")] + ".json"
    try:
        with open(sidecar_path, encoding="utf-8") as fh:
            sidecar = json.load(fh)
    except (OSError, ValueError):
        sidecar = {}
    cens = sidecar.get("Censoring") or {}
    censored = cens.get("VolumesCensored") or []
    if cens.get("Mode", "drop") != "drop" and censored and len(table) == sidecar.get("NumberOfVolumes"):
        table = table.drop(index=[i for i in censored if 0 <= i < len(table)]).reset_index(drop=True)
    return table, sidecar


# ------------------------------------------------------------------------------------------ centroids
def region_centroids(atlas: dict) -> dict[str, np.ndarray]:
    """``{region name: centroid (x, y, z) in mm}`` of an atlas as recorded in a sidecar's ``Atlas``.

    Labels: the mean world coordinate of each label's voxels, the names those of the batch's columns
    (the LUT's, else the label values). Maps: the mean world coordinate weighted by ``|weight|``.
    Spheres: the seeds. A name given to several regions is left out (ambiguous).
    """
    import nibabel as nib

    kind, path, lut = atlas.get("kind"), atlas.get("path"), atlas.get("lut")
    if kind == "spheres":
        from .atlases import read_seeds

        seeds, names = read_seeds(path)
        return _unique(names, np.asarray(seeds, dtype=np.float64))
    img = nib.load(path)
    affine = np.asarray(img.affine, dtype=np.float64)
    if kind == "maps":
        from .atlases import _map_names

        shape = img.shape
        n_maps = shape[3] if len(shape) == 4 else 1
        grid = np.indices(shape[:3], dtype=np.float64).reshape(3, -1).T
        world = grid @ affine[:3, :3].T + affine[:3, 3]
        cents = np.full((n_maps, 3), np.nan)
        for k in range(n_maps):  # one map at a time: a large atlas is not held whole in memory
            w = np.abs(np.asarray(img.dataobj[..., k] if len(shape) == 4 else img.dataobj, dtype=np.float64))
            w = np.nan_to_num(w.reshape(-1))
            total = w.sum()
            if total > 0:
                cents[k] = (w @ world) / total
        return _unique(_map_names(lut, n_maps), cents)
    from ..regions._labels import check_labels_data
    from ..regions._lut import build_lut, read_lut, region_names

    raw = np.asanyarray(img.dataobj)
    if raw.ndim == 4 and raw.shape[3] == 1:
        raw = raw[..., 0]
    data = check_labels_data(raw, 0, name=str(path))
    values, inverse = np.unique(data, return_inverse=True)
    inverse = inverse.reshape(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # labels missing from the LUT: named as the masker names them
        table = build_lut(values, 0, lut=lut)
    extra = None if lut is None else read_lut(lut)
    ids = values[values != 0]
    names = region_names(ids, table, extra)
    counts = np.bincount(inverse, minlength=values.size).astype(np.float64)
    idx = np.indices(data.shape, dtype=np.float64).reshape(3, -1)
    mean_vox = np.stack([np.bincount(inverse, weights=idx[a], minlength=values.size) for a in range(3)], 1)
    mean_vox /= np.maximum(counts, 1)[:, None]
    world = mean_vox @ affine[:3, :3].T + affine[:3, 3]
    return _unique(names, world[values != 0])


def _unique(names: list[str], coords: np.ndarray) -> dict[str, np.ndarray]:
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return {n: np.asarray(c, dtype=np.float64) for n, c in zip(names, coords) if seen[n] == 1}


# ------------------------------------------------------------------------------------------ statistics
def edge_correlations(arrays: list[np.ndarray]) -> np.ndarray:
    """``(n_runs, n_edges)``: each run's Pearson correlation of every region pair i < j."""
    n = arrays[0].shape[1]
    iu = np.triu_indices(n, k=1)
    out = np.empty((len(arrays), iu[0].size))
    for k, x in enumerate(arrays):
        out[k] = np.corrcoef(x, rowvar=False)[iu]
    return out


def qcfc(fd: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """QC-FC r and two-sided p of every edge: Pearson's r across runs of ``fd`` (n_runs,) with each
    column of ``edges`` (n_runs, n_edges); p from Student's t with n_runs - 2 degrees of freedom."""
    from scipy import stats

    fd = np.asarray(fd, dtype=np.float64)
    n = fd.size
    fc = fd - fd.mean()
    ec = edges - edges.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (fc @ ec) / (np.sqrt(fc @ fc) * np.sqrt(np.einsum("ij,ij->j", ec, ec)))
        r = np.clip(r, -1.0, 1.0)
        t = r * np.sqrt((n - 2) / ((1.0 - r) * (1.0 + r)))
    p = 2.0 * stats.t.sf(np.abs(t), n - 2)
    return r, p


# ------------------------------------------------------------------------------------------ writing
def _json_safe(obj: Any) -> Any:
    """``obj`` with numpy scalars as Python numbers and NaN / inf as None (valid JSON)."""
    if isinstance(obj, dict):
        return {k: _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _json_text(obj: Any) -> str:
    return json.dumps(_json_safe(obj), indent=1, allow_nan=False) + "\n"


def _finite(v: float) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def _excluded_regions(tables: list, runs: list[str]) -> tuple[list[str], dict[str, str]]:
    """The regions every run has with signal (order of the first run), and the reason each other one is left out."""
    order: list[str] = []
    for t in tables:
        order += [str(c) for c in t.columns if str(c) not in order]
    missing: dict[str, list[str]] = {}
    nan: dict[str, list[str]] = {}
    const: dict[str, list[str]] = {}
    for t, run in zip(tables, runs):
        cols = [str(c) for c in t.columns]
        for c in order:
            if c not in cols:
                missing.setdefault(c, []).append(run)
        values = t.to_numpy(dtype=np.float64)
        has_nan = np.isnan(values).any(axis=0)
        flat = (values.max(axis=0) == values.min(axis=0)) if len(values) else np.ones(len(cols), dtype=bool)
        for c, bad_nan, bad_const in zip(cols, has_nan, flat):
            if bad_nan:
                nan.setdefault(c, []).append(run)
            elif bad_const:
                const.setdefault(c, []).append(run)
    reasons = {}
    for c in order:
        parts = []
        for what, where in (("missing", missing), ("n/a values (no signal)", nan), ("constant", const)):
            if c in where:
                k = len(where[c])
                parts.append(f"{what} in {k} run{'s' if k > 1 else ''} (e.g. {where[c][0]})")
        if parts:
            reasons[c] = "; ".join(parts)
    return [c for c in order if c not in reasons], reasons


# ------------------------------------------------------------------------------------------ main entry
def group_outputs(output_dir: str | os.PathLike, *, tangent: bool = False, atlases: list[str] | None = None,
                  strategies: list[str] | None = None, out: str | os.PathLike | None = None) -> GroupSummary:
    """Group tables, QC-FC, tangent connectomes and one HTML QC page from the outputs of a batch.

    Parameters
    ----------
    output_dir : path
        The output folder of ``nimask extract`` (:func:`~nimask.batch.extract_batch`).
    tangent : bool, default=False
        Also fit :class:`nimask.connectome.ConnectivityMeasure` ``(kind="tangent")`` on all runs of
        each atlas x strategy and write the per-run tangent matrices and their group mean.
    atlases, strategies : list of str or None
        Only these atlas names / strategy labels (a preset spelling is turned into its label);
        None: every one found.
    out : path or None
        Where to write (default ``output_dir/group``).

    Returns
    -------
    GroupSummary

    Raises
    ------
    ParameterError
        ``output_dir`` holds no time series output (nor QC table), or an atlas / strategy asked for
        is not among them.
    OutputWriteError
        A group file could not be written.
    """
    t0 = time.perf_counter()
    root = Path(output_dir).expanduser().absolute()
    group_dir = Path(out).expanduser().absolute() if out is not None else root / GROUP_DIR
    if not root.is_dir():
        raise ParameterError(f"nimask group: the output folder {str(root)!r} does not exist.", param="output_dir",
                             path=root)
    series, qc_files = _discover(root, [root / GROUP_DIR, group_dir])
    if not series and not qc_files:
        raise ParameterError(f"nimask group: no outputs of 'nimask extract' in {str(root)!r}: no "
                             f"*_atlas-<A>_desc-<S>_timeseries.tsv file (nor *_desc-<S>_qc.tsv) below it.",
                             param="output_dir", path=root)
    found_atlases = sorted({s.atlas for s in series})
    found_strategies = sorted({s.desc for s in series} | {d for _, d in qc_files})
    sel_atlases = _select(found_atlases, atlases, "atlas", str(root))
    sel_strategies = _select(found_strategies, strategies, "strategy", str(root))
    summary = GroupSummary(str(root), str(group_dir), atlases=sel_atlases, strategies=sel_strategies)
    summary.runs = sorted({s.run for s in series if s.atlas in sel_atlases and s.desc in sel_strategies}
                          | {r for r, d in qc_files if d in sel_strategies})

    def write(rel: str, text: str) -> None:
        atomic_write_text(group_dir / rel, text)
        summary.files.append(rel)

    # 1. per-strategy QC tables
    qc: dict[str, dict[str, dict[str, float]]] = {}
    import pandas as pd

    for desc in sel_strategies:
        rows = {run: _read_qc(path) for (run, d), path in sorted(qc_files.items()) if d == desc}
        qc[desc] = rows
        if not rows:
            continue
        cols = list(QC_COLUMNS) + sorted({c for r in rows.values() for c in r} - set(QC_COLUMNS))
        table = pd.DataFrame([{"run": run, **{c: r.get(c, np.nan) for c in cols}} for run, r in rows.items()],
                             columns=["run", *cols])
        write(f"desc-{desc}_qc.tsv", tsv_text(table))
    no_qc = [d for d in sel_strategies if not qc[d]]
    if no_qc:
        summary.warnings.append(f"no per-run QC tables (*_desc-<S>_qc.tsv, written by 'nimask extract --qc') for "
                                f"{', '.join(no_qc)}: no QC-FC for {'it' if len(no_qc) == 1 else 'them'}.")

    # 2-3. per atlas x strategy: QC-FC, tangent
    centroid_cache: dict[str, dict[str, np.ndarray] | str] = {}
    page_data: dict[str, Any] = {"strategies": {}, "summary": [], "tangent": tangent}
    for desc in sel_strategies:
        page_data["strategies"][desc] = {"qc": qc[desc], "atlases": {}, "name": desc}
    for atlas in sel_atlases:
        for desc in sel_strategies:
            items = [s for s in series if s.atlas == atlas and s.desc == desc]
            if not items:
                continue
            row, info = _atlas_strategy(items, atlas, desc, qc[desc], tangent, centroid_cache, write, summary)
            summary.table.append(row)
            page_data["strategies"][desc]["atlases"][atlas] = info
            if info.get("strategy_name"):
                page_data["strategies"][desc]["name"] = info["strategy_name"]
    if summary.table:
        write("qcfc_summary.tsv", tsv_text(pd.DataFrame(summary.table, columns=list(SUMMARY_COLUMNS))))
    page_data["summary"] = summary.table

    # 4. the page
    from .qc_page import render_page

    summary.wall_s = time.perf_counter() - t0
    write("qc.html", render_page(page_data, summary))
    summary.wall_s = time.perf_counter() - t0
    return summary


def _atlas_strategy(items: list[_Series], atlas: str, desc: str, qc_rows: dict, tangent: bool, cache: dict,
                    write, summary: GroupSummary) -> tuple[dict, dict]:
    """QC-FC (and tangent) of one atlas x strategy; returns its summary row and the page's data."""
    import pandas as pd

    runs = [s.run for s in items]
    tables, sidecars = zip(*(_read_series(s) for s in items))
    kept, excluded = _excluded_regions(list(tables), runs)
    where = f"atlas {atlas} x strategy {desc}"
    if excluded:
        summary.warnings.append(f"{where}: {len(excluded)} region{'s' if len(excluded) > 1 else ''} left out of the "
                                f"group analysis (missing, n/a or constant in some run; listed in the JSON files): "
                                f"{', '.join(list(excluded)[:5])}{', ...' if len(excluded) > 5 else ''}.")
    dof_lost, frac_lost = [], []
    for sc in sidecars:
        n_vol, left = sc.get("NumberOfVolumes"), (sc.get("DegreesOfFreedom") or {}).get("Left")
        if n_vol and left is not None:
            dof_lost.append(n_vol - left)
            frac_lost.append((n_vol - left) / n_vol)
    strategy_name = next((sc.get("Strategy", {}).get("name") for sc in sidecars if sc.get("Strategy")), None)
    row = {"atlas": atlas, "strategy": desc, "n_runs": len(runs), "n_runs_qcfc": 0, "n_regions": len(kept),
           "n_regions_excluded": len(excluded), "n_edges": len(kept) * (len(kept) - 1) // 2,
           "median_abs_qcfc": np.nan, "fraction_p_below_0.05": np.nan, "distance_dependence": np.nan,
           "mean_dof_lost": float(np.mean(dof_lost)) if dof_lost else np.nan,
           "mean_fraction_dof_lost": float(np.mean(frac_lost)) if frac_lost else np.nan,
           "mean_fd": np.nan, "mean_fraction_censored": np.nan}
    info: dict[str, Any] = {"strategy_name": strategy_name, "dof_lost": dof_lost, "fraction_dof_lost": frac_lost,
                            "row": row}
    arrays = [t[kept].to_numpy(dtype=np.float64) for t in tables]
    del tables  # the arrays only, from here on
    excluded_json = [{"region": k, "reason": v} for k, v in excluded.items()]

    qc_runs = [r for r in runs if r in qc_rows and np.isfinite(qc_rows[r].get("mean_fd", np.nan))]
    skipped = {r: ("no QC table" if r not in qc_rows else "mean_fd is n/a") for r in runs if r not in qc_runs}
    if len(qc_runs) < MIN_QCFC_RUNS:
        summary.warnings.append(f"{where}: {len(qc_runs)} run{'s' if len(qc_runs) != 1 else ''} with a QC table "
                                f"and a mean_fd (of {len(runs)}): QC-FC needs at least {MIN_QCFC_RUNS}; skipped.")
    elif len(kept) < 2:
        summary.warnings.append(f"{where}: fewer than 2 regions with signal in every run; QC-FC skipped.")
    else:
        pick = [runs.index(r) for r in qc_runs]
        fd = np.array([qc_rows[r]["mean_fd"] for r in qc_runs])
        edges = edge_correlations([arrays[i] for i in pick])
        r, p = qcfc(fd, edges)
        iu = np.triu_indices(len(kept), k=1)
        dist = _distances(sidecars[0].get("Atlas") or {}, kept, iu, cache, where, summary)
        ok = np.isfinite(r)
        both = ok & np.isfinite(dist)
        rho = np.nan
        if both.sum() >= 3:
            from scipy import stats

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a constant input: rho is NaN
                rho = float(stats.spearmanr(r[both], dist[both])[0])
        censored = [qc_rows[x].get("fraction_censored", np.nan) for x in qc_runs]
        row.update({"n_runs_qcfc": len(qc_runs),
                    "median_abs_qcfc": float(np.median(np.abs(r[ok]))) if ok.any() else np.nan,
                    "fraction_p_below_0.05": float(np.mean(p[ok] < 0.05)) if ok.any() else np.nan,
                    "distance_dependence": rho, "mean_fd": float(np.mean(fd)),
                    "mean_fraction_censored": float(np.nanmean(censored)) if np.isfinite(censored).any() else np.nan})
        names = np.asarray(kept, dtype=object)
        table = pd.DataFrame({"region_i": names[iu[0]], "region_j": names[iu[1]], "distance_mm": dist,
                              "qcfc_r": r, "p_value": p})
        base = f"atlas-{atlas}_desc-{desc}_qcfc"
        write(f"{base}.tsv", tsv_text(table))
        write(f"{base}.json", _json_text({
            "Description": f"QC-FC of atlas {atlas!r} x strategy {strategy_name or desc!r}: for each edge, Pearson's "
                           f"r across runs of the run's mean framewise displacement with the edge's correlation.",
            "Atlas": sidecars[0].get("Atlas"), "Strategy": sidecars[0].get("Strategy"),
            "Runs": qc_runs, "RunsNotUsed": [{"run": k, "reason": v} for k, v in skipped.items()],
            "Regions": kept, "RegionsExcluded": excluded_json,
            "NumberOfEdges": int(r.size), "EdgesWithDistance": int(np.isfinite(dist).sum()),
            "MedianAbsQCFC": _finite(row["median_abs_qcfc"]),
            "FractionPBelow0.05": _finite(row["fraction_p_below_0.05"]),
            "DistanceDependence": _finite(rho),
            "Definitions": {
                "qcfc_r": "Pearson correlation across runs of mean_fd (the run's QC table) with the edge's Pearson "
                          "correlation of the two regions' time series",
                "p_value": "two-sided, Student's t with n_runs - 2 degrees of freedom",
                "distance_mm": "Euclidean distance between the regions' centroids (labels: mean voxel position; "
                               "maps: mean position weighted by |weight|; spheres: the seed)",
                "DistanceDependence": "Spearman's rho between qcfc_r and distance_mm",
            },
        }))
        info.update({"qcfc": r, "p": p, "distance": dist, "fd": fd})

    if tangent:
        _tangent(items, sidecars, arrays, kept, excluded_json, atlas, desc, where, write, summary)
    return row, info


def _distances(atlas: dict, kept: list[str], iu, cache: dict, where: str, summary: GroupSummary) -> np.ndarray:
    key = json.dumps(atlas, sort_keys=True, default=str)
    if key not in cache:
        try:
            cache[key] = region_centroids(atlas)
        except Exception as exc:  # the atlas moved, or is unreadable: the tables are written without lengths
            cache[key] = f"{type(exc).__name__}: {exc}"
    cents = cache[key]
    if isinstance(cents, str):
        summary.warnings.append(f"{where}: no region centroids from the atlas {atlas.get('path')!r} ({cents}): "
                                f"distance_mm is n/a.")
        return np.full(iu[0].size, np.nan)
    xyz = np.array([cents.get(n, np.full(3, np.nan)) for n in kept], dtype=np.float64).reshape(len(kept), 3)
    unmatched = [n for n in kept if n not in cents or not np.isfinite(cents[n]).all()]
    if unmatched:
        summary.warnings.append(f"{where}: {len(unmatched)} region{'s' if len(unmatched) > 1 else ''} without a "
                                f"centroid in the atlas (name not found, ambiguous or empty), e.g. {unmatched[0]!r}: "
                                f"their edges have no distance_mm.")
    return np.sqrt(((xyz[iu[0]] - xyz[iu[1]]) ** 2).sum(axis=1))


def _tangent(items, sidecars, arrays, kept, excluded_json, atlas, desc, where, write, summary) -> None:
    from ..connectome import ConnectivityMeasure

    if len(arrays) < 2 or len(kept) < 2:
        summary.warnings.append(f"{where}: tangent needs at least 2 runs and 2 regions with signal; skipped.")
        return
    measure = ConnectivityMeasure(kind="tangent")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            matrices = measure.fit_transform(arrays)
    except (NimaskError, ValueError, np.linalg.LinAlgError) as exc:
        summary.warnings.append(f"{where}: tangent failed ({type(exc).__name__}: {exc}); skipped.")
        return
    notes = sorted({str(w.message) for w in caught})
    summary.warnings += [f"{where}: tangent: {n}" for n in notes]
    mean_rel = f"atlas-{atlas}_desc-{desc}_meas-Tangent_relmat"
    runs = [s.run for s in items]
    common = {"Measure": "tangent", "Software": "nimask.connectome.ConnectivityMeasure(kind='tangent'), "
                                                "Ledoit-Wolf covariances", "Atlas": sidecars[0].get("Atlas"),
              "Strategy": sidecars[0].get("Strategy"), "Regions": kept, "RegionsExcluded": excluded_json}
    for s, m in zip(items, matrices):
        rel = f"{s.relpath + '/' if s.relpath else ''}{s.stem}_atlas-{atlas}_desc-{desc}_meas-Tangent_relmat"
        write(f"{rel}.tsv", matrix_tsv_text(m, kept))
        write(f"{rel}.json", _json_text({
            "Description": "Tangent-space connectivity of the run: the matrix logarithm of its covariance whitened by "
                          "the group's geometric mean (Varoquaux et al., MICCAI 2010).",
            "Source": os.path.relpath(s.tsv, summary.output_dir).replace(os.sep, "/"), "GroupMean": f"{mean_rel}.tsv",
            "NumberOfRuns": len(runs), **common, "Warnings": notes}))
    write(f"{mean_rel}.tsv", matrix_tsv_text(np.asarray(measure.mean_), kept))
    write(f"{mean_rel}.json", _json_text({
        "Description": "Group reference of the tangent space: the geometric mean of the runs' covariances "
                      "(ConnectivityMeasure.mean_).", "Runs": runs, **common, "Warnings": notes}))
