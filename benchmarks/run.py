"""Run every side-by-side benchmark (``make bench``): each script in its own process, in turn.

``benchmarks/run.py [name ...]`` runs only the named scripts (``stream``, ``nifti_masker``,
``labels_masker``, ``maps_spheres``, ...). Tables go to stdout; the figures of each table are
also written to ``benchmarks/_results/*.json``.
"""
from __future__ import annotations

import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv: list[str] | None = None) -> int:
    names = argv if argv is not None else sys.argv[1:]
    scripts = sorted(glob.glob(os.path.join(HERE, "bench_*.py")))
    if names:
        scripts = [s for s in scripts if os.path.basename(s)[len("bench_"):-3] in names]
        if not scripts:
            raise SystemExit(f"no benchmark named {names}; have: "
                             f"{[os.path.basename(s)[6:-3] for s in sorted(glob.glob(os.path.join(HERE, 'bench_*.py')))]}")
    failed = []
    for script in scripts:
        print(f"=== {os.path.basename(script)}", flush=True)
        if subprocess.run([sys.executable, script]).returncode != 0:
            failed.append(os.path.basename(script))
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
