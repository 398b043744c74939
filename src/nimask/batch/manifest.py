"""The manifest of a batch output folder: which runs are done, for which inputs.

``OUTPUT_DIR/.nimask/manifest.jsonl`` holds one JSON line per finished (or failed) run,
appended and fsync'ed by the coordinating process once the run's outputs are renamed
into place. A run is *done* when its latest record has status ``done``, the same task key
(run + atlases + strategies + nimask version) and the same input fingerprint (size and
mtime of every input file), and all its outputs exist. A line cut short by ``kill -9`` is
ignored, so the run it described is simply redone.

Before the runs start, a ``started`` record per run claims its output paths for its task
key and input fingerprint: an existing output file is *owned* (may be replaced without
``--overwrite``) only when the run's latest ``started`` or ``done`` record has the same
key and fingerprint (:meth:`Manifest.owns`); so the outputs of a run cut short by a kill
or a signal are redone by the next run, and other files are refused (catalogue B8).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .atomic import write_error

__all__ = ["Manifest", "file_fingerprint", "task_key"]


def file_fingerprint(paths: dict[str, str | None]) -> dict[str, list | None]:
    """``{name: [size, mtime_ns]}`` of the input files (None for a missing one)."""
    out: dict[str, list | None] = {}
    for name, path in paths.items():
        try:
            st = os.stat(path) if path is not None else None
        except FileNotFoundError:  # gone since it was found: the run fails naming it (job._require_files)
            st = None
        out[name] = None if st is None else [st.st_size, st.st_mtime_ns]
    return out


def task_key(*parts) -> str:
    """A stable hash of JSON-able parts."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class Manifest:
    """Append-only JSON-lines record of the runs of an output folder."""

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.folder = Path(output_dir) / ".nimask"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "manifest.jsonl"
        self._latest: dict[str, dict] = {}
        self._claims: dict[str, tuple] = {}  # run -> (key, fingerprint) of its latest started/done record
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill: that run is redone
                    continue
                if isinstance(record, dict) and "run" in record:
                    self._remember(record)

    def _remember(self, record: dict) -> None:
        self._latest[record["run"]] = record
        if record.get("status") in ("started", "done"):
            self._claims[record["run"]] = (record.get("key"), record.get("fingerprint"))

    def is_done(self, run: str, key: str, fingerprint: dict, outputs: list[str]) -> bool:
        """Whether ``run`` finished with these inputs and parameters and its outputs are all there."""
        rec = self._latest.get(run)
        if rec is None or rec.get("status") != "done" or rec.get("key") != key:
            return False
        if rec.get("fingerprint") != fingerprint:
            return False
        root = self.folder.parent
        return all((root / rel).is_file() for rel in outputs)

    def latest(self, run: str) -> dict:
        """The latest record of ``run`` (an empty dict when there is none)."""
        return self._latest.get(run, {})

    def owns(self, run: str, key: str, fingerprint: dict) -> bool:
        """Whether the existing outputs of ``run`` were written for this task key and these inputs
        (by a finished run, or one cut short), so that redoing the run may replace them."""
        return self._claims.get(run) == (key, fingerprint)

    def append(self, record: dict | list[dict]) -> None:
        """Add a record, or several (one line each, written at once and fsync'ed).

        Raises
        ------
        OutputWriteError
            The manifest could not be written (disk full, file-size limit): it is cut back to
            its size before this call, so no record (and no part of one) was added.
        """
        records = [record] if isinstance(record, dict) else list(record)
        if not records:
            return
        slims = [{k: v for k, v in rec.items() if k != "traceback"} for rec in records]
        line = "".join(json.dumps(slim, sort_keys=True, default=str) + "\n" for slim in slims)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise write_error(self.path, exc) from exc
        size = None
        try:
            size = os.fstat(fd).st_size
            if size:  # a partial last line from a kill: start on a new line
                with open(self.path, "rb") as fh:
                    fh.seek(-1, os.SEEK_END)
                    if fh.read(1) != b"\n":
                        line = "\n" + line
            data = memoryview(line.encode("utf-8"))
            while data:  # a short write (disk full, file-size limit) is followed by an error
                data = data[os.write(fd, data):]
            os.fsync(fd)
        except OSError as exc:
            if size is not None:  # no half-written record: drop what this append wrote
                try:
                    os.ftruncate(fd, size)
                except OSError:
                    pass
            raise write_error(self.path, exc) from exc
        finally:
            os.close(fd)
        for slim in slims:
            self._remember(slim)
