"""The per-run job: read and decompress one BOLD run once, write every atlas x strategy output.

:func:`run_task` is what a local worker process or a Dask worker executes. It receives file
paths only (a :class:`RunTask`), reads the files itself and returns a small record (no
arrays). Steps:

1. check the run's brain mask (none: an error unless ``allow_no_mask``) and repetition time
   (a plausible number of seconds, or ``t_r``), load the run lazily (header only), read its
   confounds and build the confounds and sample mask of every strategy (fail fast, before
   the expensive read);
2. fit every atlas on the run's grid (:func:`nimask.batch.atlases.prepare_extractor`);
3. stream the run's volumes once, in chunks, through every atlas's operator at once
   (:func:`nimask.pipeline.stream`), giving one raw ``(T, regions)`` matrix per atlas;
   the BOLD file's SHA-256 is computed in another thread meanwhile;
4. clean each matrix once per strategy and write the TSV, its JSON sidecar and a
   per-atlas coverage table, each atomically. The warnings of the run are recorded (sidecars
   and the run's record); with ``strict`` the first one fails the run before its next write.

A task may ask for some of the run's outputs only (``RunTask.todo``: an incremental batch, where
the others are already finished); the run is then read once for those. An error specific to one
strategy (a confounds column the run lacks, too few volumes left by censoring, a ``low_pass``
above the run's Nyquist frequency, an error while cleaning) fails that strategy's outputs only:
they are not written, the record lists the failure (``failures``), and the run's other outputs
are written. Any other error fails the whole run, which then leaves none of its outputs.

A named ``ica_aroma`` strategy (nilearn's preset, ``giga:icaaroma``) denoises the run's ICA-AROMA image
(``<stem>_desc-smoothAROMAnonaggr_bold.nii[.gz]`` next to the run, :attr:`BoldRun.aroma`) instead: that
image is streamed once more, through the same atlases (fitted again only when its grid differs from the
run's), after the run's own read, and cleaned with the confounds and sample mask of
``load_confounds_strategy(<AROMA image>, "ica_aroma")``. A run without that image, or one whose AROMA image
cannot be read or has another number of volumes, fails the ``ica_aroma`` outputs only.

Peak memory is the streamed path's: a few chunks of volumes (8 MiB of raw data each) plus
the region matrices and the fitted atlases; the 4D run is never held.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import resource
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .._memory import with_small_pages
from .atlases import AtlasSpec, prepare_extractor
from .atomic import atomic_write_text, matrix_tsv_text, tsv_text
from .bids import BoldRun, aroma_candidates, mask_candidates
from .interrupt import raise_if_stopping
from .qc import QC_COLUMNS, cleaning_matrix, framewise_displacement, qc_sidecar, run_statistics, strategy_qc
from .relmat import MEASURES, relmat, relmat_sidecar
from .strategies import (
    Strategy,
    degrees_of_freedom,
    preset_confounds,
    read_confounds_tsv,
    select_confounds,
    uses_aroma,
)

__all__ = ["RunTask", "run_task", "output_paths", "unit_paths", "sha256_file", "run_repetition_time",
           "strategy_confounds", "denoise_digest", "aroma_image"]


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs for one run: paths and parameters, no data."""

    run: BoldRun
    atlases: tuple[AtlasSpec, ...]
    strategies: tuple[Strategy, ...]
    output_dir: str
    key: str = ""
    fingerprint: dict = field(default_factory=dict, compare=False, hash=False)
    allow_no_mask: bool = False  # extract a run without a brain mask (with a warning) instead of failing it
    strict: bool = False  # a run that gives any warning fails (StrictModeError), leaving no output
    t_r: float | None = None  # repetition time (s) for every run, instead of the sidecar's / header's
    censor: str = "drop"  # censored volumes: removed, or kept as zeros / interpolated (nimask.signal.clean)
    qc: bool = False  # also write each strategy's QC table of the run (nimask.batch.qc)
    connectome: tuple = ()  # connectivity kinds written next to each time series (nimask.batch.relmat)
    fisher_z: bool = False  # correlation and partial correlation connectomes as Fisher z
    # the outputs to write, as (atlas name, strategy label or None for the coverage table; "" as the atlas name:
    # the strategy's QC table); None: all of them
    todo: frozenset | None = field(default=None, compare=False, hash=False)

    def wants(self, atlas: str, strategy: str | None) -> bool:
        """Whether this task writes the coverage table of ``atlas`` (``strategy`` None) or its time series for
        the strategy labelled ``strategy``."""
        if atlas == "" and not self.qc:
            return False
        return self.todo is None or (atlas, strategy) in self.todo

    def wants_qc(self, strategy: str) -> bool:
        """Whether this task writes the QC table of the strategy labelled ``strategy``."""
        return self.wants("", strategy)

    def wants_relmat(self, atlas: str, strategy: str, kind: str) -> bool:
        """Whether this task writes the ``kind`` connectome of ``atlas`` x ``strategy``."""
        return kind in self.connectome and (self.todo is None or (atlas, strategy, kind) in self.todo)

    def needs(self, atlas: str, strategy: str) -> bool:
        """Whether this task computes the time series of ``atlas`` x ``strategy`` (to write them or a connectome)."""
        return self.wants(atlas, strategy) or any(self.wants_relmat(atlas, strategy, k) for k in self.connectome)


def unit_paths(run: BoldRun, atlas: str, strategy: str | None, kind: str | None = None) -> tuple[str, ...]:
    """Relative paths of one output of a run: the coverage table of ``atlas`` (``strategy`` None),
    the time series TSV and its JSON sidecar of ``atlas`` x ``strategy`` (a strategy label), its
    connectome of ``kind`` (TSV and JSON), or, for ``atlas`` "", the QC table of ``strategy`` and its JSON."""
    if atlas == "":
        base = f"{run.relpath}/{run.stem}_desc-{strategy}_qc"
        return f"{base}.tsv", f"{base}.json"
    base = f"{run.relpath}/{run.stem}_atlas-{atlas}"
    if strategy is None:
        return (f"{base}_coverage.tsv",)
    if kind is not None:
        return (f"{base}_desc-{strategy}_meas-{MEASURES[kind]}_relmat.tsv",
                f"{base}_desc-{strategy}_meas-{MEASURES[kind]}_relmat.json")
    return f"{base}_desc-{strategy}_timeseries.tsv", f"{base}_desc-{strategy}_timeseries.json"


def output_paths(task: RunTask) -> dict[str, str]:
    """Relative output paths of a task: ``{(atlas, strategy or 'coverage'): path}`` flattened to str keys."""
    out = {}
    for atlas in task.atlases:
        if task.wants(atlas.name, None):
            out[f"{atlas.name}/coverage"] = unit_paths(task.run, atlas.name, None)[0]
        for s in task.strategies:
            if task.wants(atlas.name, s.label):
                out[f"{atlas.name}/{s.label}"], out[f"{atlas.name}/{s.label}/json"] = \
                    unit_paths(task.run, atlas.name, s.label)
            for kind in task.connectome:
                if task.wants_relmat(atlas.name, s.label, kind):
                    out[f"{atlas.name}/{s.label}/{kind}"], out[f"{atlas.name}/{s.label}/{kind}/json"] = \
                        unit_paths(task.run, atlas.name, s.label, kind)
    for s in task.strategies:
        if task.wants_qc(s.label):
            out[f"qc/{s.label}"], out[f"qc/{s.label}/json"] = unit_paths(task.run, "", s.label)
    return out


def sha256_file(path: str | None) -> str | None:
    """``sha256:<hex>`` of a file (None for None)."""
    if path is None:
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return "sha256:" + h.hexdigest()


def _read_tsv(text: str) -> np.ndarray:
    """The float64 values of a :func:`~nimask.batch.atomic.tsv_text` text, as a reader of the file gets them
    (NaN for ``n/a``)."""
    import pandas as pd

    return pd.read_csv(io.StringIO(text), sep="\t", na_values="n/a", keep_default_na=False,
                       float_precision="round_trip").to_numpy(dtype=np.float64)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _require_files(task: RunTask) -> None:
    """Every input path of ``task`` exists as given: a path is never read as a glob pattern.

    The loaders expand a *missing* path holding ``*``, ``?`` or ``[`` as a pattern (nilearn's
    behaviour); checking the literal paths first makes batch mode literal (catalogue F12).

    Raises
    ------
    ImageNotFoundError
        Naming the first missing file and what it is.
    """
    from ..exceptions import ImageNotFoundError

    run = task.run
    items = [("BOLD run", run.bold), ("brain mask", run.mask), ("confounds", run.confounds),
             ("sidecar", run.sidecar)]
    for spec in task.atlases:
        items += [(f"atlas {spec.name!r}", spec.path), (f"look-up table of atlas {spec.name!r}", spec.lut)]
    for what, path in items:
        if path is not None and not os.path.isfile(path):
            raise ImageNotFoundError(f"The {what} file {path!r} does not exist (paths are literal in batch mode; "
                                     f"no wildcard is expanded).", path=path)


def check_low_pass(strategies, t_r: float, where: str) -> None:
    """Refuse a strategy whose ``low_pass`` is at or above the Nyquist frequency ``1 / (2 t_r)``.

    The library lowers such a cutoff to Nyquist with a warning (nilearn's behaviour); in batch
    mode the warning would be lost among hundreds of runs, so the run fails (catalogue T3).

    Parameters
    ----------
    strategies : sequence of Strategy
        The run's strategies.
    t_r : float
        The run's repetition time in seconds (no check when it is not positive).
    where : str
        Where ``t_r`` comes from, for the message.

    Raises
    ------
    ParameterError
        Naming the strategy, its ``low_pass``, the Nyquist frequency and ``t_r``.
    """
    from ..exceptions import ParameterError

    if not t_r or t_r <= 0:
        return
    nyquist = 1.0 / (2.0 * t_r)
    for s in strategies:
        if s.low_pass is not None and s.low_pass >= nyquist:
            raise ParameterError(
                f"Strategy {s.name!r}: low_pass={s.low_pass} Hz is at or above the Nyquist frequency "
                f"{nyquist:g} Hz of this run (t_r={t_r:g} s, from {where}); give a low_pass below {nyquist:g} Hz "
                f"or none.", param="low_pass", expected=f"< {nyquist:g}", found=s.low_pass)


def _uses_confounds(strategy: Strategy) -> bool:
    return bool(strategy.confounds) or strategy.fd_threshold is not None or strategy.preset is not None


def confounds_reader(run: BoldRun):
    """A function that returns the run's confounds table (:func:`read_confounds_tsv`), reading the
    file at its first call only; a read error is raised again at each call."""
    cache: dict = {}

    def read():
        if not cache:
            try:
                cache["table"] = read_confounds_tsv(run.confounds)
            except Exception as exc:  # each strategy that needs the table fails with this error
                cache["error"] = exc
        if "error" in cache:
            raise cache["error"].with_traceback(None)
        return cache["table"]

    return read


def aroma_image(run: BoldRun) -> str:
    """The run's ICA-AROMA image (``desc-smoothAROMAnonaggr_bold``), which the ``ica_aroma`` strategies denoise.

    Raises
    ------
    ImageNotFoundError
        The run has none: the message names the files looked for.
    """
    from ..exceptions import ImageNotFoundError

    if run.aroma is not None and os.path.isfile(run.aroma):
        return run.aroma
    gz, nii = aroma_candidates(os.path.dirname(run.bold), run.stem)
    raise ImageNotFoundError(
        f"Run {run.bold!r} has no ICA-AROMA image: looked for {gz!r} (and {os.path.basename(nii)!r}). The "
        f"'ica_aroma' strategy denoises that image (fMRIPrep < 24 with --use-aroma writes it, in space "
        f"MNI152NLin6Asym); this strategy's outputs are not written for this run.", path=gz,
        expected=[gz, nii], found=None)


def strategy_confounds(run: BoldRun, strategy: Strategy, n_volumes: int, read_table,
                       columns: list | None = None) -> tuple:
    """The confounds matrix and sample mask of ``strategy`` for ``run`` (``(None, None)`` when the
    strategy uses no confounds); ``read_table`` is a :func:`confounds_reader` of the run. A named
    strategy's (``strategy.preset``) come from ``load_confounds_strategy`` on the run's image (its
    ICA-AROMA image for ``ica_aroma``: :func:`aroma_image`), and ``columns`` (a list, when given)
    receives their names.

    The job builds what it regresses here, and the runner what a finished output was computed
    from (:func:`denoise_digest`), so that both always agree.

    Raises
    ------
    ConfoundsError, SampleMaskError
        The run has no confounds file, it lacks a column, censoring leaves too few volumes, ...
    """
    from ..exceptions import ConfoundsError

    if not _uses_confounds(strategy):
        return None, None
    if run.confounds is None:
        raise ConfoundsError(f"{run.bold!r}: no desc-confounds_timeseries.tsv found next to the run, and "
                             f"strategy {strategy.name!r} needs confounds.", path=run.bold, param="strategy")
    if strategy.preset is not None:
        img = aroma_image(run) if uses_aroma(strategy) else run.bold
        values, sample_mask, names = preset_confounds(img, strategy, n_volumes)
        if columns is not None:
            columns[:] = names
        return values, sample_mask
    if columns is not None:
        columns[:] = list(strategy.confounds)
    return select_confounds(read_table(), strategy, n_volumes, source=run.confounds)


def denoise_digest(confounds, sample_mask) -> str:
    """``sha256:<hex>`` of what a strategy gives the cleaning of one run: its confounds matrix and
    sample mask (a confounds file may change elsewhere, e.g. gain a column, without changing them)."""
    h = hashlib.sha256()
    for a in (confounds, sample_mask):
        if a is None:
            h.update(b"none;")
        else:
            a = np.ascontiguousarray(a)
            h.update(f"{a.dtype.str}{a.shape};".encode())
            h.update(a.tobytes())
    return "sha256:" + h.hexdigest()


def _open_aroma(run: BoldRun, n_vol: int, aroma: dict) -> None:
    """Open the run's AROMA image once (header only) into ``aroma`` (``path``, ``img``); raise (each time) when it is
    missing, not 4D or has another number of volumes than the run."""
    from .._niimg import check_niimg
    from ..exceptions import DimensionError

    if "error" in aroma:
        raise aroma["error"].with_traceback(None)
    if "img" in aroma:
        return
    try:
        path = aroma_image(run)
        img = check_niimg(path, wildcards=False)
        if len(img.shape) != 4 or int(img.shape[3]) != n_vol:
            raise DimensionError(len(img.shape), 4, f"{path!r}: the ICA-AROMA image must be 4D with the run's "
                                                    f"{n_vol} volumes; found shape {tuple(img.shape)}.", path=path)
    except Exception as exc:
        if isinstance(exc, MemoryError):
            raise
        aroma["error"] = exc
        raise
    aroma["path"], aroma["img"] = path, img


def _aroma_extractors(fitted, extractors, img, aroma_img, mask, t_r) -> list:
    """The extractors of the AROMA image: the run's when it has the run's grid, else fitted on its own grid."""
    same = tuple(aroma_img.shape[:3]) == tuple(img.shape[:3]) and np.allclose(aroma_img.affine, img.affine)
    return list(extractors) if same else [prepare_extractor(spec, aroma_img, mask, t_r) for spec in fitted]


def _qc_operator(run: BoldRun, img, extractors):
    """The voxels of the run's brain mask on the grid the run is streamed on (the atlases' operators',
    else the run's own), for its QC (None without a mask)."""
    from .._niimg import check_niimg
    from ..image import resample_img
    from ..regions._voxels import VoxelOperator

    if run.mask is None:
        return None
    if extractors:
        shape, affine = tuple(extractors[0].op.shape), np.asarray(extractors[0].op.affine)
    else:
        shape, affine = tuple(img.shape[:3]), np.asarray(img.affine)
    mask = check_niimg(run.mask, wildcards=False)
    if tuple(mask.shape[:3]) != shape or not np.allclose(mask.affine, affine):
        mask = resample_img(mask, target_affine=affine, target_shape=shape, interpolation="nearest",
                            force_resample=True, copy_header=True)
    op = VoxelOperator(np.asarray(mask.dataobj).reshape(shape) != 0, affine)
    op.nonfinite_where = "inside the brain mask (QC)"
    return op


def _failure(task: RunTask, spec: AtlasSpec | None, strategy: Strategy, exc: BaseException) -> dict:
    """The record of one strategy's failure (of one atlas's outputs only when ``spec`` is given)."""
    atlases = [spec] if spec is not None else [a for a in task.atlases if task.needs(a.name, strategy.label)]
    outputs = []
    for a in atlases:
        outputs += list(unit_paths(task.run, a.name, strategy.label)) if task.wants(a.name, strategy.label) else []
        for kind in task.connectome:
            if task.wants_relmat(a.name, strategy.label, kind):
                outputs += unit_paths(task.run, a.name, strategy.label, kind)
    if spec is None and task.wants_qc(strategy.label):
        outputs += unit_paths(task.run, "", strategy.label)
    return {"atlas": None if spec is None else spec.name, "strategy": strategy.label,
            "error_type": type(exc).__name__, "error": str(exc), "outputs": outputs}


def _check_mask(task: RunTask) -> dict | None:
    """Refuse a run without a brain mask unless ``task.allow_no_mask`` (then warn).

    Without a mask every voxel of the field of view, background included, enters the regions:
    a quiet change of the numbers, so it is an error by default.

    Returns
    -------
    dict or None
        For the sidecar of a run extracted without a mask: the paths looked for.

    Raises
    ------
    MaskError
        Naming the run and the mask file looked for (and the option that allows it).
    """
    from ..exceptions import MaskError, MaskWarning

    run = task.run
    if run.mask is not None:
        return None
    gz, nii = mask_candidates(os.path.dirname(run.bold), run.stem)
    if not task.allow_no_mask:
        raise MaskError(
            f"Run {run.bold!r} has no brain mask: looked for {gz!r} (and {os.path.basename(nii)!r}). Without a "
            f"mask every voxel of the field of view, background included, would enter the regions. Put the mask "
            f"there, or pass --allow-no-mask (allow_no_mask=True) to extract such runs without one.",
            path=gz, param="allow_no_mask", expected=[gz, nii], found=None)
    warnings.warn(
        f"No brain mask for run {run.bold!r} (looked for {gz!r}): extracted without a mask (--allow-no-mask), "
        f"so every voxel of the field of view, background included, enters the regions.", MaskWarning,
        stacklevel=2)
    return {"LookedFor": [gz, nii], "AllowedBy": "--allow-no-mask"}


def run_repetition_time(run: BoldRun, img, override: float | None = None) -> tuple[float, str]:
    """The repetition time (s) of a run and where it comes from: ``override`` (``--t-r``), else the
    sidecar's ``RepetitionTime``, else the NIfTI header's ``pixdim[4]`` (with its time unit; read as
    seconds when the header sets no unit).

    Raises
    ------
    ParameterError
        The value is not a positive number of at most 100 s (milliseconds?); the message names
        the file that gave it (sidecar or BOLD header), the value and the ``--t-r`` option.
    """
    from .._niimg import header_t_r
    from ..exceptions import ParameterError
    from ..signal._filters import MAX_PLAUSIBLE_T_R

    if override is not None:
        return float(override), "--t-r option"
    value = run.repetition_time()
    if value is not None:
        source, given = "sidecar RepetitionTime", f"RepetitionTime={value:g} in the sidecar {run.sidecar!r}"
        path = run.sidecar
    else:
        header = img.header
        raw = float(header["pixdim"][4])
        unit = header.get_xyzt_units()[1] if hasattr(header, "get_xyzt_units") else "unknown"
        value = header_t_r(img)
        if value is None:  # no time unit in the header: pixdim[4] read as seconds; Hz, ppm, rad/s: unusable
            value = raw if unit == "unknown" else float("nan")
        source, path = "NIfTI header pixdim[4]", run.bold
        sidecar = (f"no sidecar {os.path.basename(run.bold).split('.nii')[0] + '.json'!r} gives a RepetitionTime"
                   if run.sidecar is None else f"the sidecar {run.sidecar!r} has no RepetitionTime")
        given = f"pixdim[4]={raw:g} (time unit: {unit}) in the header of {run.bold!r} ({sidecar})"
    if not np.isfinite(value) or value <= 0:
        raise ParameterError(
            f"Run {run.bold!r}: no usable repetition time: {given} is not a positive number of seconds. Fix the "
            f"file, or pass --t-r SECONDS (t_r= in extract_batch) to give the repetition time of every run.",
            param="t_r", path=path, expected="> 0 s", found=value)
    if value > MAX_PLAUSIBLE_T_R:
        raise ParameterError(
            f"Run {run.bold!r}: {given} is implausible as seconds (> {MAX_PLAUSIBLE_T_R:g} s): it looks like "
            f"milliseconds ({value / 1000:g} s?). Fix the file (BIDS gives RepetitionTime in seconds), or pass "
            f"--t-r {value / 1000:g} (t_r= in extract_batch) to give the repetition time of every run.",
            param="t_r", path=path, expected=f"<= {MAX_PLAUSIBLE_T_R:g} s", found=value)
    return float(value), source


def warning_records(caught) -> list[dict]:
    """``[{"category", "message"}]`` of recorded warnings, each once, in the order first given."""
    out, seen = [], set()
    for w in caught:
        item = (w.category.__name__, str(w.message))
        if item not in seen:
            seen.add(item)
            out.append({"category": item[0], "message": item[1]})
    return out


def _refuse_warnings(task: RunTask, caught) -> None:
    """``--strict``: a run that gave warnings fails here (before any, or the next, output is written)."""
    from ..exceptions import StrictModeError

    if not task.strict or not caught:
        return
    items = warning_records(caught)
    listed = "; ".join(f"{w['category']}: {w['message']}" for w in items)
    raise StrictModeError(
        f"--strict: run {task.run.bold!r} gave {len(items)} warning{'s' if len(items) > 1 else ''}, so it fails and "
        f"none of its outputs is kept: {listed}", param="strict", path=task.run.bold,
        found=[w["message"] for w in items])


def _censoring(mode: str, n_volumes: int, sample_mask) -> dict:
    """The sidecar's record of censoring: the mode, the censored volumes and the rows written."""
    censored = [] if sample_mask is None else np.setdiff1d(np.arange(n_volumes), sample_mask).tolist()
    rows = n_volumes if mode != "drop" else n_volumes - len(censored)
    return {"Mode": mode, "VolumesCensored": censored, "NumberOfVolumesCensored": len(censored),
            "NumberOfRows": rows}


def _series_sidecar(task: RunTask, spec: AtlasSpec, s: Strategy, ex_s, kept: list, t_r: float, tr_source: str,
                    n_vol: int, sample_mask, columns: list, data_file: str | None, no_mask, inputs: dict,
                    atlas_sums: dict, caught) -> dict:
    """The JSON sidecar of a time series output (``data_file``: the ICA-AROMA image an ica_aroma strategy
    denoises)."""
    from .. import __version__

    run = task.run
    return {
        "Description": f"Region time series of atlas {spec.name!r} denoised with strategy "
                       f"{s.name!r}.",
        # in the input derivatives; an ica_aroma strategy's data is the AROMA image
        "Sources": [f"{run.relpath}/{os.path.basename(run.bold)}"]
        + ([f"{run.relpath}/{os.path.basename(data_file)}"] if data_file else []),
        "SoftwareName": "nimask",
        "SoftwareVersion": __version__,
        "RepetitionTime": t_r,
        "RepetitionTimeSource": tr_source,
        "NumberOfVolumes": n_vol,
        "NumberOfVolumesKept": len(kept),
        "VolumesKept": kept,
        "Columns": list(ex_s.names),
        # the regions without a signal (n/a columns, or maps dropped as nilearn does), and why
        "RegionsExcluded": ex_s.excluded(),
        **({"DataFile": data_file} if data_file else {}),
        "Atlas": spec.to_dict(),
        "Strategy": s.to_dict(),
        "ConfoundsColumns": columns,
        "Censoring": _censoring(task.censor, n_vol, sample_mask),
        "DegreesOfFreedom": degrees_of_freedom(s, len(kept), t_r, len(columns)),
        "MaskFile": run.mask,
        **({} if no_mask is None else {"MaskMissing": no_mask}),
        "InputChecksums": {**{k: v for k, v in inputs.items() if k != "aroma" or data_file},
                           "atlas": atlas_sums[spec.name]},
        "Warnings": [w["message"] for w in warning_records(caught)],
    }


def _kept_volumes(n_volumes: int, sample_mask) -> list[int]:
    """The indices of the volumes a strategy keeps (all of them without a sample mask)."""
    return list(range(n_volumes)) if sample_mask is None else np.asarray(sample_mask).tolist()


def _remove_outputs(root: str, written) -> None:
    """Delete the outputs a failed run already renamed into place: a run leaves all or none."""
    for rel in written:
        try:
            os.unlink(os.path.join(root, rel))
        except OSError:
            pass


@with_small_pages
def extract_run(task: RunTask) -> dict:
    """Do one run (raises on error); return its record (outputs, timings, peak memory, the failures
    of single strategies, the inputs' SHA-256 and each strategy's :func:`denoise_digest`).

    A run that fails after writing some of its outputs removes them: the output folder holds
    either every output of a run or none (a strategy's own failure leaves the others written).
    """
    import pandas as pd

    from .. import __version__
    from .._niimg import check_niimg
    from ..exceptions import DimensionError
    from ..pipeline import stream

    t_start = time.perf_counter()
    run = task.run
    with ThreadPoolExecutor(max_workers=1) as pool, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _require_files(task)
        no_mask = _check_mask(task)
        checksum = pool.submit(sha256_file, run.bold)
        img = check_niimg(run.bold, wildcards=False)
        if len(img.shape) != 4:
            raise DimensionError(len(img.shape), 4, f"{run.bold!r}: a BOLD run must be 4D; found shape "
                                                    f"{tuple(img.shape)}.", path=run.bold)
        n_vol = int(img.shape[3])
        t_r, tr_source = run_repetition_time(run, img, task.t_r)
        read_table = confounds_reader(run)
        denoise: dict[str, tuple] = {}  # strategy label -> (confounds, sample mask)
        conf_columns: dict[str, list] = {}  # strategy label -> names of the confounds columns
        failures: list[dict] = []
        aroma: dict = {}  # the AROMA image ("img") once opened, or the error opening it ("error")
        for s in task.strategies:  # an error here fails this strategy's outputs only
            if not any(task.needs(a.name, s.label) for a in task.atlases) and not task.wants_qc(s.label):
                continue
            try:
                if uses_aroma(s):
                    _open_aroma(run, n_vol, aroma)
                check_low_pass([s], t_r, tr_source)
                conf_columns[s.label] = []
                denoise[s.label] = strategy_confounds(run, s, n_vol, read_table, conf_columns[s.label])
            except Exception as exc:
                if isinstance(exc, MemoryError):
                    raise
                failures.append(_failure(task, None, s, exc))
        strategies = [s for s in task.strategies if s.label in denoise]
        aroma_strategies = [s for s in strategies if uses_aroma(s)]
        aroma_checksum = pool.submit(sha256_file, aroma["path"]) if aroma_strategies else None
        fitted = [spec for spec in task.atlases if task.wants(spec.name, None)
                  or any(task.needs(spec.name, s.label) for s in strategies)]
        t0 = time.perf_counter()
        extractors = [prepare_extractor(spec, img, run.mask, t_r) for spec in fitted]
        t_fit = time.perf_counter() - t0

        t0 = time.perf_counter()
        # only the atlases with time series to write; none (coverage tables only): the run is not read
        # (the ica_aroma strategies read the AROMA image instead, below)
        streamed = [i for i, spec in enumerate(fitted)
                    if any(task.needs(spec.name, s.label) for s in strategies if not uses_aroma(s))]
        # --qc: the brain mask's voxels go through the same pass, reduced to their QC statistics at once
        qc_op = _qc_operator(run, img, extractors) if any(
            task.wants_qc(s.label) and not uses_aroma(s) for s in strategies) else None
        raw, qc_stats = {}, None
        if streamed or qc_op is not None:  # SIGINT / SIGTERM (catalogue B5): the stream stops between chunks
            ops = [extractors[i].op for i in streamed] + ([qc_op] if qc_op is not None else [])
            out = stream(img, ops, label="batch extraction", after_chunk=raise_if_stopping)
            raw = dict(zip(streamed, out))
            if qc_op is not None:
                qc_stats = run_statistics(out.pop())
            del out
        # the ica_aroma strategies: a second read, of the run's AROMA image, through the same atlases
        aroma_extractors, aroma_raw, aroma_stats = extractors, {}, None
        wanted = [i for i, spec in enumerate(fitted) if any(task.needs(spec.name, s.label) for s in aroma_strategies)]
        aroma_qc = any(task.wants_qc(s.label) for s in aroma_strategies) and run.mask is not None
        if wanted or aroma_qc:
            try:
                aroma_extractors = _aroma_extractors(fitted, extractors, img, aroma["img"], run.mask, t_r)
                aroma_qc_op = _qc_operator(run, aroma["img"], [aroma_extractors[i] for i in wanted]) \
                    if aroma_qc else None
                ops = [aroma_extractors[i].op for i in wanted] + ([aroma_qc_op] if aroma_qc_op is not None else [])
                out = stream(aroma["img"], ops, label="batch extraction (AROMA image)", after_chunk=raise_if_stopping)
                aroma_raw = dict(zip(wanted, out))
                if aroma_qc_op is not None:
                    aroma_stats = run_statistics(out.pop())
                del out
            except Exception as exc:
                if isinstance(exc, MemoryError):
                    raise
                for s in aroma_strategies:
                    failures.append(_failure(task, None, s, exc))
                strategies = [s for s in strategies if not uses_aroma(s)]
                aroma_strategies = []
        t_read = time.perf_counter() - t0

        t0 = time.perf_counter()
        inputs = {"bold": checksum.result(), "mask": sha256_file(run.mask), "confounds": sha256_file(run.confounds),
                  "sidecar": sha256_file(run.sidecar)}
        if aroma_checksum is not None:
            inputs["aroma"] = aroma_checksum.result()
        atlas_sums = {spec.name: {"image": sha256_file(spec.path), "lut": sha256_file(spec.lut)}
                      for spec in fitted}
        paths = output_paths(task)
        root = task.output_dir
        written = {}
        try:
            for i, (spec, ex) in enumerate(zip(fitted, extractors)):
                _refuse_warnings(task, caught)  # --strict: before any output is written
                if task.wants(spec.name, None):
                    rel = paths[f"{spec.name}/coverage"]
                    atomic_write_text(os.path.join(root, rel), tsv_text(ex.coverage))
                    written[rel] = None
                for s in strategies:
                    if not task.needs(spec.name, s.label):
                        continue
                    conf, sample_mask = denoise[s.label]
                    raise_if_stopping()  # before the next outputs; the written ones are removed below
                    on_aroma = uses_aroma(s)
                    ex_s = aroma_extractors[i] if on_aroma else ex
                    try:
                        signals = ex_s.clean((aroma_raw if on_aroma else raw)[i], s.clean_params(), conf, sample_mask,
                                             aroma["img"] if on_aroma else img, censor=task.censor)
                    except Exception as exc:  # this atlas x strategy fails; the others are written
                        if isinstance(exc, MemoryError):
                            raise
                        failures.append(_failure(task, spec, s, exc))
                        continue
                    _refuse_warnings(task, caught)  # --strict: the written outputs are removed below
                    text = (matrix_tsv_text(signals, [str(n) for n in ex_s.names]) if signals.dtype == np.float64
                            else tsv_text(pd.DataFrame(signals, columns=ex_s.names)))  # float32: pandas' shortest
                    kept = _kept_volumes(n_vol, sample_mask)
                    if task.wants(spec.name, s.label):
                        sidecar = _series_sidecar(task, spec, s, ex_s, kept, t_r, tr_source, n_vol, sample_mask,
                                                  conf_columns[s.label], aroma.get("path") if on_aroma else None,
                                                  no_mask, inputs, atlas_sums, caught)
                        for rel, content in ((paths[f"{spec.name}/{s.label}"], text),
                                             (paths[f"{spec.name}/{s.label}/json"],
                                              json.dumps(sidecar, indent=1) + "\n")):
                            atomic_write_text(os.path.join(root, rel), content)
                            written[rel] = None
                    # --connectome: on the time series as written (float32 values are written in their shortest
                    # form, which reads back as another float64) and on the rows of the kept volumes only
                    # (censored rows of --censor zero / interpolate left out)
                    kinds = [k for k in task.connectome if task.wants_relmat(spec.name, s.label, k)]
                    reasons = {r["name"]: r["reason"] for r in ex_s.excluded()} if kinds else {}
                    rows = _read_tsv(text) if kinds else None
                    if rows is not None and task.censor != "drop" and sample_mask is not None:
                        rows = rows[np.asarray(kept)]
                    for kind in kinds:
                        matrix, excluded = relmat(rows, kind, task.fisher_z)
                        meta = relmat_sidecar(kind, task.fisher_z, ex_s.names, excluded, reasons, kept,
                                              os.path.basename(unit_paths(run, spec.name, s.label)[0]))
                        for rel, content in ((paths[f"{spec.name}/{s.label}/{kind}"],
                                              matrix_tsv_text(matrix, [str(n) for n in ex_s.names])),
                                             (paths[f"{spec.name}/{s.label}/{kind}/json"],
                                              json.dumps(meta, indent=1) + "\n")):
                            atomic_write_text(os.path.join(root, rel), content)
                            written[rel] = None
            fd = None  # the run's framewise displacement, for the QC tables
            if run.confounds is not None and any(task.wants_qc(s.label) for s in strategies):
                try:
                    fd = framewise_displacement(read_table(), n_vol)
                except Exception:  # an unreadable confounds file: no FD metrics (its strategies fail on it)
                    fd = None
            for s in strategies:  # --qc: one table per strategy
                if not task.wants_qc(s.label):
                    continue
                raise_if_stopping()
                conf, sample_mask = denoise[s.label]
                stats = aroma_stats if uses_aroma(s) else qc_stats
                try:
                    kept = _kept_volumes(n_vol, sample_mask)
                    dof = degrees_of_freedom(s, len(kept), t_r, len(conf_columns[s.label]))
                    cleaning = None if stats is None else cleaning_matrix(n_vol, s.clean_params(), conf,
                                                                          sample_mask, t_r)
                    row = strategy_qc(stats, fd, n_vol, sample_mask, cleaning, dof)
                except Exception as exc:
                    if isinstance(exc, MemoryError):
                        raise
                    failures.append({"atlas": None, "strategy": s.label, "error_type": type(exc).__name__,
                                     "error": f"QC: {exc}", "outputs": list(unit_paths(run, "", s.label))})
                    continue
                _refuse_warnings(task, caught)
                rel = paths[f"qc/{s.label}"]
                atomic_write_text(os.path.join(root, rel), tsv_text(pd.DataFrame([row], columns=list(QC_COLUMNS))))
                written[rel] = None
                meta = qc_sidecar(run, s, t_r, tr_source, n_vol, kept, fd is not None, stats,
                                  aroma["path"] if uses_aroma(s) else None, __version__)
                rel = paths[f"qc/{s.label}/json"]
                atomic_write_text(os.path.join(root, rel), json.dumps(meta, indent=1) + "\n")
                written[rel] = None
            _refuse_warnings(task, caught)
        except BaseException:
            _remove_outputs(root, written)
            raise
        t_write = time.perf_counter() - t0
    return {
        "status": "done",
        "key": task.key,
        "run": run.bold,
        "fingerprint": task.fingerprint,
        "outputs": sorted(written),
        "failures": failures,
        "checksums": {**inputs, **{f"atlas:{name}": sums["image"] for name, sums in atlas_sums.items()},
                      **{f"lut:{name}": sums["lut"] for name, sums in atlas_sums.items()}},
        "denoise": {label: denoise_digest(*value) for label, value in denoise.items()},
        "n_volumes": n_vol,
        "timings": {"fit_s": t_fit, "read_extract_s": t_read, "clean_write_s": t_write,
                    "total_s": time.perf_counter() - t_start},
        "peak_rss_mb": _peak_rss_mb(),
        "pid": os.getpid(),
        "warnings": warning_records(caught),
    }


def run_task(task: RunTask) -> dict:
    """:func:`extract_run` that never raises: an error gives a ``status: failed`` record."""
    try:
        return extract_run(task)
    except Exception as exc:  # one bad run must not stop the others; the record names it
        message = str(exc)
        if isinstance(exc, MemoryError):  # often without a message: say what ran out (catalogue B6)
            message = (f"out of memory while extracting {task.run.bold!r}" + (f": {message}" if message else "")
                       + f" (peak RSS {_peak_rss_mb():.0f} MB); the other runs go on")
        return {
            "status": "failed",
            "key": task.key,
            "run": task.run.bold,
            "fingerprint": task.fingerprint,
            "error_type": type(exc).__name__,
            "error": message,
            "traceback": traceback.format_exc(),
            "peak_rss_mb": _peak_rss_mb(),
            "pid": os.getpid(),
        }
