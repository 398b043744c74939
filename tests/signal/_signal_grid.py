"""Shared oracle grid for the signal tests (small arrays; nilearn is the oracle)."""
from __future__ import annotations

import itertools
import warnings

import numpy as np

FILTERS = {
    "none": dict(filter=False),
    "bw_low": dict(filter="butterworth", low_pass=0.1),
    "bw_high": dict(filter="butterworth", high_pass=0.02),
    "bw_band": dict(filter="butterworth", low_pass=0.12, high_pass=0.02),
    "cosine": dict(filter="cosine", high_pass=0.02),
}


def make_data(n=60, p=7, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    signals = rng.standard_normal((n, p)) * 3 + 10 + 0.05 * t[:, None] * rng.standard_normal(p)
    confounds = np.column_stack([np.sin(t / 5.0), rng.standard_normal(n), 0.02 * t])
    return signals.astype(dtype), confounds


def sample_masks(n, seed=0):
    rng = np.random.default_rng(seed)
    keep = rng.random(n) > 0.2
    keep[:2] = False  # censored start: exercises the extrapolate/shift path
    symmetric = np.ones(n, bool)
    symmetric[[0, 1, n - 2, n - 1]] = False  # nilearn's worst case (§7.6)
    return {
        "none": None,
        "bool": keep,
        "index": np.flatnonzero(keep)[3:],
        "symmetric": symmetric,
    }


def grid():
    """Yield (name, kwargs) for the parameter grid (without signals/confounds values)."""
    for detrend, standardize, conf, std_conf, filt, mask, extrap in itertools.product(
        (True, False), ("zscore_sample", "psc", None), (False, True), (True, False),
        FILTERS, ("none", "bool", "index", "symmetric"), (False, True),
    ):
        if mask == "none" and extrap:
            continue
        yield (detrend, standardize, conf, std_conf, filt, mask, extrap)


def run_both(clean_a, clean_b, signals, confounds, masks, combo, t_r=2.0):
    detrend, standardize, conf, std_conf, filt, mask, extrap = combo
    kwargs = dict(
        detrend=detrend, standardize=standardize, confounds=confounds if conf else None,
        standardize_confounds=std_conf, sample_mask=masks[mask], extrapolate=extrap, t_r=t_r,
        **FILTERS[filt],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clean_a(signals, **kwargs), clean_b(signals, **kwargs)
