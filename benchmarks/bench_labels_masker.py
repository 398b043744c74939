"""Labels maskers on the 300-volume run (int16, MNI 2 mm, 91x109x91).

Run: ``.venv/bin/python benchmarks/bench_labels_masker.py``.
Cases, each in a fresh process (wall time and peak RSS):
* Harvard-Oxford cortical max-prob 2 mm (48 regions, same grid as the data) with
  ``detrend=True, standardize="zscore_sample"`` and the 12 motion confounds of the run's
  TSV (the ``n/a`` of the first derivative row set to 0), nilearn vs nimask;
* AAL (120 regions) on another 2 mm grid (75x92x75, resampled to the data at fit), same
  cleaning, nilearn vs nimask.
Targets: <= 0.15x wall and <= 0.2x peak RSS of nilearn, same numbers (<= 1e-6 relative).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import bench_data, bench_file, run_cases  # noqa: E402

HO = "HarvardOxford-cort-maxprob-thr25-2mm.nii.gz"
AAL = "atlas_aal.nii.gz"
PARAMS = dict(detrend=True, standardize="zscore_sample")


def _confounds():
    import pandas as pd

    path = bench_data().replace("_bold.nii.gz", "_desc-confounds_timeseries.tsv")
    return pd.read_csv(path, sep="\t").fillna(0).to_numpy()[:, :12]


def _run(klass, atlas):
    return klass(bench_file(atlas), **PARAMS).fit_transform(bench_data(), confounds=_confounds())


def _nilearn(atlas):
    from nilearn.maskers import NiftiLabelsMasker

    return _run(NiftiLabelsMasker, atlas)


def _nimask(atlas):
    from nimask.maskers import NiftiLabelsMasker

    return _run(NiftiLabelsMasker, atlas)


def nilearn_ho_setup():
    import nilearn.maskers  # noqa: F401
    import pandas  # noqa: F401


def nilearn_ho():
    return _nilearn(HO)


def nimask_ho_setup():
    import pandas  # noqa: F401

    import nimask.maskers  # noqa: F401


def nimask_ho():
    return _nimask(HO)


nilearn_aal_setup = nilearn_ho_setup
nimask_aal_setup = nimask_ho_setup


def nilearn_aal():
    return _nilearn(AAL)


def nimask_aal():
    return _nimask(AAL)


def main() -> None:
    bench_data()
    run_cases(
        {"nilearn HO 2mm": "bench_labels_masker:nilearn_ho", "nimask HO 2mm": "bench_labels_masker:nimask_ho"},
        baseline="nilearn HO 2mm", reference="nilearn HO 2mm", compare=("nimask HO 2mm",),
        title="labels_masker_ho: 300 vols, Harvard-Oxford 2 mm, detrend + zscore_sample + 12 confounds",
    )
    run_cases(
        {"nilearn AAL": "bench_labels_masker:nilearn_aal", "nimask AAL": "bench_labels_masker:nimask_aal"},
        baseline="nilearn AAL", reference="nilearn AAL", compare=("nimask AAL",),
        title="labels_masker_aal: 300 vols, AAL on another grid (resampled to the data), same cleaning",
    )


if __name__ == "__main__":
    main()
