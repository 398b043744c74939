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

from .atlases import AtlasSpec, prepare_extractor
from .atomic import atomic_write_text
from .bids import BoldRun, mask_candidates
from .interrupt import raise_if_stopping
from .strategies import Strategy, degrees_of_freedom, read_confounds_tsv, select_confounds

__all__ = ["RunTask", "run_task", "output_paths", "sha256_file", "run_repetition_time"]


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


def output_paths(task: RunTask) -> dict[str, str]:
    """Relative output paths of a task: ``{(atlas, strategy or 'coverage'): path}`` flattened to str keys."""
    run = task.run
    out = {}
    for atlas in task.atlases:
        base = f"{run.relpath}/{run.stem}_atlas-{atlas.name}"
        out[f"{atlas.name}/coverage"] = f"{base}_coverage.tsv"
        for s in task.strategies:
            out[f"{atlas.name}/{s.label}"] = f"{base}_desc-{s.label}_timeseries.tsv"
            out[f"{atlas.name}/{s.label}/json"] = f"{base}_desc-{s.label}_timeseries.json"
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


def _tsv(table) -> str:
    """TSV text of ``table``: each value in the shortest form that reads back to the same float of
    its column's dtype (float32 or float64), NaN as ``n/a`` (BIDS)."""
    buf = io.StringIO()
    table.to_csv(buf, sep="\t", index=False, na_rep="n/a", lineterminator="\n")
    return buf.getvalue()


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


def _remove_outputs(root: str, written) -> None:
    """Delete the outputs a failed run already renamed into place: a run leaves all or none."""
    for rel in written:
        try:
            os.unlink(os.path.join(root, rel))
        except OSError:
            pass


def extract_run(task: RunTask) -> dict:
    """Do one run (raises on error); return its record (outputs, timings, peak memory).

    A run that fails after writing some of its outputs removes them: the output folder holds
    either every output of a run or none.
    """
    import pandas as pd

    from .. import __version__
    from .._niimg import check_niimg
    from ..exceptions import ConfoundsError, DimensionError
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
        check_low_pass(task.strategies, t_r, tr_source)
        needs_conf = any(s.confounds or s.fd_threshold is not None for s in task.strategies)
        table = None
        if needs_conf:
            if run.confounds is None:
                raise ConfoundsError(f"{run.bold!r}: no desc-confounds_timeseries.tsv found next to the run, and "
                                     f"the strategies need confounds.", path=run.bold, param="strategy")
            table = read_confounds_tsv(run.confounds)
        denoise = [select_confounds(table, s, n_vol, source=run.confounds or run.bold) if (s.confounds or
                   s.fd_threshold is not None) else (None, None) for s in task.strategies]
        t0 = time.perf_counter()
        extractors = [prepare_extractor(spec, img, run.mask, t_r) for spec in task.atlases]
        t_fit = time.perf_counter() - t0

        t0 = time.perf_counter()
        # SIGINT / SIGTERM (catalogue B5): the stream stops between chunks
        raw = stream(img, [ex.op for ex in extractors], label="batch extraction", after_chunk=raise_if_stopping)
        t_read = time.perf_counter() - t0

        t0 = time.perf_counter()
        inputs = {"bold": checksum.result(), "mask": sha256_file(run.mask), "confounds": sha256_file(run.confounds),
                  "sidecar": sha256_file(run.sidecar)}
        atlas_sums = {spec.name: {"image": sha256_file(spec.path), "lut": sha256_file(spec.lut)}
                      for spec in task.atlases}
        paths = output_paths(task)
        root = task.output_dir
        written = {}
        try:
            for i, (spec, ex) in enumerate(zip(task.atlases, extractors)):
                rel = paths[f"{spec.name}/coverage"]
                _refuse_warnings(task, caught)  # --strict: before any output is written
                atomic_write_text(os.path.join(root, rel), _tsv(ex.coverage))
                written[rel] = None
                for s, (conf, sample_mask) in zip(task.strategies, denoise):
                    raise_if_stopping()  # before the next outputs; the written ones are removed below
                    signals = ex.clean(raw[i], s.clean_params(), conf, sample_mask, img, censor=task.censor)
                    _refuse_warnings(task, caught)  # --strict: the written outputs are removed below
                    rel = paths[f"{spec.name}/{s.label}"]
                    atomic_write_text(os.path.join(root, rel), _tsv(pd.DataFrame(signals, columns=ex.names)))
                    written[rel] = None
                    kept = list(range(n_vol)) if sample_mask is None else np.asarray(sample_mask).tolist()
                    sidecar = {
                        "Description": f"Region time series of atlas {spec.name!r} denoised with strategy "
                                       f"{s.name!r}.",
                        "Sources": [f"{run.relpath}/{os.path.basename(run.bold)}"],  # in the input derivatives
                        "SoftwareName": "nimask",
                        "SoftwareVersion": __version__,
                        "RepetitionTime": t_r,
                        "RepetitionTimeSource": tr_source,
                        "NumberOfVolumes": n_vol,
                        "NumberOfVolumesKept": len(kept),
                        "VolumesKept": kept,
                        "Columns": list(ex.names),
                        "Atlas": spec.to_dict(),
                        "Strategy": s.to_dict(),
                        "ConfoundsColumns": list(s.confounds),
                        "Censoring": _censoring(task.censor, n_vol, sample_mask),
                        "DegreesOfFreedom": degrees_of_freedom(s, len(kept), t_r),
                        "MaskFile": run.mask,
                        **({} if no_mask is None else {"MaskMissing": no_mask}),
                        "InputChecksums": {**inputs, "atlas": atlas_sums[spec.name]},
                        "Warnings": [w["message"] for w in warning_records(caught)],
                    }
                    jrel = paths[f"{spec.name}/{s.label}/json"]
                    atomic_write_text(os.path.join(root, jrel), json.dumps(sidecar, indent=1) + "\n")
                    written[jrel] = None
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
