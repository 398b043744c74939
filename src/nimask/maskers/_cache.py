"""The maskers' ``memory=`` cache: content-keyed, checksummed joblib entries.

* :func:`fingerprint` keys an input on its content (file size, mtime and a blake2b of the
  bytes), so a file rewritten in place is never served stale.
* :func:`cached_call` stores each result with a CRC32 verified on every hit (a damaged entry
  is recomputed, never returned) and with the warnings its computation gave, which a hit
  gives again; a write that fails (disk full, file size limit) says why and leaves no
  half-written files; temporary files of killed writers are swept (:func:`sweep_stale_temps`).
* :func:`check_cache_location` refuses a location that cannot hold a cache, at fit.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .._warnings import find_stack_level
from ..exceptions import ParameterError

__all__ = ["fingerprint", "cached_call", "check_cache_location", "sweep_stale_temps", "STALE_TEMP_SECONDS", "as_key"]


def _file_fingerprint(path: str) -> tuple:
    """(path, size, mtime_ns, blake2b of the bytes): changes whenever the file content does."""
    st = os.stat(path)
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while True:
            block = fh.read(1 << 22)
            if not block:
                break
            digest.update(block)
    return ("file", os.path.abspath(path), st.st_size, st.st_mtime_ns, digest.hexdigest())


def fingerprint(obj: Any) -> Any:
    """A hashable stand-in for ``obj`` whose joblib hash changes when the *content* does.

    Paths and file-backed images are keyed on the file's size, mtime and a checksum of its
    bytes (so a file rewritten in place never gives a stale cached result); in-memory images
    on their affine and data; lists item by item; anything else is returned as is (joblib
    hashes it).
    """
    import nibabel as nib

    if isinstance(obj, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(obj))
        if os.path.isfile(path):
            return _file_fingerprint(path)
        return obj
    if isinstance(obj, nib.spatialimages.SpatialImage):
        name = obj.get_filename()
        if name and not isinstance(obj.dataobj, np.ndarray) and os.path.isfile(name):
            return ("img", _file_fingerprint(name), tuple(obj.shape), np.asarray(obj.affine))
        return ("img", np.asanyarray(obj.dataobj), np.asarray(obj.affine))
    if isinstance(obj, (list, tuple)):
        return [fingerprint(item) for item in obj]
    return obj


_ENTRY_TAG = "nimask-cache-entry"
_CACHE_FORMAT = 2  # bump when the meaning of a cached result changes (part of every key)


def _checksum(obj: Any) -> str:
    """CRC32 over the arrays (bytes, dtype, shape) and the pickled rest of a cached result."""
    import pickle
    import zlib

    import nibabel as nib

    crc = 0

    def walk(item: Any) -> None:
        nonlocal crc
        if isinstance(item, np.ndarray) and item.dtype.kind in "biufc":
            crc = zlib.crc32(f"{item.dtype.str}{item.shape}".encode(), crc)
            data = np.ascontiguousarray(item)
            crc = zlib.crc32(memoryview(data).cast("B") if data.size else b"", crc)
        elif isinstance(item, (tuple, list)):
            crc = zlib.crc32(f"{type(item).__name__}{len(item)}".encode(), crc)
            for sub in item:
                walk(sub)
        elif isinstance(item, nib.spatialimages.SpatialImage):
            # an image by its content: its pickle changes when joblib reloads it memory-mapped
            crc = zlib.crc32(type(item).__name__.encode(), crc)
            walk((np.asarray(item.affine, dtype=np.float64), np.asanyarray(item.dataobj)))
        else:
            crc = zlib.crc32(pickle.dumps(item, protocol=4), crc)

    walk(obj)
    return f"{crc:08x}"


def _run(key: Any, compute: Callable[[], Any]) -> Any:  # the cached kernel (``compute`` is not hashed)
    with _recorded() as caught:
        result = compute()
    warned = None if caught is None else [(w.category, str(w.message), w.filename, w.lineno) for w in caught]
    return (_ENTRY_TAG, _checksum((result, warned)), result, warned)


@contextlib.contextmanager
def _recorded():
    """The warnings given inside the block (the caller's filters apply: "error" still raises).

    Recording swaps process-wide state, so it is only done on the main thread; elsewhere the
    warnings go straight out and this yields None (a later hit then cannot repeat them).
    When the block raises, its warnings are given before the exception goes on.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    caught: list = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            yield caught
    except BaseException:
        _replay(caught)
        raise


def _replay(caught) -> None:
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)


def _entry_ok(entry: Any) -> bool:
    if not (isinstance(entry, tuple) and len(entry) == 4 and entry[0] == _ENTRY_TAG):
        return False
    try:
        return entry[1] == _checksum((entry[2], entry[3]))
    except Exception:  # an unpicklable / damaged payload
        return False


class _UnreadableEntryFilter:
    """Logging filter: swallow joblib's traceback for an unreadable entry, remember it."""

    def __init__(self) -> None:
        self.seen = 0

    def filter(self, record) -> bool:
        if "Exception while loading results" in str(record.msg):
            self.seen += 1
            return False
        return True


_JOBLIB_WRITE_FAILED = "Unable to cache to disk"  # joblib's CacheWarning when an entry cannot be written


@contextlib.contextmanager
def _write_failures():
    """Collect the text of joblib's "Unable to cache to disk" warnings; give all others again.

    joblib blames "a race condition" for any failed write (disk full, file size limit,
    permissions). Main thread only (see :func:`_recorded`; elsewhere this yields None); the
    caller also checks that the entry exists.
    """
    failures: list[str] = []
    with _recorded() as caught:
        yield None if caught is None else failures
    others = []
    for w in caught or ():
        text = str(w.message)
        if w.category.__name__ == "CacheWarning" and text.startswith(_JOBLIB_WRITE_FAILED):
            failures.append(text.split("Exception: ", 1)[-1].rstrip("."))
        else:
            others.append(w)
    _replay(others)


_SWEPT: set = set()  # cache locations swept for stale temporary files by this process
STALE_TEMP_SECONDS = 3600.0


def _is_temp(name: str) -> bool:
    """joblib's temporary entry files: ``output.pkl.<uuid hex>-<pid>-<thread id>`` (or metadata.json)."""
    stem, _, tag = name.partition(".pkl.") if name.startswith("output.pkl.") else name.partition(".json.")
    parts = tag.split("-")
    return stem in ("output", "metadata") and len(parts) == 3 and all(p.isalnum() for p in parts)


def _remove_temps(location: str, select: Callable[[str, str], bool]) -> int:
    """Remove the joblib temporary files under ``location`` that ``select(name, path)`` picks."""
    removed = 0
    for folder, _, files in os.walk(location):
        for name in files:
            path = os.path.join(folder, name)
            try:
                if _is_temp(name) and select(name, path):
                    os.remove(path)
                    removed += 1
            except OSError:  # gone already, or not ours to remove
                pass
    return removed


def sweep_stale_temps(location: str, older_than: float = STALE_TEMP_SECONDS) -> int:
    """Remove half-written entry files older than ``older_than`` seconds; return how many.

    A writer killed mid-dump (SIGKILL, power loss) leaves its temporary file behind forever.
    Age is the only test: the process id in the name says nothing about writers on other
    hosts sharing the cache, and no entry write takes an hour.
    """
    import time

    now = time.time()
    return _remove_temps(location, lambda name, path: now - os.stat(path).st_mtime > older_than)


def _report_failed_write(location: str, failures: list[str] | None) -> None:
    """Remove this thread's half-written entry files and say why the entry was not stored."""
    import threading

    from ..exceptions import NimaskCacheWarning

    # joblib writes "<file>.<uuid hex>-<pid>-<thread id>", then renames
    suffix = f"-{os.getpid()}-{id(threading.current_thread())}"
    removed = _remove_temps(location, lambda name, path: name.endswith(suffix))
    reason = "; ".join(dict.fromkeys(failures)) if failures else "the entry is missing after the write"
    warnings.warn(
        f"The result could not be written to the cache {location!r} ({reason}); it was computed "
        f"and returned, but will be recomputed next time. Free space or raise the file size limit "
        f"to cache it ({removed} partial file(s) removed).",
        NimaskCacheWarning, stacklevel=find_stack_level(),
    )


def cached_call(memory, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, cached in ``memory`` under ``key`` when ``memory`` has a location.

    Entries are keyed on ``key`` (callers pass content fingerprints of the input files), the
    nimask version and the cache format, and stored with a CRC32 of the result that is
    verified on every hit: a damaged entry (bit flip, truncation, foreign content) is
    recomputed and rewritten, with a :class:`~nimask.exceptions.NimaskCacheWarning`,
    never returned. The warnings ``compute`` gave (non-finite values zeroed, ...) are stored
    with the result and given again on every hit: a cached answer says what the computed one
    said. An entry that cannot be written (disk full, file size limit) leaves no partial
    files and a warning that says why; the result is returned.
    """
    if memory is None or getattr(memory, "location", None) is None:
        return compute()
    from .. import __version__
    from ..exceptions import NimaskCacheWarning

    if memory.location not in _SWEPT:
        _SWEPT.add(memory.location)
        sweep_stale_temps(memory.location)
    func = memory.cache(_run, ignore=["compute"])
    full_key = ("nimask", __version__, _CACHE_FORMAT, key)
    unreadable = _UnreadableEntryFilter()
    logger = logging.getLogger("joblib")  # joblib logs a full traceback for an unreadable entry
    logger.addFilter(unreadable)
    try:
        with _write_failures() as failures:
            entry = func(full_key, compute)
            if not _entry_ok(entry):
                warnings.warn(
                    f"A corrupted cache entry in {memory.location!r} failed its checksum; it was "
                    f"recomputed and rewritten (the stored result was not used).",
                    NimaskCacheWarning, stacklevel=find_stack_level(),
                )
                entry = func.call(full_key, compute)[0]
            elif unreadable.seen:
                warnings.warn(
                    f"An unreadable cache entry in {memory.location!r} was recomputed and rewritten.",
                    NimaskCacheWarning, stacklevel=find_stack_level(),
                )
        if failures or not func.check_call_in_cache(full_key, compute):
            _report_failed_write(memory.location, failures)
    finally:
        logger.removeFilter(unreadable)
    for category, message, filename, lineno in entry[3] or ():
        warnings.warn_explicit(message, category, filename, lineno)
    return entry[2]


def check_cache_location(path: str, param: str = "memory") -> str:
    """Create the cache folder ``path`` if needed and check that it is a writable folder.

    Raises
    ------
    ParameterError
        The parent folder does not exist.
    CacheError
        ``path`` exists and is not a folder, or cannot be created or written to.
    """
    from ..exceptions import CacheError

    path = os.path.expanduser(os.fspath(path))
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise ParameterError(
            f"'{param}': the parent folder {parent!r} of the cache location {path!r} does not exist.",
            param=param, found=path,
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise CacheError(
            f"'{param}': the cache location {path!r} exists and is not a folder.",
            path=path, param=param, expected="a folder", found="a file",
        )
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CacheError(
            f"'{param}': cannot create the cache folder {path!r}: {exc.strerror or exc}.",
            path=path, param=param, expected="a writable folder",
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise CacheError(
            f"'{param}': the cache folder {path!r} is not writable.",
            path=path, param=param, expected="a writable folder", found="read-only",
        )
    return path


def as_key(value: Any) -> Any:
    """A joblib-hashable, content-based version of an array-like parameter (arrays by digest)."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape,
                hashlib.blake2b(np.ascontiguousarray(value).tobytes(), digest_size=16).hexdigest())
    if isinstance(value, (list, tuple)):
        return [as_key(v) for v in value]
    return fingerprint(value)
