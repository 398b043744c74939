"""The per-run job streams the run: its peak memory stays far below the size of the 4D data."""
from __future__ import annotations

import tracemalloc

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from nimask import _nifti_io
from nimask.batch import find_runs, parse_atlas, parse_spheres, parse_strategy
from nimask.batch.job import extract_run
from nimask.batch.runner import plan_tasks
from nimask.datasets import write_bids_derivatives


@pytest.mark.slow  # writes and streams a 2400-volume run under tracemalloc (~9 s)
def test_job_peak_memory_is_bounded_by_the_chunks(tmp_path, monkeypatch):
    data = write_bids_derivatives(tmp_path, subjects=("01",), shape=(16, 18, 16), n_volumes=30, n_regions=5)
    run = find_runs(data["root"])[0]
    atlases = [parse_atlas(f"{data['labels']},lut={data['lut']}"), parse_atlas(str(data["maps"])),
               parse_spheres(f"{data['spheres']},radius=5")]
    strategies = [parse_strategy("motion24+wm_csf"), parse_strategy("motion6+scrub0.5")]
    monkeypatch.setattr(_nifti_io, "_DEFAULT_CHUNK_BYTES", 256 << 10)  # 256 KiB of volumes per chunk
    extract_run(plan_tasks([run], atlases, strategies, str(tmp_path / "warm"))[0])  # imports, caches
    # the same run made long: 2400 int16 volumes (22 MB as stored, 88 MB as float64) and its confounds
    n = 2400
    rng = np.random.default_rng(0)
    small = nib.load(run.bold)
    vols = rng.integers(500, 900, size=small.shape[:3] + (n,)).astype(np.int16)
    nib.save(nib.Nifti1Image(vols, small.affine, small.header), run.bold)
    table = pd.read_csv(run.confounds, sep="\t", na_values="n/a")
    long = pd.DataFrame(rng.standard_normal((n, table.shape[1])) * 0.01, columns=table.columns)
    long.iloc[0, [c.endswith("derivative1") or c.endswith("derivative1_power2") for c in long.columns]] = np.nan
    long["framewise_displacement"] = np.abs(long["framewise_displacement"])
    long.loc[0, "framewise_displacement"] = np.nan
    long.to_csv(run.confounds, sep="\t", index=False, na_rep="n/a")
    task = plan_tasks(find_runs(data["root"]), atlases, strategies, str(tmp_path / "out"))[0]
    raw_bytes = vols.nbytes
    tracemalloc.start()
    try:
        record = extract_run(task)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert record["n_volumes"] == n
    # chunks plus the (T, regions) and (T, confounds) matrices: ~5 MB, far below the 22 MB run
    assert peak < 0.35 * raw_bytes, f"peak {peak / 1e6:.1f} MB for {raw_bytes / 1e6:.1f} MB of data"
