"""Side-by-side benchmark runner: each case runs in a fresh subprocess, timed and measured.

A benchmark script defines cases as ``{name: "module:function"}`` callables that take no
argument and return an array (or anything ``numpy.asarray`` accepts, or None). An optional
``function_setup()`` in the same module runs first, untimed (imports, small inputs). :func:`run_cases` runs
each one in its own Python process (so peak RSS is per case), records wall time of the call
and the process's peak RSS (``VmHWM``: its own high-water mark), compares outputs with a reference case (max
relative error) and prints a table with ratios against a baseline case.

Data: :func:`bench_data` generates the 300-volume run once (``benchmarks/_data/``, git-ignored)
with ``shared/bench/gen_bold.py``; ``shared/`` is found at ``../shared`` from the repo root,
or at ``$NIMASK_SHARED``.
"""
from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(REPO, "benchmarks", "_data")


def shared_dir() -> str:
    """The shared/ folder (``$NIMASK_SHARED`` or ``../shared`` from the repo root)."""
    path = os.environ.get("NIMASK_SHARED", os.path.join(REPO, "..", "shared"))
    if not os.path.isdir(os.path.join(path, "bench")):
        raise SystemExit(f"shared/bench not found at {path!r}; set NIMASK_SHARED to the shared folder.")
    return os.path.abspath(path)


def bench_file(name: str) -> str:
    """A file of shared/bench/data (templates, masks, atlases)."""
    return os.path.join(shared_dir(), "bench", "data", name)


def bench_data(volumes: int = 300) -> str:
    """Path of the generated BOLD run (generated once, cached under benchmarks/_data)."""
    out_dir = DATA_DIR if volumes == 300 else os.path.join(DATA_DIR, f"v{volumes}")
    path = os.path.join(out_dir, "sub-01_task-rest_bold.nii.gz")
    if not os.path.exists(path):
        os.makedirs(out_dir, exist_ok=True)
        gen = os.path.join(shared_dir(), "bench", "gen_bold.py")
        subprocess.run([sys.executable, gen, out_dir, "--volumes", str(volumes)], check=True)
    return path


@dataclass
class Result:
    name: str
    wall_s: float
    peak_rss_mb: float
    out_path: str | None


_CHILD = r"""
import importlib, resource, sys, time, numpy as np
sys.path.insert(0, {bench_dir!r})
mod, func = {target!r}.split(":")
module = importlib.import_module(mod)
fn = getattr(module, func)
setup = getattr(module, func + "_setup", None)
if setup is not None:  # imports and inputs, outside the timed call
    setup()
t0 = time.perf_counter()
out = fn()
wall = time.perf_counter() - t0
def _peak_rss_mb():
    # VmHWM is this process's own high-water mark; ru_maxrss also counts the parent's
    # peak at fork time (Linux keeps it across exec), which inflated small cases.
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
rss = _peak_rss_mb()
if out is not None and {out_path!r}:
    np.save({out_path!r}, np.asarray(out))
print("__RESULT__", wall, rss)
"""


def run_case(name: str, target: str, keep_output: bool, tmpdir: str) -> Result:
    """Run ``target`` ("module:function" importable from benchmarks/) in a fresh process."""
    out_path = os.path.join(tmpdir, f"{name}.npy") if keep_output else ""
    code = _CHILD.format(bench_dir=os.path.dirname(os.path.abspath(__file__)), target=target, out_path=out_path)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark case {name!r} failed:\n{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("__RESULT__")][-1]
    _, wall, rss = line.split()
    return Result(name, float(wall), float(rss), out_path or None)


def max_rel_err(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, np.finfo(np.float64).tiny)
    return float(np.max(np.abs(a - b)) / scale) if b.size else 0.0


def run_cases(cases: dict[str, str], *, baseline: str, reference: str | None = None,
              compare: tuple[str, ...] = (), repeat: int = 1, title: str = "",
              notes: dict[str, str] | None = None) -> list[Result]:
    """Run every case (best of ``repeat``), check outputs, print the table and return results.

    Parameters
    ----------
    cases : {name: "module:function"}
    baseline : name of the case the ratios are computed against (e.g. the nilearn case)
    reference : name of the case whose output the ``compare`` cases are checked against
    compare : names of the cases whose outputs are compared with ``reference``
    """
    results: dict[str, Result] = {}
    errors: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, target in cases.items():
            keep = name in compare or name == reference
            runs = [run_case(name, target, keep, tmp) for _ in range(repeat)]
            results[name] = min(runs, key=lambda r: r.wall_s)
            results[name].peak_rss_mb = max(r.peak_rss_mb for r in runs)
        if reference is not None:
            ref = np.load(results[reference].out_path)
            for name in compare:
                errors[name] = max_rel_err(np.load(results[name].out_path), ref)
    base = results[baseline]
    print(f"\n{title}")
    print(f"{'case':<28}{'wall s':>9}{'peak RSS MB':>13}{'time ratio':>12}{'RSS ratio':>11}{'max rel err':>13}")
    for name, r in results.items():
        err = f"{errors[name]:.2e}" if name in errors else ""
        print(f"{name:<28}{r.wall_s:>9.3f}{r.peak_rss_mb:>13.1f}{r.wall_s / base.wall_s:>12.2f}"
              f"{r.peak_rss_mb / base.peak_rss_mb:>11.2f}{err:>13}")
    for key, text in (notes or {}).items():
        print(f"  {key}: {text}")
    record = {n: {"wall_s": r.wall_s, "peak_rss_mb": r.peak_rss_mb, "max_rel_err": errors.get(n)}
              for n, r in results.items()}
    os.makedirs(os.path.join(REPO, "benchmarks", "_results"), exist_ok=True)
    slug = (title or "bench").split(":")[0].strip().replace(" ", "_")
    with open(os.path.join(REPO, "benchmarks", "_results", f"{slug}.json"), "w") as fh:
        json.dump(record, fh, indent=1)
    return list(results.values())


def decode_only(path: str) -> None:
    """The decompression floor: isal decoding ``path`` 8 MB at a time into nothing (no masking, no copy)."""
    from isal import isal_zlib

    dec = isal_zlib.decompressobj(wbits=31)
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            while block:
                dec.decompress(block, 8 << 20)
                block = dec.unconsumed_tail


def timed(fn, *args, **kwargs):
    """(result, seconds) of one call; handy inside case functions."""
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


__all__ = ["bench_data", "bench_file", "decode_only", "max_rel_err", "run_case", "run_cases", "shared_dir",
           "timed"]
del importlib
