"""Catalogue B6 (out of memory) and B7 (disk full) through ``nimask extract`` in a subprocess under a
real resource limit: ``RLIMIT_AS`` makes one run's allocations fail, ``RLIMIT_FSIZE`` (with SIGXFSZ
ignored, so that a write past it fails with ``EFBIG`` as on a full disk with ``ENOSPC``) makes one
run's outputs, or the manifest itself, unwritable.

Each test checks what the batch leaves behind (no partial or temporary file, a manifest that claims
nothing it did not finish, a failures file or message naming the file and the OS error, exit code 1)
and that a rerun without the limit completes with the outputs of an uninterrupted run."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from nimask.__main__ import main
from nimask.batch.atomic import TMP_SUFFIX
from nimask.datasets import write_bids_derivatives

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), PYTHONDONTWRITEBYTECODE="1",
           OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="1")

# Runs the CLI under a resource limit. argv[1]: "fsize" (limit in bytes, SIGXFSZ ignored) or "as"
# (headroom in MiB above the address space in use once the libraries are imported).
_WRAPPER = r"""
import resource, signal, sys
kind, value, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
import numpy, pandas, scipy.ndimage, nibabel
import nimask.__main__, nimask.batch, nimask.maskers, nimask.signal
if kind == "fsize":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (value, value))
else:
    vm = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmSize"))
    limit = vm + (value << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.exit(nimask.__main__.main(argv))
"""


def _limited(kind: str, value: int, argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _WRAPPER, kind, str(value), *argv], env=ENV, capture_output=True,
                          text=True, timeout=180)


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".nimask" not in p.parts}


def _records(out: Path) -> list[dict]:
    path = out / ".nimask" / "manifest.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def _done_runs(out: Path) -> set[str]:
    return {Path(r["run"]).name.split("_")[0] for r in _records(out) if r["status"] == "done"}


def _argv(data, out: Path, strategy: str = "motion6") -> list[str]:
    return ["extract", str(data["root"]), str(out), "--atlas", f"{data['labels']},lut={data['lut']}",
            "--strategy", strategy, "--no-progress"]


@pytest.fixture(scope="module")
def long_sub02(tmp_path_factory):
    """Three runs of 20 volumes, except sub-02's of 400: only its time series are big files."""
    root = tmp_path_factory.mktemp("fsize")
    data, reference = _tree_with_long_sub02(root, 400)
    return data, root, _outputs(reference), reference


def _tree_with_long_sub02(root: Path, n_long: int):
    """(tree, reference output folder): three runs of 20 volumes, sub-02's of ``n_long``."""
    kw = dict(shape=(8, 9, 8), n_regions=4)
    data = write_bids_derivatives(root / "tree", subjects=("01", "02", "03"), n_volumes=20, **kw)
    long = write_bids_derivatives(root / "long", subjects=("02",), n_volumes=n_long, **kw)
    func = data["root"] / "sub-02" / "func"
    shutil.rmtree(func)
    shutil.copytree(long["root"] / "sub-02" / "func", func)
    reference = root / "reference"
    assert main([*_argv(data, reference), "-q"]) == 0
    return data, reference


def _sizes(reference: Path) -> tuple[int, int]:
    """(largest file that must fit, smallest time series of sub-02) of the reference run."""
    files = [p for p in reference.rglob("*") if p.is_file()]
    big = [p.stat().st_size for p in files if p.name.startswith("sub-02") and p.name.endswith("_timeseries.tsv")]
    small = [p.stat().st_size for p in files
             if not (p.name.startswith("sub-02") and p.name.endswith("_timeseries.tsv"))]
    return max(small), min(big)


def _assert_sub02_failed_cleanly(out: Path, reference: dict, error: str) -> None:
    """sub-02's write failed with ``error``; nothing of it is left and the other runs are complete."""
    failures = pd.read_csv(out / "nimask_failures.tsv", sep="\t")
    assert len(failures) == 1 and "sub-02" in failures["run"][0]
    assert failures["error_type"][0] == "OutputWriteError"
    assert error in failures["error"][0]
    # no temporary file, no partial output: the failed run's coverage table (written before the
    # failure) is removed too; the other runs' outputs are those of the uninterrupted run
    assert not list(out.rglob(f"*{TMP_SUFFIX}"))
    got = _outputs(out)
    assert not [rel for rel in got if "sub-02" in rel]
    assert {rel: got[rel] for rel in got if rel != "nimask_failures.tsv"} == \
        {rel: b for rel, b in reference.items() if "sub-02" not in rel}
    # the manifest claims the two finished runs only
    assert _done_runs(out) == {"sub-01", "sub-03"}


@pytest.mark.slow  # a CLI subprocess (~3 s of imports on 2 busy cores)
def test_B7_disk_full_fails_the_run_cleanly_and_the_rerun_completes(long_sub02, tmp_path):
    data, _, reference, ref_dir = long_sub02
    small, big = _sizes(ref_dir)
    assert 2 * small < big  # the limit below separates sub-02's time series from every other file
    limit = (small + big) // 2
    out = tmp_path / "out"
    proc = _limited("fsize", limit, _argv(data, out))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "1 failed" in proc.stdout and "2 done" in proc.stdout
    # the message names the file and the OS error
    assert "FAILED" in proc.stderr and "sub-02" in proc.stderr and "File too large (EFBIG)" in proc.stderr
    _assert_sub02_failed_cleanly(out, reference, "desc-motion6_timeseries.tsv': File too large (EFBIG)")
    failed = [r for r in _records(out) if r["status"] == "failed"]
    assert len(failed) == 1 and "sub-02" in failed[0]["run"]
    # the rerun without the limit does sub-02 only and gives the uninterrupted run's outputs
    assert main([*_argv(data, out), "-q"]) == 0
    assert _outputs(out) == reference
    assert _done_runs(out) == {"sub-01", "sub-02", "sub-03"}


@pytest.mark.slow  # a CLI subprocess (~3 s of imports on 2 busy cores)
def test_B7_unwritable_manifest_stops_with_exit_1_and_claims_nothing(long_sub02, tmp_path):
    data, _, reference, ref_dir = long_sub02
    description = (ref_dir / "dataset_description.json").stat().st_size
    started = [line for line in (ref_dir / ".nimask" / "manifest.jsonl").read_text().splitlines()
               if '"status": "started"' in line]
    limit = max(description, len(started[0]) + 1) + 1  # dataset_description.json fits, the manifest does not
    assert limit < sum(len(line) + 1 for line in started)
    out = tmp_path / "out"
    proc = _limited("fsize", limit, _argv(data, out))
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    manifest = out / ".nimask" / "manifest.jsonl"
    assert f"nimask extract: error: Cannot write {str(manifest)!r}: File too large (EFBIG)." in proc.stderr
    assert "redone by the next 'nimask extract'" in proc.stderr
    assert "done" not in proc.stdout  # no summary claiming success
    assert manifest.read_bytes() == b""  # cut back: no record, no half record
    assert not list(out.rglob("*_timeseries.tsv")) and not list(out.rglob(f"*{TMP_SUFFIX}"))
    assert main([*_argv(data, out), "-q"]) == 0
    assert _outputs(out) == reference


@pytest.mark.slow  # a CLI subprocess and a 16-million-voxel run (~6 s on 2 busy cores)
def test_B6_out_of_memory_in_one_run_is_recorded_and_the_others_go_on(tmp_path):
    data = write_bids_derivatives(tmp_path / "tree", subjects=("01", "02", "03"), shape=(12, 14, 12), n_volumes=20,
                                  n_regions=4)
    # sub-02: the same field of view on a 20x finer grid (240x280x240, 2 volumes): fitting the atlas on
    # its grid needs a few hundred MB, the other runs a few tens (measured: they pass with 80 MiB)
    bold = Path(data["runs"][1])
    small = nib.load(bold)
    affine = small.affine.copy()
    affine[:3, :3] /= 20
    vols = np.zeros(tuple(20 * n for n in small.shape[:3]) + (2,), np.int16)
    vols[::7, ::7, ::7] = 700
    img = nib.Nifti1Image(vols, affine)
    img.header.set_zooms((0.2, 0.2, 0.2, 2.0))
    nib.save(img, bold)
    del vols, img
    strategy = tmp_path / "plain.json"
    strategy.write_text('{"name": "plain", "confounds": []}')
    argv = _argv(data, tmp_path / "out", str(strategy))
    out = tmp_path / "out"
    proc = _limited("as", 150, argv)  # 150 MiB of address space above the imported libraries
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    failures = pd.read_csv(out / "nimask_failures.tsv", sep="\t")
    assert len(failures) == 1 and "sub-02" in failures["run"][0]
    assert failures["error_type"][0] == "MemoryError"
    assert f"out of memory while extracting {str(bold)!r}" in failures["error"][0]
    assert "the other runs go on" in failures["error"][0]
    # the run after the failed one was done, and so was the one before it
    assert _done_runs(out) == {"sub-01", "sub-03"}
    assert not [p for p in _outputs(out) if "sub-02" in p]
    assert not list(out.rglob(f"*{TMP_SUFFIX}"))
    # without the limit the same run succeeds: it was the memory, not the data
    assert main([*argv, "-q"]) == 0
    assert _done_runs(out) == {"sub-01", "sub-02", "sub-03"}


def _mount_tmpfs(folder: Path, size: int) -> bool:
    """Mount a tmpfs of ``size`` bytes on ``folder`` (root with CAP_SYS_ADMIN only); True when mounted."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


@pytest.mark.slow  # two batch runs
def test_B7_real_full_disk_enospc_fails_the_run_cleanly_and_the_rerun_completes(tmp_path):
    """B7 on a real full filesystem (a small tmpfs): ENOSPC, not a file-size limit."""
    data, ref_dir = _tree_with_long_sub02(tmp_path, 3000)
    reference = _outputs(ref_dir)
    page = 4096
    pages = {p: -(-p.stat().st_size // page) or 1 for p in ref_dir.rglob("*") if p.is_file()}
    big = [n for p, n in pages.items() if p.name.startswith("sub-02") and p.name.endswith("_timeseries.tsv")][0]
    small = sum(pages.values()) - big
    size = (2 * small + 8) * page  # room for every other file twice over (temp + rename, failures file)
    assert big * page > size  # sub-02's time series cannot fit
    out = tmp_path / "out"
    out.mkdir()
    if not _mount_tmpfs(out, size):
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        code = main(_argv(data, out))
        assert code == 1
        _assert_sub02_failed_cleanly(out, reference, "_timeseries.tsv': No space left on device (ENOSPC)")
        # space freed: the rerun does sub-02 only and ends with the uninterrupted run's outputs
        assert subprocess.run(["mount", "-o", "remount,size=64m", str(out)], capture_output=True).returncode == 0
        assert main([*_argv(data, out), "-q"]) == 0
        assert _outputs(out) == reference
        assert _done_runs(out) == {"sub-01", "sub-02", "sub-03"}
    finally:
        subprocess.run(["umount", str(out)], capture_output=True)
