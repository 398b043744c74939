"""Run every side-by-side benchmark (``make bench``): each script in its own process, in turn.

``bench_floor.py`` (one table: every masker case against the isal decompression floor, nilearn's ratio
and the max relative error) and ``bench_scaling.py`` (the marginal cost of atlases x strategies in one read,
and the growth table: time and peak RSS against the number of volumes and a 1 mm grid) run first, then the
other scripts in alphabetical order.

``benchmarks/run.py [name ...]`` runs only the named scripts (``floor``, ``scaling``, ``stream``,
``nifti_masker``, ``labels_masker``, ``maps_spheres``, ...), in the order given. Tables go to stdout; the
figures of each table are also written to ``benchmarks/_results/*.json``.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIRST = ("floor", "scaling")


def _names() -> list[str]:
    names = [os.path.basename(s)[len("bench_"):-3] for s in sorted(glob.glob(os.path.join(HERE, "bench_*.py")))]
    return [n for n in FIRST if n in names] + [n for n in names if n not in FIRST]


def main(argv: list[str] | None = None) -> int:
    names = argv if argv is not None else sys.argv[1:]
    known = _names()
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"no benchmark named {unknown}; have: {known}")
    failed = []
    for name in names or known:
        script = os.path.join(HERE, f"bench_{name}.py")
        print(f"=== {os.path.basename(script)}", flush=True)
        if subprocess.run([sys.executable, script]).returncode != 0:
            failed.append(os.path.basename(script))
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
