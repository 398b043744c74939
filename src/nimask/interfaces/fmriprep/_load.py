"""``load_confounds``: the confounds and sample mask of fMRIPrep runs, as nilearn 0.14.1 gives them."""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from ..._warnings import find_stack_level
from ...exceptions import (
    AllVolumesScrubbedWarning,
    ConfoundsColumnError,
    ConfoundsError,
    NimaskWarning,
    ParameterError,
    ParameterTypeError,
)
from . import _components as comp
from . import _files

__all__ = ["load_confounds"]

Component = Literal["motion", "high_pass", "wm_csf", "global_signal", "compcor", "ica_aroma", "tedana", "scrub",
                    "non_steady_state"]
Level = Literal["basic", "power2", "derivatives", "full"]

COMPONENTS = ["motion", "high_pass", "wm_csf", "global_signal", "compcor", "ica_aroma", "tedana", "scrub",
              "non_steady_state"]
LEVELS = ["basic", "power2", "derivatives", "full"]
COMPCOR = ["anat_combined", "anat_separated", "temporal", "temporal_anat_combined", "temporal_anat_separated"]
ICA_AROMA = ("full", "basic")
TEDANA = ["aggressive", "non-aggressive"]


class _TooFewRowsError(ConfoundsError, IndexError):
    """A confounds table with one row (nilearn fails with an ``IndexError`` on it)."""


def _check_strategy(strategy: Any, options: dict[str, Any]) -> list[str]:
    if not isinstance(strategy, (tuple, list)):
        raise ParameterError(
            f"strategy needs to be a tuple or list of strings. A {type(strategy).__name__} was provided instead.",
            param="strategy", expected="tuple or list of str", found=type(strategy).__name__,
        )
    for item in strategy:
        if not isinstance(item, str) or item not in COMPONENTS:
            raise ParameterError(f"'strategy' must be one of {COMPONENTS}.\n'{item}' was provided.",
                                 param="strategy", expected=COMPONENTS, found=item)
    repeated = sorted({item for item in strategy if list(strategy).count(item) > 1})
    if repeated:
        raise ParameterError(
            f"strategy lists {repeated} more than once: each noise component is given once (nilearn returns "
            f"duplicated columns or fails, depending on the file).", param="strategy", found=list(strategy),
        )
    if "compcor" in strategy and "high_pass" not in strategy:
        raise ParameterError(
            f"When using compcor, `high_pass` must be included in strategy. Current strategy: '{strategy}' "
            "(CompCor components are computed on high-pass filtered data: regress the cosines too).",
            param="strategy", found=list(strategy),
        )
    if "non_steady_state" in strategy:
        warnings.warn(
            "Non-steady state volumes are always detected. It doesn't need to be supplied as part of the "
            "strategy. Supplying non_steady_state in strategy will not have additional effect.",
            NimaskWarning, stacklevel=find_stack_level(),
        )
    allowed = {"motion": LEVELS, "wm_csf": LEVELS, "global_signal": LEVELS, "compcor": COMPCOR,
               "ica_aroma": ICA_AROMA, "tedana": TEDANA}
    for name, values in allowed.items():
        if name in strategy and options[name] not in values:
            raise ParameterError(f"'{name}' must be one of {values}.\n'{options[name]}' was provided.",
                                 param=name, expected=list(values), found=options[name])
    if not strategy:
        warnings.warn("strategy is empty, confounds will return None.", NimaskWarning,
                      stacklevel=find_stack_level())
    return list(strategy)


def _check_demean(demean: Any) -> bool:
    if not isinstance(demean, (bool, np.bool_)):
        raise ParameterTypeError(f"demean must be a bool; got {type(demean).__name__} {demean!r}.",
                                 param="demean", found=demean)
    return bool(demean)


def _duplicated(header: list[str], used: list[str], source: str) -> None:
    twice = sorted({n for n in used if header.count(n) > 1})
    if twice:
        raise ConfoundsError(f"{source}: the columns {twice} are each the name of more than one column: each "
                             f"confound must have its own name.", path=source, found=twice)


def _column_mean(values: np.ndarray) -> float:
    """Mean of a column as pandas computes it (pairwise sum of the contiguous values, then / n):
    nilearn demeans with pandas, and a row-wise numpy mean differs from it by up to 1e-10."""
    if values.size == 0:
        return np.nan
    return float(np.add.reduce(np.ascontiguousarray(values))) / values.size


def _finish(frame: pd.DataFrame, sample_mask: np.ndarray | None, demean: bool, source: str) -> pd.DataFrame:
    """Sorted columns, the first row's ``n/a`` from the second row, demeaned over the kept volumes."""
    if frame.shape[1] == 0:
        return frame
    if len(frame) == 1:
        raise _TooFewRowsError(f"{source} has one row: a run needs more volumes than that (single positional "
                               f"indexer is out-of-bounds).", path=source, found=1)
    order = np.argsort(np.asarray([str(c) for c in frame.columns], dtype=object), kind="stable")
    if len(frame) == 0:  # a header without rows: nothing to fill nor demean
        return frame.iloc[:, order]
    columns = [frame.iloc[:, j].copy() for j in order]
    rows = np.arange(len(frame)) if sample_mask is None else np.asarray(sample_mask)
    bad: dict[str, list[int]] = {}
    for col in columns:
        if pd.isna(col.iloc[0]):
            col.iloc[0] = col.iloc[1]
        values = col.to_numpy(dtype=np.float64)[rows]
        where = np.flatnonzero(~np.isfinite(values))
        if where.size:
            bad[str(col.name)] = [int(rows[w]) for w in where[:10]]
    if bad:
        raise ConfoundsError(
            f"{source}: confounds n/a or infinite at kept volumes {bad} (only the first row of fMRIPrep's "
            f"derivative columns may be n/a): nilearn would return them and the regression would fail or give NaN.",
            path=source, found=sorted(bad),
        )
    if demean:
        for i, col in enumerate(columns):
            x = col.to_numpy(dtype=np.float64)
            columns[i] = pd.Series(x - _column_mean(x[rows]), index=col.index, name=col.name)
    return pd.concat(columns, axis=1)


def _sample_mask(outliers: np.ndarray | None, n_volumes: int) -> np.ndarray | None:
    if outliers is None or n_volumes == 0:
        return None
    mask = np.flatnonzero(outliers == 0)
    if mask.size == 0 and n_volumes:
        warnings.warn(
            "All volumes were marked as motion outliers. This would lead to all volumes in the time series to be "
            "scrubbed.", AllVolumesScrubbedWarning, stacklevel=find_stack_level(),
        )
    return mask


def _load_tedana(image: str, tedana: str, demean: bool) -> tuple[pd.DataFrame, None]:
    mixing_path, metrics_path = _files.tedana_files(image)
    mixing = pd.read_csv(mixing_path, delimiter="\t", encoding="utf-8")
    metrics = pd.read_csv(metrics_path, delimiter="\t", encoding="utf-8")
    for name in ("Component", "classification"):
        if name not in metrics.columns:
            raise ConfoundsColumnError(
                f"'{name}': The confound file does not contain the expected columns: the TEDANA component table "
                f"{metrics_path!r} needs 'Component' and 'classification'.", path=metrics_path, found=name,
            )
    wanted = ["rejected"] if tedana == "aggressive" else ["accepted", "rejected"]
    rows = metrics[metrics["classification"].isin(wanted)]
    components = [str(c) for c in rows["Component"]]
    absent = [c for c in components if c not in mixing.columns]
    if absent:
        raise ConfoundsColumnError(
            f"{absent} not in index: the TEDANA table {metrics_path!r} classifies components that the mixing "
            f"matrix {mixing_path!r} lacks (nilearn drops them silently).", path=mixing_path, found=absent,
        )
    frame = mixing[components].copy()
    frame.columns = [f"{cls}_{name}" for cls, name in zip(rows["classification"], components)]
    return _finish(frame, None, demean, mixing_path), None


def _load_run(run: Any, strategy: list[str], options: dict[str, Any], demean: bool
              ) -> tuple[pd.DataFrame | None, np.ndarray | None]:
    ica_aroma = options["ica_aroma"]
    kind, path = _files.image_kind(run, strategy, ica_aroma)
    if "tedana" in strategy:
        return _load_tedana(path, options["tedana"], demean)
    source = _files.confounds_file(path)
    table, header = _files.read_confounds_table(source)
    meta = _files.read_sidecar(source, required="compcor" in strategy and "anat" in options["compcor"])
    missing = comp.Missing()
    used: list[str] = []
    has_rows = False
    scrubbed = None
    for component in strategy:
        if component in ("motion", "wm_csf", "global_signal"):
            names = comp.select_expanded(table, component, options[component], missing, source)
        elif component == "high_pass":
            names = comp.select_substring(table, "cosine")
        elif component == "compcor":
            comp.check_n_compcor(options["n_compcor"])
            names = comp.select_compcor(table, meta, options["compcor"], options["n_compcor"], missing, source)
        elif component == "ica_aroma":
            names = comp.select_substring(table, "aroma") if ica_aroma == "basic" else []
            if ica_aroma == "basic" and not names:
                missing.keywords.append("ica_aroma")
        elif component == "scrub":
            scrubbed = comp.scrub_outliers(table, options["scrub"], options["fd_threshold"],
                                           options["std_dvars_threshold"], source)
            has_rows = True
            names = []
        else:  # non_steady_state: always detected
            names = []
        used += names
        has_rows = has_rows or bool(names)
    if missing:
        raise ConfoundsColumnError(
            f"The following keywords or parameters are missing:  {missing.confounds} {missing.keywords}. You may "
            f"want to try a different denoising strategy. (confounds file {source!r})",
            path=source, expected=list(strategy), found=missing.confounds + missing.keywords,
        )
    _duplicated(header, used, source)
    outliers = comp.non_steady_state_rows(table, source)
    has_rows = has_rows or outliers is not None
    if scrubbed is not None and scrubbed.any():
        outliers = scrubbed.astype(np.float64) + (0.0 if outliers is None else outliers)
    sample_mask = _sample_mask(outliers, len(table))
    if not strategy:
        return None, sample_mask
    if used:
        comp.numeric(table, used, source)
        frame = pd.concat([table[name] for name in used], axis=1)
    else:
        frame = pd.DataFrame(index=table.index) if has_rows else pd.DataFrame()
    return _finish(frame, sample_mask, demean, source), sample_mask


def load_confounds(
    img_files: str | Sequence[str] | Sequence[Sequence[str]],
    strategy: Sequence[Component] = ("motion", "high_pass", "wm_csf"),
    motion: Level = "full",
    scrub: int = 5,
    fd_threshold: float = 0.5,
    std_dvars_threshold: float = 1.5,
    wm_csf: Level = "basic",
    global_signal: Level = "basic",
    compcor: Literal["anat_combined", "anat_separated", "temporal", "temporal_anat_combined",
                     "temporal_anat_separated"] = "anat_combined",
    n_compcor: Literal["all"] | int = "all",
    ica_aroma: Literal["full", "basic"] = "full",
    tedana: Literal["aggressive", "non-aggressive"] = "aggressive",
    demean: bool = True,
) -> tuple[pd.DataFrame | list[pd.DataFrame] | None, np.ndarray | list[np.ndarray | None] | None]:
    """Denoising confounds and volumes to keep, read from fMRIPrep's outputs.

    For each preprocessed image, the confounds table fMRIPrep wrote next to it
    (``<entities>_desc-confounds_timeseries.tsv`` and its ``.json``) is found by name, the
    columns of the requested noise components are taken from it, and the volumes to censor
    (non-steady-state volumes, and high-motion volumes with ``"scrub"``) are listed. The
    results equal nilearn 0.14.1's ``load_confounds`` (same columns, same order, same values,
    same sample masks) and go to the ``confounds=`` / ``sample_mask=`` arguments of the
    maskers or of :func:`nimask.signal.clean`.

    Parameters
    ----------
    img_files : str, path, or list
        The preprocessed image(s), in an fMRIPrep derivatives folder: a
        ``*_desc-preproc_bold.nii.gz`` or ``*_bold.dtseries.nii`` path, a list of two
        ``*_hemi-L/R_*bold.func.gii`` paths (one surface run), or a list of those (several
        runs). Only the names are used to find the confounds; the images are not read.
    strategy : tuple or list of str, default=("motion", "high_pass", "wm_csf")
        The noise components, among:

        * ``"motion"``: the 6 head-motion parameters, expanded by ``motion``;
        * ``"high_pass"``: the discrete cosine drift regressors (``cosineNN``);
        * ``"wm_csf"``: mean white-matter and CSF signals, expanded by ``wm_csf``;
        * ``"global_signal"``: the mean signal in the brain, expanded by ``global_signal``;
        * ``"compcor"``: CompCor components (``compcor``, ``n_compcor``); needs ``"high_pass"``
          and, for anatomical CompCor, the JSON sidecar;
        * ``"ica_aroma"``: ICA-AROMA (``ica_aroma``);
        * ``"tedana"``: rejected TEDANA components (``tedana``); the image must be
          ``*_desc-optcom_bold.nii.gz`` and the other components are ignored (with a warning);
        * ``"scrub"``: censor high-motion volumes (``scrub``, ``fd_threshold``,
          ``std_dvars_threshold``);
        * ``"non_steady_state"``: accepted with a warning: non-steady-state volumes are always
          censored.

        The parameters of the components not listed are not used (nor checked).
    motion : {"basic", "power2", "derivatives", "full"}, default="full"
        ``trans_x .. rot_z`` (6 columns), with their squares (12), their derivatives (12), or
        both and the squared derivatives (24).
    scrub : int, default=5
        With ``"scrub"``: after flagging high-motion volumes, also censor the kept segments
        shorter than ``scrub`` volumes (0: flag the high-motion volumes only).
    fd_threshold : float or None, default=0.5
        With ``"scrub"``: censor volumes whose framewise displacement exceeds it (mm). None
        turns this criterion off.
    std_dvars_threshold : float or None, default=1.5
        With ``"scrub"``: censor volumes whose standardised DVARS exceeds it. None turns this
        criterion off.
    wm_csf : {"basic", "power2", "derivatives", "full"}, default="basic"
        ``csf`` and ``white_matter`` (2 columns), with squares, derivatives, or all (8).
    global_signal : {"basic", "power2", "derivatives", "full"}, default="basic"
        ``global_signal`` (1 column), with its square, derivative, or all (4).
    compcor : {"anat_combined", "anat_separated", "temporal", "temporal_anat_combined", \
"temporal_anat_separated"}, default="anat_combined"
        Which CompCor components: anatomical from the combined WM+CSF mask, anatomical from
        the CSF and WM masks separately, temporal, or temporal with either anatomical set.
    n_compcor : "all" or int, default="all"
        How many components of each set (the first ones); ``"all"`` keeps every component
        the sidecar lists (fMRIPrep keeps those explaining 50% of the variance).
    ica_aroma : {"full", "basic"}, default="full"
        ``"full"``: the image is fMRIPrep's ``*_desc-smoothAROMAnonaggr_bold.nii.gz`` (already
        denoised): no AROMA column is returned. ``"basic"``: the noise components
        (``aroma_motion_NN`` columns) are returned, for a preprocessed image.
    tedana : {"aggressive", "non-aggressive"}, default="aggressive"
        With ``"tedana"``: the rejected components (``rejected_<name>``) or the accepted and
        rejected ones (``accepted_<name>`` too), from ``*_desc-ICA_mixing.tsv`` and
        ``*_desc-tedana_metrics.tsv``.
    demean : bool, default=True
        Subtract from each column its mean over the kept volumes (recommended with the
        maskers; False with :func:`nimask.signal.clean` called directly).

    Returns
    -------
    confounds : DataFrame, list of DataFrame, or None
        One table per run (a list when ``img_files`` lists several runs): columns sorted by
        name, one row per volume (all volumes: censoring is the sample mask's job), the first
        row's ``n/a`` (derivatives) taken from the second row. None when ``strategy`` is empty.
    sample_mask : ndarray, list, or None
        Per run, the indices of the volumes to keep, or None when there is nothing to censor.

    Raises
    ------
    ParameterError
        A strategy, a component level or an image name is not valid (a ``ValueError``).
    ConfoundsNotFoundError
        No confounds table (or, for CompCor, no JSON sidecar) next to the image.
    ConfoundsColumnError
        The table lacks the columns of a requested component (a ``ValueError`` and a
        ``KeyError``; the message holds nilearn's "The following keywords or parameters are
        missing").
    ConfoundsError
        Several confounds tables match, the table has no header or CamelCase names (fMRIPrep
        < 1.2), or a confound is n/a at a kept volume.

    Warns
    -----
    ~nimask.exceptions.AllVolumesScrubbedWarning
        Every volume of a run is censored (a ``RuntimeWarning``; the sample mask is empty).

    Notes
    -----
    Differences from nilearn (inputs for which nilearn returns numbers that cannot be right):

    * a confound that is n/a or infinite at a kept volume (beyond the first row that fMRIPrep
      leaves n/a in derivative columns) is a :class:`~nimask.exceptions.ConfoundsError`;
      nilearn returns it and the regression fails later or gives NaN;
    * a column used whose name the table gives to two columns is refused (nilearn takes the
      first); a text column used is a ``ConfoundsTypeError`` (nilearn: a ``TypeError`` from numpy);
    * ``n_compcor`` must be ``"all"`` or an int >= 0 (nilearn slices with a negative count and
      takes ``True`` as 1); ``scrub``, ``fd_threshold`` and ``std_dvars_threshold`` must be numbers
      (the thresholds may be None), not NaN (nilearn then censors nothing); ``demean`` must be a
      bool;
    * TEDANA components that the metrics table classifies but the mixing matrix lacks are an
      error (nilearn drops them);
    * a component listed twice in ``strategy`` is refused (nilearn duplicates its columns, or
      fails when the table has no non-steady-state column);
    * ``img_files`` may hold ``pathlib.Path`` objects (nilearn accepts ``str`` only).

    Examples
    --------
    >>> from nimask.interfaces.fmriprep import load_confounds  # doctest: +SKIP
    >>> confounds, sample_mask = load_confounds(  # doctest: +SKIP
    ...     "sub-01_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz",
    ...     strategy=("motion", "wm_csf", "scrub"), motion="basic", fd_threshold=0.5)
    >>> NiftiMasker(...).fit_transform(img, confounds=confounds, sample_mask=sample_mask)  # doctest: +SKIP
    """
    options = {"motion": motion, "scrub": scrub, "fd_threshold": fd_threshold,
               "std_dvars_threshold": std_dvars_threshold, "wm_csf": wm_csf, "global_signal": global_signal,
               "compcor": compcor, "n_compcor": n_compcor, "ica_aroma": ica_aroma, "tedana": tedana}
    strategy = _check_strategy(strategy, options)
    demean = _check_demean(demean)
    runs, single = _files.image_list(img_files)
    _files.check_image_names(runs, strategy, ica_aroma)
    if "tedana" in strategy:
        others = [s for s in strategy if s != "tedana"]
        if others:
            warnings.warn(
                "TEDANA strategy will only look for the ~desc-ICA_mixing.tsv and the ~desc-tedana_metrics.tsv for "
                "the provided ~desc-optcom_bold.nii.gz from the tedana folder to load the rejected ICA confounds. "
                f"Other strategies: \n{others} will NOT be applied for the Tedana confounds.",
                NimaskWarning, stacklevel=find_stack_level(),
            )
    results = [_load_run(run, strategy, options, demean) for run in runs]
    confounds = [r[0] for r in results]
    masks = [r[1] for r in results]
    if single:
        return confounds[0], masks[0]
    if not strategy:
        return None, masks
    return confounds, masks
