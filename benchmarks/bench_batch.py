"""Batch extraction: 4 subjects x 300 volumes, 2 atlases x 2 strategies.

Cases (each in a fresh process, see ``_harness.py``):

* ``nilearn_one_by_one``: nilearn 0.14.1's ``NiftiLabelsMasker(...).fit_transform`` called once
  per run x atlas x strategy (16 calls; each re-reads and re-decompresses the run), the way
  one-job-per-output scripts do;
* ``nimask_one_by_one``: the same with nimask's ``NiftiLabelsMasker`` (16 reads);
* ``nimask_batch_1worker``: ``nimask.batch.extract_batch`` with ``n_jobs=1`` (each run read once,
  4 outputs per run from that pass, TSV + JSON + coverage files written);
* ``nimask_batch_2workers``: the same with ``n_jobs=2`` local worker processes.

Atlases: Harvard-Oxford cortical max-prob 2 mm (data grid) and AAL (another 2 mm grid, so
it is resampled to the data grid, as nilearn's default ``resampling_target="data"``).
Strategies: ``motion24`` and ``motion12+scrub0.12`` (~12% of the volumes censored) (the confounds of
gen_bold.py with their squares and a framewise displacement column added). Every case returns the same
(nilearn's) columns, so the harness checks the numbers against nilearn.

``python benchmarks/bench_batch.py --scaling`` runs only the two batch cases, best of 3.

``python benchmarks/bench_batch.py --named`` runs the same four cases with nilearn's presets by name,
``simple``, ``scrubbing`` and ``compcor`` (``nimask extract --strategy simple`` ...), instead of the two
token strategies: the nilearn case is ``nilearn.interfaces.fmriprep.load_confounds_strategy(run, preset)`` +
``NiftiLabelsMasker(standardize="zscore_sample").fit_transform(run, confounds=, sample_mask=)`` per run x
atlas x preset (what the README documents as the equivalent), ``nimask_one_by_one`` the same with nimask's
``load_confounds_strategy`` and masker. ``--subjects N`` uses the first N subjects only (1-4).

Data: ``gen_bold.py OUT --subject 0N --seed N-1`` for N = 1..4 (int16, ~310 MB each),
arranged as an fMRIPrep tree under ``benchmarks/_data/batch`` (symlinks). The confounds TSV is
gen_bold.py's (motion and derivatives) with the squares and framewise displacement added, plus the
columns the nilearn presets read, from ``tests/interfaces/_fmriprep_fixtures.py``'s ``confounds_frame``
(cosine drift terms, white matter / CSF / global signal with expansions, ``a_comp_cor_*``/``c_``/``w_``/``t_``
CompCor with their JSON sidecar, ``std_dvars``, ``non_steady_state_outlier*`` for 2 volumes); the
framewise displacement stays the one computed here from gen_bold.py's motion.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import DATA_DIR, REPO, bench_file, run_cases, shared_dir  # noqa: E402

BATCH = os.path.join(DATA_DIR, "batch")
TREE = os.path.join(BATCH, "fmriprep")
SUBJECTS = ("01", "02", "03", "04")[:int(os.environ.get("NIMASK_BENCH_SUBJECTS", "4"))]
TOKEN_STRATEGIES = ("motion24", "motion12+scrub0.12")
NAMED_STRATEGIES = ("simple", "scrubbing", "compcor")
NAMED = os.environ.get("NIMASK_BENCH_NAMED") == "1"  # set by main() from --named (read again by each case process)
STRATEGIES = NAMED_STRATEGIES if NAMED else TOKEN_STRATEGIES
SPACE = "MNI152NLin6Asym"
MOTION = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]


def _ho():
    return bench_file("HarvardOxford-cort-maxprob-thr25-2mm.nii.gz")


def _fixtures():
    """tests/interfaces/_fmriprep_fixtures.py (the fMRIPrep confounds content of the tests)."""
    sys.path.insert(0, os.path.join(REPO, "tests", "interfaces"))
    import _fmriprep_fixtures

    return _fmriprep_fixtures


def prepare() -> None:
    """Generate the 4 runs (once) and lay them out as an fMRIPrep derivatives tree."""
    import pandas as pd

    raw = os.path.join(BATCH, "raw")
    gen = os.path.join(shared_dir(), "bench", "gen_bold.py")
    for n, sub in enumerate(SUBJECTS):
        src = os.path.join(raw, f"sub-{sub}", f"sub-{sub}_task-rest_bold.nii.gz")
        if not os.path.exists(src):
            subprocess.run([sys.executable, gen, os.path.dirname(src), "--subject", sub, "--seed", str(n),
                            "--volumes", "300"], check=True)
        func = os.path.join(TREE, f"sub-{sub}", "func")
        os.makedirs(func, exist_ok=True)
        stem = os.path.join(func, f"sub-{sub}_task-rest_space-{SPACE}_res-2")
        links = {f"{stem}_desc-preproc_bold.nii.gz": src,
                 f"{stem}_desc-brain_mask.nii.gz": bench_file("tpl-MNI152NLin6Asym_res-02_desc-brain_mask.nii.gz")}
        for dst, target in links.items():
            if not os.path.lexists(dst):
                os.symlink(target, dst)
        conf = os.path.join(func, f"sub-{sub}_task-rest_desc-confounds_timeseries.tsv")
        if not os.path.exists(conf) or "a_comp_cor_00" not in open(conf).readline().split("\t"):
            table = pd.read_csv(os.path.join(raw, f"sub-{sub}", f"sub-{sub}_task-rest_desc-confounds_timeseries.tsv"),
                                sep="\t", na_values="n/a")
            for m in MOTION:
                table[m + "_power2"] = table[m] ** 2
                table[m + "_derivative1_power2"] = table[m + "_derivative1"] ** 2
            d = table[[m + "_derivative1" for m in MOTION]].abs().to_numpy()
            # gen_bold.py's rotations read as degrees (as radians every volume would exceed 1 mm)
            table["framewise_displacement"] = d[:, :3].sum(1) + 50 * np.deg2rad(d[:, 3:]).sum(1)
            # the columns of the nilearn presets (cosine, wm/csf, CompCor + JSON, DVARS, non-steady-state)
            extra, meta = _fixtures().confounds_frame(len(table), seed=n)
            table = pd.concat([table, extra[[c for c in extra.columns if c not in table.columns]]], axis=1)
            table.to_csv(conf, sep="\t", index=False, na_rep="n/a")
            with open(conf[:-4] + ".json", "w") as fh:
                json.dump(meta, fh, indent=1)
        with open(f"{stem}_desc-preproc_bold.json", "w") as fh:
            json.dump({"RepetitionTime": 2.0}, fh)


def _specs():
    from nimask.batch import parse_atlas, parse_strategy

    # HO max-prob has no LUT in shared/bench (its CSV names the 113 lateralised maps): columns are label values
    atlases = [parse_atlas(f"{_ho()},name=HO"),
               parse_atlas(f"{bench_file('atlas_aal.nii.gz')},name=AAL,lut={bench_file('labels_aal.csv')}")]
    return atlases, [parse_strategy(s) for s in STRATEGIES]


def _jobs(load_confounds_strategy=None):
    """(run, atlas, strategy, confounds, sample_mask) for every output, in a fixed order.

    A named strategy's confounds and sample mask are ``load_confounds_strategy(run, **preset)``'s (the
    function given: nilearn's or nimask's; none given: not computed)."""
    import pandas as pd

    from nimask.batch import find_runs, select_confounds

    atlases, strategies = _specs()
    for run in find_runs(TREE):
        if run.entities.get("sub") not in SUBJECTS:
            continue
        table = pd.read_csv(run.confounds, sep="\t", na_values="n/a")
        for atlas in atlases:
            for s in strategies:
                if s.preset is None:
                    conf, keep = select_confounds(table, s, len(table))
                elif load_confounds_strategy is None:
                    conf = keep = None
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        conf, keep = load_confounds_strategy(run.bold, **dict(s.preset))
                yield run, atlas, s, conf, keep


def _one_by_one(masker_class, load_confounds_strategy):
    out = []
    for run, atlas, s, conf, keep in _jobs(load_confounds_strategy):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            masker = masker_class(labels_img=atlas.path, lut=atlas.lut, mask_img=run.mask, t_r=2.0,
                                  **s.clean_params())
            out.append(np.asarray(masker.fit_transform(run.bold, confounds=conf, sample_mask=keep)).ravel())
    return np.concatenate(out)


def nilearn_one_by_one():
    from nilearn.interfaces.fmriprep import load_confounds_strategy
    from nilearn.maskers import NiftiLabelsMasker

    return _one_by_one(NiftiLabelsMasker, load_confounds_strategy)


def nimask_one_by_one():
    from nimask.interfaces.fmriprep import load_confounds_strategy
    from nimask.maskers import NiftiLabelsMasker

    return _one_by_one(NiftiLabelsMasker, load_confounds_strategy)


def _batch(n_jobs: int, **options):
    import shutil

    import pandas as pd

    from nimask.batch import extract_batch

    atlases, strategies = _specs()
    tag = f"{n_jobs}" + ("_qc" if options else "")
    out_dir = os.path.join(BATCH, f"out_{tag}")
    shutil.rmtree(out_dir, ignore_errors=True)
    summary = extract_batch(TREE, out_dir, atlases, strategies, n_jobs=n_jobs, progress=False,
                            participant_label=list(SUBJECTS), **options)
    assert summary.exit_code == 0, summary.failed
    details = {"n_jobs": n_jobs, "wall_s": summary.wall_s,
               "runs": [{"run": os.path.basename(r["run"]), "pid": r["pid"], "peak_rss_mb": r["peak_rss_mb"],
                         **r["timings"]} for r in summary.done]}
    os.makedirs(os.path.join(REPO, "benchmarks", "_results"), exist_ok=True)
    with open(os.path.join(REPO, "benchmarks", "_results", f"batch_details_{tag}.json"), "w") as fh:
        json.dump(details, fh, indent=1)
    out = []  # read the TSVs back, nilearn's columns (regions left by mask and resampling)
    for run, atlas, s, _, _ in _jobs():
        path = os.path.join(out_dir, run.relpath, f"{run.stem}_atlas-{atlas.name}_desc-{s.label}_timeseries.tsv")
        table = pd.read_csv(path, sep="\t", na_values="n/a")
        out.append(table.loc[:, ~table.isna().all()].to_numpy().ravel())
    return np.concatenate(out)


def nimask_batch_1worker():
    return _batch(1)


def nimask_batch_2workers():
    return _batch(2)


def nimask_batch_maps():
    """The 1-worker batch with the Harvard-Oxford 1 mm probabilistic atlas (113 maps, resampled on each run's grid)."""
    import shutil

    import pandas as pd

    from nimask.batch import extract_batch, parse_atlas, parse_strategy

    out_dir = os.path.join(BATCH, "out_maps")
    shutil.rmtree(out_dir, ignore_errors=True)
    atlas = parse_atlas(f"{bench_file('atlas_harvard_oxford.nii.gz')},name=HOprob,kind=maps")
    summary = extract_batch(TREE, out_dir, [atlas], [parse_strategy("motion24")], n_jobs=1, progress=False,
                            participant_label=list(SUBJECTS))
    assert summary.exit_code == 0, summary.failed
    with open(os.path.join(REPO, "benchmarks", "_results", "batch_details_maps.json"), "w") as fh:
        json.dump({"runs": [{"peak_rss_mb": r["peak_rss_mb"], **r["timings"]} for r in summary.done]}, fh)
    return np.concatenate([pd.read_csv(p, sep="\t").to_numpy().ravel() for p in sorted(
        glob.glob(os.path.join(out_dir, "**", "*_timeseries.tsv"), recursive=True))])


def nimask_batch_qc():
    """The 1-worker batch with --qc and --connectome correlation,partial_correlation (same time series)."""
    return _batch(1, qc=True, connectome="correlation,partial_correlation")


CASES = {
    "nilearn_one_by_one": "bench_batch:nilearn_one_by_one",
    "nimask_one_by_one": "bench_batch:nimask_one_by_one",
    "nimask_batch_1worker": "bench_batch:nimask_batch_1worker",
    "nimask_batch_2workers": "bench_batch:nimask_batch_2workers",
    "nimask_batch_qc": "bench_batch:nimask_batch_qc",
    "nimask_batch_maps": "bench_batch:nimask_batch_maps",
}


def main() -> None:
    global SUBJECTS, STRATEGIES
    if "--subjects" in sys.argv:
        os.environ["NIMASK_BENCH_SUBJECTS"] = sys.argv[sys.argv.index("--subjects") + 1]
    if "--named" in sys.argv:
        os.environ["NIMASK_BENCH_NAMED"] = "1"
    n_sub = int(os.environ.get("NIMASK_BENCH_SUBJECTS", "4"))
    named = os.environ.get("NIMASK_BENCH_NAMED") == "1"
    strategies = ", ".join(NAMED_STRATEGIES if named else TOKEN_STRATEGIES)
    SUBJECTS, STRATEGIES = ("01", "02", "03", "04")[:n_sub], NAMED_STRATEGIES if named else TOKEN_STRATEGIES
    what = f"{n_sub} subjects x 300 volumes, 2 atlases (HO, AAL) x {3 if named else 2} strategies ({strategies})"
    prepare()
    if "--maps" in sys.argv:  # worker memory with a 1 mm probabilistic atlas (target < 0.8 GB)
        run_cases({"nimask_batch_maps": CASES["nimask_batch_maps"]}, baseline="nimask_batch_maps",
                  title=f"batch with HO 1 mm maps (113): {n_sub} subjects x 300 volumes, motion24")
        with open(os.path.join(REPO, "benchmarks", "_results", "batch_details_maps.json")) as fh:
            d = json.load(fh)
        print(f"  worker peak RSS {max(r['peak_rss_mb'] for r in d['runs']):.0f} MB (target < 800); fit "
              f"{np.mean([r['fit_s'] for r in d['runs']]):.2f} s, read+extract "
              f"{np.mean([r['read_extract_s'] for r in d['runs']]):.2f} s per run")
        return
    if "--qc" in sys.argv:  # the cost of --qc and --connectome: the same batch with and without them
        run_cases({k: CASES[k] for k in ("nimask_batch_1worker", "nimask_batch_qc")},
                  baseline="nimask_batch_1worker", reference="nimask_batch_1worker", compare=("nimask_batch_qc",),
                  title=f"batch --qc --connectome correlation,partial_correlation: {what}")
        for tag in ("1", "1_qc"):
            with open(os.path.join(REPO, "benchmarks", "_results", f"batch_details_{tag}.json")) as fh:
                d = json.load(fh)
            print(f"  {tag}: batch wall {d['wall_s']:.1f} s; worker peak RSS "
                  f"{max(r['peak_rss_mb'] for r in d['runs']):.0f} MB; clean+write "
                  f"{np.mean([r['clean_write_s'] for r in d['runs']]):.2f} s per run")
        return
    if "--scaling" in sys.argv:  # only 1 vs 2 workers, best of 3 (for a machine shared with other jobs)
        results = run_cases(
            {k: v for k, v in CASES.items() if "batch" in k}, baseline="nimask_batch_1worker",
            reference="nimask_batch_1worker", compare=("nimask_batch_2workers",), repeat=3,
            title=f"batch scaling{' named' if named else ''}: {what}, 1 vs 2 workers",
        )
    else:
        results = run_cases(
            {k: v for k, v in CASES.items() if k not in ("nimask_batch_qc", "nimask_batch_maps")},
            baseline="nilearn_one_by_one",
            reference="nilearn_one_by_one",
            compare=("nimask_one_by_one", "nimask_batch_1worker", "nimask_batch_2workers"),
            title=f"batch{' named' if named else ''}: {what} ({n_sub * 2 * (3 if named else 2)} outputs)",
        )
    by = {r.name: r for r in results}
    notes = {}
    for n in (1, 2):
        path = os.path.join(REPO, "benchmarks", "_results", f"batch_details_{n}.json")
        with open(path) as fh:
            d = json.load(fh)
        peaks = [r["peak_rss_mb"] for r in d["runs"]]
        per_run = [r["total_s"] for r in d["runs"]]
        notes[f"{n} worker(s)"] = (f"batch wall {d['wall_s']:.1f} s; per run {min(per_run):.1f}-{max(per_run):.1f} s "
                                   f"(read+extract {np.mean([r['read_extract_s'] for r in d['runs']]):.1f} s mean); "
                                   f"worker peak RSS {max(peaks):.0f} MB over {len({r['pid'] for r in d['runs']})} "
                                   f"process(es)")
    notes["scaling 1 -> 2 workers"] = (f"{by['nimask_batch_1worker'].wall_s / by['nimask_batch_2workers'].wall_s:.2f}x "
                                       f"({os.cpu_count()} CPUs on this machine)")
    for k, v in notes.items():
        print(f"  {k}: {v}")


if __name__ == "__main__":
    main()
