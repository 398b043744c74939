"""Running a batch: plan the runs, skip the finished ones, execute, record, report progress.

:func:`extract_batch` is the Python API of ``nimask extract``. The runs are executed

* in this process (``n_jobs=1``, no client),
* in ``n_jobs`` local worker processes (``concurrent.futures.ProcessPoolExecutor``), or
* on a Dask distributed cluster (``client=`` a ``distributed.Client``, or
  ``dask_scheduler=`` its address). Each task carries paths and parameters only; the
  workers read the files themselves and send back a small record.

This process alone writes the manifest and the failures file, after each run returns.

An existing output file that no earlier run of the same task and inputs wrote is not
replaced unless ``overwrite=True`` (catalogue B8; :meth:`Manifest.owns`). SIGINT and
SIGTERM stop the batch gracefully (catalogue B5, :mod:`~nimask.batch.interrupt`): the run
in progress aborts its atomic write, local workers are stopped, queued Dask tasks are
cancelled, the manifest keeps the runs finished so far, and
:class:`~nimask.exceptions.BatchInterrupted` is raised with the summary.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..exceptions import BatchInterrupted, OutputExistsError, ParameterError, StrictModeError
from .atlases import AtlasSpec
from .atomic import atomic_write_text, remove_stale_temporaries
from .bids import BoldRun, find_runs
from .interrupt import POLL_S, Interrupter, run_in_worker, stop_processes, worker_init
from .job import RunTask, output_paths, run_task
from .manifest import Manifest, file_fingerprint, task_key
from .strategies import Strategy, unique_strategies

__all__ = ["extract_batch", "BatchSummary", "plan_tasks", "FAILURES_FILE"]

FAILURES_FILE = "nimask_failures.tsv"
log = logging.getLogger("nimask.batch")


@dataclass
class BatchSummary:
    """What a batch did."""

    n_runs: int = 0
    done: list = field(default_factory=list)  # records of the runs done now
    skipped: list = field(default_factory=list)  # bold paths already done
    failed: list = field(default_factory=list)  # records of the failed (or refused) runs
    wall_s: float = 0.0
    interrupted: int | None = None  # the signal that stopped the batch
    earlier_warnings: dict = field(default_factory=dict)  # skipped run -> warnings of the batch that did it

    @property
    def exit_code(self) -> int:
        """0: every run is done; 1: at least one run failed."""
        return 1 if self.failed else 0

    @property
    def warnings(self) -> list[dict]:
        """The warnings of the runs done now: ``{"run", "category", "message"}`` each (also in the
        outputs' JSON sidecars, ``Warnings``)."""
        return [{"run": rec["run"], **w} for rec in self.done for w in _as_warning_records(rec.get("warnings"))]

    def warning_counts(self) -> dict[str, tuple[int, int]]:
        """``{category: (warnings, runs)}`` of :attr:`warnings`, most frequent first."""
        counts: dict[str, list] = {}
        for w in self.warnings:
            entry = counts.setdefault(w["category"], [0, set()])
            entry[0] += 1
            entry[1].add(w["run"])
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return {k: (n, len(runs)) for k, (n, runs) in ordered}

    @property
    def peak_rss_mb(self) -> float:
        values = [r.get("peak_rss_mb", 0.0) for r in self.done + self.failed]
        return max(values) if values else 0.0


def _as_warning_records(items) -> list[dict]:
    """Warnings of a run record as ``{"category", "message"}`` (older manifests hold plain strings)."""
    return [w if isinstance(w, dict) else {"category": "Warning", "message": str(w)} for w in items or []]


def plan_tasks(runs: list[BoldRun], atlases, strategies, output_dir: str, *, allow_no_mask: bool = False,
               strict: bool = False, t_r: float | None = None, censor: str = "drop") -> list[RunTask]:
    """One :class:`RunTask` per run, with its key and input fingerprint.

    ``t_r`` and ``censor`` (they change the outputs) are part of the task key (``censor`` when
    not ``"drop"``, so that the keys of earlier outputs stay valid); ``allow_no_mask`` and
    ``strict`` (they only decide whether a run may finish) are not. A strategy given twice is
    done once; two different strategies with one label are refused
    (:func:`~nimask.batch.strategies.unique_strategies`).
    """
    from .. import __version__

    strategies = unique_strategies(strategies)
    names = [a.name for a in atlases]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise ParameterError(f"Several atlases have the same name {dup}: give them distinct names (name=...).",
                             param="atlas", found=dup)
    config = {"version": __version__, "atlases": [a.to_dict() for a in atlases],
              "strategies": [s.to_dict() for s in strategies]}
    if t_r is not None:
        config["t_r"] = float(t_r)
    if censor != "drop":
        config["censor"] = censor
    shared = {}
    for a in atlases:
        shared[f"atlas:{a.name}"] = a.path
        shared[f"lut:{a.name}"] = a.lut
    shared_fp = file_fingerprint(shared)
    tasks = []
    for run in runs:
        fp = file_fingerprint({"bold": run.bold, "mask": run.mask, "confounds": run.confounds,
                               "sidecar": run.sidecar}) | shared_fp
        tasks.append(RunTask(run, tuple(atlases), tuple(strategies), output_dir,
                             key=task_key(config, run.relpath, run.stem), fingerprint=fp,
                             allow_no_mask=allow_no_mask, strict=strict, t_r=t_r, censor=censor))
    return tasks


class _Lock:
    """An exclusive lock on the output folder (released by the OS if the process dies)."""

    def __init__(self, folder: Path) -> None:
        import fcntl

        self._fh = open(folder / "lock", "w")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise ParameterError(f"Another 'nimask extract' is writing to {folder.parent!s} (its lock is held).",
                                 param="output_dir", path=folder.parent) from None

    def release(self) -> None:
        self._fh.close()


def _write_failures(output_dir: str, failures: dict[str, dict]) -> None:
    path = os.path.join(output_dir, FAILURES_FILE)
    if not failures:
        if os.path.exists(path):
            os.unlink(path)
        return
    lines = ["run\terror_type\terror"]
    for rec in failures.values():
        msg = " ".join(str(rec.get("error", "")).split())
        lines.append(f"{os.path.relpath(rec['run'], output_dir)}\t{rec.get('error_type', '')}\t{msg}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def _dataset_description(output_dir: str, bids_dir: str) -> None:
    from .. import __version__

    path = os.path.join(output_dir, "dataset_description.json")
    if os.path.exists(path):
        return
    desc = {"Name": "nimask region time series", "BIDSVersion": "1.9.0", "DatasetType": "derivative",
            "GeneratedBy": [{"Name": "nimask", "Version": __version__}],
            "SourceDatasets": [{"URL": Path(bids_dir).resolve().as_uri()}]}
    atomic_write_text(path, json.dumps(desc, indent=1) + "\n")


class _AboveBar:
    """A stream whose lines tqdm prints above its progress bar."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(text.rstrip("\n"), file=self.stream)

    def flush(self) -> None:
        self.stream.flush()


@contextlib.contextmanager
def _log_above_bar():
    """Route nimask's console log handlers (not its log files) through tqdm.write meanwhile."""
    handlers = [h for h in logging.getLogger("nimask").handlers
                if type(h) is logging.StreamHandler and h.stream in (sys.stderr, sys.stdout)]
    old = [h.setStream(_AboveBar(h.stream)) for h in handlers]
    try:
        yield
    finally:
        for h, stream in zip(handlers, old):
            h.setStream(stream)


def _as_completed(futures, check):
    """Yield ``futures`` (concurrent.futures or distributed) as they complete, calling ``check``
    at least every :data:`~nimask.batch.interrupt.POLL_S` s meanwhile (it raises to stop)."""
    done: queue.SimpleQueue = queue.SimpleQueue()
    for fut in futures:
        fut.add_done_callback(done.put)
    for _ in range(len(futures)):
        while True:
            check()
            try:
                fut = done.get(timeout=POLL_S)
            except queue.Empty:
                continue
            break
        yield fut


def _execute_dask(tasks, client, check):
    """The Dask path of :func:`_execute`: at most one run per worker thread is handed to Dask.

    The other runs wait here, so a stop request cancels them for sure: Dask may already have
    sent a queued task to a worker, where a cancel can arrive after it started.
    """
    pending = list(tasks)
    in_flight: dict = {}
    done: queue.SimpleQueue = queue.SimpleQueue()

    def fill() -> None:
        slots = max(1, sum(client.nthreads().values()))
        while pending and len(in_flight) < slots:
            task = pending.pop(0)
            fut = client.submit(run_task, task, key=f"nimask-run-{task.key}", pure=False)
            in_flight[fut.key] = (fut, task)
            fut.add_done_callback(done.put)

    try:
        fill()
        while in_flight:
            check()
            try:
                fut = done.get(timeout=POLL_S)
            except queue.Empty:
                continue
            _, task = in_flight.pop(fut.key)
            try:
                yield fut.result()
            except Exception as exc:  # the worker died (killed, out of memory)
                yield _lost(task, exc)
            fut.release()
            fill()
    except BaseException:
        client.cancel([f for f, _ in in_flight.values() if not f.done()])
        raise


def _execute(tasks, n_jobs: int, client, check=lambda: None):
    """Yield the records of ``tasks`` as they complete.

    ``check`` is called between results and while waiting for them (every
    :data:`~nimask.batch.interrupt.POLL_S` s); it raises to stop the batch (a recorded signal).
    If the consumer stops early (an interrupt, an error), the queued tasks are cancelled and
    the local workers stopped; a task already running on a Dask worker cannot be stopped and
    finishes there (its writes are atomic, and the next run redoes it).
    """
    if client is not None:
        yield from _execute_dask(tasks, client, check)
        return
    if n_jobs == 1:  # the runs execute here; extract_run stops at its own check points
        for t in tasks:
            check()
            yield run_task(t)
        return
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("forkserver")
    before = set(mp.active_children())
    pool = ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, initializer=worker_init)
    try:
        futures = {pool.submit(run_in_worker, t): t for t in tasks}
        for fut in _as_completed(list(futures), check):
            try:
                yield fut.result()
            except Exception as exc:  # BrokenProcessPool: a worker died
                yield _lost(futures[fut], exc)
    except BaseException:  # stopped early: no queued run starts, the running ones abort their writes
        # shutdown(wait=False) forgets the pool's manager thread; it is joined below, once the workers
        # are gone, so that it has closed its wake-up pipe before the interpreter's exit handler of
        # concurrent.futures writes to it (else "Exception ignored ... Bad file descriptor" at exit)
        manager = getattr(pool, "_executor_manager_thread", None)
        pool.shutdown(wait=False, cancel_futures=True)
        stop_processes([p for p in mp.active_children() if p not in before])
        if manager is not None:
            manager.join(timeout=10)
        raise
    finally:
        pool.shutdown(wait=True)


def _refused(task: RunTask, output_dir: str, manifest: Manifest) -> dict | None:
    """The failure record of a task whose existing outputs it may not replace (None if it may)."""
    if manifest.owns(task.run.bold, task.key, task.fingerprint):
        return None
    clash = [os.path.join(output_dir, rel) for rel in sorted(output_paths(task).values())
             if os.path.lexists(os.path.join(output_dir, rel))]
    if not clash:
        return None
    more = f" (and {len(clash) - 1} more outputs of this run)" if len(clash) > 1 else ""
    exc = OutputExistsError(
        f"Output {clash[0]!r}{more} already exists and was not written by a finished nimask run of the same "
        f"inputs and parameters; pass --overwrite (overwrite=True) to replace it.", path=clash[0], param="overwrite")
    return {"status": "failed", "key": task.key, "run": task.run.bold, "fingerprint": task.fingerprint,
            "error_type": type(exc).__name__, "error": str(exc), "path": clash[0]}


def _strict_refusal(task: RunTask, done: dict) -> dict:
    """``--strict`` on a run an earlier batch finished with warnings: it is failed now (not redone)."""
    items = _as_warning_records(done.get("warnings"))
    listed = "; ".join(f"{w['category']}: {w['message']}" for w in items)
    exc = StrictModeError(
        f"--strict: run {task.run.bold!r} was done by an earlier batch with {len(items)} warning"
        f"{'s' if len(items) > 1 else ''}, so it fails now (its files stay, no longer marked finished): {listed}",
        param="strict", path=task.run.bold, found=[w["message"] for w in items])
    return {"status": "failed", "key": task.key, "run": task.run.bold, "fingerprint": task.fingerprint,
            "error_type": type(exc).__name__, "error": str(exc), "warnings": items}


def _lost(task: RunTask, exc: BaseException) -> dict:
    return {"status": "failed", "key": task.key, "run": task.run.bold, "fingerprint": task.fingerprint,
            "error_type": type(exc).__name__, "error": f"the worker running this run was lost: {exc}"}


def extract_batch(
    bids_dir: str | os.PathLike,
    output_dir: str | os.PathLike,
    atlases: list[AtlasSpec],
    strategies: list[Strategy],
    *,
    space: str | None = None,
    task: str | None = None,
    participant_label: list[str] | None = None,
    n_jobs: int = 1,
    client: Any = None,
    dask_scheduler: str | None = None,
    dask_timeout: float = 20.0,
    progress: bool = True,
    overwrite: bool = False,
    allow_no_mask: bool = False,
    strict: bool = False,
    t_r: float | None = None,
    censor: str = "drop",
) -> BatchSummary:
    """Extract every atlas x strategy time series of every run of a derivatives tree.

    Parameters
    ----------
    bids_dir : path
        fMRIPrep output folder.
    output_dir : path
        Where the BIDS-derivatives outputs, the manifest and the failures file go.
    atlases : list of AtlasSpec
        Labels / maps atlases and sphere sets (:func:`~nimask.batch.parse_atlas`,
        :func:`~nimask.batch.parse_spheres`).
    strategies : list of Strategy
        Denoising strategies (:func:`~nimask.batch.parse_strategy`).
    space, task, participant_label
        Run filters (see :func:`~nimask.batch.find_runs`).
    n_jobs : int
        Local worker processes (ignored with a Dask client).
    client : distributed.Client or None
        Run the per-run tasks on this Dask cluster.
    dask_scheduler : str or None
        Address of a Dask scheduler to connect to (instead of ``client``).
    dask_timeout : float
        Seconds to wait for that scheduler.
    progress : bool
        Show a progress bar (tqdm) on stderr.
    overwrite : bool
        Replace existing output files that no finished (or interrupted) run of the same task
        and inputs wrote. Without it such a run fails with
        :class:`~nimask.exceptions.OutputExistsError` naming the file, and the others go on.
        Runs already done with the same inputs are skipped either way.
    allow_no_mask : bool
        Extract a run that has no ``desc-brain_mask`` without a mask (every voxel of the field
        of view enters the regions), with a ``MaskWarning`` and ``MaskMissing`` in its
        sidecars. Without it such a run fails with :class:`~nimask.exceptions.MaskError`
        naming the run and the mask file looked for.
    strict : bool
        A run that gives any warning fails (:class:`~nimask.exceptions.StrictModeError` listing
        them) and leaves no output; a run an earlier batch finished with warnings is recorded as
        failed (its files stay, no longer marked finished).
    t_r : float or None
        Repetition time in seconds for every run, instead of each run's sidecar
        ``RepetitionTime`` (or header ``pixdim[4]``). Part of the task key.
    censor : {"drop", "zero", "interpolate"}
        What becomes of the volumes a strategy's scrubbing censors (see
        :func:`nimask.signal.clean`): removed (nilearn's behaviour), or kept as zeros or
        interpolated (the outputs then have a row per volume). Part of the task key when not
        ``"drop"``; each sidecar records it with the censored volumes.

    Returns
    -------
    BatchSummary

    Raises
    ------
    BatchInterrupted
        On SIGINT or SIGTERM (handled while this runs in the main thread): the runs finished so
        far are in the manifest (a rerun skips them) and in the exception's ``summary``.
    OutputWriteError
        The manifest, the failures file or ``dataset_description.json`` could not be written
        (disk full, file-size limit; catalogue B7): the batch stops, since it could no longer
        record what it did. The manifest holds whole records only, so no run is claimed done
        that was not. A run whose own outputs cannot be written is a failed run instead (its
        written outputs are removed) and the others go on.
    """
    t_start = time.perf_counter()
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ParameterError(f"'n_jobs' must be an int >= 1; got {n_jobs!r}.", param="n_jobs", found=n_jobs)
    if not atlases:
        raise ParameterError("At least one atlas or sphere set is needed (--atlas / --spheres).", param="atlas")
    if not strategies:
        raise ParameterError("At least one denoising strategy is needed (--strategy).", param="strategy")
    if t_r is not None:
        from ..signal._filters import MAX_PLAUSIBLE_T_R

        if (isinstance(t_r, bool) or not isinstance(t_r, (int, float)) or not 0 < t_r <= MAX_PLAUSIBLE_T_R):
            raise ParameterError(f"--t-r (t_r) must be the repetition time in seconds, a number in (0, "
                                 f"{MAX_PLAUSIBLE_T_R:g}]; got {t_r!r}.", param="t_r", found=t_r)
    from ..signal._sample_mask import check_censor

    censor = check_censor(censor)
    bids_dir = os.path.abspath(os.fspath(bids_dir))
    output_dir = os.path.abspath(os.fspath(output_dir))
    runs = find_runs(bids_dir, space=space, task=task, participant_label=participant_label)
    if not runs:
        raise ParameterError(
            f"No preprocessed BOLD run (*_desc-preproc_bold.nii[.gz]) found under {bids_dir!r} with space={space!r}, "
            f"task={task!r}, participant_label={participant_label!r}.", param="bids_dir", path=bids_dir)
    os.makedirs(output_dir, exist_ok=True)
    manifest = Manifest(output_dir)
    lock = _Lock(manifest.folder)
    own_client = None
    try:
        stale = remove_stale_temporaries(output_dir)
        if stale:
            log.info("removed %d temporary files left by an interrupted run", len(stale))
        _dataset_description(output_dir, bids_dir)
        tasks = plan_tasks(runs, atlases, strategies, output_dir, allow_no_mask=allow_no_mask, strict=strict,
                           t_r=t_r, censor=censor)
        summary = BatchSummary(n_runs=len(tasks))
        pending, refused = [], []
        for t in tasks:
            if manifest.is_done(t.run.bold, t.key, t.fingerprint, sorted(output_paths(t).values())):
                done = manifest.latest(t.run.bold)
                if strict and done.get("warnings"):
                    refused.append(_strict_refusal(t, done))
                    continue
                summary.skipped.append(t.run.bold)
                if done.get("warnings"):
                    summary.earlier_warnings[t.run.bold] = _as_warning_records(done["warnings"])
                log.debug("skip (done): %s", t.run.bold)
            elif not overwrite and (rec := _refused(t, output_dir, manifest)) is not None:
                refused.append(rec)
            else:
                pending.append(t)
        log.info("%d runs found, %d already done, %d to do (%d atlases x %d strategies each)",
                 len(tasks), len(summary.skipped), len(pending), len(atlases), len(strategies))
        failures: dict[str, dict] = {}  # failed runs of earlier batches are pending again
        if dask_scheduler is not None and client is None:
            try:
                from distributed import Client
            except ImportError:
                raise ParameterError(
                    f"--dask-scheduler {dask_scheduler!r} needs dask.distributed, which is not installed "
                    f"(pip install 'nimask[dask]').", param="dask_scheduler") from None
            try:
                client = own_client = Client(dask_scheduler, timeout=dask_timeout)
            except (OSError, TimeoutError) as exc:
                raise ParameterError(f"Cannot connect to the Dask scheduler {dask_scheduler!r}: {exc}",
                                     param="dask_scheduler", found=dask_scheduler) from exc

        def record(rec: dict) -> None:
            manifest.append(rec)
            if rec["status"] == "done":
                summary.done.append(rec)
                failures.pop(rec["run"], None)
                log.info("done %s (%.2f s, %d outputs, peak RSS %.0f MB)", rec["run"],
                         rec["timings"]["total_s"], len(rec["outputs"]), rec["peak_rss_mb"])
                for w in _as_warning_records(rec.get("warnings")):
                    log.debug("warning for %s: %s: %s", rec["run"], w["category"], w["message"])
            else:
                summary.failed.append(rec)
                failures[rec["run"]] = rec
                log.error("FAILED %s: %s: %s", rec["run"], rec.get("error_type"), rec.get("error"))
                if rec.get("traceback"):
                    log.debug("%s", rec["traceback"])
            _write_failures(output_dir, failures)

        bar = None
        redirect = contextlib.nullcontext()
        if progress and pending:
            from tqdm import tqdm

            bar = tqdm(total=len(pending), unit="run", desc="nimask extract", dynamic_ncols=True)
            redirect = _log_above_bar()
        stop = Interrupter()
        try:
            # A signal is only recorded (stop.signum); it stops the batch where stop.check() or the
            # job's raise_if_stopping() is called, never inside the bookkeeping below.
            with stop, redirect:
                for rec in refused:
                    record(rec)
                # claim the outputs of the runs about to start (see Manifest.owns)
                manifest.append([{"status": "started", "run": t.run.bold, "key": t.key,
                                  "fingerprint": t.fingerprint} for t in pending])
                with contextlib.closing(_execute(pending, n_jobs, client, stop.check)) as results:
                    for rec in results:
                        record(rec)
                        if bar is not None:
                            bar.set_postfix(failed=len(summary.failed), refresh=False)
                            bar.update(1)
                        stop.check()
                stop.check()  # never report a finished batch after a signal
        except BatchInterrupted as exc:
            summary.interrupted = exc.signum
            summary.wall_s = time.perf_counter() - t_start
            log.info("interrupted by signal %d: %d runs done now, %d already done, %d failed, %d not finished",
                        exc.signum, len(summary.done), len(summary.skipped), len(summary.failed),
                        len(pending) - len(summary.done) - (len(summary.failed) - len(refused)))
            exc.summary = summary
            raise
        finally:
            if bar is not None:
                bar.close()
            _write_failures(output_dir, failures)
        summary.wall_s = time.perf_counter() - t_start
        log.info("finished: %d done, %d skipped, %d failed in %.2f s", len(summary.done), len(summary.skipped),
                 len(summary.failed), summary.wall_s)
        return summary
    finally:
        if own_client is not None:
            own_client.close()
        lock.release()
