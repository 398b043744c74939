"""Catalogue B5: SIGTERM / SIGINT mid-batch end ``nimask extract`` gracefully, in one process, in a
local process pool and on Dask: exit code 128 + signal, no temporary file, the manifest lists the
runs finished so far, no worker left running, and a rerun completes the batch with the outputs of
an uninterrupted run."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nimask.__main__ import main
from nimask.batch.atomic import TMP_SUFFIX
from nimask.datasets import write_bids_derivatives

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
N_RUNS = 12


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".nimask" not in p.parts}


def _argv(data, out, *extra):
    return ["extract", str(data["root"]), str(out), "--atlas", f"{data['labels']},lut={data['lut']}",
            "--atlas", str(data["maps"]), "--strategy", "motion24+wm_csf", "--strategy", "motion6+scrub0.5",
            "--no-progress", *extra]


def _done_records(out: Path) -> list[dict]:
    path = out / ".nimask" / "manifest.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if '"status": "done"' in line]


def _live_in_session(sid: int) -> list[int]:
    """Processes of session ``sid`` still running (zombies excluded)."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
        if int(fields[3]) == sid and fields[0] not in "ZX":
            live.append(int(entry))
    return live


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("signals")
    data = write_bids_derivatives(root, subjects=("01", "02", "03", "04", "05", "06"), sessions=("1", "2"),
                                  shape=(12, 14, 12), n_volumes=30)
    assert main([*_argv(data, root / "reference"), "-q"]) == 0
    return data, root, _outputs(root / "reference")


def _interrupt(data, out: Path, sig: int, *extra: str, group: bool = False):
    """Start the CLI, send ``sig`` once the manifest shows a finished run; return (process, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "nimask", *_argv(data, out, *extra)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not _done_records(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    if group:  # as a terminal's Ctrl-C: the whole process group, workers included
        os.killpg(proc.pid, sig)
    else:  # as kill PID / a job scheduler: the coordinating process only
        os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    return proc, err


def _check_and_resume(data, out: Path, reference: dict, proc, err: str, sig: int) -> None:
    assert proc.returncode == 128 + sig, err
    m = re.search(rf"interrupted by {signal.Signals(sig).name}: (\d+) of {N_RUNS} runs finished; run the same "
                  rf"command again to resume", err)
    assert m, err
    n_done = int(m.group(1))
    done = _done_records(out)
    assert 1 <= n_done == len(done) < N_RUNS  # stopped mid-batch; the manifest has every finished run
    assert "Traceback" not in err, err
    assert not list(out.rglob(f"*{TMP_SUFFIX}"))
    got = _outputs(out)
    for rec in done:  # the finished runs' outputs are complete
        for rel in rec["outputs"]:
            assert got[rel] == reference[rel]
    rerun = subprocess.run([sys.executable, "-m", "nimask", *_argv(data, out, "-v")], env=ENV,
                           capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{N_RUNS} runs found, {n_done} already done, {N_RUNS - n_done} to do" in rerun.stderr
    assert _outputs(out) == reference
    assert not list(out.rglob(f"*{TMP_SUFFIX}"))


@pytest.mark.slow  # a CLI process and its rerun (~3 s of imports each on 2 busy cores)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_in_one_process_stops_gracefully_and_resumes(tree, tmp_path, sig):
    data, _, reference = tree
    out = tmp_path / "o"
    proc, err = _interrupt(data, out, sig)
    _check_and_resume(data, out, reference, proc, err, sig)


@pytest.mark.slow  # worker start-up (~5 s on 2 busy cores)
@pytest.mark.parametrize("sig,group", [(signal.SIGTERM, False), (signal.SIGINT, True)],
                         ids=["SIGTERM-coordinator", "SIGINT-process-group"])
def test_signal_with_a_process_pool_stops_the_workers(tree, tmp_path, sig, group):
    data, _, reference = tree
    out = tmp_path / "o"
    proc, err = _interrupt(data, out, sig, "--n-jobs", "2", group=group)
    assert len({r["pid"] for r in _done_records(out)} - {proc.pid}) >= 1  # the runs ran in workers
    deadline = time.monotonic() + 10  # the forkserver leaves once its parent is gone
    while _live_in_session(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _live_in_session(proc.pid) == []  # no worker keeps running
    _check_and_resume(data, out, reference, proc, err, sig)


@pytest.mark.slow  # cluster start-up (~10 s on 2 busy cores)
def test_sigterm_with_dask_cancels_the_queued_runs(tree, tmp_path):
    import distributed
    data, _, reference = tree
    out = tmp_path / "o"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        proc, err = _interrupt(data, out, signal.SIGTERM, "--dask-scheduler", cluster.scheduler_address)
        deadline = time.monotonic() + 30  # a task already running on the worker finishes there
        while any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(client.processing().values())
        time.sleep(0.5)
        n_written = len({k.split("_task")[0] for k in _outputs(out) if k.endswith("_timeseries.tsv")})
        assert n_written <= len(_done_records(out)) + 1 < N_RUNS  # the queued runs were cancelled
    _check_and_resume(data, out, reference, proc, err, signal.SIGTERM)


def test_a_signal_whose_exception_was_swallowed_still_stops_the_batch():
    """The handler's exception can be lost (a signal landing in a __del__); check() raises it again."""
    import signal as _signal

    from nimask.batch.interrupt import Interrupter
    from nimask.exceptions import BatchInterrupted

    stop = Interrupter()
    with stop:
        try:
            _signal.raise_signal(_signal.SIGTERM)
        except BatchInterrupted:
            pass  # what "Exception ignored in __del__" amounts to
        with pytest.raises(BatchInterrupted) as info:
            stop.check()
    assert info.value.signum == _signal.SIGTERM and info.value.exit_code == 143
    Interrupter().check()  # no signal: nothing raised
