"""Resume and safety: SIGKILL mid-run, then a rerun gives the uninterrupted outputs; atomic files."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from nimask.__main__ import main
from nimask.batch.atomic import TMP_SUFFIX, atomic_write_text, remove_stale_temporaries
from nimask.batch.manifest import Manifest
from nimask.datasets import write_bids_derivatives

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".nimask" not in p.parts}


def _argv(data, out):
    return ["extract", str(data["root"]), str(out), "--atlas", f"{data['labels']},lut={data['lut']}",
            "--atlas", str(data["maps"]), "--strategy", "motion24+wm_csf", "--strategy", "motion6+scrub0.5",
            "--no-progress"]


def _done_lines(out: Path) -> int:
    path = out / ".nimask" / "manifest.jsonl"
    if not path.exists():
        return 0
    return sum('"status": "done"' in line for line in path.read_text().splitlines())


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = write_bids_derivatives(root, subjects=("01", "02", "03", "04"), sessions=("1", "2"), shape=(14, 16, 14),
                                  n_volumes=40)
    reference = root / "reference"
    assert main([*_argv(data, reference), "-q"]) == 0
    return data, root, _outputs(reference)


@pytest.mark.slow  # two CLI processes (~3 s of imports each on 2 busy cores)
def test_sigkill_mid_run_then_rerun_gives_the_uninterrupted_outputs(tree):
    data, root, reference = tree
    out = root / "killed"
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "nimask", *_argv(data, out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while _done_lines(out) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 of the whole job
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the job finished before it could be killed"
    n_done = _done_lines(out)
    assert 2 <= n_done < 8  # killed mid-batch: some runs done, others not
    # the rerun redoes exactly the unfinished runs
    rerun = subprocess.run([sys.executable, "-m", "nimask", *_argv(data, out), "-v"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{n_done} already done" in rerun.stderr
    assert _outputs(out) == reference
    assert not list(out.rglob(f"*{TMP_SUFFIX}"))
    for tsv in out.rglob("*_timeseries.tsv"):  # every file complete and parseable
        assert len(pd.read_csv(tsv, sep="\t", na_values="n/a")) > 0
    for side in out.rglob("*_timeseries.json"):
        json.loads(side.read_text())


def test_rerun_skips_done_runs_and_redoes_incomplete_ones(tree, tmp_path):
    data, root, reference = tree
    out = tmp_path / "o"
    assert main([*_argv(data, out), "-q"]) == 0
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*_timeseries.tsv")}
    assert main([*_argv(data, out), "-q"]) == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*_timeseries.tsv")} == first  # nothing rewritten
    # a deleted output: only that run is redone (its other outputs are its own: no --overwrite needed);
    # changed inputs are test_batch_overwrite.py's
    gone = next(out.rglob("sub-03_ses-2_*desc-motion6scrub0p5_timeseries.tsv"))
    gone.unlink()
    assert main([*_argv(data, out), "-q"]) == 0
    again = {p: p.stat().st_mtime_ns for p in out.rglob("*_timeseries.tsv")}
    changed = sorted({p.name.split("_task")[0] for p in again if again[p] != first.get(p)})
    assert changed == ["sub-03_ses-2"]
    assert _outputs(out) == reference


def test_truncated_manifest_line_is_ignored(tree, tmp_path):
    data, _, reference = tree
    out = tmp_path / "o"
    assert main([*_argv(data, out), "-q"]) == 0
    path = out / ".nimask" / "manifest.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # as if killed mid-write
    def n_done(manifest):
        return sum(rec["status"] == "done" for rec in manifest._latest.values())

    assert n_done(Manifest(out)) == 7  # the cut record's run is "started" again, not done
    assert main([*_argv(data, out), "-q"]) == 0
    assert n_done(Manifest(out)) == 8
    assert _outputs(out) == reference


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "a" / "x.tsv"
    atomic_write_text(target, "one\n")

    class Boom(str):
        def encode(self, *a):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(target, Boom("two\n"))
    assert target.read_text() == "one\n"
    assert not list(tmp_path.rglob(f"*{TMP_SUFFIX}"))
    # a temporary file of a dead process is removed, one of a live process is kept
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / "a" / f".x.tsv.{dead.pid}{TMP_SUFFIX}"
    live = tmp_path / "a" / f".y.tsv.{os.getppid()}{TMP_SUFFIX}"
    stale.write_text("partial")
    live.write_text("partial")
    assert remove_stale_temporaries(tmp_path) == [str(stale)]
    assert live.exists()


def test_second_concurrent_batch_is_refused(tree, tmp_path):
    import fcntl

    data, _, _ = tree
    out = tmp_path / "o"
    (out / ".nimask").mkdir(parents=True)
    with open(out / ".nimask" / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert main([*_argv(data, out), "-q"]) == 2
