"""The per-run job: read and decompress one BOLD run once, write every atlas x strategy output.

:func:`run_task` is what a local worker process or a Dask worker executes. It receives file
paths only (a :class:`RunTask`), reads the files itself and returns a small record (no
arrays). Steps:

1. load the run lazily (header only), read its confounds and build the confounds and
   sample mask of every strategy (fail fast, before the expensive read);
2. fit every atlas on the run's grid (:func:`nimask.batch.atlases.prepare_extractor`);
3. stream the run's volumes once, in chunks (decompression in a background thread), and
   hand every chunk to every atlas, gathering one raw ``(T, regions)`` matrix per atlas;
   the BOLD file's SHA-256 is computed in another thread meanwhile;
4. clean each matrix once per strategy and write the TSV, its JSON sidecar and a
   per-atlas coverage table, each atomically.

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
from .bids import BoldRun
from .strategies import Strategy, read_confounds_tsv, select_confounds

__all__ = ["RunTask", "run_task", "output_paths", "sha256_file"]


@dataclass(frozen=True)
class RunTask:
    """Everything a worker needs for one run: paths and parameters, no data."""

    run: BoldRun
    atlases: tuple[AtlasSpec, ...]
    strategies: tuple[Strategy, ...]
    output_dir: str
    key: str = ""
    fingerprint: dict = field(default_factory=dict, compare=False, hash=False)


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


def extract_run(task: RunTask) -> dict:
    """Do one run (raises on error); return its record (outputs, timings, peak memory)."""
    import pandas as pd

    from .. import __version__
    from .._niimg import check_niimg
    from .._nifti_io import iter_volume_chunks
    from ..exceptions import ConfoundsError, DimensionError
    from .._nonfinite import collecting
    from .._threads import prefetched

    t_start = time.perf_counter()
    run = task.run
    with ThreadPoolExecutor(max_workers=1) as pool, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        checksum = pool.submit(sha256_file, run.bold)
        img = check_niimg(run.bold)
        if len(img.shape) != 4:
            raise DimensionError(len(img.shape), 4, f"{run.bold!r}: a BOLD run must be 4D; found shape "
                                                    f"{tuple(img.shape)}.", path=run.bold)
        n_vol = int(img.shape[3])
        t_r = run.repetition_time()
        tr_source = "sidecar RepetitionTime"
        if t_r is None:
            t_r = float(img.header.get_zooms()[3])
            tr_source = "NIfTI header pixdim[4]"
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
        accumulators = [ex.accumulator() for ex in extractors]
        try:
            with collecting("batch extraction", "inside the regions"):
                for item in prefetched(iter_volume_chunks(img), depth=2):
                    for acc in accumulators:
                        acc.add(item)
            raw = [acc.result() for acc in accumulators]
        finally:
            for acc in accumulators:
                acc.close()
        t_read = time.perf_counter() - t0

        t0 = time.perf_counter()
        inputs = {"bold": checksum.result(), "mask": sha256_file(run.mask), "confounds": sha256_file(run.confounds),
                  "sidecar": sha256_file(run.sidecar)}
        atlas_sums = {spec.name: {"image": sha256_file(spec.path), "lut": sha256_file(spec.lut)}
                      for spec in task.atlases}
        paths = output_paths(task)
        root = task.output_dir
        written = {}
        for i, (spec, ex) in enumerate(zip(task.atlases, extractors)):
            rel = paths[f"{spec.name}/coverage"]
            atomic_write_text(os.path.join(root, rel), _tsv(ex.coverage))
            written[rel] = None
            for s, (conf, sample_mask) in zip(task.strategies, denoise):
                signals = ex.clean(raw[i], s.clean_params(), conf, sample_mask, img)
                rel = paths[f"{spec.name}/{s.label}"]
                atomic_write_text(os.path.join(root, rel), _tsv(pd.DataFrame(signals, columns=ex.names)))
                kept = list(range(n_vol)) if sample_mask is None else np.asarray(sample_mask).tolist()
                sidecar = {
                    "Description": f"Region time series of atlas {spec.name!r} denoised with strategy {s.name!r}.",
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
                    "MaskFile": run.mask,
                    "InputChecksums": {**inputs, "atlas": atlas_sums[spec.name]},
                    "Warnings": sorted({str(w.message) for w in caught}),
                }
                jrel = paths[f"{spec.name}/{s.label}/json"]
                atomic_write_text(os.path.join(root, jrel), json.dumps(sidecar, indent=1) + "\n")
                written[rel] = None
                written[jrel] = None
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
        "warnings": sorted({str(w.message) for w in caught}),
    }


def run_task(task: RunTask) -> dict:
    """:func:`extract_run` that never raises: an error gives a ``status: failed`` record."""
    try:
        return extract_run(task)
    except Exception as exc:  # one bad run must not stop the others; the record names it
        return {
            "status": "failed",
            "key": task.key,
            "run": task.run.bold,
            "fingerprint": task.fingerprint,
            "error_type": type(exc).__name__,
            "error": str(exc),
            "traceback": traceback.format_exc(),
            "peak_rss_mb": _peak_rss_mb(),
            "pid": os.getpid(),
        }
