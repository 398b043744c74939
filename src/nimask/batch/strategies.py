"""Denoising strategies: which fMRIPrep confounds to regress, which volumes to censor, how to clean.

A strategy is a :class:`Strategy` (a name, confound columns, an optional framewise-displacement
scrubbing threshold and the :func:`nimask.signal.clean` parameters). Named presets are built
from ``+``-joined tokens, e.g. ``motion24+wm_csf+gsr+scrub0.5``:

=============  =====================================================================
``motion6``    ``trans_x, trans_y, trans_z, rot_x, rot_y, rot_z``
``motion12``   motion6 and their ``_derivative1``
``motion24``   motion12 and the ``_power2`` of all of them (Friston 24)
``wm_csf``     ``white_matter, csf``
``wm_csf4``    ``white_matter, csf`` with derivatives and squares (8 columns)
``gsr``        ``global_signal``
``gsr4``       ``global_signal`` with derivative and squares (4 columns)
``scrubX``     censor volumes with ``framewise_displacement > X`` mm
=============  =====================================================================

A JSON file gives the same fields (``name``, ``confounds``, ``fd_threshold``,
``min_segment``, ``min_volumes``, ``demean`` and any of ``detrend``, ``standardize``,
``standardize_confounds``, ``low_pass``, ``high_pass``).

Output labels (``desc-<label>``)
--------------------------------
A preset has one canonical spelling, which is its :attr:`Strategy.name`: its tokens in the
order of the table above (``motion*``, ``wm_csf*``, ``gsr*``, ``scrub``), a token that another
one contains dropped (``motion6+motion24`` is ``motion24``), the same token once, and the
threshold in its shortest decimal form (``scrub05`` is ``scrub5``, ``scrub.50`` is
``scrub0.5``). Its label is that spelling with ``+`` and ``_`` removed and the decimal point
written ``p``: ``scrub0.5+motion6`` and ``motion6+scrub0.5`` are both ``motion6scrub0p5``, and
``motion6+scrub05`` is ``motion6scrub5``. Two presets have the same label exactly when they
are the same strategy (the label reads back to the tokens). Two ``scrub`` tokens are refused.

A JSON strategy is labelled by its name (the ``name`` field, else the file name without
``.json``) with every character other than a letter or digit removed; when the name is a
preset's spelling and the file holds exactly that preset, the preset's label. Two files with
the same content and different names are two strategies (two labels); the same strategy
given twice in one batch is computed once. Two *different* strategies of one batch with the
same label are refused (:func:`unique_strategies`), naming both.

Missing values (``n/a``)
------------------------
fMRIPrep writes ``n/a`` in the first row of derivative columns (and of
``framewise_displacement``). As nilearn 0.14.1's ``load_confounds`` does, the first row of a
confound column that is ``n/a`` takes the value of the second row, and the selected
confounds are then demeaned over the kept volumes (``demean=True``). An ``n/a`` anywhere
else raises :class:`~nimask.exceptions.ConfoundsError` (nothing is repaired silently). An
``n/a`` framewise displacement counts as 0 (the first volume is never censored for it).

The confounds TSV is read by the library's reader (``nimask.signal._confounds_file``: a
byte-order mark, quoted fields; mixed separators refused) and each column a strategy uses must
be named once and numeric (catalogue §2.14); the other columns are not used and not checked.

Scrubbing keeps the volumes with ``framewise_displacement <= fd_threshold`` and, as
nilearn's ``scrub=5``, also drops kept segments shorter than ``min_segment`` volumes.
A run left with fewer than ``min_volumes`` volumes (default 2) fails, naming the counts:
the library would return it unstandardised with a warning (nilearn's behaviour), which a
batch of hundreds of runs would bury (catalogue S9). Raise ``min_volumes`` to enforce a
study's own minimum of retained data.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import AllVolumesRemovedError, ConfoundsError, ParameterError, SampleMaskError
from ..signal._confounds_file import ConfoundsTable, parse_confounds_file
from .named import is_named, named_label, parse_named

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Strategy", "parse_strategy", "preset_confounds", "uses_aroma", "load_strategy_file", "select_confounds",
           "unique_strategies", "degrees_of_freedom", "PRESET_TOKENS"]

MOTION6 = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]


def _expand(base: list[str], derivatives: bool, squares: bool) -> list[str]:
    cols = list(base)
    if derivatives:
        cols += [c + "_derivative1" for c in base]
    if squares:
        cols += [c + "_power2" for c in base]
        if derivatives:
            cols += [c + "_derivative1_power2" for c in base]
    return cols


PRESET_TOKENS: dict[str, list[str]] = {
    "motion6": MOTION6,
    "motion12": _expand(MOTION6, True, False),
    "motion24": _expand(MOTION6, True, True),
    "wm_csf": ["white_matter", "csf"],
    "wm_csf4": _expand(["white_matter", "csf"], True, True),
    "gsr": ["global_signal"],
    "gsr4": _expand(["global_signal"], True, True),
}
# canonical order of the preset tokens; within a family, a later token contains the earlier ones
_FAMILIES = (("motion6", "motion12", "motion24"), ("wm_csf", "wm_csf4"), ("gsr", "gsr4"))
_SCRUB = re.compile(r"scrub(\d+(?:\.\d*)?|\.\d+)")
_CLEAN_KEYS = ("detrend", "standardize", "standardize_confounds", "low_pass", "high_pass")
_STANDARDIZE = ("zscore_sample", "psc", True, False, None)


@dataclass(frozen=True)
class Strategy:
    """One denoising strategy.

    Parameters
    ----------
    name : str
        Used in the output file names through :attr:`label` (``desc-<label>``). A preset's
        name is its canonical spelling (see the module docstring).
    confounds : tuple of str
        fMRIPrep confounds columns to regress out.
    fd_threshold : float or None
        Censor volumes whose framewise displacement exceeds it (mm).
    min_segment : int
        With scrubbing, kept segments shorter than this are censored too (nilearn: 5).
    min_volumes : int
        A run with fewer volumes left after scrubbing fails (default 2: standardising one
        volume is meaningless).
    demean : bool
        Demean the confounds over the kept volumes (nilearn's ``load_confounds`` default).
    detrend, standardize, standardize_confounds, low_pass, high_pass
        Passed to :func:`nimask.signal.clean` (through the maskers).
    preset : tuple of (key, value) or None
        A named strategy (:mod:`nimask.batch.named`): the arguments of the
        :func:`~nimask.interfaces.fmriprep.load_confounds_strategy` call that gives each run's
        confounds and sample mask (``confounds``, ``fd_threshold``, ``min_segment`` and
        ``demean`` are then unused). None (not in :meth:`to_dict`) for the other strategies.
    """

    name: str
    confounds: tuple[str, ...] = ()
    fd_threshold: float | None = None
    min_segment: int = 5
    min_volumes: int = 2
    demean: bool = True
    detrend: bool = True
    standardize: Any = "zscore_sample"
    standardize_confounds: bool = True
    low_pass: float | None = None
    high_pass: float | None = None
    preset: tuple | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def label(self) -> str:
        """The BIDS ``desc-`` value (letters and digits).

        A preset (or a strategy equal to the preset its name spells): its canonical tokens
        without ``+`` and ``_``, the threshold's decimal point written ``p``
        (``motion6scrub0p5``). Otherwise the name with every non-alphanumeric character removed.
        """
        if self.preset is not None:
            return named_label(self.name)
        preset = _preset_of(self.name)
        if preset is not None and replace(preset, name=self.name) == self:
            return _preset_label(preset)
        return re.sub(r"[^A-Za-z0-9]", "", self.name)

    @property
    def spec(self) -> str:
        """How the strategy was given (the preset as spelled, or the JSON file), for messages."""
        return self.extra.get("spec", self.name)

    def clean_params(self) -> dict[str, Any]:
        """The cleaning parameters for the maskers."""
        return {k: getattr(self, k) for k in _CLEAN_KEYS}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["confounds"] = list(self.confounds)
        out.pop("extra")
        if self.preset is None:  # the token and JSON strategies' dict (manifest keys) stays as it was
            out.pop("preset")
        else:
            out["preset"] = dict(self.preset)
        return out


def parse_strategy(spec: str) -> Strategy:
    """A :class:`Strategy` from a preset (``motion24+wm_csf+scrub0.5``) or a JSON file path.

    A preset's :attr:`~Strategy.name` is its canonical spelling (see the module docstring);
    :attr:`~Strategy.spec` keeps the spelling given.
    """
    if not isinstance(spec, str) or not spec:
        raise ParameterError(f"'strategy' must be a preset name or a JSON file; got {spec!r}.", param="strategy")
    if not spec.endswith(".json") and is_named(spec):
        named = parse_named(spec)
        if isinstance(named, str):  # an xcp_d model: the equal token preset
            tokens, fd = _preset_tokens(named)
            return replace(_checked(_preset_strategy(tokens, fd), spec), extra={"spec": spec})
        name, call, clean = named
        return _checked(Strategy(name=name, preset=tuple(call.items()), extra={"spec": spec}, **clean), spec)
    if spec.endswith(".json") or os.path.isfile(spec):
        return load_strategy_file(spec)
    tokens, fd = _preset_tokens(spec)
    strategy = _checked(_preset_strategy(tokens, fd), spec)
    return replace(strategy, extra={"spec": spec})


def _preset_tokens(spec: str) -> tuple[list[str], float | None]:
    """The canonical tokens (scrub excluded) and FD threshold of a preset spelling; ParameterError if none."""
    given: set[str] = set()
    fd = None
    for token in spec.split("+"):
        m = _SCRUB.fullmatch(token)
        if m:
            if fd is not None:
                raise ParameterError(f"Strategy {spec!r} has two 'scrub' tokens: give one FD threshold.",
                                     param="strategy", found=spec)
            fd = float(m.group(1))
        elif token in PRESET_TOKENS:
            given.add(token)
        else:
            raise ParameterError(
                f"Unknown denoising strategy token {token!r} in {spec!r}: expected '+'-joined tokens among "
                f"{sorted(PRESET_TOKENS)} or 'scrub<FD mm>' (e.g. 'motion24+wm_csf+scrub0.5'), or a JSON file.",
                param="strategy", expected=sorted(PRESET_TOKENS), found=token,
            )
    tokens = [[t for t in family if t in given][-1] for family in _FAMILIES if given & set(family)]
    return tokens, fd


def _format_threshold(fd: float) -> str:
    """The shortest decimal that reads back to ``fd``, without exponent or trailing zeros (``0.5``, ``5``)."""
    return np.format_float_positional(float(fd), unique=True, trim="-")


def _preset_strategy(tokens: list[str], fd: float | None) -> Strategy:
    """The preset of canonical ``tokens`` (and threshold), named by its canonical spelling."""
    columns: list[str] = []
    for token in tokens:
        columns += [c for c in PRESET_TOKENS[token] if c not in columns]
    parts = tokens + ([] if fd is None else [f"scrub{_format_threshold(fd)}"])
    return Strategy(name="+".join(parts), confounds=tuple(columns), fd_threshold=fd)


def _preset_of(name: str) -> Strategy | None:
    """The preset that ``name`` spells (any spelling), or None."""
    try:
        tokens, fd = _preset_tokens(name)
    except ParameterError:
        return None
    if fd is not None and not (np.isfinite(fd) and fd > 0):
        return None
    return _preset_strategy(tokens, fd)


def _preset_label(preset: Strategy) -> str:
    """``motion6+wm_csf+scrub0.5`` -> ``motion6wmcsfscrub0p5`` (the canonical name, read back unambiguously)."""
    return preset.name.replace("+", "").replace("_", "").replace(".", "p")


def load_strategy_file(path: str | os.PathLike) -> Strategy:
    """A :class:`Strategy` from a JSON file (see the module docstring for its fields)."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            spec = json.load(fh)
    except FileNotFoundError:
        raise ParameterError(f"Strategy file {path!r} does not exist.", param="strategy", path=path) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ParameterError(f"Strategy file {path!r} is not readable JSON: {exc}",
                             param="strategy", path=path) from exc
    if not isinstance(spec, dict):
        raise ParameterError(f"Strategy file {path!r} must hold a JSON object; found {type(spec).__name__}.",
                             param="strategy", path=path)
    allowed = {"name", "confounds", "fd_threshold", "min_segment", "min_volumes", "demean", *_CLEAN_KEYS}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ParameterError(f"Strategy file {path!r}: unknown keys {unknown}; allowed {sorted(allowed)}.",
                             param="strategy", path=path, found=unknown)
    name = spec.get("name") or os.path.splitext(os.path.basename(path))[0]
    conf = spec.get("confounds", [])
    if isinstance(conf, str) or not all(isinstance(c, str) for c in conf):
        raise ParameterError(f"Strategy file {path!r}: 'confounds' must be a list of column names; found {conf!r}.",
                             param="confounds", path=path)
    kwargs = {k: spec[k] for k in allowed - {"name", "confounds"} if k in spec}
    return _checked(Strategy(name=str(name), confounds=tuple(conf), extra={"spec": path}, **kwargs), path)


def unique_strategies(strategies) -> list[Strategy]:
    """The strategies of one batch, each once, after checking that their labels tell them apart.

    A strategy given twice (two spellings of one preset, two JSON files with the same name and
    content, or two names with one label and the same content) is kept once: its outputs would
    be the same files with the same numbers.

    Raises
    ------
    ParameterError
        Two different strategies have the same label (``desc-`` value), naming both as given.
    """
    out: list[Strategy] = []
    by_label: dict[str, Strategy] = {}
    for s in strategies:
        other = by_label.get(s.label)
        if other is None:
            by_label[s.label] = s
            out.append(s)
        elif replace(other, name=s.name) != s:
            raise ParameterError(
                f"The strategies {other.spec!r} and {s.spec!r} are different but both would be written as "
                f"desc-{s.label} (the output label keeps the letters and digits of a name): give one of them "
                f"another name (the 'name' of a JSON strategy file).",
                param="strategy", found=[other.spec, s.spec])
    return out


def degrees_of_freedom(strategy: Strategy, n_kept: int, t_r: float, n_confounds: int | None = None
                       ) -> dict[str, int]:
    """The temporal degrees of freedom the cleaning of a run by ``strategy`` uses, and those left.

    Counted on the ``n_kept`` volumes that censoring keeps (the volumes the regression is fitted
    on, whatever the censoring mode):

    * ``ConfoundRegressors``: the confounds columns regressed out (``n_confounds`` when given:
      a named strategy's columns depend on the run);
    * ``MeanAndTrend``: 2 with ``detrend`` (mean and linear trend), else 1 when standardising
      (``zscore_sample`` / ``psc`` remove the mean), else 0;
    * ``Filter``: the Butterworth filter's share of the spectrum, counted as the cosine
      (DCT-II) basis functions of ``n_kept`` points beyond its cut-offs: ``min(n - 1,
      floor(2 n t_r high_pass))`` below ``high_pass`` (the terms nilearn's cosine filter
      regresses) and ``n - 1 - floor(2 n t_r low_pass)`` above ``low_pass``;
    * ``Used`` (their sum) and ``Left`` (``n_kept - Used``; negative when the strategy uses
      more than the run has).
    """
    n = int(n_kept)
    mean_trend = 2 if strategy.detrend else (1 if strategy.standardize not in (False, None) else 0)
    filt = 0
    if strategy.high_pass is not None:
        filt += max(0, min(n - 1, int(np.floor(2 * n * t_r * strategy.high_pass))))
    if strategy.low_pass is not None:
        filt += max(0, n - 1 - int(np.floor(2 * n * t_r * strategy.low_pass)))
    n_conf = len(strategy.confounds) if n_confounds is None else int(n_confounds)
    used = n_conf + mean_trend + filt
    return {"KeptVolumes": n, "ConfoundRegressors": n_conf, "MeanAndTrend": mean_trend,
            "Filter": filt, "Used": used, "Left": n - used}


def _checked(s: Strategy, where: str) -> Strategy:
    if not s.label:
        raise ParameterError(f"Strategy {where!r}: its name {s.name!r} has no letter or digit.", param="name")
    if s.fd_threshold is not None and not (isinstance(s.fd_threshold, (int, float)) and not
                                           isinstance(s.fd_threshold, bool) and np.isfinite(s.fd_threshold)
                                           and s.fd_threshold > 0):
        raise ParameterError(f"Strategy {where!r}: fd_threshold must be a positive number of mm; found "
                             f"{s.fd_threshold!r}.", param="fd_threshold", found=s.fd_threshold)
    if isinstance(s.min_segment, bool) or not isinstance(s.min_segment, int) or s.min_segment < 0:
        raise ParameterError(f"Strategy {where!r}: min_segment must be an int >= 0; found {s.min_segment!r}.",
                             param="min_segment", found=s.min_segment)
    if isinstance(s.min_volumes, bool) or not isinstance(s.min_volumes, int) or s.min_volumes < 1:
        raise ParameterError(f"Strategy {where!r}: min_volumes must be an int >= 1; found {s.min_volumes!r}.",
                             param="min_volumes", found=s.min_volumes)
    if not any(s.standardize is v or (isinstance(v, str) and s.standardize == v) for v in _STANDARDIZE):
        raise ParameterError(f"Strategy {where!r}: standardize must be one of {_STANDARDIZE}; found "
                             f"{s.standardize!r}.", param="standardize", found=s.standardize)
    return s


def read_confounds_tsv(path: str | os.PathLike) -> ConfoundsTable:
    """An fMRIPrep confounds TSV, read by the library's reader (``n/a`` read as NaN).

    The layout rules are those of ``confounds=path`` in the maskers
    (``nimask.signal._confounds_file``: UTF-8 with or without a byte-order mark, one separator,
    quoted fields); :func:`select_confounds` then checks each column it uses with the same
    column rules (a named, numeric, non-index column whose name no other column has). The file
    must have a header row: the strategies select columns by name.
    """
    table = parse_confounds_file(path)
    if table.names is None:
        raise ConfoundsError(
            f"Confounds file {os.fspath(path)!r} has no header row: the strategies select fMRIPrep "
            f"confounds columns by name.", path=path, param="confounds", found="no header",
        )
    return table


class _Columns:
    """Name-based access to a confounds table: a :class:`ConfoundsTable` or a DataFrame."""

    def __init__(self, table, source: str) -> None:
        self.table, self.source = table, source
        self.is_file = isinstance(table, ConfoundsTable)
        self.names = list(table.names) if self.is_file else [str(c) for c in table.columns]

    def __len__(self) -> int:
        return len(self.table)

    def values(self, name: str) -> np.ndarray:
        """The column ``name`` as float64, checked (unique name, numeric; file columns: every column rule)."""
        if self.is_file:
            j = self.table.index_of(name)
            self.table.check([j])
            return self.table.values(j)
        column = self.table.loc[:, [str(c) == name for c in self.table.columns]]
        if column.shape[1] > 1:
            raise ConfoundsError(f"{self.source}: column {name!r} is the name of {column.shape[1]} columns: each "
                                 f"confound must have its own name.", path=self.source, found=name)
        dtype = column.dtypes.iloc[0]
        if getattr(dtype, "kind", "O") not in "biuf":
            raise ConfoundsError(f"{self.source}: column {name!r} is not numeric (dtype {dtype}).",
                                 path=self.source, found=str(dtype))
        return column.iloc[:, 0].to_numpy(dtype=np.float64, copy=True)


def uses_aroma(strategy: Strategy) -> bool:
    """Whether ``strategy`` is nilearn's ``ica_aroma`` preset, whose data is the run's desc-smoothAROMAnonaggr image."""
    return strategy.preset is not None and dict(strategy.preset).get("denoise_strategy") == "ica_aroma"


def preset_confounds(img: str, strategy: Strategy, n_volumes: int) -> tuple[np.ndarray | None, np.ndarray | None,
                                                                             list[str]]:
    """The confounds, sample mask and column names of a named strategy for the run ``img``: nimask's
    :func:`~nimask.interfaces.fmriprep.load_confounds_strategy` (nilearn's) called with ``strategy.preset``.

    Raises
    ------
    ConfoundsError
        The confounds have another number of rows than the run has volumes.
    SampleMaskError
        Fewer volumes kept than ``strategy.min_volumes``.
    """
    from ..interfaces.fmriprep import load_confounds_strategy

    call = dict(strategy.preset)
    frame, sample_mask = load_confounds_strategy(img, **call)
    if len(frame) != n_volumes:
        raise ConfoundsError(f"{img}: {len(frame)} rows of confounds for a run of {n_volumes} volumes.",
                             path=img, expected=n_volumes, found=len(frame))
    if sample_mask is not None:
        sample_mask = np.asarray(sample_mask)
        if sample_mask.size < strategy.min_volumes:
            raise SampleMaskError(
                f"{img}: strategy {strategy.name!r} keeps {sample_mask.size} of {n_volumes} volumes, fewer than its "
                f"min_volumes={strategy.min_volumes}.", path=img, param="min_volumes",
                expected=strategy.min_volumes, found=int(sample_mask.size))
    columns = [str(c) for c in frame.columns]
    values = frame.to_numpy(dtype=np.float64) if columns else None
    return values, sample_mask, columns


def _censor_short_segments(keep: np.ndarray, min_segment: int) -> np.ndarray:
    keep = keep.copy()
    t = 0
    n = keep.size
    while t < n:
        if not keep[t]:
            t += 1
            continue
        end = t
        while end < n and keep[end]:
            end += 1
        if end - t < min_segment:
            keep[t:end] = False
        t = end
    return keep


def select_confounds(
    table: ConfoundsTable | pd.DataFrame, strategy: Strategy, n_volumes: int, *, source: str = "confounds"
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The confounds matrix and sample mask of ``strategy`` for one run.

    Parameters
    ----------
    table : ConfoundsTable or DataFrame
        The run's fMRIPrep confounds (see :func:`read_confounds_tsv`). Each column used (the
        strategy's and, to scrub, ``framewise_displacement``) must be the only one of its name
        and numeric; a file's columns also obey the other column rules of the library reader.
    strategy : Strategy
    n_volumes : int
        Volumes of the run (the table must have as many rows).
    source : str
        Name of the file, for error messages.

    Returns
    -------
    confounds : ndarray (n_volumes, k) float64 or None
    sample_mask : ndarray of int (kept volume indices) or None when nothing is censored
    """
    columns = _Columns(table, source)
    if len(columns) != n_volumes:
        raise ConfoundsError(
            f"{source}: {len(table)} rows of confounds for a run of {n_volumes} volumes.",
            path=source, expected=n_volumes, found=len(table),
        )
    missing = [c for c in strategy.confounds if c not in columns.names]
    if missing:
        raise ConfoundsError(
            f"{source}: strategy {strategy.name!r} needs the columns {missing}, which the confounds file lacks.",
            path=source, param="strategy", expected=list(strategy.confounds), found=missing,
        )
    sample_mask = None
    if strategy.fd_threshold is not None:
        if "framewise_displacement" not in columns.names:
            raise ConfoundsError(f"{source}: scrubbing needs the 'framewise_displacement' column.",
                                 path=source, param="fd_threshold")
        fd = columns.values("framewise_displacement")
        bad_nan = np.flatnonzero(np.isnan(fd[1:])) + 1
        if bad_nan.size:
            raise ConfoundsError(f"{source}: framewise_displacement is n/a at rows {bad_nan[:10].tolist()} "
                                 f"(only the first row may be n/a).", path=source, found=bad_nan[:10].tolist())
        keep = ~(np.nan_to_num(fd, nan=0.0) > strategy.fd_threshold)
        if strategy.min_segment > 1:
            keep = _censor_short_segments(keep, strategy.min_segment)
        if not keep.any():
            raise AllVolumesRemovedError(
                f"{source}: scrubbing with fd_threshold={strategy.fd_threshold} mm and min_segment="
                f"{strategy.min_segment} censors all {n_volumes} volumes (framewise displacement: median "
                f"{np.nanmedian(fd):.3g} mm, max {np.nanmax(fd):.3g} mm).",
                path=source, param="fd_threshold", found=strategy.fd_threshold,
            )
        if keep.sum() < strategy.min_volumes:
            raise SampleMaskError(
                f"{source}: scrubbing with fd_threshold={strategy.fd_threshold} mm and min_segment="
                f"{strategy.min_segment} keeps {int(keep.sum())} of {n_volumes} volumes, fewer than the "
                f"strategy {strategy.name!r}'s min_volumes={strategy.min_volumes}.",
                path=source, param="min_volumes", expected=strategy.min_volumes, found=int(keep.sum()),
            )
        if not keep.all():
            sample_mask = np.flatnonzero(keep)
    if not strategy.confounds:
        return None, sample_mask
    # one contiguous column each (Fortran order), as pandas' to_numpy gives: the same sums in the demeaning
    values = np.array([columns.values(c) for c in strategy.confounds]).T
    if n_volumes > 1:
        first = np.isnan(values[0])
        values[0, first] = values[1, first]
    nan_rows, nan_cols = np.nonzero(~np.isfinite(values))
    if nan_rows.size:
        cols = sorted({strategy.confounds[j] for j in nan_cols})
        raise ConfoundsError(
            f"{source}: missing or non-finite confound values beyond the first row, at rows "
            f"{sorted(set(nan_rows.tolist()))[:10]} of columns {cols}.",
            path=source, found=cols,
        )
    if strategy.demean:
        rows = values if sample_mask is None else values[sample_mask]
        values -= rows.mean(axis=0)
    return values, sample_mask
