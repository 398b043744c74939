"""``nimask group`` at cohort size: ``group_outputs(tangent=True)``, and the tangent step alone, nimask vs nilearn.

Run: ``.venv/bin/python benchmarks/bench_group.py [--runs 200] [--regions 400] [--volumes 300]``.
The inputs (generated once, deterministic, cached under ``benchmarks/_data/group_RxNxT``) imitate a
finished ``nimask extract`` folder: per run a ``_timeseries.tsv`` (float64, shortest round-trip
text) with its JSON sidecar (a spheres atlas: ``spheres.tsv`` with one seed per region, so that
edge lengths exist) and a ``_desc-<S>_qc.tsv`` whose ``mean_fd`` scales a motion-like artefact added
to the run (so QC-FC is not null). Cases, each in a fresh process (wall time and peak RSS):

* ``group_outputs(tangent=True)``: read the 200 runs, QC-FC, tangent, every file and the page;
* ``ConnectivityMeasure(kind="tangent").fit_transform`` on the same 200 arrays (loaded untimed),
  nilearn's and nimask's; nimask's output compared with nilearn's.
"""
from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import DATA_DIR, run_cases  # noqa: E402

SIZE_ENV = "NIMASK_BENCH_GROUP_SIZE"
DEFAULT = (200, 400, 300)
_ARRAYS: list = []


def _size() -> tuple[int, int, int]:
    return tuple(int(v) for v in os.environ.get(SIZE_ENV, "x".join(map(str, DEFAULT))).split("x"))


def _folder() -> str:
    runs, regions, volumes = _size()
    return os.path.join(DATA_DIR, f"group_{runs}x{regions}x{volumes}")


def generate() -> str:
    """Write the batch-like folder once; return it."""
    import numpy as np
    import pandas as pd

    from nimask.batch.group import QC_COLUMNS

    folder = _folder()
    if os.path.exists(os.path.join(folder, "done")):
        return folder
    runs, regions, volumes = _size()
    rng = np.random.default_rng(0)
    out = os.path.join(folder, "out")
    seeds = rng.uniform(-60, 60, (regions, 3))
    spheres = os.path.join(folder, "spheres.tsv")
    os.makedirs(out, exist_ok=True)
    names = [f"roi{i:03d}" for i in range(regions)]
    pd.DataFrame({"name": names, "x": seeds[:, 0], "y": seeds[:, 1], "z": seeds[:, 2]}).to_csv(
        spheres, sep="\t", index=False)
    shared = rng.standard_normal((regions, 20)) / np.sqrt(20)
    # motion-like artefact: stronger between near regions (distance-dependent, as in real data)
    near = np.exp(-np.linalg.norm(seeds[:, None] - seeds[None], axis=2) / 40.0)
    artefact_load = np.linalg.cholesky(near + 1e-6 * np.eye(regions))
    arrays = np.lib.format.open_memmap(os.path.join(folder, "arrays.npy.part"), mode="w+", dtype=np.float64,
                                       shape=(runs, volumes, regions))
    for i in range(runs):
        sub, ses = f"{i // 2 + 1:03d}", str(i % 2 + 1)
        rel = f"sub-{sub}/ses-{ses}/func"
        stem = f"sub-{sub}_ses-{ses}_task-rest_space-MNI152NLin2009cAsym"
        os.makedirs(os.path.join(out, rel), exist_ok=True)
        fd = float(rng.gamma(2.0, 0.08))
        own = shared + 0.3 * rng.standard_normal((regions, 20)) / np.sqrt(20)
        x = rng.standard_normal((volumes, 20)) @ own.T + rng.standard_normal((volumes, regions))
        x += 3.0 * fd * rng.standard_normal((volumes, regions)) @ artefact_load.T
        x = (x - x.mean(0)) / x.std(0, ddof=1)
        arrays[i] = x
        base = os.path.join(out, rel, f"{stem}_atlas-bench_desc-motion24wmcsf_timeseries")
        pd.DataFrame(x, columns=names).to_csv(base + ".tsv", sep="\t", index=False, na_rep="n/a",
                                              lineterminator="\n")
        used = 28
        with open(base + ".json", "w") as fh:
            json.dump({"NumberOfVolumes": volumes, "NumberOfVolumesKept": volumes, "Columns": names,
                       "Atlas": {"kind": "spheres", "name": "bench", "path": spheres, "lut": None, "radius": 5.0},
                       "Strategy": {"name": "motion24+wm_csf"}, "Censoring": {"Mode": "drop", "VolumesCensored": []},
                       "DegreesOfFreedom": {"KeptVolumes": volumes, "ConfoundRegressors": 26, "MeanAndTrend": 2,
                                            "Filter": 0, "Used": used, "Left": volumes - used}}, fh)
        qc = dict(zip(QC_COLUMNS, rng.uniform(0.1, 1.0, len(QC_COLUMNS)).tolist()))
        qc.update(mean_fd=fd, n_volumes=volumes, n_censored=0, fraction_censored=0.0, dof_used=used,
                  dof_left=volumes - used)
        pd.DataFrame([qc]).to_csv(os.path.join(out, rel, f"{stem}_desc-motion24wmcsf_qc.tsv"), sep="\t", index=False)
    arrays.flush()
    del arrays
    os.replace(os.path.join(folder, "arrays.npy.part"), os.path.join(folder, "arrays.npy"))
    open(os.path.join(folder, "done"), "w").close()
    return folder


def nimask_group_setup():
    import nimask.batch.group  # noqa: F401


def nimask_group():
    import tempfile

    from nimask.batch import group_outputs

    with tempfile.TemporaryDirectory() as tmp:
        summary = group_outputs(os.path.join(_folder(), "out"), tangent=True, out=tmp)
        assert len(summary.files) == 2 * len(summary.runs) + 7, summary.warnings
    return None


def _load():
    import numpy as np

    _ARRAYS[:] = list(np.load(os.path.join(_folder(), "arrays.npy")))


def nilearn_tangent_setup():
    import nilearn.connectome  # noqa: F401

    _load()


def nimask_tangent_setup():
    import nimask.connectome  # noqa: F401

    _load()


def _tangent(module):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return module.ConnectivityMeasure(kind="tangent").fit_transform(_ARRAYS)


def nilearn_tangent():
    from nilearn import connectome

    return _tangent(connectome)


def nimask_tangent():
    from nimask import connectome

    return _tangent(connectome)


def main(argv: list[str] | None = None) -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=DEFAULT[0])
    p.add_argument("--regions", type=int, default=DEFAULT[1])
    p.add_argument("--volumes", type=int, default=DEFAULT[2])
    p.add_argument("--skip-nilearn", action="store_true", help="only the nimask cases")
    args = p.parse_args(argv)
    os.environ[SIZE_ENV] = f"{args.runs}x{args.regions}x{args.volumes}"  # the child processes read it
    os.makedirs(DATA_DIR, exist_ok=True)
    generate()
    size = f"{args.runs} runs x {args.regions} regions x {args.volumes} volumes"
    run_cases({"nimask group_outputs": "bench_group:nimask_group"}, baseline="nimask group_outputs",
              title=f"group: group_outputs(tangent=True), {size}",
              notes={"does": "read every TSV + sidecar + QC table, QC-FC of every edge, tangent, write the per-run "
                             "and group matrices, the tables and qc.html"})
    tangent = {"nimask tangent": "bench_group:nimask_tangent"}
    if not args.skip_nilearn:
        tangent = {"nilearn tangent": "bench_group:nilearn_tangent", **tangent}
    run_cases(tangent, baseline=next(iter(tangent)), reference=None if args.skip_nilearn else "nilearn tangent",
              compare=() if args.skip_nilearn else ("nimask tangent",),
              title=f"group_tangent: ConnectivityMeasure(kind='tangent').fit_transform, {size}",
              notes={"input": "the same arrays as the TSVs, loaded before the timed call (in the peak RSS)"})


if __name__ == "__main__":
    main()
