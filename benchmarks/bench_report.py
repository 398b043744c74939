"""Report generation on the 300-volume run: nimask ``generate_report()`` vs nilearn's.

Run: ``.venv/bin/python benchmarks/bench_report.py``. The masker is fitted and the run
transformed in the untimed set-up; the timed call builds the whole HTML page (mean image of
the run streamed from the file, overlays, carpet plot, tables). Target: a few seconds.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import bench_data, bench_file, run_cases  # noqa: E402

MASK = "tpl-MNI152NLin6Asym_res-02_desc-brain_mask.nii.gz"
ATLAS = "HarvardOxford-cort-maxprob-thr25-2mm.nii.gz"
_STATE: dict = {}


def case_nimask_voxels_setup():
    from nimask.maskers import NiftiMasker

    masker = NiftiMasker(bench_file(MASK), standardize="zscore_sample", detrend=True)
    masker.fit_transform(bench_data())
    _STATE["masker"] = masker


def case_nimask_voxels():
    _STATE["masker"].generate_report().get_html()


def case_nimask_labels_setup():
    from nimask.maskers import NiftiLabelsMasker

    masker = NiftiLabelsMasker(bench_file(ATLAS), standardize="zscore_sample", detrend=True)
    masker.fit_transform(bench_data())
    _STATE["masker"] = masker


def case_nimask_labels():
    _STATE["masker"].generate_report().get_html()


def case_nilearn_voxels_setup():
    import warnings

    from nilearn.maskers import NiftiMasker

    warnings.simplefilter("ignore")
    masker = NiftiMasker(bench_file(MASK), standardize="zscore_sample", detrend=True)
    masker.fit_transform(bench_data())
    _STATE["masker"] = masker


def case_nilearn_voxels():
    _STATE["masker"].generate_report().get_standalone()


def main():
    bench_data()
    run_cases(
        {
            "nimask NiftiMasker report": "bench_report:case_nimask_voxels",
            "nimask LabelsMasker report": "bench_report:case_nimask_labels",
            "nilearn NiftiMasker report": "bench_report:case_nilearn_voxels",
        },
        baseline="nilearn NiftiMasker report",
        title="report: generate_report() of a fitted masker, 300-volume MNI run",
        notes={"timed": "the report call only (fit + transform in the untimed set-up)"},
    )


if __name__ == "__main__":
    main()
