"""The manifest of a batch output folder: which outputs are finished, from which inputs and options.

``OUTPUT_DIR/.nimask/manifest.jsonl`` holds JSON lines appended and fsync'ed by the coordinating
process only. Each record is about one run (``run``: its BOLD path) and lists output files
(``outputs``: ``{relative path: {"key", "inputs", ["denoise"]}}``) with, per record, the input
fingerprints (``inputs``: ``{name: [size, mtime_ns, sha256 or null]}`` for ``bold``, ``mask``,
``confounds``, ``sidecar``, ``atlas:<A>``, ``lut:<A>``) and the options of the outputs
(``options``). An output's ``key`` hashes the options that determine it (nimask version, the atlas
spec, the strategy definition, the ``--t-r`` override: :func:`output_options`); its ``inputs`` name
the input files it is computed from (a coverage table does not depend on the confounds or the
sidecar, an atlas's outputs not on the other atlases); ``denoise`` is the digest of the confounds
and sample mask its strategy regressed (:func:`nimask.batch.job.denoise_digest`).

* ``started``: before a run starts, its outputs about to be written are *claimed* for their keys
  and inputs: an existing output file is *owned* (may be replaced without ``--overwrite``) only
  when its latest ``started`` or ``done`` record has the same key and inputs
  (catalogue B8), so the outputs of a run cut short by a kill or a signal are redone by the next
  batch and other files are refused.
* ``done``: the outputs listed are finished, with the run's warnings; also appended (with
  ``"refreshed": true``) when a finished output's inputs were only touched (same content, new
  mtime), so that the next batch does not hash them again.
* ``failed``: the outputs listed (a failed strategy's, or finished ones that ``--strict`` now
  refuses) are not finished; a failed run's record lists none.

Records of the earlier format (one record per run: ``key`` of the whole task, ``fingerprint``
``{name: [size, mtime_ns]}``, ``outputs`` a list) are still read: :meth:`Manifest.legacy`; the
runner checks them against the current options (:func:`legacy_task_key`). A line cut short by
``kill -9`` is ignored, so the outputs it described are simply redone.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .atomic import write_error
from .relmat import FISHER_Z_KINDS

__all__ = ["Manifest", "file_fingerprint", "task_key", "output_options", "legacy_task_key", "FORMAT"]

FORMAT = 2  # records of this format carry "format": 2; the earlier ones have no "format"


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


def output_options(atlas, strategy=None, t_r: float | None = None, censor: str = "drop", kind: str | None = None,
                   fisher_z: bool = False) -> dict:
    """The options that determine an output: the coverage table of ``atlas`` (``strategy`` None), its
    time series for ``strategy``, their connectome of ``kind`` (with ``fisher_z``), or, for ``atlas``
    None, the QC table of ``strategy``; its key is ``task_key(output_options(...))``.

    Options that only decide whether a run may finish (``--allow-no-mask``, ``--strict``) are not
    part of it, nor are the other atlases and strategies of the batch.
    """
    from .. import __version__

    if atlas is None:
        options = {"version": __version__, "output": "qc", "strategy": strategy.to_dict(),
                   "t_r": None if t_r is None else float(t_r)}
        return options
    if strategy is None:
        return {"version": __version__, "output": "coverage", "atlas": atlas.to_dict()}
    options = {"version": __version__, "output": "timeseries", "atlas": atlas.to_dict(),
               "strategy": strategy.to_dict(), "t_r": None if t_r is None else float(t_r)}
    if censor != "drop":  # nilearn's censoring: the keys of outputs written before --censor existed
        options["censor"] = censor
    if kind is not None:
        options["output"] = "relmat"
        options["kind"] = kind
        options["fisher_z"] = bool(fisher_z) and kind in FISHER_Z_KINDS
    return options


def legacy_task_key(atlases, strategies, t_r: float | None, relpath: str, stem: str, censor: str = "drop") -> str:
    """The run key of the earlier manifest format, for a run done with these atlases and strategies."""
    from .. import __version__

    config = {"version": __version__, "atlases": [a.to_dict() for a in atlases],
              "strategies": [s.to_dict() for s in strategies]}
    if t_r is not None:
        config["t_r"] = float(t_r)
    if censor != "drop":
        config["censor"] = censor
    return task_key(config, relpath, stem)


class Manifest:
    """Append-only JSON-lines record of the outputs of an output folder.

    The latest record that lists an output decides its state: :meth:`done` (finished, with the
    key, inputs and warnings it was written with) and :meth:`claim` (the latest ``started`` or
    ``done`` entry: who may replace the file). Records of the earlier format are kept per run
    (:meth:`legacy`) and only speak for outputs that no record of this format lists.
    """

    def __init__(self, output_dir: str | os.PathLike) -> None:
        self.folder = Path(output_dir) / ".nimask"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "manifest.jsonl"
        self._latest: dict[str, dict] = {}  # run -> its latest record
        self._done: dict[str, dict] = {}  # output -> its entry, while finished
        self._claims: dict[str, dict] = {}  # output -> entry of its latest started/done record
        self._listed: set[str] = set()  # outputs that a record of this format lists
        self._legacy: dict[str, dict] = {}  # run -> its latest record of the earlier format
        self._legacy_claims: dict[str, tuple] = {}  # run -> (key, fingerprint) of its latest old started/done
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut short by a kill: its outputs are redone
                    continue
                if isinstance(record, dict) and isinstance(record.get("run"), str):
                    self._remember(record)

    def _remember(self, record: dict) -> None:
        run, status = record["run"], record.get("status")
        self._latest[run] = record
        if record.get("format") != FORMAT:  # the earlier format: one record per run
            self._legacy[run] = record
            if status in ("started", "done"):
                self._legacy_claims[run] = (record.get("key"), record.get("fingerprint"))
            return
        outputs = record.get("outputs")
        fps = record.get("inputs") if isinstance(record.get("inputs"), dict) else {}
        for rel, out in (outputs.items() if isinstance(outputs, dict) else ()):
            out = out if isinstance(out, dict) else {}
            entry = {"run": run, "key": out.get("key"), "inputs": {n: fps.get(n) for n in out.get("inputs") or ()},
                     "denoise": out.get("denoise"), "warnings": record.get("warnings") or [],
                     "n_volumes": record.get("n_volumes")}
            self._listed.add(rel)
            if status in ("started", "done"):
                self._claims[rel] = entry
            if status == "done":
                self._done[rel] = entry
            else:
                self._done.pop(rel, None)

    def done(self, rel: str) -> dict | None:
        """The entry of a finished output (``run``, ``key``, ``inputs`` ``{name: [size, mtime_ns,
        sha256]}``, ``denoise``, ``warnings``, ``n_volumes``), or None."""
        return self._done.get(rel)

    def claim(self, rel: str) -> dict | None:
        """The entry of the latest ``started`` or ``done`` record of an output, or None."""
        return self._claims.get(rel)

    def listed(self, rel: str) -> bool:
        """Whether a record of this format lists the output (the earlier records no longer speak for it)."""
        return rel in self._listed

    def legacy(self, run: str) -> tuple[dict, tuple | None]:
        """The latest record of ``run`` in the earlier format (an empty dict when none) and its claim
        ``(key, fingerprint)`` (of its latest ``started`` or ``done`` record, or None)."""
        return self._legacy.get(run, {}), self._legacy_claims.get(run)

    def latest(self, run: str) -> dict:
        """The latest record of ``run`` (an empty dict when there is none)."""
        return self._latest.get(run, {})

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
