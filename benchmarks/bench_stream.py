"""Streamed masked read of the 300-volume run vs plain decompression, nibabel and nilearn.

Run: ``.venv/bin/python benchmarks/bench_stream.py`` (generates the data on first use).
Cases: nimask ``gather_masked`` (streamed, isal), (a) plain isal decompression of the same
file into a reused buffer (no parsing, the floor), (b) ``nibabel.load`` + ``data[mask]``,
(c) nilearn ``apply_mask``. Targets: time within 1.5x of (a); peak RSS near the output
matrix (300 x n_voxels float32).
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _harness import bench_data, bench_file, run_cases  # noqa: E402

MASK = "tpl-MNI152NLin6Asym_res-02_desc-brain_mask.nii.gz"


_STATE: dict = {}


def _mask_bool():
    import nibabel as nib
    import numpy as np

    return np.asarray(nib.load(bench_file(MASK)).dataobj) > 0


def case_nimask_setup():
    import nimask._nifti_io  # noqa: F401

    _STATE["mask"] = _mask_bool()


def case_nimask():
    from nimask._nifti_io import gather_masked

    return gather_masked(bench_data(), _STATE["mask"])


def case_plain_isal_setup():
    import numpy  # noqa: F401
    from isal import isal_zlib  # noqa: F401


def case_plain_isal():
    import numpy as np
    from isal import isal_zlib

    dec = isal_zlib.decompressobj(wbits=31)
    buf = np.empty(8 << 20, np.uint8)
    with open(bench_data(), "rb") as fh:
        while True:
            data = fh.read(1 << 20)
            if not data:
                break
            while data:
                out = dec.decompress(data, len(buf))
                buf[: len(out)] = np.frombuffer(out, np.uint8)
                data = dec.unconsumed_tail
    return None


def case_nibabel_setup():
    _STATE["mask"] = _mask_bool()


def case_nibabel():
    import nibabel as nib
    import numpy as np

    data = np.asanyarray(nib.load(bench_data()).dataobj)
    return data[_STATE["mask"]].T.astype(np.float32)


def case_nilearn_setup():
    import nilearn.masking  # noqa: F401


def case_nilearn():
    from nilearn.masking import apply_mask

    return apply_mask(bench_data(), bench_file(MASK))


def main():
    import numpy as np

    bench_data()
    n_vox = int(_mask_bool().sum())
    out_mb = 300 * n_vox * 4 / 2**20
    cases = {
        "nimask gather_masked": "bench_stream:case_nimask",
        "plain isal decompress": "bench_stream:case_plain_isal",
        "nibabel load + data[mask]": "bench_stream:case_nibabel",
        "nilearn apply_mask": "bench_stream:case_nilearn",
    }
    run_cases(
        cases,
        baseline="nilearn apply_mask",
        reference="nilearn apply_mask",
        compare=("nimask gather_masked", "nibabel load + data[mask]"),
        repeat=int(os.environ.get("BENCH_REPEAT", "1")),
        title="bench_stream: masked read of a 300-volume int16 .nii.gz run (91x109x91)",
        notes={"output matrix": f"300 x {n_vox} float32 = {out_mb:.1f} MB", "numpy": np.__version__},
    )


if __name__ == "__main__":
    main()
