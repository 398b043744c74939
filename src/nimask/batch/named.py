"""Strategies by name: nilearn's ``load_confounds_strategy`` presets, giga_connectome's and xcp_d's names.

Three kinds of names (one namespace each, so that none is ambiguous):

* **nilearn presets** (plain names): ``simple``, ``scrubbing``, ``compcor``, with keyword options
  after commas: ``scrubbing,fd_threshold=0.2``, ``compcor,n_compcor=5``. ``none`` for an option
  the preset sets is refused: nilearn's ``load_confounds_strategy`` keeps the preset's value for a
  None (``std_dvars_threshold=None`` leaves DVARS scrubbing at 1.5).
  The confounds and sample mask of each run are those of
  :func:`nimask.interfaces.fmriprep.load_confounds_strategy` (nilearn 0.14.1's) called on the
  run's ``desc-preproc_bold`` image with ``denoise_strategy=<name>`` and the options. The options
  a preset accepts are its ``load_confounds`` parameters (:data:`PRESET_OPTIONS`); the cleaning
  options ``detrend``, ``standardize``, ``standardize_confounds``, ``low_pass``, ``high_pass``
  and ``min_volumes`` may be given too (defaults :data:`CLEAN_DEFAULTS`: the cleaning of
  nilearn's examples, ``NiftiLabelsMasker(..., standardize="zscore_sample")``, no detrending:
  every preset regresses fMRIPrep's cosine drift terms).
  ``ica_aroma`` (options ``wm_csf``, ``global_signal``, ``demean``; nilearn's ``ica_aroma="full"``)
  denoises the run's ICA-AROMA image instead of its ``desc-preproc_bold`` image: the batch reads
  ``<run stem>_desc-smoothAROMAnonaggr_bold.nii[.gz]`` next to the run (fMRIPrep < 24 with
  ``--use-aroma``; :func:`nimask.batch.bids.aroma_candidates`), extracts it with the same atlases and
  cleans it with the confounds and sample mask of ``load_confounds_strategy(<AROMA image>, "ica_aroma")``:
  a second read of the run (the other strategies come from the single read of the preproc image).
  A run without that image fails the ``ica_aroma`` outputs only (the message names the file looked for).
* **giga_connectome** (``giga:<name>``): the eight JSON files of
  ``giga_connectome/data/denoise_strategy/`` (bids-apps/giga_connectome), each a
  ``load_confounds_strategy`` call: ``giga:<name>`` *is* that nilearn preset with those options
  (same name, same label), see :data:`GIGA`. giga_connectome's files give
  ``"std_dvars_threshold": null`` for its scrubbing strategies, which nilearn ignores (the preset's
  1.5 stays): ``giga:scrubbing.2`` is ``scrubbing,fd_threshold=0.2``, DVARS scrubbing included, as
  giga_connectome's own outputs are. ``giga:icaaroma`` is ``ica_aroma`` (the run's AROMA image, as above).
* **xcp_d** (``xcpd:<name>``): the nuisance models of ``xcp_d/data/nuisance/*.yml``
  (PennLINC/xcp_d), a set of confounds columns each, written here as the equal
  ``+``-token preset or ``load_confounds_strategy`` call (:data:`XCPD`). Only the column set is
  xcp_d's: xcp_d's own censoring, despiking, motion filtering and band-pass filtering are not done.
  ``xcpd:aroma`` and ``xcpd:aroma_gsr`` are refused (their ``aroma_orth_motion_*`` columns come
  from fMRIPost-AROMA outputs, not from fMRIPrep's confounds).

A preset is named by its canonical spelling: the preset, then the options that differ from its
defaults in sorted order, each ``key=value`` with ``none``/``true``/``false`` and numbers in their
shortest decimal form (``scrubbing,std_dvars_threshold=2,fd_threshold=0.20`` is
``scrubbing,fd_threshold=0.2,std_dvars_threshold=2``; ``scrubbing,fd_threshold=0.5`` is
``scrubbing``). Its label (``desc-``) is that spelling with ``,``, ``=`` and ``_`` removed and
``.`` written ``p``: ``scrubbingfdthreshold0p2stddvarsthreshold2``. The option keys are a
fixed vocabulary and no value contains a key, so the label reads back to the spelling.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..exceptions import ParameterError

__all__ = ["PRESET_OPTIONS", "CLEAN_DEFAULTS", "GIGA", "XCPD", "parse_named", "is_named"]

_LEVELS = ("basic", "power2", "derivatives", "full")
_COMPCOR = ("anat_combined", "anat_separated", "temporal", "temporal_anat_combined", "temporal_anat_separated")

#: load_confounds options each preset accepts (nilearn 0.14.1's ``load_confounds_strategy``) and their defaults
PRESET_OPTIONS: dict[str, dict[str, Any]] = {
    "simple": {"motion": "full", "wm_csf": "basic", "global_signal": None, "demean": True},
    "scrubbing": {"motion": "full", "wm_csf": "full", "scrub": 5, "fd_threshold": 0.5, "std_dvars_threshold": 1.5,
                  "global_signal": None, "demean": True},
    "compcor": {"motion": "full", "n_compcor": "all", "compcor": "anat_combined", "global_signal": None,
                "demean": True},
    # ica_aroma="full": the run's desc-smoothAROMAnonaggr_bold image is the data (read by the batch for it)
    "ica_aroma": {"wm_csf": "basic", "global_signal": None, "demean": True},
}
#: cleaning of the named presets (nilearn's examples: NiftiLabelsMasker(standardize="zscore_sample"), no detrend)
CLEAN_DEFAULTS: dict[str, Any] = {"detrend": False, "standardize": "zscore_sample", "standardize_confounds": True,
                                  "low_pass": None, "high_pass": None, "min_volumes": 2}

#: giga_connectome name -> the load_confounds_strategy call of its JSON file (giga_connectome/data/denoise_strategy)
GIGA: dict[str, str | None] = {
    "simple": "simple",
    "simple+gsr": "simple,global_signal=basic",
    "scrubbing.2": "scrubbing,fd_threshold=0.2",
    "scrubbing.2+gsr": "scrubbing,fd_threshold=0.2,global_signal=basic",
    "scrubbing.5": "scrubbing,fd_threshold=0.5",
    "scrubbing.5+gsr": "scrubbing,fd_threshold=0.5,global_signal=basic",
    "acompcor50": "compcor",
    "icaaroma": "ica_aroma",  # the run's desc-smoothAROMAnonaggr_bold image
}
#: xcp_d nuisance model -> the same column set (xcp_d/data/nuisance/<name>.yml)
XCPD: dict[str, str | None] = {
    "24P": "motion24",
    "27P": "motion24+wm_csf+gsr",
    "36P": "motion24+wm_csf4+gsr4",
    "gsr_only": "gsr",
    # motion + derivatives, w_comp_cor_0[0-4], c_comp_cor_0[0-4], every cosine column (+ global_signal)
    "acompcor": "compcor,compcor=anat_separated,motion=derivatives,n_compcor=5",
    "acompcor_gsr": "compcor,compcor=anat_separated,global_signal=basic,motion=derivatives,n_compcor=5",
    "aroma": None,  # aroma_orth_motion_* of fMRIPost-AROMA: refused
    "aroma_gsr": None,
}
_REFUSED = {
    "xcpd:aroma": "xcp_d's 'aroma' model uses the aroma_orth_motion_* columns of fMRIPost-AROMA's "
                  "desc-aroma_timeseries.tsv, which fMRIPrep's confounds do not have; not supported",
    "xcpd:aroma_gsr": "xcp_d's 'aroma_gsr' model uses the aroma_orth_motion_* columns of fMRIPost-AROMA's "
                      "desc-aroma_timeseries.tsv, which fMRIPrep's confounds do not have; not supported",
}


def is_named(spec: str) -> bool:
    """Whether ``spec`` is a named strategy (a nilearn preset, ``giga:``, ``xcpd:``) rather than tokens or a file."""
    head = spec.split(",", 1)[0]
    return head in PRESET_OPTIONS or spec.startswith(("giga:", "xcpd:"))


def _number(text: str, key: str, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ParameterError(f"Strategy {spec!r}: {key} must be a number or 'none'; found {text!r}.",
                             param=key, found=text) from None
    if not (np.isfinite(value) and value >= 0):
        raise ParameterError(f"Strategy {spec!r}: {key} must be a finite number >= 0; found {text!r}.",
                             param=key, found=text)
    return value


def _integer(text: str, key: str, spec: str, low: int) -> int:
    if not re.fullmatch(r"\d+", text) or int(text) < low:
        raise ParameterError(f"Strategy {spec!r}: {key} must be an integer >= {low}; found {text!r}.",
                             param=key, found=text)
    return int(text)


def _boolean(text: str, key: str, spec: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ParameterError(f"Strategy {spec!r}: {key} must be true or false; found {text!r}.", param=key, found=text)
    return text.lower() == "true"


def _choice(text: str, key: str, spec: str, choices, none: bool = False):
    if none and text.lower() == "none":
        return None
    if text not in choices:
        raise ParameterError(f"Strategy {spec!r}: {key} must be one of {list(choices) + (['none'] if none else [])}; "
                             f"found {text!r}.", param=key, expected=list(choices), found=text)
    return text


def _value(key: str, text: str, spec: str) -> Any:
    """The typed value of option ``key`` given as ``text``."""
    if key in ("motion", "wm_csf"):
        return _choice(text, key, spec, _LEVELS)
    if key == "global_signal":
        return _choice(text, key, spec, _LEVELS, none=True)
    if key == "compcor":
        return _choice(text, key, spec, _COMPCOR)
    if key in ("fd_threshold", "std_dvars_threshold", "low_pass", "high_pass"):
        return None if text.lower() == "none" else _number(text, key, spec)
    if key == "scrub":
        return _integer(text, key, spec, 0)
    if key == "n_compcor":
        return "all" if text == "all" else _integer(text, key, spec, 1)
    if key == "min_volumes":
        return _integer(text, key, spec, 1)
    if key in ("demean", "detrend", "standardize_confounds"):
        return _boolean(text, key, spec)
    if key == "standardize":
        special = {"true": True, "false": False, "none": None}
        if text.lower() in special:
            return special[text.lower()]
        return _choice(text, key, spec, ("zscore_sample", "psc"))
    raise AssertionError(key)


def _format(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return np.format_float_positional(value, unique=True, trim="-")
    return str(value)


def parse_named(spec: str) -> tuple[str, dict[str, Any], dict[str, Any]] | str:
    """A named strategy: ``(canonical name, load_confounds_strategy call, cleaning)`` for a nilearn preset, or the
    ``+``-token spelling an ``xcpd:`` name stands for (a str).

    The call is ``{"denoise_strategy": preset, **options}`` with only the options that differ from the
    preset's defaults; the cleaning holds every key of :data:`CLEAN_DEFAULTS`.
    """
    if spec in _REFUSED:
        raise ParameterError(f"Strategy {spec!r} is not supported: {_REFUSED[spec]}.",
                             param="strategy", found=spec)
    for prefix, table in (("giga:", GIGA), ("xcpd:", XCPD)):
        if spec.startswith(prefix):
            name = spec[len(prefix):]
            if name not in table:
                raise ParameterError(f"Unknown {prefix[:-1]} strategy {name!r} in {spec!r}: expected one of "
                                     f"{[prefix + n for n in table]}.", param="strategy",
                                     expected=[prefix + n for n in table], found=spec)
            target = table[name]
            if target is None:  # pragma: no cover - listed in _REFUSED
                raise ParameterError(f"Strategy {spec!r} is not supported.", param="strategy", found=spec)
            if target.split(",", 1)[0] in PRESET_OPTIONS:
                return parse_named(target)
            return target
    preset, *items = spec.split(",")
    defaults = PRESET_OPTIONS[preset]
    options: dict[str, Any] = {}
    clean = dict(CLEAN_DEFAULTS)
    seen: set[str] = set()
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip()
        if not eq or not text.strip():
            raise ParameterError(f"Strategy {spec!r}: options are key=value after commas; found {item!r}.",
                                 param="strategy", found=item)
        if key in seen:
            raise ParameterError(f"Strategy {spec!r}: option {key!r} given twice.", param=key, found=spec)
        seen.add(key)
        if key not in defaults and key not in CLEAN_DEFAULTS:
            raise ParameterError(
                f"Strategy {spec!r}: unknown option {key!r} for the preset {preset!r}; expected the preset's options "
                f"{sorted(defaults)} or the cleaning options {sorted(CLEAN_DEFAULTS)}.",
                param=key, expected=sorted(defaults) + sorted(CLEAN_DEFAULTS), found=key)
        value = _value(key, text.strip(), spec)
        if key in defaults and value is None and defaults[key] is not None:
            raise ParameterError(
                f"Strategy {spec!r}: {key}=none does not turn the option off in a preset: nilearn's "
                f"load_confounds_strategy keeps the preset's value ({key}={_format(defaults[key])}) for a None. Give "
                f"another value, or a JSON strategy file for a strategy without it.",
                param=key, found=text)
        if key in defaults:
            if key == "fd_threshold" and value is not None and value <= 0:
                raise ParameterError(f"Strategy {spec!r}: fd_threshold must be > 0 mm; found {text!r}.",
                                     param=key, found=text)
            options[key] = value
        else:
            clean[key] = value
    if clean["low_pass"] is not None and clean["low_pass"] <= 0 or clean["high_pass"] is not None \
            and clean["high_pass"] <= 0:
        raise ParameterError(f"Strategy {spec!r}: low_pass and high_pass must be > 0 Hz.", param="strategy",
                             found=spec)
    options = {k: options[k] for k in sorted(options) if not _same(options[k], defaults[k])}
    changed_clean = {k: v for k, v in clean.items() if not _same(v, CLEAN_DEFAULTS[k])}
    parts = [preset] + [f"{k}={_format(v)}" for k, v in sorted({**options, **changed_clean}.items())]
    return ",".join(parts), {"denoise_strategy": preset, **options}, clean


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b or (isinstance(a, float) and isinstance(b, (int, float))
                                             and not isinstance(b, bool) and a == b)


def named_label(name: str) -> str:
    """``scrubbing,fd_threshold=0.2`` -> ``scrubbingfdthreshold0p2``."""
    return re.sub(r"[,=_]", "", name).replace(".", "p")
