"""Finding the preprocessed BOLD runs of an fMRIPrep / BIDS-derivatives tree.

A run is a ``*_desc-preproc_bold.nii.gz`` (or ``.nii``) file; its brain mask is the file
with ``desc-brain_mask`` in place of ``desc-preproc_bold`` and its confounds are the
``desc-confounds_timeseries.tsv`` of the same entities without ``space-``/``res-``/``den-``
(fMRIPrep writes one confounds file per run, shared by every output space). Its ICA-AROMA
image (fMRIPrep < 24 with ``--use-aroma``, read by the ``ica_aroma`` strategies only) is the file
with ``desc-smoothAROMAnonaggr_bold`` in place of ``desc-preproc_bold`` (same entities, so same
space: fMRIPrep writes it in ``MNI152NLin6Asym`` only); :func:`aroma_candidates`.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..exceptions import ImageNotFoundError, ParameterError

__all__ = ["BoldRun", "find_runs", "mask_candidates", "aroma_candidates", "parse_entities"]

_BOLD_RE = re.compile(r"^(?P<stem>.+)_desc-preproc_bold\.nii(?:\.gz)?$")
_SPATIAL = ("space", "res", "den", "cohort")


def parse_entities(name: str) -> dict[str, str]:
    """BIDS ``key-value`` entities of a file name (``sub-01_task-rest_...`` -> dict)."""
    base = name.split(".", 1)[0]
    out = {}
    for part in base.split("_"):
        if "-" in part:
            k, v = part.split("-", 1)
            out[k] = v
    return out


@dataclass(frozen=True)
class BoldRun:
    """One preprocessed BOLD run and its companion files (absolute paths)."""

    bold: str
    mask: str | None
    confounds: str | None
    sidecar: str | None
    relpath: str  # folder of the run relative to the derivatives root (sub-XX[/ses-YY]/func)
    stem: str  # file name before "_desc-preproc_bold"
    entities: dict = field(default_factory=dict, compare=False, hash=False)
    aroma: str | None = None  # the run's desc-smoothAROMAnonaggr_bold image, when there is one

    def repetition_time(self) -> float | None:
        """``RepetitionTime`` of the JSON sidecar (None when there is none, or it has no such key).

        Raises
        ------
        ParameterError
            The sidecar is not a JSON object, or its ``RepetitionTime`` is not a number (the
            message names the file).
        """
        if self.sidecar is None:
            return None
        try:
            with open(self.sidecar, encoding="utf-8") as fh:
                meta = json.load(fh)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ParameterError(f"The sidecar {self.sidecar!r} is not valid JSON ({exc}); its RepetitionTime "
                                 f"cannot be read. Fix the file, or pass --t-r SECONDS.", param="t_r",
                                 path=self.sidecar) from None
        value = meta.get("RepetitionTime") if isinstance(meta, dict) else None
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"RepetitionTime in {self.sidecar!r} must be a number of seconds; found "
                                 f"{value!r}. Fix the sidecar, or pass --t-r SECONDS.", param="t_r",
                                 path=self.sidecar, found=value)
        return float(value)


def mask_candidates(folder: str | os.PathLike, stem: str) -> tuple[str, str]:
    """The brain-mask files of the run ``stem`` in ``folder``: ``desc-brain_mask.nii.gz``, then ``.nii``."""
    base = os.path.join(os.fspath(folder), f"{stem}_desc-brain_mask")
    return base + ".nii.gz", base + ".nii"


def aroma_candidates(folder: str | os.PathLike, stem: str) -> tuple[str, str]:
    """The ICA-AROMA images of the run ``stem`` in ``folder``: ``desc-smoothAROMAnonaggr_bold.nii.gz``, then
    ``.nii``."""
    base = os.path.join(os.fspath(folder), f"{stem}_desc-smoothAROMAnonaggr_bold")
    return base + ".nii.gz", base + ".nii"


def _confounds_path(folder: Path, stem: str) -> Path | None:
    ents = [p for p in stem.split("_") if p.split("-", 1)[0] not in _SPATIAL]
    for candidate in ("_".join(ents), stem):
        path = folder / f"{candidate}_desc-confounds_timeseries.tsv"
        if path.is_file():
            return path
    return None


def find_runs(
    root: str | os.PathLike,
    *,
    space: str | None = None,
    task: str | None = None,
    participant_label: list[str] | None = None,
) -> list[BoldRun]:
    """The preprocessed BOLD runs under ``root``, sorted by path.

    Parameters
    ----------
    root : path
        The fMRIPrep output folder (the one holding the ``sub-*`` folders).
    space : str or None
        Keep runs whose ``space-`` entity equals it (e.g. ``MNI152NLin2009cAsym``).
    task : str or None
        Keep runs of this task.
    participant_label : list of str or None
        Keep these subjects (with or without the ``sub-`` prefix).
    """
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
        raise ImageNotFoundError(f"BIDS derivatives folder {os.fspath(root)!r} does not exist or is not a folder.",
                                 path=root, param="bids_dir")
    subjects = None
    if participant_label:
        subjects = {s[4:] if s.startswith("sub-") else s for s in participant_label}
    runs = []
    for sub_dir in sorted(root_path.glob("sub-*")):
        if not sub_dir.is_dir() or (subjects is not None and sub_dir.name[4:] not in subjects):
            continue
        for path in sorted(sub_dir.rglob("*_desc-preproc_bold.nii*")):
            m = _BOLD_RE.match(path.name)
            if not m or "/." in path.as_posix():
                continue
            stem = m.group("stem")
            ents = parse_entities(stem)
            if space is not None and ents.get("space") != space:
                continue
            if task is not None and ents.get("task") != task:
                continue
            folder = path.parent
            mask = next((Path(p) for p in mask_candidates(folder, stem) if os.path.isfile(p)), None)
            sidecar = folder / f"{stem}_desc-preproc_bold.json"
            conf = _confounds_path(folder, stem)
            aroma = next((Path(p) for p in aroma_candidates(folder, stem) if os.path.isfile(p)), None)
            runs.append(BoldRun(
                bold=str(path.absolute()),
                mask=str(mask.absolute()) if mask is not None else None,
                confounds=str(conf.absolute()) if conf is not None else None,
                sidecar=str(sidecar.absolute()) if sidecar.is_file() else None,
                relpath=folder.relative_to(root_path).as_posix(),
                stem=stem,
                entities=ents,
                aroma=str(aroma.absolute()) if aroma is not None else None,
            ))
    return runs


def check_filters(space, task, participant_label) -> None:
    """Reject filter values that cannot match a BIDS entity (they contain '_' or '-')."""
    for name, value in (("space", space), ("task", task)):
        if value is not None and (not value or re.search(r"[_\s/]", value)):
            raise ParameterError(f"--{name} {value!r}: a BIDS label has no '_', '/' or space.", param=name,
                                 found=value)
    for label in participant_label or []:
        if not label or re.search(r"[_\s/]", label):
            raise ParameterError(f"--participant-label {label!r}: a BIDS label has no '_', '/' or space.",
                                 param="participant_label", found=label)
