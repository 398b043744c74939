"""Running a batch: plan the runs, skip the finished ones, execute, record, report progress.

:func:`extract_batch` is the Python API of ``nimask extract``. The runs are executed

* in this process (``n_jobs=1``, no client),
* in ``n_jobs`` local worker processes (``concurrent.futures.ProcessPoolExecutor``), or
* on a Dask distributed cluster (``client=`` a ``distributed.Client``, or
  ``dask_scheduler=`` its address). Each task carries paths and parameters only; the
  workers read the files themselves and send back a small record.

This process alone writes the manifest and the failures file, after each run returns.

Batches are incremental (:class:`_Planner`): an output (a coverage table, or the time series of
one atlas x strategy and its sidecar) that the manifest records as finished, with the same
options and inputs of the same content, is not computed again; a run is read once for all of its
outputs that are not. An input whose size or mtime changed is compared by SHA-256 (a touched
file is the same input); the time series of a strategy whose confounds file changed stay valid
when the confounds and sample mask it regressed are unchanged.

An existing output file that no earlier run of the same options and inputs wrote is not
replaced unless ``overwrite=True`` (catalogue B8; :meth:`Manifest.claim`): without it the
run fails (none of its outputs is computed) naming the file. SIGINT and
SIGTERM stop the batch gracefully (catalogue B5, :mod:`~nimask.batch.interrupt`): the run
in progress aborts its atomic write, local workers are stopped, queued Dask tasks are
cancelled, the manifest keeps the runs finished so far, and
:class:`~nimask.exceptions.BatchInterrupted` is raised with the summary.
"""
from __future__ import annotations

import contextlib
import dataclasses
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
from .atlases import AtlasSpec, check_min_coverage
from .atomic import atomic_write_text, remove_stale_temporaries
from .bids import BoldRun, find_runs
from .interrupt import POLL_S, Interrupter, run_in_worker, stop_processes, worker_init
from .job import RunTask, confounds_reader, denoise_digest, run_task, sha256_file, strategy_confounds, unit_paths
from .manifest import FORMAT, Manifest, file_fingerprint, legacy_task_key, output_options, task_key
from .strategies import Strategy, unique_strategies, uses_aroma

__all__ = ["extract_batch", "BatchSummary", "plan_tasks", "FAILURES_FILE"]

FAILURES_FILE = "nimask_failures.tsv"
log = logging.getLogger("nimask.batch")


@dataclass
class BatchSummary:
    """What a batch did."""

    n_runs: int = 0
    done: list = field(default_factory=list)  # records of the runs done now (every output they had to write)
    skipped: list = field(default_factory=list)  # bold paths already done
    # failures: of a whole run (refused, or failed: none of its outputs written), or of one strategy of a run
    # ("strategy" its label, "atlas" None or the one atlas it failed for; the run's other outputs are written)
    failed: list = field(default_factory=list)
    partial: list = field(default_factory=list)  # records of the runs that wrote outputs and had a strategy fail
    wall_s: float = 0.0
    interrupted: int | None = None  # the signal that stopped the batch
    earlier_warnings: dict = field(default_factory=dict)  # skipped run -> warnings of the batch that did it

    @property
    def exit_code(self) -> int:
        """0: every output is done; 1: at least one run or strategy failed."""
        return 1 if self.failed else 0

    @property
    def failed_runs(self) -> list[str]:
        """The runs with a failure (of the run, or of one of its strategies), each once."""
        return list(dict.fromkeys(rec["run"] for rec in self.failed))

    @property
    def warnings(self) -> list[dict]:
        """The warnings of the runs done now: ``{"run", "category", "message"}`` each (also in the
        outputs' JSON sidecars, ``Warnings``)."""
        return [{"run": rec["run"], **w} for rec in self.done + self.partial
                for w in _as_warning_records(rec.get("warnings"))]

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
        values = [r.get("peak_rss_mb", 0.0) for r in self.done + self.partial + self.failed]
        return max(values) if values else 0.0


def _as_warning_records(items) -> list[dict]:
    """Warnings of a run record as ``{"category", "message"}`` (older manifests hold plain strings)."""
    return [w if isinstance(w, dict) else {"category": "Warning", "message": str(w)} for w in items or []]


def _confounds_json(run: BoldRun) -> str | None:
    """The JSON sidecar of the run's confounds table (CompCor metadata), read by the named presets."""
    if run.confounds is None or not run.confounds.endswith(".tsv"):
        return None
    path = run.confounds[: -len(".tsv")] + ".json"
    return path if os.path.isfile(path) else None


def _run_inputs(run: BoldRun, strategies=None) -> dict[str, str | None]:
    """The run's own input files by name; the AROMA image and the confounds JSON only when one of
    ``strategies`` reads them (``None``: all of them)."""
    files = {"bold": run.bold, "mask": run.mask, "confounds": run.confounds, "sidecar": run.sidecar}
    if strategies is None or any(uses_aroma(s) for s in strategies):  # the ica_aroma strategies' data
        files["aroma"] = run.aroma
    if strategies is None or any(s.preset is not None for s in strategies):  # named presets: CompCor metadata
        files["confounds_json"] = _confounds_json(run)
    return files


def plan_tasks(runs: list[BoldRun], atlases, strategies, output_dir: str, *, allow_no_mask: bool = False,
               strict: bool = False, t_r: float | None = None, censor: str = "drop", qc: bool = False,
               connectome: tuple = (), fisher_z: bool = False) -> list[RunTask]:
    """One :class:`RunTask` per run (all of its outputs), with its key and input fingerprint.

    ``t_r`` and ``censor`` (they change the outputs) are part of the key of each time series
    (:func:`output_options`; ``censor`` when not ``"drop"``, so that the keys of earlier outputs stay
    valid); ``allow_no_mask`` and ``strict`` (they only decide whether a run may finish) are not.
    A strategy given twice is done once; two different strategies with one label are refused
    (:func:`~nimask.batch.strategies.unique_strategies`).
    """
    strategies = unique_strategies(strategies)
    names = [a.name for a in atlases]
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise ParameterError(f"Several atlases have the same name {dup}: give them distinct names (name=...).",
                             param="atlas", found=dup)
    shared = {}
    for a in atlases:
        shared[f"atlas:{a.name}"] = a.path
        shared[f"lut:{a.name}"] = a.lut
    shared_fp = file_fingerprint(shared)
    tasks = []
    for run in runs:
        fp = file_fingerprint(_run_inputs(run, strategies)) | shared_fp
        tasks.append(RunTask(run, tuple(atlases), tuple(strategies), output_dir,
                             key=legacy_task_key(atlases, strategies, t_r, run.relpath, run.stem, censor),
                             fingerprint=fp, allow_no_mask=allow_no_mask, strict=strict, t_r=t_r, censor=censor,
                             qc=qc, connectome=tuple(connectome), fisher_z=fisher_z))
    return tasks


@dataclass
class _Unit:
    """One output of a run: the coverage table of an atlas (``strategy`` None), the time series
    of an atlas x strategy with its JSON sidecar and connectomes, or (``atlas`` None) the QC table of a
    strategy."""

    atlas: AtlasSpec | None
    strategy: Strategy | None
    files: tuple[str, ...]
    key: str  # task_key(output_options(...))
    inputs: tuple[str, ...]  # names of the input files it is computed from (see _Planner.inputs)
    kind: str | None = None  # a connectome of the time series of atlas x strategy

    @property
    def id(self) -> tuple:
        """``(atlas name, strategy label or None)``, ``(atlas name, strategy label, kind)`` for a connectome
        (the ``RunTask.todo`` items); the atlas name is "" for a QC table."""
        out = ("" if self.atlas is None else self.atlas.name, None if self.strategy is None else self.strategy.label)
        return out if self.kind is None else (*out, self.kind)


@dataclass
class _Plan:
    """What a batch does with one run (:meth:`_Planner.plan`)."""

    task: RunTask
    units: list  # every output of the run
    pending: list = field(default_factory=list)  # the units to compute now
    valid: list = field(default_factory=list)  # (unit, entry): finished, same options and inputs
    refresh: list = field(default_factory=list)  # manifest records: finished outputs whose inputs were touched
    clash: list = field(default_factory=list)  # existing files of pending units that this batch may not replace


class _Planner:
    """Decides, from the manifest and the files, which outputs of each run are finished.

    An output is finished when every file of it exists, its latest manifest entry is ``done`` with
    the same key (options) and each input it depends on is the same: same size and mtime, or else
    the same SHA-256 (computed here, each file once per batch). The time series of a strategy whose
    confounds file changed is still finished when the confounds and sample mask the strategy builds
    from the new file are those it was computed with (``denoise``). An existing file of an output to
    compute is replaced only when its latest ``started``/``done`` entry has the same key and inputs.
    """

    def __init__(self, manifest: Manifest, atlases, strategies, t_r: float | None, censor: str = "drop",
                 qc: bool = False, connectome: tuple = (), fisher_z: bool = False) -> None:
        self.manifest, self.atlases, self.strategies, self.t_r = manifest, list(atlases), list(strategies), t_r
        self.censor, self.qc, self.connectome = censor, qc, tuple(connectome)
        self.options: dict[str, dict] = {}
        self._keys = {}
        for a in [*self.atlases, *([None] if qc else [])]:
            for s in ([None, *self.strategies] if a is not None else self.strategies):
                for kind in [None, *(self.connectome if a is not None and s is not None else ())]:
                    opts = output_options(a, s, t_r, censor, kind, fisher_z)
                    key = task_key(opts)
                    self.options[key] = opts
                    unit = ("" if a is None else a.name, None if s is None else s.label)
                    self._keys[unit if kind is None else (*unit, kind)] = key
        self._sha: dict[str, str | None] = {}

    def inputs(self, atlas: AtlasSpec, strategy: Strategy | None) -> tuple[str, ...]:
        """The input files an output depends on: the run, its mask, the atlas (and its LUT); for time
        series also the confounds and, unless --t-r gives the repetition time, the BOLD sidecar; for an
        ``ica_aroma`` strategy also the run's AROMA image (``aroma``), the data it denoises; for a named
        preset also the confounds table's JSON sidecar (``confounds_json``: CompCor's metadata)."""
        names = ["bold", "mask"]
        if strategy is not None:
            names += ["confounds"] + (["sidecar"] if self.t_r is None else [])
            names += ["aroma"] if uses_aroma(strategy) else []
            names += ["confounds_json"] if strategy.preset is not None else []
        if atlas is None:  # a QC table: the run and the strategy's confounds only
            return tuple(names)
        return (*names, f"atlas:{atlas.name}", f"lut:{atlas.name}")

    def units(self, run: BoldRun) -> list[_Unit]:
        units = [_Unit(a, s, unit_paths(run, a.name, None if s is None else s.label),
                       self._keys[(a.name, None if s is None else s.label)], self.inputs(a, s))
                 for a in self.atlases for s in [None, *self.strategies]]
        units += [_Unit(a, s, unit_paths(run, a.name, s.label, kind), self._keys[(a.name, s.label, kind)],
                        self.inputs(a, s), kind)
                  for a in self.atlases for s in self.strategies for kind in self.connectome]
        if self.qc:
            units += [_Unit(None, s, unit_paths(run, "", s.label), self._keys[("", s.label)], self.inputs(None, s))
                      for s in self.strategies]
        return units

    @staticmethod
    def paths(task: RunTask) -> dict[str, str | None]:
        out = _run_inputs(task.run)
        for a in task.atlases:
            out[f"atlas:{a.name}"], out[f"lut:{a.name}"] = a.path, a.lut
        return out

    def sha(self, path: str | None) -> str | None:
        if path not in self._sha:
            try:
                self._sha[path] = sha256_file(path)
            except OSError:
                self._sha[path] = None
        return self._sha[path]

    def compare(self, task: RunTask, recorded: dict, name: str) -> str:
        """``"same"`` (size and mtime), ``"touched"`` (only the SHA-256 is the same) or ``"changed"``."""
        rec, cur = recorded.get(name), task.fingerprint.get(name)
        if rec is None or cur is None:
            return "same" if rec is None and cur is None else "changed"
        if list(rec[:2]) == list(cur):
            return "same"
        sha = rec[2] if len(rec) > 2 else None
        return "touched" if sha is not None and self.sha(self.paths(task)[name]) == sha else "changed"

    def current_inputs(self, task: RunTask, names, recorded=()) -> dict[str, list | None]:
        """``{name: [size, mtime_ns, sha256 or None]}`` now, with the SHA-256 known: computed in this batch,
        or in one of the ``recorded`` inputs with the same size and mtime."""
        paths, out = self.paths(task), {}
        for name in names:
            fp = task.fingerprint.get(name)
            if fp is None:
                out[name] = None
                continue
            sha = self._sha.get(paths[name])
            for rec in recorded:
                r = rec.get(name)
                if sha is None and r is not None and len(r) > 2 and list(r[:2]) == list(fp):
                    sha = r[2]
            out[name] = [*fp, sha]
        return out

    def _denoise_now(self, task: RunTask, strategy: Strategy, n_volumes, readers: dict) -> str | None:
        """The denoise digest of ``strategy`` from the run's confounds file as it is now (None: it fails)."""
        if not isinstance(n_volumes, int):
            return None
        reader = readers.setdefault("reader", confounds_reader(task.run))
        try:
            return denoise_digest(*strategy_confounds(task.run, strategy, n_volumes, reader))
        except Exception:  # the strategy would fail now: its outputs are not finished
            return None

    def _finished(self, task: RunTask, unit: _Unit, readers: dict) -> tuple[dict | None, bool]:
        """(the manifest entry of a finished unit or None, whether its inputs need a refreshed record)."""
        entries = [self.manifest.done(rel) for rel in unit.files]
        if any(e is None or e["key"] != unit.key for e in entries):
            return None, False
        touched = False
        for entry in entries:
            states = {name: self.compare(task, entry["inputs"], name) for name in unit.inputs}
            changed = {name for name, st in states.items() if st == "changed"}
            if changed == {"confounds"} and unit.strategy is not None and entry.get("denoise") is not None:
                if self._denoise_now(task, unit.strategy, entry.get("n_volumes"), readers) != entry["denoise"]:
                    return None, False
                self.sha(task.run.confounds)  # recorded with the refreshed fingerprint
            elif changed:
                return None, False
            touched = touched or any(st != "same" for st in states.values())
        return entries[0], touched

    def _legacy(self, task: RunTask) -> tuple[set, set]:
        """(outputs finished, outputs owned) according to the run's records of the earlier format."""
        run = task.run
        record, claim = self.manifest.legacy(run.bold)
        finished = set()
        outs = set(record.get("outputs") or ()) if record.get("status") == "done" else set()
        if outs:
            prefix = f"{run.relpath}/{run.stem}_atlas-"
            atlases = [a for a in self.atlases if any(rel.startswith(f"{prefix}{a.name}_") for rel in outs)]
            strategies = [s for s in self.strategies if any(rel.endswith(f"_desc-{s.label}_timeseries.tsv")
                                                            for rel in outs)]
            expected = {rel for a in atlases for s in [None, *strategies]
                        for rel in unit_paths(run, a.name, None if s is None else s.label)}
            names = ["bold", "mask", "confounds", "sidecar"]
            names += [f"{k}:{a.name}" for a in atlases for k in ("atlas", "lut")]
            same_inputs = record.get("fingerprint") == {n: task.fingerprint.get(n) for n in names}
            for t_r in dict.fromkeys([self.t_r, None]):  # with --t-r now and not then: the coverage tables are
                key = legacy_task_key(atlases, strategies, t_r, run.relpath, run.stem, self.censor)
                if expected == outs and same_inputs and record.get("key") == key:
                    finished = outs if t_r == self.t_r else {rel for rel in outs if rel.endswith("_coverage.tsv")}
                    break
        owned = set(finished)
        if claim is not None and claim == (task.key, task.fingerprint):  # plan_tasks gives the old-format key
            owned |= {rel for unit in self.units(run) for rel in unit.files}
        return finished, owned

    def plan(self, task: RunTask, output_dir: str) -> _Plan:
        """Sort the outputs of a run into finished ones and ones to compute, and find the files in the way."""
        run = task.run
        plan = _Plan(task, self.units(run))
        legacy: list = []  # (finished, owned) of the earlier format's records, once asked
        readers: dict = {}
        refresh: dict[str, list] = {}

        def old() -> tuple[set, set]:
            if not legacy:
                legacy.append(self._legacy(task))
            return legacy[0]

        for unit in plan.units:
            if not all(os.path.isfile(os.path.join(output_dir, rel)) for rel in unit.files):
                plan.pending.append(unit)
                continue
            entry, touched = self._finished(task, unit, readers)
            if entry is not None:
                plan.valid.append((unit, entry))
                if touched:
                    refresh.setdefault(json.dumps([entry["warnings"], entry["n_volumes"]]), []).append((unit, entry))
            elif not any(self.manifest.listed(rel) for rel in unit.files) and set(unit.files) <= old()[0]:
                plan.valid.append((unit, {"warnings": self.manifest.legacy(run.bold)[0].get("warnings") or []}))
            else:
                plan.pending.append(unit)
        for unit in plan.pending:
            for rel in unit.files:
                if not os.path.lexists(os.path.join(output_dir, rel)):
                    continue
                claim = self.manifest.claim(rel)
                owned = (rel in old()[1] if claim is None else claim["key"] == unit.key
                         and all(self.compare(task, claim["inputs"], n) != "changed" for n in unit.inputs))
                if not owned:
                    plan.clash.append(os.path.join(output_dir, rel))
        for group, items in refresh.items():
            warned, n_volumes = json.loads(group)
            names = sorted({n for unit, _ in items for n in unit.inputs})
            plan.refresh.append({
                "format": FORMAT, "status": "done", "refreshed": True, "run": run.bold,
                "inputs": self.current_inputs(task, names, [e["inputs"] for _, e in items]),
                "outputs": {rel: {"key": unit.key, "inputs": list(unit.inputs),
                                  **({"denoise": e["denoise"]} if e.get("denoise") else {})}
                            for unit, e in items for rel in unit.files},
                "warnings": warned, "n_volumes": n_volumes})
        if plan.pending:
            ids = {u.id for u in plan.pending}
            plan.task = dataclasses.replace(
                task, atlases=tuple(a for a in task.atlases if any(i[0] == a.name for i in ids)),
                strategies=tuple(s for s in task.strategies if any(i[1] == s.label for i in ids)),
                todo=frozenset(ids), key=task_key(run.bold, sorted(u.key + str(u.files) for u in plan.pending)))
        return plan


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


def _write_failures(output_dir: str, failures: dict[tuple, dict]) -> None:
    """``nimask_failures.tsv``: one row per failed run (``atlas`` and ``strategy`` ``n/a``) or failed
    strategy of a run (``atlas`` ``n/a`` when it failed for every atlas)."""
    path = os.path.join(output_dir, FAILURES_FILE)
    if not failures:
        if os.path.exists(path):
            os.unlink(path)
        return
    lines = ["run\tatlas\tstrategy\terror_type\terror"]
    for rec in failures.values():
        msg = " ".join(str(rec.get("error", "")).split())
        lines.append(f"{os.path.relpath(rec['run'], output_dir)}\t{rec.get('atlas') or 'n/a'}\t"
                     f"{rec.get('strategy') or 'n/a'}\t{rec.get('error_type', '')}\t{msg}")
    atomic_write_text(path, "\n".join(lines) + "\n")


def describe_failure(rec: dict) -> str:
    """``strategy 'S'`` / ``strategy 'S', atlas 'A'`` / ``run``: what a failure record is about."""
    if not rec.get("strategy"):
        return "run"
    return f"strategy {rec['strategy']!r}" + (f", atlas {rec['atlas']!r}" if rec.get("atlas") else "")


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


def _refused(plan: _Plan) -> dict:
    """The failure record of a run whose outputs to compute would replace files it may not replace."""
    task, clash = plan.task, plan.clash
    more = f" (and {len(clash) - 1} more outputs of this run)" if len(clash) > 1 else ""
    exc = OutputExistsError(
        f"Output {clash[0]!r}{more} already exists and was not written by a finished nimask run of the same "
        f"inputs and parameters; pass --overwrite (overwrite=True) to replace it.", path=clash[0], param="overwrite")
    return {"status": "failed", "key": task.key, "run": task.run.bold, "fingerprint": task.fingerprint,
            "error_type": type(exc).__name__, "error": str(exc), "path": clash[0]}


def _strict_refusal(plan: _Plan) -> dict:
    """``--strict`` on a run whose finished outputs an earlier batch wrote with warnings: it is failed now
    (not redone), and those outputs are no longer finished."""
    task = plan.task
    warned = [(unit, entry) for unit, entry in plan.valid if entry.get("warnings")]
    items = []
    for _, entry in warned:
        items += [w for w in _as_warning_records(entry["warnings"]) if w not in items]
    listed = "; ".join(f"{w['category']}: {w['message']}" for w in items)
    exc = StrictModeError(
        f"--strict: run {task.run.bold!r} was done by an earlier batch with {len(items)} warning"
        f"{'s' if len(items) > 1 else ''}, so it fails now (its files stay, no longer marked finished): {listed}",
        param="strict", path=task.run.bold, found=[w["message"] for w in items])
    return {"status": "failed", "key": task.key, "run": task.run.bold, "fingerprint": task.fingerprint,
            "error_type": type(exc).__name__, "error": str(exc), "warnings": items,
            "outputs": [rel for unit, _ in warned for rel in unit.files]}


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
    qc: bool = False,
    connectome: Any = None,
    fisher_z: bool = False,
    min_coverage: float | None = None,
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
    qc : bool
        Also write, per run and strategy, ``<stem>_desc-<strategy>_qc.tsv`` and its JSON: framewise
        displacement, censoring, DVARS before and after denoising, degrees of freedom, tSNR
        (:mod:`nimask.batch.qc`). The brain-mask voxels of the run are then held while it is read
        (``volumes x voxels`` float32, ~280 MB for 300 volumes of a 2 mm MNI brain).
    connectome : str, list of str or None
        Connectivity kinds (``correlation``, ``partial_correlation``, ``covariance``, ``precision``)
        written next to each time series (:mod:`nimask.batch.relmat`).
    fisher_z : bool
        Write the correlation and partial correlation connectomes as Fisher z.
    min_coverage : float in [0, 1] or None
        ``--min-coverage``: for every atlas without its own ``min_coverage``, a region keeping
        less than this fraction of itself inside the run's brain mask (labels: of its atlas
        volume; maps: of its summed absolute weight; spheres: of its voxels) becomes an ``n/a``
        column, with the reason in the coverage table and in the sidecars' ``RegionsExcluded``.
        Part of the key of the outputs of those atlases when set.

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
    min_coverage = check_min_coverage(min_coverage)
    if min_coverage is not None:  # an atlas's own min_coverage=F wins
        atlases = [a if a.min_coverage is not None else dataclasses.replace(a, min_coverage=min_coverage)
                   for a in atlases]
    if t_r is not None:
        from ..signal._filters import MAX_PLAUSIBLE_T_R

        if (isinstance(t_r, bool) or not isinstance(t_r, (int, float)) or not 0 < t_r <= MAX_PLAUSIBLE_T_R):
            raise ParameterError(f"--t-r (t_r) must be the repetition time in seconds, a number in (0, "
                                 f"{MAX_PLAUSIBLE_T_R:g}]; got {t_r!r}.", param="t_r", found=t_r)
    from ..signal._sample_mask import check_censor
    from .relmat import FISHER_Z_KINDS, parse_connectome

    connectome = parse_connectome(connectome)
    if fisher_z and not any(k in FISHER_Z_KINDS for k in connectome):
        raise ParameterError("--fisher-z transforms correlation connectomes: give --connectome correlation (or "
                             "partial_correlation) with it.", param="fisher_z", found=list(connectome))

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
        strategies = unique_strategies(strategies)
        tasks = plan_tasks(runs, atlases, strategies, output_dir, allow_no_mask=allow_no_mask, strict=strict,
                           t_r=t_r, censor=censor, qc=qc, connectome=connectome, fisher_z=fisher_z)
        summary = BatchSummary(n_runs=len(tasks))
        planner = _Planner(manifest, atlases, strategies, t_r, censor, qc, connectome, fisher_z)
        pending, refused, refresh, plans = [], [], [], {}
        n_outputs = n_finished = 0
        for t in tasks:
            plan = planner.plan(t, output_dir)
            refresh += plan.refresh
            n_outputs += len(plan.units)
            n_finished += len(plan.valid)
            if strict and any(entry.get("warnings") for _, entry in plan.valid):
                refused.append(_strict_refusal(plan))
            elif not plan.pending:
                summary.skipped.append(t.run.bold)
                warned = []
                for _, entry in plan.valid:
                    warned += [w for w in _as_warning_records(entry.get("warnings")) if w not in warned]
                if warned:
                    summary.earlier_warnings[t.run.bold] = warned
                log.debug("skip (done): %s", t.run.bold)
            elif plan.clash and not overwrite:
                refused.append(_refused(plan))
            else:
                pending.append(plan.task)
                plans[plan.task.key] = plan
        log.info("%d runs found, %d already done, %d to do (%d of their %d outputs already finished)",
                 len(tasks), len(summary.skipped), len(pending), n_finished, n_outputs)
        failures: dict[tuple, dict] = {}  # failed runs and strategies of earlier batches are pending again
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

        def outputs_record(status: str, plan: _Plan, rels, rec: dict | None = None) -> dict:
            """A manifest record (this format) for these outputs of a planned run."""
            by_rel = {rel: u for u in plan.pending for rel in u.files}
            names = sorted({n for rel in rels for n in by_rel[rel].inputs})
            checksums = (rec or {}).get("checksums") or {}
            inputs = planner.current_inputs(plan.task, names)
            for name in names:
                if inputs[name] is not None and checksums.get(name) is not None:
                    inputs[name][2] = checksums[name]
            denoise = (rec or {}).get("denoise") or {}
            outputs = {}
            for rel in rels:
                u = by_rel[rel]
                outputs[rel] = {"key": u.key, "inputs": list(u.inputs)}
                if u.strategy is not None and u.strategy.label in denoise:
                    outputs[rel]["denoise"] = denoise[u.strategy.label]
            out = {"format": FORMAT, "status": status, "run": plan.task.run.bold, "key": plan.task.key,
                   "inputs": inputs, "outputs": outputs}
            if status == "done":
                out["options"] = {k: planner.options[k] for k in sorted({by_rel[rel].key for rel in rels})}
            return out

        def record(rec: dict) -> None:
            plan = plans.get(rec.get("key"))
            failed = [] if rec["status"] == "done" else [rec]
            failed += [{"status": "failed", "key": rec["key"], "run": rec["run"], "peak_rss_mb": rec["peak_rss_mb"],
                        "pid": rec["pid"], **f} for f in rec.get("failures", ())]
            lines = []
            if rec["status"] == "done" and rec["outputs"]:
                line = outputs_record("done", plan, rec["outputs"], rec)
                line.update({k: rec[k] for k in ("n_volumes", "warnings", "timings", "peak_rss_mb", "pid") if k in rec})
                lines.append(line)
            for f in failed:
                line = {k: v for k, v in f.items() if k not in ("outputs", "fingerprint")}
                line.update(format=FORMAT, outputs={rel: {} for rel in f.get("outputs", ())})
                lines.append(line)
            manifest.append(lines)
            if rec["status"] == "done" and (rec["outputs"] or not failed):
                (summary.partial if failed else summary.done).append(rec)
                log.info("done %s (%.2f s, %d outputs%s, peak RSS %.0f MB)", rec["run"], rec["timings"]["total_s"],
                         len(rec["outputs"]), f", {len(failed)} failed" if failed else "", rec["peak_rss_mb"])
                for w in _as_warning_records(rec.get("warnings")):
                    log.debug("warning for %s: %s: %s", rec["run"], w["category"], w["message"])
            for f in failed:
                summary.failed.append(f)
                failures[(f["run"], f.get("atlas"), f.get("strategy"))] = f
                what = "" if not f.get("strategy") else f" ({describe_failure(f)})"
                log.error("FAILED %s%s: %s: %s", f["run"], what, f.get("error_type"), f.get("error"))
                if f.get("traceback"):
                    log.debug("%s", f["traceback"])
            _write_failures(output_dir, failures)

        bar = None
        redirect = contextlib.nullcontext()
        if progress and pending:
            from tqdm import tqdm

            bar = tqdm(total=len(pending), unit="run", desc="nimask extract", dynamic_ncols=True)
            redirect = _log_above_bar()
        stop = Interrupter()
        n_returned = 0
        try:
            # A signal is only recorded (stop.signum); it stops the batch where stop.check() or the
            # job's raise_if_stopping() is called, never inside the bookkeeping below.
            with stop, redirect:
                manifest.append(refresh)  # finished outputs whose inputs were only touched: no hashing next time
                for rec in refused:
                    record(rec)
                # claim the outputs of the runs about to start (see Manifest.claim)
                manifest.append([outputs_record("started", plans[t.key], [rel for u in plans[t.key].pending
                                                                         for rel in u.files]) for t in pending])
                with contextlib.closing(_execute(pending, n_jobs, client, stop.check)) as results:
                    for rec in results:
                        record(rec)
                        n_returned += 1
                        if bar is not None:
                            bar.set_postfix(failed=len(summary.failed_runs), refresh=False)
                            bar.update(1)
                        stop.check()
                stop.check()  # never report a finished batch after a signal
        except BatchInterrupted as exc:
            summary.interrupted = exc.signum
            summary.wall_s = time.perf_counter() - t_start
            log.info("interrupted by signal %d: %d runs done now, %d already done, %d failed, %d not finished",
                     exc.signum, len(summary.done), len(summary.skipped), len(summary.failed_runs),
                     len(pending) - n_returned)
            exc.summary = summary
            raise
        finally:
            if bar is not None:
                bar.close()
            _write_failures(output_dir, failures)
        summary.wall_s = time.perf_counter() - t_start
        log.info("finished: %d done, %d skipped, %d failed in %.2f s", len(summary.done), len(summary.skipped),
                 len(summary.failed_runs), summary.wall_s)
        return summary
    finally:
        if own_client is not None:
            own_client.close()
        lock.release()
