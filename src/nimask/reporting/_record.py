"""What a masker keeps for its report, recorded around ``fit`` / ``transform`` (no matplotlib).

The :func:`reported` decorator wraps a masker's public ``fit``, ``transform`` and
``fit_transform``. Around the outermost call (in the main thread, when ``reports`` is
true) it records, in a :class:`ReportLog` that ``fit`` / ``fit_transform`` create as the
masker's ``_report_log`` and that ``transform`` updates in place (``transform`` adds no
attribute; after a fit that recorded nothing it records nothing):

* the warnings raised, which are then re-emitted unchanged (same category, message, file
  and line, through the caller's filters; a warning turned into an error still raises);
* where each input image comes from: a file path, or a *weak* reference to an in-memory
  image, so the report never keeps a 4D image alive;
* per transformed image: the output shape and at most :data:`MAX_COLUMNS` of its columns
  (evenly spaced, float32) for the carpet plot, and what confounds / censoring were given.

With ``reports=False`` (and inside worker threads, and inside an outer recorded call of
the same masker) the method is called directly: no warning is caught or re-emitted and
``warnings.filters`` is never touched. Recording swaps the process-wide filters for the
duration of the outermost call only (``catch_warnings`` is process-global, hence main
thread only).
"""
from __future__ import annotations

import contextvars
import functools
import inspect
import os
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["ReportLog", "RunRecord", "reported", "describe_source", "resolve_source", "MAX_COLUMNS"]

MAX_COLUMNS = 400  # columns kept per transformed image (300 volumes: 0.5 MB of float32)
MAX_WARNINGS = 50
_REGISTRIES: dict[str, dict] = {}  # "once per location" registries for the re-emitted warnings
# ids of the maskers whose outermost recorded call is running (in this thread / context): their
# inner public calls (fit_transform -> fit, transform) run directly. Kept off the instance:
# transform must not add or remove attributes, and Multi* maskers transform from threads.
_RECORDING: contextvars.ContextVar[frozenset] = contextvars.ContextVar("nimask_report_recording",
                                                                       default=frozenset())


# ------------------------------------------------------------------------------ sources
def describe_source(imgs: Any) -> Any:
    """A light stand-in for an input image: ("path", p), ("ref", weakref, shape), ("list", [...])."""
    import nibabel as nib

    if isinstance(imgs, (str, os.PathLike)):
        return ("path", os.path.abspath(os.path.expanduser(os.fspath(imgs))))
    if isinstance(imgs, nib.spatialimages.SpatialImage):
        name = imgs.get_filename()
        if name and not isinstance(imgs.dataobj, np.ndarray) and os.path.isfile(name):
            return ("path", os.path.abspath(name))
        try:
            return ("ref", weakref.ref(imgs), tuple(imgs.shape))
        except TypeError:  # pragma: no cover - every nibabel image supports weak references
            return None
    if isinstance(imgs, (list, tuple)):
        items = [describe_source(i) for i in imgs]
        return None if any(i is None for i in items) else ("list", items)
    return None


def resolve_source(source: Any) -> Any:
    """The image (or path, or list) a source stands for; None when it is gone or unknown."""
    if source is None:
        return None
    kind = source[0]
    if kind == "path":
        return source[1] if os.path.exists(source[1]) else None
    if kind == "ref":
        return source[1]() if source[1] is not None else None
    if kind == "list":
        items = [resolve_source(s) for s in source[1]]
        return None if any(i is None for i in items) else items
    return None


def source_label(source: Any, index: int) -> str:
    """A short human name for a source: the file name, or "in-memory image #i"."""
    if source is None:
        return f"image #{index + 1} (source not recorded)"
    if source[0] == "path":
        return os.path.basename(source[1])
    if source[0] == "list":
        first = source_label(source[1][0], index) if source[1] else ""
        return f"list of {len(source[1])} images ({first}, ...)"
    return f"in-memory image #{index + 1} {source[2] if len(source) > 2 else ''}".strip()


def _strip_refs(source: Any) -> Any:
    if source is None:
        return None
    if source[0] == "ref":
        return ("ref", None, source[2])
    if source[0] == "list":
        return ("list", [_strip_refs(s) for s in source[1]])
    return source


# ------------------------------------------------------------------------------ records
@dataclass
class RunRecord:
    """One transformed image: its source and a small sample of its signals."""

    source: Any
    n_volumes: int
    n_columns: int
    columns: np.ndarray
    sample: np.ndarray  # (n_volumes, len(columns)) float32
    nan_columns: int
    confounds: str | None
    sample_mask: str | None
    seconds: float


@dataclass
class ReportLog:
    """Everything a masker recorded for its report (kept on the masker as ``_report_log``)."""

    fit_sources: Any = None
    runs: list = field(default_factory=list)
    warnings: list = field(default_factory=list)  # dicts: stage, category, message, count
    fit_seconds: float | None = None
    transform_seconds: float | None = None
    means: dict = field(default_factory=dict)  # mean images (3D) of file sources, filled by the report

    def add_warnings(self, stage: str, caught: Any) -> None:
        for w in caught:
            category = getattr(w.category, "__name__", str(w.category))
            message = str(w.message)
            for entry in self.warnings:
                if entry["stage"] == stage and entry["category"] == category and entry["message"] == message:
                    entry["count"] += 1
                    break
            else:
                if len(self.warnings) < MAX_WARNINGS:
                    self.warnings.append({"stage": stage, "category": category, "message": message, "count": 1})

    def __getstate__(self):  # weak references cannot be pickled (joblib, copy): drop them
        state = dict(self.__dict__)
        state["fit_sources"] = _strip_refs(self.fit_sources)
        state["runs"] = [RunRecord(**{**r.__dict__, "source": _strip_refs(r.source)}) for r in self.runs]
        return state


def _per_image(value, n: int):
    if isinstance(value, list) and len(value) == n:
        return value
    return [value] * n


def _describe_confounds(confounds) -> str | None:
    if confounds is None:
        return None
    if isinstance(confounds, (str, os.PathLike)):
        return f"file {os.path.basename(os.fspath(confounds))}"
    if isinstance(confounds, list):
        parts = [_describe_confounds(c) for c in confounds]
        return " + ".join(p for p in parts if p)
    shape = getattr(confounds, "shape", None)
    if shape is not None:
        n = 1 if len(shape) == 1 else shape[1]
        return f"{n} column{'s' if n != 1 else ''}"
    return type(confounds).__name__


def _describe_sample_mask(sample_mask, n_volumes: int) -> str | None:
    if sample_mask is None:
        return None
    masks = sample_mask if isinstance(sample_mask, (list, tuple)) and sample_mask and not np.isscalar(sample_mask[0]) \
        else [sample_mask]
    kept = 0
    for m in masks:
        arr = np.asarray(m)
        kept += int(arr.sum()) if arr.dtype == bool else int(arr.size)
    return f"{kept} volumes kept (output has {n_volumes})"


def _run_record(source, output, confounds, sample_mask, seconds: float) -> RunRecord | None:
    signals = np.asarray(output.to_numpy() if hasattr(output, "to_numpy") else output)
    if signals.ndim == 1:
        signals = signals[np.newaxis, :]
    if signals.ndim != 2:
        return None
    n_vol, n_col = signals.shape
    columns = np.unique(np.rint(np.linspace(0, n_col - 1, min(n_col, MAX_COLUMNS))).astype(np.int64)) \
        if n_col else np.zeros(0, np.int64)
    sample = np.array(signals[:, columns], dtype=np.float32)
    nan_columns = 0
    if signals.dtype.kind == "f" and n_vol:  # a column is all-NaN only if its first value is: no (T, n) temporary
        maybe = np.flatnonzero(np.isnan(signals[0]))
        nan_columns = int(np.isnan(signals[:, maybe]).all(axis=0).sum()) if maybe.size else 0
    return RunRecord(source=source, n_volumes=int(n_vol), n_columns=int(n_col), columns=columns, sample=sample,
                     nan_columns=nan_columns, confounds=_describe_confounds(confounds),
                     sample_mask=_describe_sample_mask(sample_mask, n_vol), seconds=seconds)


def _record_runs(log: ReportLog, imgs, output, confounds, sample_mask, seconds: float) -> None:
    if isinstance(output, list):
        items = list(imgs) if isinstance(imgs, (list, tuple)) else [None] * len(output)
        if len(items) != len(output):
            items = [None] * len(output)
        n = len(output)
        per = seconds / max(n, 1)
        runs = [_run_record(describe_source(i) if i is not None else None, o, c, s, per)
                for i, o, c, s in zip(items, output, _per_image(confounds, n), _per_image(sample_mask, n))]
    else:
        runs = [_run_record(describe_source(imgs), output, confounds, sample_mask, seconds)]
    log.runs = [r for r in runs if r is not None]
    log.transform_seconds = seconds


def _emit(caught, caller) -> None:
    """Re-emit recorded warnings; those pointing at this wrapper's frame point at its caller.

    (A ``stacklevel`` counted from inside the masker reaches this wrapper's frame where it
    meant the user's line.)"""
    for w in caught:
        filename, lineno, module = w.filename, w.lineno, None
        if filename == __file__ and caller is not None:
            filename, lineno, module = caller
        registry = _REGISTRIES.setdefault(filename or "", {})
        warnings.warn_explicit(w.message, w.category, filename, lineno, module=module or _module_of(filename),
                               registry=registry, source=w.source)


_MODULES: dict[str, str] = {}


def _module_of(filename: str) -> str | None:
    """The name of the loaded module of a file (what ``warnings.warn`` matches ``module=`` filters with)."""
    if filename in _MODULES:
        return _MODULES[filename]
    for name, mod in list(sys.modules.items()):
        if getattr(mod, "__file__", None) == filename:
            _MODULES[filename] = name
            return name
    return None  # warn_explicit then uses the file name without ".py", as for unknown files


def _fit_log(stage: str, imgs, result, bound: dict, caught, seconds: float) -> ReportLog:
    """A new log for ``fit`` / ``fit_transform``."""
    log = ReportLog()
    if imgs is not None:
        log.fit_sources = describe_source(imgs)
    if stage == "fit":
        log.fit_seconds = seconds
    log.add_warnings(stage, caught)
    if stage == "fit_transform" and imgs is not None:
        _record_runs(log, imgs, result, bound.get("confounds"), bound.get("sample_mask"), seconds)
    return log


def _update_transform_log(log: ReportLog, imgs, result, bound: dict, caught, seconds: float) -> None:
    """Replace the previous transform's runs and warnings in the existing log (in place)."""
    log.warnings[:] = [w for w in log.warnings if w["stage"] in ("fit", "fit_transform")]
    log.add_warnings("transform", caught)
    if imgs is not None:
        _record_runs(log, imgs, result, bound.get("confounds"), bound.get("sample_mask"), seconds)


def _recording_failed(log: ReportLog, stage: str, exc: Exception) -> None:
    log.warnings.append({"stage": stage, "category": type(exc).__name__,
                         "message": f"report data could not be recorded: {exc}", "count": 1})


def _calling(method, self, args, kwargs, caller):
    """(result, recorded warnings) of the method; on an exception its warnings are re-emitted first
    (a warning the caller's filters turn into an error then raises, as it would have)."""
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = method(self, *args, **kwargs)
    except BaseException:
        _emit(caught, caller)
        raise
    return result, caught


def reported(stage: str) -> Callable:
    """Decorate a masker's public ``fit`` / ``transform`` / ``fit_transform`` to record report data.

    Parameters
    ----------
    stage : {"fit", "transform", "fit_transform"}
    """
    if stage not in ("fit", "transform", "fit_transform"):
        raise ValueError(f"stage must be 'fit', 'transform' or 'fit_transform'; got {stage!r}")

    def decorate(method: Callable) -> Callable:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            recording = _RECORDING.get()
            if id(self) not in recording and stage != "transform" and not getattr(self, "reports", True):
                result = method(self, *args, **kwargs)  # no report: warnings and filters left alone,
                self.__dict__.pop("_report_log", None)  # and nothing left of an earlier fit's record
                return result
            if (
                id(self) in recording  # an outer call of this masker records
                or not getattr(self, "reports", True)  # no report: warnings and filters left alone
                or threading.current_thread() is not threading.main_thread()
                or (stage == "transform" and not isinstance(getattr(self, "_report_log", None), ReportLog))
            ):
                return method(self, *args, **kwargs)
            frame = sys._getframe(1)
            caller = (frame.f_code.co_filename, frame.f_lineno, frame.f_globals.get("__name__"))
            del frame
            try:
                bound = signature.bind(self, *args, **kwargs).arguments
            except TypeError:
                return method(self, *args, **kwargs)  # the method raises its own error
            imgs = bound.get("imgs")
            token = _RECORDING.set(recording | {id(self)})
            t0 = time.perf_counter()
            try:
                result, caught = _calling(method, self, args, kwargs, caller)
            finally:
                _RECORDING.reset(token)
            seconds = time.perf_counter() - t0
            if stage == "transform":  # the log of the fit, updated in place
                log = self._report_log
                try:
                    _update_transform_log(log, imgs, result, bound, caught, seconds)
                except Exception as exc:  # a report problem never breaks transform: the report says it
                    log.runs = []
                    _recording_failed(log, stage, exc)
            else:
                try:
                    log = _fit_log(stage, imgs, result, bound, caught, seconds)
                except Exception as exc:  # a report problem never breaks fit: the report says it
                    log = ReportLog()
                    _recording_failed(log, stage, exc)
                self._report_log = log
            _emit(caught, caller)
            return result

        return wrapper

    return decorate
