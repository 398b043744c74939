"""Maps masker (Harvard-Oxford probabilistic, 113 maps) and spheres masker on the 300-volume run.

Run: ``.venv/bin/python benchmarks/bench_maps_spheres.py``.
Cases, each in a fresh process (wall time and peak RSS):
* maps: nilearn ``NiftiMapsMasker`` with the 1 mm atlas (resampled to the data at fit, the
  documented 42 s / 4.2 GB case), nilearn and nimask with the atlas already on the data grid
  (extraction alone; the atlas is resampled once by nilearn, untimed, in ``main``), and nimask
  with the 1 mm atlas (resampled at fit);
* spheres: 100 seeds r=6 mm and 1000 seeds r=10 mm (allow_overlap=True) drawn inside the brain mask,
  beside isal decoding the same file and nothing else (the decompression floor).
Targets: maps <= 0.1x wall and <= 0.2x peak RSS; spheres <= 0.05x wall. The spheres' "max rel
err" is nilearn's truncation of integer sphere means (the run is int16), which nimask does not copy.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import DATA_DIR, bench_data, bench_file, decode_only, run_cases  # noqa: E402

ATLAS = "atlas_harvard_oxford.nii.gz"
MASK = "tpl-MNI152NLin6Asym_res-02_desc-brain_mask.nii.gz"
ATLAS_2MM = os.path.join(DATA_DIR, "atlas_harvard_oxford_on_bold.nii.gz")


def _seeds(n, seed):
    import nibabel as nib
    import numpy as np

    mask = nib.load(bench_file(MASK))
    ijk = np.argwhere(np.asarray(mask.dataobj) > 0)
    pick = ijk[np.random.default_rng(seed).choice(len(ijk), n, replace=False)]
    return (pick @ mask.affine[:3, :3].T + mask.affine[:3, 3]).tolist()


def _nilearn_maps(atlas):
    from nilearn.maskers import NiftiMapsMasker

    return NiftiMapsMasker(atlas).fit_transform(bench_data())


def _nimask_maps(atlas):
    from nimask.maskers.nifti_maps_masker import NiftiMapsMasker

    return NiftiMapsMasker(atlas).fit_transform(bench_data())


def nilearn_maps_1mm_setup():
    import nilearn.maskers  # noqa: F401


def nilearn_maps_1mm():
    return _nilearn_maps(bench_file(ATLAS))


def nilearn_maps_setup():
    import nilearn.maskers  # noqa: F401


def nilearn_maps():
    return _nilearn_maps(ATLAS_2MM)


def nimask_maps_setup():
    import nimask.maskers.nifti_maps_masker  # noqa: F401


def nimask_maps():
    return _nimask_maps(ATLAS_2MM)


def nimask_maps_1mm_setup():
    import nimask.maskers.nifti_maps_masker  # noqa: F401


def nimask_maps_1mm():
    return _nimask_maps(bench_file(ATLAS))


def isal_decode_only_setup():
    from isal import isal_zlib  # noqa: F401


def isal_decode_only():
    """The decompression floor: the file decoded 8 MB at a time into nothing (no masking, no copy)."""
    decode_only(bench_data())


def _spheres(klass, n, radius, seed):
    return klass(_seeds(n, seed), radius=radius, allow_overlap=True).fit_transform(bench_data())


def nilearn_spheres_100_setup():
    import nilearn.maskers  # noqa: F401


def nilearn_spheres_100():
    from nilearn.maskers import NiftiSpheresMasker

    return _spheres(NiftiSpheresMasker, 100, 6.0, 0)


def nimask_spheres_100_setup():
    import nimask.maskers.nifti_spheres_masker  # noqa: F401


def nimask_spheres_100():
    from nimask.maskers.nifti_spheres_masker import NiftiSpheresMasker

    return _spheres(NiftiSpheresMasker, 100, 6.0, 0)


def nilearn_spheres_1000_setup():
    import nilearn.maskers  # noqa: F401


def nilearn_spheres_1000():
    from nilearn.maskers import NiftiSpheresMasker

    return _spheres(NiftiSpheresMasker, 1000, 10.0, 1)


def nimask_spheres_1000_setup():
    import nimask.maskers.nifti_spheres_masker  # noqa: F401


def nimask_spheres_1000():
    from nimask.maskers.nifti_spheres_masker import NiftiSpheresMasker

    return _spheres(NiftiSpheresMasker, 1000, 10.0, 1)


def main():
    import nibabel as nib
    from nilearn.image import resample_to_img

    bold = bench_data()
    if not os.path.exists(ATLAS_2MM):
        ref = nib.load(bold).slicer[..., :1]
        resample_to_img(bench_file(ATLAS), ref, interpolation="linear", copy_header=True,
                        force_resample=True).to_filename(ATLAS_2MM)
    which = sys.argv[1:] or ["maps", "spheres"]
    if "maps" in which:
        cases = {"nilearn maps (1 mm atlas)": "bench_maps_spheres:nilearn_maps_1mm",
                 "nilearn maps (atlas on grid)": "bench_maps_spheres:nilearn_maps",
                 "nimask maps (atlas on grid)": "bench_maps_spheres:nimask_maps",
                 "nimask maps (1 mm atlas)": "bench_maps_spheres:nimask_maps_1mm"}
        compare = ("nimask maps (atlas on grid)", "nimask maps (1 mm atlas)")
        run_cases(cases, baseline="nilearn maps (1 mm atlas)", reference="nilearn maps (atlas on grid)",
                  compare=compare, title="maps_masker: HarvardOxford prob. 113 maps, 300 volumes")
    if "spheres" in which:
        for n in (100, 1000):
            # the decompression floor: plain isal decoding of the same .nii.gz, nothing else
            run_cases({f"nilearn spheres {n}": f"bench_maps_spheres:nilearn_spheres_{n}",
                       f"nimask spheres {n}": f"bench_maps_spheres:nimask_spheres_{n}",
                       "isal decode only (floor)": "bench_maps_spheres:isal_decode_only"},
                      baseline=f"nilearn spheres {n}", reference=f"nilearn spheres {n}",
                      compare=(f"nimask spheres {n}",), title=f"spheres_masker_{n}: 300 volumes",
                      notes={"floor": "isal decoding the file 8 MB at a time, nothing else: a single "
                                      "gzip stream decodes on one core (parallel gzip, rapidgzip 0.16 with "
                                      "2 threads, was slower in the pipeline and took 5x the memory)",
                             "max rel err": "the run is int16: nilearn truncates each sphere mean to an "
                                            "integer, nimask does not (deliberate fix, catalogue D12), so "
                                            "the error is nilearn's truncation (< 1 unit)"})


if __name__ == "__main__":
    main()
