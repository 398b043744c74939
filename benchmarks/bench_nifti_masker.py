"""NiftiMasker: nimask vs nilearn on the 300-volume run, each case in its own process.

Run: ``.venv/bin/python benchmarks/bench_nifti_masker.py [case ...]`` (cases: plain, clean,
smooth, epi; default all). The data are generated on first use (``benchmarks/_data``).

Cases (targets: nimask wall time <= 0.15x, 0.05x, 0.2x, 0.2x of nilearn's, peak RSS
<= 0.4x, outputs equal within 1e-6 relative):

* ``plain``: given brain mask, no cleaning;
* ``clean``: detrend + standardize="zscore_sample" + band-pass 0.01-0.1 Hz, t_r=2, 12
  confounds (the tsv next to the run; its ``n/a`` first row filled with 0 for both);
* ``smooth``: smoothing_fwhm=6;
* ``epi``: ``mask_strategy="epi"`` fit (output: the mask).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import bench_data, bench_file, run_cases  # noqa: E402

MASK = "tpl-MNI152NLin6Asym_res-02_desc-brain_mask.nii.gz"
CLEAN = {"detrend": True, "standardize": "zscore_sample", "low_pass": 0.1, "high_pass": 0.01, "t_r": 2.0}
_STATE: dict = {}


def _confounds():
    import numpy as np

    path = bench_data().replace("_bold.nii.gz", "_desc-confounds_timeseries.tsv")
    with open(path) as fh:
        fh.readline()
        rows = [[0.0 if v == "n/a" else float(v) for v in line.strip().split("\t")] for line in fh if line.strip()]
    return np.asarray(rows)[:, :12]


def _setup(lib):
    import warnings

    warnings.simplefilter("ignore")
    if lib == "nimask":
        import nimask.maskers as maskers
        import nimask.signal  # noqa: F401
    else:
        import nilearn.maskers as maskers
    _STATE["cls"] = maskers.NiftiMasker
    _STATE["confounds"] = _confounds()
    bench_data()


def _plain():
    return _STATE["cls"](mask_img=bench_file(MASK)).fit_transform(bench_data())


def _clean():
    masker = _STATE["cls"](mask_img=bench_file(MASK), **CLEAN)
    return masker.fit_transform(bench_data(), confounds=_STATE["confounds"])


def _smooth():
    return _STATE["cls"](mask_img=bench_file(MASK), smoothing_fwhm=6).fit_transform(bench_data())


def _epi():
    import numpy as np

    masker = _STATE["cls"](mask_strategy="epi").fit(bench_data())
    return np.asarray(masker.mask_img_.dataobj)


for _case in ("plain", "clean", "smooth", "epi"):
    for _lib in ("nimask", "nilearn"):
        globals()[f"{_case}_{_lib}_setup"] = (lambda lib: lambda: _setup(lib))(_lib)
        globals()[f"{_case}_{_lib}"] = globals()[f"_{_case}"]

TARGETS = {"plain": 0.15, "clean": 0.05, "smooth": 0.2, "epi": 0.2}


def main(argv=None):
    import subprocess

    import numpy as np

    cases = (argv or sys.argv[1:]) or list(TARGETS)
    bench_data()
    if len(cases) > 1:  # one parent per case: Linux children inherit the parent's peak RSS
        for case in cases:
            subprocess.run([sys.executable, os.path.abspath(__file__), case], check=True)
        return
    for case in cases:
        run_cases(
            {f"nimask {case}": f"bench_nifti_masker:{case}_nimask",
             f"nilearn {case}": f"bench_nifti_masker:{case}_nilearn"},
            baseline=f"nilearn {case}",
            reference=f"nilearn {case}",
            compare=(f"nimask {case}",),
            repeat=int(os.environ.get("BENCH_REPEAT", "1")),
            title=f"nifti_masker_{case}: NiftiMasker {case} on the 300-volume int16 .nii.gz run (91x109x91)",
            notes={"targets": f"time ratio <= {TARGETS[case]}, RSS ratio <= 0.4, max rel err <= 1e-6",
                   "numpy": np.__version__, "cpus": str(os.cpu_count())},
        )


if __name__ == "__main__":
    main()
