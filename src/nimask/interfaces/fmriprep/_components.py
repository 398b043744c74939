"""Which columns of an fMRIPrep confounds table each noise component takes.

Each ``select_*`` function gets the table and returns the names of the columns the component
contributes (possibly none), recording in a :class:`Missing` what the table lacks. The rules
are nilearn 0.14.1's (see :func:`nimask.interfaces.fmriprep.load_confounds` for the user's
view):

* ``motion``, ``wm_csf``, ``global_signal``: named columns and their ``_derivative1``,
  ``_power2``, ``_derivative1_power2`` expansions. When none of the requested names is in the
  table the component is reported missing; when only some are, ``motion`` reports the
  missing names and the other two fail at once on them.
* ``high_pass``: every column whose name contains ``cosine`` (none is fine).
* ``compcor``: the components listed in the JSON sidecar (see :func:`select_compcor`).
* ``ica_aroma``: ``"basic"`` takes every column whose name contains ``aroma``; ``"full"``
  takes none (the ``desc-smoothAROMAnonaggr`` image is already denoised).
* Volumes to drop: columns whose name contains ``non_steady_state`` (always) and, with
  ``scrub``, the volumes of high framewise displacement or standardised DVARS and the kept
  segments shorter than ``scrub`` volumes around them (:func:`scrub_outliers`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ...exceptions import ConfoundsColumnError, ConfoundsError, ConfoundsTypeError, ParameterError, ParameterTypeError

__all__ = [
    "MOTION",
    "Missing",
    "expansions",
    "non_steady_state_rows",
    "numeric",
    "scrub_outliers",
    "select_compcor",
    "select_expanded",
    "select_substring",
]

MOTION = ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z")
_SUFFIXES = {
    "basic": ("",),
    "derivatives": ("", "_derivative1"),
    "power2": ("", "_power2"),
    "full": ("", "_derivative1", "_power2", "_derivative1_power2"),
}
_BASES = {"motion": MOTION, "wm_csf": ("csf", "white_matter"), "global_signal": ("global_signal",)}


@dataclass
class Missing:
    """What a confounds table lacks: single columns (``confounds``) and whole components (``keywords``)."""

    confounds: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.confounds or self.keywords)


def _is_integer(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def expansions(component: str, option: str) -> list[str]:
    """The column names of ``motion`` / ``wm_csf`` / ``global_signal`` at level ``option``: the
    base names, then the expansions of each (nilearn's order, which its messages show)."""
    bases = _BASES[component]
    return [*bases, *(base + suffix for base in bases for suffix in _SUFFIXES[option][1:])]


def select_expanded(table: pd.DataFrame, component: str, option: str, missing: Missing, source: str) -> list[str]:
    """Columns of ``motion``, ``wm_csf`` or ``global_signal`` (see the module docstring)."""
    wanted = expansions(component, option)
    absent = [name for name in wanted if name not in table.columns]
    if len(absent) == len(wanted):
        missing.keywords.append(component)
        return []
    if absent:
        if component == "motion":
            missing.confounds.extend(absent)
            return []
        raise ConfoundsColumnError(
            f"{absent} not in index: {component}={option!r} needs the columns {wanted}; {source} lacks {absent}.",
            path=source, param=component, expected=wanted, found=absent,
        )
    return wanted


def select_substring(table: pd.DataFrame, text: str) -> list[str]:
    """Every column whose name contains ``text``, in the table's order."""
    return [str(c) for c in table.columns if text in str(c)]


def _compcor_names(meta: dict[str, Any], prefix: str) -> list[str]:
    """``<prefix>_00 .. <prefix>_NN``: as many names as the sidecar has keys containing ``prefix``."""
    count = sum(prefix in key for key in meta)
    return [f"{prefix}_{i:02d}" for i in range(count)]


def _anatomical(meta: dict[str, Any], mask: str, source: str) -> list[str]:
    """``a_comp_cor_NN`` components whose sidecar ``Mask`` is ``mask``."""
    out = []
    for name in _compcor_names(meta, "a_comp_cor"):
        if name not in meta:
            raise ConfoundsColumnError(
                f"'{name}': the JSON sidecar of {source} lists a_comp_cor components without an entry for "
                f"{name!r} (its Mask tells which anatomical mask the component comes from).",
                path=source, param="compcor", found=name,
            )
        entry = meta[name]
        if isinstance(entry, dict) and entry.get("Mask") == mask:
            out.append(name)
    return out


def check_n_compcor(n_compcor: Any) -> None:
    """``n_compcor`` is ``"all"`` or an int >= 0 (a negative count is refused: nilearn would drop
    components from the end)."""
    if isinstance(n_compcor, str):
        if n_compcor != "all":
            raise ParameterTypeError(f"n_compcor must be 'all' or an int; got {n_compcor!r}.",
                                     param="n_compcor", found=n_compcor)
        return
    if not _is_integer(n_compcor):
        raise ParameterTypeError(f"n_compcor must be 'all' or an int; got {type(n_compcor).__name__} {n_compcor!r}.",
                                 param="n_compcor", found=n_compcor)
    if n_compcor < 0:
        raise ParameterError(f"n_compcor must be 'all' or an int >= 0; got {n_compcor}.", param="n_compcor",
                             found=int(n_compcor))


def select_compcor(table: pd.DataFrame, meta: dict[str, Any], compcor: str, n_compcor: Any, missing: Missing,
                   source: str) -> list[str]:
    """CompCor components, from the JSON sidecar.

    fMRIPrep names them ``t_comp_cor_NN`` (temporal), ``a_comp_cor_NN`` (anatomical, combined
    mask), ``c_comp_cor_NN`` / ``w_comp_cor_NN`` (CSF / WM masks, fMRIPrep >= 20.2; before,
    every anatomical component was an ``a_comp_cor_NN`` told apart by the sidecar's ``Mask``).
    The components of a kind are ``<kind>_00`` up to as many as the sidecar has entries of that
    kind; ``n_compcor`` keeps the first ones of each set (temporal, combined, CSF, WM) and
    ``"all"`` keeps them all. The sidecar's ``Retained`` flag is not read. No sidecar (allowed
    for temporal CompCor only) lists nothing. The component is missing when nothing is chosen
    or none of the chosen columns is in the table; some of them missing is an error.
    """
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise ConfoundsError(f"The JSON sidecar of {source} must hold an object (column name -> metadata).",
                             path=source, param="compcor")
    sets: list[list[str]] = []
    if compcor.startswith("temporal"):
        sets.append(_compcor_names(meta, "t_comp_cor"))
    if compcor.endswith("combined"):
        sets.append(_anatomical(meta, "combined", source))
    elif compcor.endswith("separated"):
        sets += [_anatomical(meta, "CSF", source), _compcor_names(meta, "c_comp_cor"),
                 _anatomical(meta, "WM", source), _compcor_names(meta, "w_comp_cor")]
    chosen = [name for names in sets for name in (names if n_compcor == "all" else names[:int(n_compcor)])]
    absent = [name for name in chosen if name not in table.columns]
    if len(absent) == len(chosen):  # none listed, or none of those listed in the table
        missing.keywords.append("compcor")
        return []
    if absent:
        raise ConfoundsColumnError(
            f"{absent} not in index: the JSON sidecar of {source} lists the CompCor components {absent} "
            f"(compcor={compcor!r}, n_compcor={n_compcor!r}) that the table lacks.",
            path=source, param="compcor", found=absent,
        )
    return chosen


def numeric(table: pd.DataFrame, names: list[str], source: str) -> np.ndarray:
    """The columns ``names`` as a float64 array (a text column is a ``ConfoundsTypeError``)."""
    bad = [n for n in names if len(table) and getattr(table[n].dtype, "kind", "O") not in "biuf"]
    if bad:
        raise ConfoundsTypeError(f"{source}: the columns {bad} must hold numbers (fMRIPrep writes numbers and 'n/a').",
                                 path=source, found=bad)
    return table[names].to_numpy(dtype=np.float64)


def non_steady_state_rows(table: pd.DataFrame, source: str) -> np.ndarray | None:
    """Per volume, the sum of the ``non_steady_state`` flag columns (None when there is none)."""
    names = select_substring(table, "non_steady_state")
    if not names:
        return None
    return np.nansum(numeric(table, names, source), axis=1)


def _column(table: pd.DataFrame, name: str, source: str) -> np.ndarray:
    if name not in table.columns:
        raise ConfoundsColumnError(f"'{name}': scrubbing needs the {name!r} column, which {source} lacks.",
                                   path=source, param="scrub", found=name)
    return numeric(table, [name], source)[:, 0]


def _short_segments(flagged: np.ndarray, min_length: float) -> np.ndarray:
    """``flagged`` plus the runs of unflagged volumes shorter than ``min_length``."""
    out = flagged.copy()
    edges = np.flatnonzero(np.diff(np.concatenate([[True], flagged, [True]]).astype(np.int8)))
    for start, stop in zip(edges[::2], edges[1::2]):  # unflagged runs [start, stop)
        if stop - start < min_length:
            out[start:stop] = True
    return out


def scrub_outliers(table: pd.DataFrame, scrub: Any, fd_threshold: Any, std_dvars_threshold: Any,
                   source: str) -> np.ndarray:
    """Volumes to censor for motion (boolean per volume).

    A volume is flagged when its framewise displacement exceeds ``fd_threshold`` or its
    standardised DVARS exceeds ``std_dvars_threshold`` (strictly; ``n/a`` never; a threshold of
    None turns its criterion off). When any volume is flagged, the unflagged segments shorter
    than ``scrub`` volumes are flagged too (Power et al. 2014's "full" scrubbing).
    """
    fd = _column(table, "framewise_displacement", source)
    dvars = _column(table, "std_dvars", source)
    check_scrub_parameters(scrub, fd_threshold, std_dvars_threshold)
    flagged = np.zeros(len(table), dtype=bool)
    with np.errstate(invalid="ignore"):
        if fd_threshold is not None:
            flagged |= fd > fd_threshold
        if std_dvars_threshold is not None:
            flagged |= dvars > std_dvars_threshold
    if flagged.any():
        flagged = _short_segments(flagged, scrub)
    return flagged


def check_scrub_parameters(scrub: Any, fd_threshold: Any, std_dvars_threshold: Any) -> None:
    """``scrub`` is a number; the thresholds are numbers or None; none of them NaN."""
    for name, value, optional in (("scrub", scrub, False), ("fd_threshold", fd_threshold, True),
                                  ("std_dvars_threshold", std_dvars_threshold, True)):
        if value is None and optional:
            continue
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            expected = "a number or None" if optional else "a number"
            raise ParameterTypeError(f"{name} must be {expected}; got {type(value).__name__} {value!r}.",
                                     param=name, found=value)
        if np.isnan(value):
            raise ParameterError(f"{name} is NaN: no volume would be compared to it (nilearn silently "
                                 f"ignores it); give a number{' or None' if optional else ''}.",
                                 param=name, found=value)
