"""nimask against nimask: the nimask cases of the benchmarks, run from two source trees in turn.

``python benchmarks/compare_refs.py OLD_SRC NEW_SRC [--repeat 3] [case ...]`` runs each case
(``bench_nifti_masker:plain_nimask``, ...) in a fresh process with ``OLD_SRC`` then ``NEW_SRC``
first on ``sys.path``, alternating, and prints the best wall time and peak RSS of each side
and their ratio (NEW / OLD). Used to check that a refactor made no case slower.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = [
    "bench_nifti_masker:plain_nimask", "bench_nifti_masker:clean_nimask", "bench_nifti_masker:smooth_nimask",
    "bench_nifti_masker:epi_nimask", "bench_labels_masker:nimask_ho", "bench_labels_masker:nimask_aal",
    "bench_maps_spheres:nimask_maps_1mm", "bench_maps_spheres:nimask_spheres_100",
    "bench_maps_spheres:nimask_spheres_1000",
]
_CHILD = r"""
import importlib, json, sys, time
sys.path[:0] = [{src!r}, {here!r}]
mod, func = {case!r}.split(":")
module = importlib.import_module(mod)
setup = getattr(module, func + "_setup", None)
if setup is not None:
    setup()
t0 = time.perf_counter()
getattr(module, func)()
wall = time.perf_counter() - t0
peak = 0.0
with open("/proc/self/status") as fh:
    for line in fh:
        if line.startswith("VmHWM:"):
            peak = int(line.split()[1]) / 1024.0
print(json.dumps({{"wall": wall, "rss": peak, "src": sys.modules["nimask"].__file__}}))
"""


def _one(src: str, case: str) -> dict:
    code = _CHILD.format(src=os.path.abspath(src), here=HERE, case=case)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_src")
    parser.add_argument("new_src")
    parser.add_argument("cases", nargs="*", default=CASES)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_intermixed_args(argv)  # cases may follow --repeat
    print(f"{'case':40s} {'old s':>7s} {'new s':>7s} {'ratio':>6s} {'old MB':>7s} {'new MB':>7s}")
    for case in args.cases:
        runs = {"old": [], "new": []}
        for _ in range(args.repeat):
            for side, src in (("old", args.old_src), ("new", args.new_src)):
                res = _one(src, case)
                assert res["src"].startswith(os.path.abspath(src)), res["src"]
                runs[side].append(res)
        old = min(r["wall"] for r in runs["old"])
        new = min(r["wall"] for r in runs["new"])
        old_mb = min(r["rss"] for r in runs["old"])
        new_mb = min(r["rss"] for r in runs["new"])
        print(f"{case:40s} {old:7.2f} {new:7.2f} {new / old:6.2f} {old_mb:7.0f} {new_mb:7.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
