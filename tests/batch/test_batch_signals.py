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
    runs: dict[str, set] = {}
    for rel in reference:
        if "_atlas-" in rel:
            runs.setdefault(rel.split("_atlas-")[0], set()).add(rel)
    for run, rels in runs.items():  # every run left all its outputs or none (one cut short removed its own)
        assert not (rels & set(got)) or rels <= set(got), (run, sorted(rels - set(got)))
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


# The CLI, with the job's TSV writers patched: during run 2 (after its first output is written) the main
# thread waits in threading.Condition.wait while another thread sends SIGTERM to the process.
_WAIT_SCRIPT = """
import os, signal, sys, threading, time
import nimask.batch.job as job

calls = []


def main_thread_waits():
    frame = sys._current_frames().get(threading.main_thread().ident)
    return frame is not None and frame.f_code.co_name == "wait" and frame.f_code.co_filename == threading.__file__


def counting(real):
    return lambda *args: tsv(real, *args)


def tsv(real, *args):
    calls.append(1)
    if len(calls) == int(os.environ["NIMASK_TEST_AT"]):
        event = threading.Event()

        def kick():
            deadline = time.monotonic() + 30
            while not main_thread_waits() and time.monotonic() < deadline:
                time.sleep(0.001)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
            event.set()

        threading.Thread(target=kick).start()
        try:
            assert event.wait(60)  # Event.wait -> threading.Condition.wait
        except BaseException as exc:
            print(f"RAISED IN WAIT: {exc!r}", file=sys.stderr)
            raise
        print("WAIT RETURNED", file=sys.stderr)
    return real(*args)


job.tsv_text, job.matrix_tsv_text = counting(job.tsv_text), counting(job.matrix_tsv_text)
from nimask.__main__ import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow  # a CLI process and its rerun
def test_a_signal_during_condition_wait_raises_nothing_there_and_the_run_leaves_no_output(tree, tmp_path):
    """The handler only records the signal: the wait returns normally, the run stops at its next check
    point (removing the output it had written), the batch exits 143 and the same command resumes."""
    data, _, reference = tree
    out = tmp_path / "o"
    per_run = 2 * (1 + 2)  # 2 atlases x (coverage + 2 strategies) tables
    proc = subprocess.run([sys.executable, "-c", _WAIT_SCRIPT, *_argv(data, out)],
                          env=dict(ENV, NIMASK_TEST_AT=str(per_run + 2)), capture_output=True, text=True, timeout=180)
    err = proc.stderr
    assert "WAIT RETURNED" in err and "RAISED IN WAIT" not in err, err
    assert proc.returncode == 143, err
    done = _done_records(out)
    assert len(done) == 1, err
    written = {k for k in _outputs(out) if k.startswith("sub-")}
    assert written == set(done[0]["outputs"])  # run 2 left none of its outputs
    _check_and_resume(data, out, reference, subprocess.CompletedProcess([], 143), err, signal.SIGTERM)


def test_the_handler_only_records_the_signal():
    """Nothing is raised where the signal lands; check() / raise_if_stopping() raise at safe points."""
    import threading

    from nimask.batch.interrupt import Interrupter, raise_if_stopping
    from nimask.exceptions import BatchInterrupted

    old = signal.getsignal(signal.SIGTERM)
    stop = Interrupter()
    with stop:
        raise_if_stopping()  # no signal yet: nothing raised
        signal.raise_signal(signal.SIGTERM)  # the handler raises nothing
        signal.raise_signal(signal.SIGINT)  # ignored: the batch is already stopping
        assert stop.signum == signal.SIGTERM
        with pytest.raises(BatchInterrupted) as info:
            raise_if_stopping()
        assert info.value.signum == signal.SIGTERM and info.value.exit_code == 143
        with pytest.raises(BatchInterrupted):
            stop.check()
        errors = []

        def in_a_thread():  # a thread other than the main one is never stopped by raise_if_stopping
            try:
                raise_if_stopping()
            except BaseException as exc:  # pragma: no cover - the failure reported below
                errors.append(exc)

        t = threading.Thread(target=in_a_thread)
        t.start()
        t.join()
        assert errors == []
    assert signal.getsignal(signal.SIGTERM) is old
    raise_if_stopping()  # outside the Interrupter: nothing raised
    Interrupter().check()


def test_a_signal_landing_in_condition_wait_raises_nothing_there():
    """The catalogue-B5 flake: a handler's exception landing in threading.Condition.wait ("release unlocked
    lock"). Now the wait returns normally and the signal is raised by check() afterwards."""
    import threading

    from nimask.batch.interrupt import Interrupter
    from nimask.exceptions import BatchInterrupted

    cond = threading.Condition()
    state = {"go": False}

    def kick():
        main = threading.main_thread().ident
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            frame = sys._current_frames().get(main)
            if frame is not None and frame.f_code.co_name == "wait" and frame.f_code.co_filename == threading.__file__:
                break
            time.sleep(0.001)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.1)
        with cond:
            state["go"] = True
            cond.notify_all()

    stop = Interrupter()
    with stop:
        t = threading.Thread(target=kick)
        t.start()
        with cond:
            assert cond.wait_for(lambda: state["go"], timeout=60)  # no exception from the wait
        t.join()
        assert stop.signum == signal.SIGINT
        with pytest.raises(BatchInterrupted) as info:
            stop.check()
    assert info.value.exit_code == 130


def _in_a_worker(target, *args) -> int:
    """Run ``target(*args)`` in a forked process set up as a pool worker; return its exit code."""
    import multiprocessing as mp

    from nimask.batch.interrupt import worker_init

    def child():
        worker_init()
        target(*args)
        os._exit(0)

    p = mp.get_context("fork").Process(target=child)
    p.start()
    p.join(60)
    assert p.exitcode is not None
    return p.exitcode


def _worker_run_sigterm_at(task, at: int) -> None:
    import nimask.batch.job as job
    from nimask.batch.interrupt import run_in_worker

    calls = []

    def counting(real):
        def write(*args):
            calls.append(1)
            if len(calls) == at:  # after some outputs of the run are written
                os.kill(os.getpid(), signal.SIGTERM)
            return real(*args)
        return write

    job.tsv_text, job.matrix_tsv_text = counting(job.tsv_text), counting(job.matrix_tsv_text)
    run_in_worker(task)


@pytest.mark.parametrize("at", [2, 5])
def test_a_pool_worker_sent_sigterm_mid_run_removes_the_run_outputs_and_exits(tree, tmp_path, at):
    from nimask.batch import parse_atlas, parse_strategy
    from nimask.batch.bids import find_runs
    from nimask.batch.runner import plan_tasks

    data, _, _ = tree
    out = tmp_path / "o"
    task = plan_tasks(find_runs(str(data["root"]))[:1], [parse_atlas(f"{data['labels']},lut={data['lut']}"),
                      parse_atlas(str(data["maps"]))], [parse_strategy("motion24+wm_csf"),
                      parse_strategy("motion6+scrub0.5")], str(out))[0]
    assert _in_a_worker(_worker_run_sigterm_at, task, at) == 143
    assert [p for p in out.rglob("*") if p.is_file()] == []  # neither outputs nor temporary files


def _idle_worker_sigterm() -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(30)


def _stuck_worker_sigterm(tmp: str) -> None:
    import nimask.batch.interrupt as interrupt
    import nimask.batch.job as job
    from nimask.batch.atomic import IN_PROGRESS

    interrupt.WORKER_GRACE_S = 0.2

    def stuck(task):  # a write in progress that never reaches a check point
        IN_PROGRESS.add(tmp)
        Path(tmp).write_text("partial")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)

    job.run_task = stuck
    interrupt.run_in_worker(None)


def test_an_idle_pool_worker_exits_at_once_and_a_stuck_one_after_its_grace_time(tmp_path):
    t0 = time.monotonic()
    assert _in_a_worker(_idle_worker_sigterm) == 143
    tmp = tmp_path / f".x.tsv.1{TMP_SUFFIX}"
    assert _in_a_worker(_stuck_worker_sigterm, str(tmp)) == 143
    assert not tmp.exists()  # the grace timer removed the write in progress
    assert time.monotonic() - t0 < 20
