"""The files of an fMRIPrep run: which image names are accepted, where its confounds are.

fMRIPrep writes one confounds table per run (``<entities>_desc-confounds_timeseries.tsv``, or
``_desc-confounds_regressors.tsv`` before 1.4) and its JSON sidecar next to the preprocessed
images of every output space. Given an image path, the table is the file of that folder whose
entities are a subset of the image's, in the same order (the spatial entities ``space-``,
``res-``, ``den-``, ``hemi-`` and any other the table's name lacks are skipped). The same rule
finds the two TEDANA files (``desc-ICA_mixing.tsv``, ``desc-tedana_metrics.tsv``).

Accepted images (nilearn 0.14.1's rules):

* ``*_desc-preproc_bold.nii.gz`` (``*_desc-smoothAROMAnonaggr_bold.nii.gz`` with
  ``ica_aroma="full"``, ``*_desc-optcom_bold.nii.gz`` with ``"tedana"``);
* ``*_bold.dtseries.nii`` (CIFTI);
* a pair of ``*_hemi-L_..._bold.func.gii`` / ``hemi-R`` files (GIFTI), given as a list.

Only the names are used: the images themselves are not read.
"""
from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from ...exceptions import (
    ConfoundsError,
    ConfoundsNotFoundError,
    ParameterError,
    ParameterTypeError,
)

__all__ = [
    "check_image_names",
    "confounds_file",
    "image_kind",
    "image_list",
    "read_confounds_table",
    "read_sidecar",
    "tedana_files",
]

_CONFOUNDS_SUFFIX = r"desc-confounds_(?:timeseries|regressors)\.tsv"
_NII_SUFFIX = {"regular": "_desc-preproc_bold.nii.gz", "ica_aroma": "_desc-smoothAROMAnonaggr_bold.nii.gz",
               "tedana": "_desc-optcom_bold.nii.gz"}
_GIFTI = re.compile(r"_hemi-[LR](?:_[^_]+-[^_]+)*_bold\.func\.gii$")


class _ImageEntryTypeError(ParameterTypeError, AttributeError):
    """An entry of ``img_files`` is not a path (nilearn fails with an ``AttributeError`` there)."""


def _as_path(value: Any, where: str) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise _ImageEntryTypeError(
            f"{where} must be the path of an fMRIPrep image (str); got {type(value).__name__} {value!r}.",
            param="img_files", found=type(value).__name__,
        )
    return value


def _is_gifti(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike)) and os.fspath(value).endswith("func.gii")


def image_list(img_files: Any) -> tuple[list[Any], bool]:
    """The runs given as ``img_files`` and whether a single run was given.

    A path is one run; a list of two ``func.gii`` paths is one GIFTI run; a list of one entry
    is that entry; a longer list (of paths, or of GIFTI pairs) is one run per entry.

    Returns
    -------
    runs : list
        Each a path (str) or a GIFTI pair (list of str).
    single : bool
        Whether the caller gets one result instead of a list.
    """
    if isinstance(img_files, (str, os.PathLike)):
        return [_as_path(img_files, "img_files")], True
    if not isinstance(img_files, (list, tuple)):
        raise ParameterTypeError(
            f"img_files must be a path or a list of paths to fMRIPrep images; got {type(img_files).__name__}.",
            param="img_files", found=type(img_files).__name__,
        )
    entries = list(img_files)
    if len(entries) == 2 and all(_is_gifti(e) for e in entries):
        return [[_as_path(e, "img_files") for e in entries]], True
    runs = []
    for i, entry in enumerate(entries):
        if isinstance(entry, (list, tuple)):
            runs.append([_as_path(e, f"img_files[{i}]") for e in entry])
        else:
            runs.append(_as_path(entry, f"img_files[{i}]"))
    return runs, len(runs) == 1


def check_image_names(runs: list[Any], strategy: tuple[str, ...] | list[str], ica_aroma: str) -> None:
    """Refuse images that cannot carry the strategy (TEDANA needs ``desc-optcom``, full ICA-AROMA
    ``desc-smoothAROMAnonaggr``). GIFTI pairs are not checked, as in nilearn."""
    for run in runs:
        if not isinstance(run, str):
            continue
        if "tedana" in strategy:
            if "desc-optcom_bold" not in run:
                raise ParameterError(
                    "Input must be the ~desc-optcom_bold.nii.gz file for tedana strategy. Other files like "
                    "~desc-denoised_bold.nii.gz are not supported or have already been denoised. "
                    f"Got {run!r}.", param="img_files", path=run, expected="*_desc-optcom_bold.nii.gz",
                )
        elif "ica_aroma" in strategy and ica_aroma == "full" and "desc-smoothAROMAnonaggr_bold" not in run:
            raise ParameterError(
                "Input must be desc-smoothAROMAnonaggr_bold for full ICA-AROMA strategy. ica_aroma='full' uses "
                f"fMRIPrep's non-aggressively denoised image; got {run!r}.",
                param="img_files", path=run, expected="*_desc-smoothAROMAnonaggr_bold.nii.gz",
            )


def image_kind(run: Any, strategy: tuple[str, ...] | list[str], ica_aroma: str) -> tuple[str, str]:
    """``(kind, path)`` of a run: ``"nii.gz"``, ``"dtseries.nii"`` or ``"func.gii"``, and the
    path whose name locates the confounds (the left file of a GIFTI pair)."""
    if isinstance(run, list):
        if not run or not all(_is_gifti(p) and _GIFTI.search(os.path.basename(p)) for p in run):
            raise ParameterError(
                f"need fMRIprep output with extension func.gii: a list entry is a pair of "
                f"'*_hemi-L_*bold.func.gii' / 'hemi-R' files; got {run!r}.", param="img_files", found=run,
            )
        return "func.gii", run[0]
    name = os.path.basename(run)
    if name.endswith("nii.gz"):
        if "tedana" in strategy:
            allowed = _NII_SUFFIX["tedana"]
        elif "ica_aroma" in strategy and ica_aroma == "full":
            allowed = _NII_SUFFIX["ica_aroma"]
        else:
            allowed = _NII_SUFFIX["regular"]
        if not name.endswith(allowed):
            raise ParameterError(
                f"Invalid file type for the selected 'nii.gz' method. {run!r} is not an fMRIPrep "
                f"image for this strategy: expected a name ending in {allowed!r}.",
                param="img_files", path=run, expected=allowed, found=name,
            )
        return "nii.gz", run
    if name.endswith("dtseries.nii"):
        if not name.endswith("_bold.dtseries.nii"):
            raise ParameterError(
                f"Invalid file type for the selected 'dtseries.nii' method: expected a name ending in "
                f"'_bold.dtseries.nii'; got {run!r}.", param="img_files", path=run, found=name,
            )
        return "dtseries.nii", run
    if name.endswith("func.gii"):
        if not _GIFTI.search(name):
            raise ParameterError(
                f"need fMRIprep output with extension func.gii: expected a '*_hemi-L|R_*bold.func.gii' "
                f"name; got {run!r}.", param="img_files", path=run, found=name,
            )
        return "func.gii", run
    raise ParameterError(
        f"Unsupported input. {run!r} is not an fMRIPrep image: expected a '.nii.gz', '.dtseries.nii' "
        f"or a pair of '.func.gii' files.", param="img_files", path=run, found=name,
    )


def _entity_pattern(image: str, suffix: str) -> re.Pattern[str]:
    """Names made of the image's entities (any of them left out, order kept) and ``suffix``."""
    tokens = os.path.basename(image).split("_")[:-1]
    kept = [t for t in tokens if not t.startswith("desc-")]
    optional = "".join(f"(?:{re.escape(t)}_)?" for t in kept)
    return re.compile(f"^{optional}{suffix}$")


def _companions(image: str, suffix: str) -> list[str]:
    folder = os.path.dirname(image)
    pattern = _entity_pattern(image, suffix)
    try:
        names = os.listdir(folder or ".")
    except OSError:
        return []
    return [os.path.join(folder, n) for n in sorted(names) if pattern.match(n)]


def confounds_file(image: str) -> str:
    """The confounds table of ``image`` (exactly one must exist in its folder)."""
    found = _companions(image, _CONFOUNDS_SUFFIX)
    if not found:
        raise ConfoundsNotFoundError(
            "Could not find associated confound file. The functional derivatives should exist under the "
            f"same parent directory. Looked in {os.path.dirname(image) or '.'!r} for "
            f"'<entities of {os.path.basename(image)}>_desc-confounds_timeseries.tsv'.",
            path=image, param="img_files",
        )
    if len(found) > 1:
        listing = "".join(f"\n\t{f}" for f in found)
        raise ConfoundsError(
            f"Found more than one confound file:{listing}\nfor {image!r}: keep one confounds table per run.",
            path=image, found=found,
        )
    return found[0]


def tedana_files(image: str) -> tuple[str, str]:
    """``(mixing, metrics)``: the TEDANA ICA mixing matrix and component table of ``image``."""
    mixing = _companions(image, r"desc-ICA_mixing\.tsv")
    metrics = _companions(image, r"desc-tedana_metrics\.tsv")
    found = mixing + metrics
    if len(mixing) != 1 or len(metrics) != 1:
        listing = "".join(f"\n\t{f}" for f in found)
        raise ConfoundsNotFoundError(
            f"Found {len(found)} confound files (expected 2 for TEDANA):{listing}\n\nTEDANA should produce exactly "
            f"two confound files next to {image!r}: '<entities>_desc-ICA_mixing.tsv' and "
            f"'<entities>_desc-tedana_metrics.tsv'.", path=image, found=found,
        )
    return mixing[0], metrics[0]


def _header(path: str) -> list[str]:
    with open(path, encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh, delimiter="\t"), [])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def read_confounds_table(path: str) -> tuple[pd.DataFrame, list[str]]:
    """An fMRIPrep confounds table (tab-separated, ``n/a`` read as NaN) and its raw header names.

    Refused as nilearn refuses them: a table without a header (pre-1.0 fMRIPrep: its first name
    is a number) and CamelCase names (fMRIPrep 1.0 - 1.1).
    """
    try:
        frame = pd.read_csv(path, delimiter="\t", encoding="utf-8")
    except pd.errors.EmptyDataError as exc:
        raise _EmptyTableError(f"Confounds file {path!r} is empty: No columns to parse from file.",
                               path=path) from exc
    except UnicodeDecodeError as exc:
        raise ConfoundsError(f"Confounds file {path!r} is not UTF-8 text: {exc}", path=path) from exc
    names = [str(c) for c in frame.columns]
    camel = [n for n in names if "_" not in n and n.lower() != n and n.upper() != n]
    if camel:
        raise ConfoundsError(
            "The confound file contains header in camel case. This is likely the output from 1.0.x and 1.1.x "
            f"series. We only support fmriprep outputs >= 1.2.0. File {path!r}, columns {camel[:5]}.",
            path=path, found=camel,
        )
    if names and _is_number(names[0]):
        raise ConfoundsError(
            f"The confound file contains no header.Is this an old version fMRIprep output? File {path!r} starts "
            f"with the values {names[:5]} where fMRIPrep >= 1.2 writes column names.",
            path=path, found=names[:5],
        )
    return frame, _header(path)


class _EmptyTableError(ConfoundsError, pd.errors.EmptyDataError):
    """The confounds file has no column at all (also pandas' ``EmptyDataError``, as in nilearn)."""


class _SidecarDecodeError(ConfoundsError, json.JSONDecodeError):
    """The JSON sidecar is not valid JSON (also a ``json.JSONDecodeError``, as in nilearn)."""

    def __init__(self, message: str, *, source: json.JSONDecodeError, path: str) -> None:
        ValueError.__init__(self, message)
        self.msg, self.doc, self.pos = source.msg, source.doc, source.pos
        self.lineno, self.colno = source.lineno, source.colno
        self.path, self.param, self.expected, self.found, self.index = path, None, "JSON", None, None

    def __reduce__(self):  # pragma: no cover - pickled as a plain ConfoundsError
        return (ConfoundsError, (str(self),))

    def __str__(self) -> str:
        return str(self.args[0])


def read_sidecar(tsv_path: str, *, required: bool) -> Any:
    """The JSON sidecar of a confounds table (``.tsv`` -> ``.json``), read whenever it exists.

    Parameters
    ----------
    tsv_path : str
    required : bool
        CompCor needs it: its absence is then an error.

    Returns
    -------
    dict or None
        None when there is no sidecar (and it is not required). An unreadable sidecar is an
        error even when it is not required (nilearn reads it whenever it exists).
    """
    path = str(Path(tsv_path).with_suffix(".json"))
    if not os.path.isfile(path):
        if required:
            raise ConfoundsNotFoundError(
                f"Could not find associated json file {path}.This is necessary for anatomical CompCor.The CompCor "
                "component is only supported for fMRIprep version >= 1.4.0.", path=path, param="compcor",
            )
        return None
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _SidecarDecodeError(f"The JSON sidecar {path!r} of the confounds file is not valid JSON: {exc}",
                                  source=exc, path=path) from exc
    if required and not isinstance(meta, dict):
        raise ConfoundsError(f"The JSON sidecar {path!r} must hold an object (column name -> metadata); "
                             f"found {type(meta).__name__}.", path=path, found=type(meta).__name__)
    return meta
