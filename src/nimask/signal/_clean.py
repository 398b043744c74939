"""``clean``: detrending, filtering, censoring, confound removal and standardisation of time series."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._memory import with_small_pages
from ..exceptions import ConfoundsError, NimaskDataWarning, NimaskWarning, ParameterError
from ._confounds import load_confounds_array, regress_confounds
from ._detrend import ONE_SAMPLE_STANDARDIZE, as_float, psc_columns, resolve_standardize, zscore_columns
from ._detrend import detrend as detrend_columns
from ._filters import apply_sos, butterworth_sos, check_t_r, cosine_drift, merge_cosine_drift, sos_min_samples
from ._sample_mask import check_censor, check_sample_masks, fill_censored, interpolate_mirrored
from ._warn import silenced, warn

_BUTTERWORTH_KWARGS = ("order", "padtype", "padlen")
_EPS64 = np.finfo(np.float64).eps


@with_small_pages
def clean(
    signals: np.ndarray,
    runs: Any = None,
    detrend: bool = True,
    standardize: Any = "zscore_sample",
    sample_mask: Any = None,
    confounds: Any = None,
    standardize_confounds: bool = True,
    filter: Any = "butterworth",
    low_pass: float | None = None,
    high_pass: float | None = None,
    t_r: float | None = None,
    ensure_finite: bool = False,
    extrapolate: bool = False,
    *,
    censor: str = "drop",
    **kwargs: Any,
) -> np.ndarray:
    """Clean time series: censor, detrend, filter, regress out confounds, standardise.

    Same parameters, defaults and numbers as ``nilearn.signal.clean`` 0.14.1. The steps, in
    order: cosine drift terms (full length) → censoring (with Butterworth: nilearn's spline
    interpolation, quirk included) → detrend signals and confounds → Butterworth on both →
    censoring → confound regression (pivoted QR) → standardisation.

    Parameters
    ----------
    signals : ndarray, shape (n_samples, n_features)
        Never modified. float32 stays float32.
    runs : ndarray of shape (n_samples,), optional
        Run label per sample; each run is cleaned separately and the rows come back grouped by
        run in sorted label order. ``sessions=`` is accepted as a deprecated alias.
    detrend : bool, default=True
    standardize : {"zscore_sample", "psc", True, False, None}, default="zscore_sample"
    sample_mask : ndarray, or list of ndarray (one per run), optional
        Boolean keep-mask or indices of the volumes to keep.
    confounds : ndarray, DataFrame, path to a .tsv/.csv/.txt file, or list of those, optional
    standardize_confounds : bool, default=True
    filter : {"butterworth", "cosine", False}, default="butterworth"
    low_pass, high_pass : float or None
        Cut-offs in Hz.
    t_r : float or None, default=None
        Repetition time in seconds, required when filtering (nilearn silently assumes 2.5 s).
    ensure_finite : bool, default=False
        Replace NaN and inf in the signals by 0 first.
    extrapolate : bool, default=False
        Extrapolate the spline outside the kept volumes (Butterworth censoring only; with
        ``censor="interpolate"``, the censored volumes before the first and after the last
        kept one too).
    censor : {"drop", "zero", "interpolate"}, default="drop"
        nimask extension: what becomes of the volumes ``sample_mask`` censors (nothing without
        ``sample_mask``).

        * ``"drop"``: removed (nilearn's ``clean``, the same numbers): the steps above.
        * ``"zero"``: every volume is returned; the kept rows are exactly those of ``"drop"``
          (detrending, confound regression and standardisation fitted on the kept volumes, as
          ``"drop"`` does), the censored rows are 0 (AFNI 3dTproject ``-cenmode ZERO``).
        * ``"interpolate"``: every volume is returned; the censored rows are interpolated
          (a not-a-knot cubic spline in time through the kept rows; before the first / after
          the last kept volume, that volume's value, or the spline's extrapolation with
          ``extrapolate=True``). Without a Butterworth filter (``filter=False`` or
          ``"cosine"``) the kept rows are exactly those of ``"drop"`` and the censored rows are
          the spline through the *cleaned* kept rows (interpolating the signals and confounds
          first and applying the detrend, regression and scaling fitted on the kept rows gives
          the same, each being linear in the values of a time point). With a Butterworth
          filter the interpolation comes *before* filtering, as xcp_d does, so that the filter
          never sees a censored volume. The order is then: interpolate every censored row of
          the signals and confounds → detrend both (all rows) → Butterworth on both → confound
          regression fitted on the kept rows, its betas applied to every row → standardisation
          with the mean and std (psc: mean) of the kept rows, applied to every row. The kept
          rows then differ from ``"drop"``'s, whose interpolation is nilearn's (it fills only
          the censored rows whose mirror ``n - 1 - t`` is kept, and cuts the censored edges).

        Per run when ``runs`` is given. Censoring nothing (``sample_mask`` keeping every
        volume) gives the uncensored result in every mode.
    **kwargs
        ``butterworth__order``, ``butterworth__padtype``, ``butterworth__padlen`` are passed to
        :func:`butterworth`; ``sessions`` is the old name of ``runs``; other keys are ignored
        (as in nilearn).

    Returns
    -------
    ndarray, shape (n_kept_samples, n_features)
        ``(n_samples, n_features)`` with ``censor="zero"`` or ``"interpolate"``.

    Differences from nilearn
    ------------------------
    Clear errors instead of silently wrong numbers or unhelpful messages: a filter without
    ``t_r`` (nilearn's default ``t_r=2.5`` is gone); signals not 2D;
    ``t_r`` not positive or above 100 s (milliseconds?) when filtering; confounds with NaN/inf
    (rows and columns named), of the wrong length, or with at least as many columns as kept
    time points; a boolean ``sample_mask`` of the wrong length; an integer 0/1 ``sample_mask``
    as long as the signal (a boolean mask typed as ints); non-integral or out-of-range indices;
    an unknown ``butterworth__`` keyword; runs too short for the Butterworth padding.
    The memory use stays near the size of ``signals`` (blocked float64 temporaries).
    """
    if kwargs.pop("_quiet", False):  # private: no nimask warning from this call (see _warn.py)
        with silenced():
            return clean(signals, runs, detrend, standardize, sample_mask, confounds, standardize_confounds,
                         filter, low_pass, high_pass, t_r, ensure_finite, extrapolate, censor=censor, **kwargs)
    runs = _pop_sessions(runs, kwargs)
    owned = bool(kwargs.pop("_owned", False))  # private: the caller hands over ``signals`` (no copy)
    butterworth_kwargs = _butterworth_kwargs(kwargs)
    censor = check_censor(censor)
    signals = np.asarray(signals)
    if signals.ndim != 2:
        raise ParameterError(
            f"signals must be a 2D array (n_samples, n_features); got shape {signals.shape}.",
            param="signals", expected="2D array", found=signals.shape,
        )
    n_samples = signals.shape[0]
    if confounds is not None and not detrend and not standardize_confounds:
        warn(
            "When confounds are provided, one must perform detrend and/or standardize confounds. "
            f"You provided detrend={detrend}, standardize_confounds={standardize_confounds}. "
            "If confounds were not standardized or demeaned before passing to signal.clean "
            "signal will not be correctly cleaned.",
            NimaskWarning, stacklevel=2,
        )
    filter = _resolve_filter(filter, low_pass, high_pass, t_r)
    run_labels, run_lengths = _check_runs(runs, n_samples)
    confounds = load_confounds_array(confounds, n_samples)
    sample_mask = check_sample_masks(sample_mask, run_lengths, n_samples)
    signals = as_float(signals, copy=not owned)
    if ensure_finite:
        signals[~np.isfinite(signals)] = 0
    standardize = resolve_standardize(standardize)
    options = dict(
        detrend=detrend, standardize=standardize, filter=filter,
        low_pass=low_pass, high_pass=high_pass, t_r=t_r, censor=censor,
    )
    if run_labels is None:
        return _clean_run(
            signals, confounds, sample_mask, standardize_confounds=standardize_confounds,
            extrapolate=extrapolate, butterworth_kwargs=butterworth_kwargs, **options,
        )
    # nilearn's per-run calls drop standardize_confounds, extrapolate and butterworth__* (§7.7).
    outputs = []
    for i, label in enumerate(np.unique(run_labels)):
        rows = run_labels == label
        outputs.append(_clean_run(
            signals[rows], None if confounds is None else confounds[rows],
            None if sample_mask is None else sample_mask[i],
            standardize_confounds=True, extrapolate=False, butterworth_kwargs={}, run_label=label,
            edges_extrapolated=extrapolate, **options,
        ))
    return np.vstack(outputs)


def _pop_sessions(runs, kwargs):
    if "sessions" not in kwargs:
        return runs
    sessions = kwargs.pop("sessions")
    warn(
        "The 'sessions' parameter of clean is deprecated (nilearn renamed it 'runs'); use runs=.",
        FutureWarning, stacklevel=3,
    )
    if runs is not None and sessions is not None:
        raise ParameterError(
            "clean got both runs= and its old name sessions=; pass only runs=.", param="sessions"
        )
    return sessions if runs is None else runs


def _butterworth_kwargs(kwargs) -> dict:
    out = {}
    for key, value in kwargs.items():
        if key.startswith("butterworth__"):
            name = key[len("butterworth__"):]
            if name not in _BUTTERWORTH_KWARGS:
                raise ParameterError(
                    f"Unknown keyword {key!r}: butterworth__ keywords must be one of "
                    f"{['butterworth__' + k for k in _BUTTERWORTH_KWARGS]}.",
                    param=key, expected=_BUTTERWORTH_KWARGS, found=name,
                )
            out[name] = value
    return out


def _resolve_filter(filter, low_pass, high_pass, t_r):
    """Return "butterworth", "cosine" or False (no filtering), validating t_r and cut-offs."""
    if not (filter is False or (isinstance(filter, str) and filter in ("butterworth", "cosine"))):
        raise ParameterError(
            f"Filter method {filter} not implemented: filter must be 'butterworth', 'cosine' or False.",
            param="filter", expected=("butterworth", "cosine", False), found=filter,
        )
    if filter is False:
        if low_pass is not None or high_pass is not None:
            warn(
                "No filter type selected but cutoff frequency provided.Will not perform filtering.",
                NimaskWarning, stacklevel=3,
            )
        return False
    if filter == "cosine":
        if t_r is None or high_pass is None:
            raise ParameterError(
                f"Repetition time (t_r) and low cutoff frequency (high_pass) must be specified for "
                f"cosine filtering. Got: 't_r={t_r}' and 'high_pass={high_pass}'",
                param="t_r" if t_r is None else "high_pass",
            )
        check_t_r(t_r, purpose="cosine filtering")
        return "cosine"
    if low_pass is None and high_pass is None:
        return False
    check_t_r(t_r, purpose="butterworth filtering")
    with silenced():  # validates the cut-offs early; each run's filter gives the warnings (as nilearn)
        butterworth_sos(1.0 / t_r, low_pass=low_pass, high_pass=high_pass)
    return "butterworth"


def _check_runs(runs, n_samples):
    if runs is None:
        return None, None
    runs = np.asarray(runs)
    if runs.ndim != 1 or runs.shape[0] != n_samples:
        raise ParameterError(
            f"The length of the run vector ({runs.shape[0] if runs.ndim else runs.size}) does not "
            f"match the length of the signals ({n_samples}): runs needs one label per sample.",
            param="runs", expected=n_samples, found=runs.shape,
        )
    labels = np.unique(runs)
    return runs, [int((runs == label).sum()) for label in labels]


def _too_short_to_filter(n, needed, low_pass, high_pass, t_r, butterworth_kwargs, run_label):
    """The error of a Butterworth filter on a series too short for its padding, in the user's terms."""
    given = [f"{k}={v}" for k, v in (("low_pass", low_pass), ("high_pass", high_pass)) if v is not None]
    knobs = ", ".join(f"butterworth__{k}={v!r}" for k, v in butterworth_kwargs.items())
    where = "" if run_label is None else f" in run {getattr(run_label, 'item', lambda: run_label)()!r}"
    got = ("a single time point (the signal of a 3D image: one volume)" if n == 1 else f"{n} time points")
    return ParameterError(
        f"{' and '.join(given)} (Butterworth filtering, t_r={t_r}{', ' + knobs if knobs else ''}) "
        f"need{'s' if len(given) == 1 else ''} a time series of more than {needed} time points (the rows of "
        f"signals; volumes of a 4D image); got {got}{where}. Filtering needs a 4D time series with more volumes: "
        f"give a longer series, or set {' and '.join(g.split('=')[0] + '=None' for g in given)}.",
        param="low_pass" if low_pass is not None else "high_pass", expected=f"> {needed} time points", found=n,
    )


def _clean_run(signals, confounds, kept, *, censor="drop", edges_extrapolated=None, **options):
    """One run, with ``censor``'s treatment of the censored volumes (see :func:`clean`).

    ``edges_extrapolated``: the user's ``extrapolate`` for the censored edges of
    ``censor="interpolate"`` (nilearn's per-run calls pass ``extrapolate=False`` to the rest).
    """
    n = signals.shape[0]
    if kept is None or censor == "drop" or kept.size == n:  # kept: unique sorted indices
        return _clean_run_drop(signals, confounds, kept, **options)
    if edges_extrapolated is None:
        edges_extrapolated = options["extrapolate"]
    if censor == "interpolate" and options["filter"] == "butterworth":
        return _clean_run_drop(signals, confounds, kept, fill=True, **{**options, "extrapolate": edges_extrapolated})
    cleaned = _clean_run_drop(signals, confounds, kept, **options)
    out = np.zeros((n, cleaned.shape[1]), dtype=cleaned.dtype)
    out[kept] = cleaned
    del cleaned
    if censor == "interpolate":
        fill_censored(out, kept, edges_extrapolated)
    return out


def _clean_run_drop(
    signals, confounds, kept, *, detrend, standardize, filter, low_pass, high_pass, t_r,
    standardize_confounds, extrapolate, butterworth_kwargs, run_label=None, fill=False,
):
    """One run, in nilearn's order of operations (spec §7.2). ``signals`` is owned and modified.

    ``fill`` (censor="interpolate" with a Butterworth filter): the censored rows are filled by
    :func:`fill_censored` instead of nilearn's interpolation and never removed; regression and
    standardisation are fitted on the kept rows and applied to all rows.
    """
    n = signals.shape[0]
    if confounds is not None:
        confounds = np.array(confounds, copy=True)  # owned: detrended and filtered in place
        n_kept = n if kept is None else kept.size
        if confounds.shape[1] >= n_kept:
            raise ConfoundsError(
                f"There are {confounds.shape[1]} confound columns for {n_kept} time points (after "
                f"censoring): regressing them out would remove all the signal. Use fewer confounds "
                f"than time points.",
                param="confounds", expected=f"< {n_kept} columns", found=confounds.shape[1],
            )
    if filter == "cosine":
        if low_pass is not None:
            warn("low_pass is not implemented for filter='cosine'", NimaskWarning, stacklevel=3)
        drift = cosine_drift(high_pass, t_r, n)
        if drift is not None:
            confounds = merge_cosine_drift(drift, confounds)
    butterworth = filter == "butterworth"
    sos = filter_kwargs = None
    if butterworth:  # too short for the filter: said before any other step works (or warns) in vain
        sos = butterworth_sos(
            1.0 / t_r, low_pass=low_pass, high_pass=high_pass, order=butterworth_kwargs.get("order", 5)
        )
        filter_kwargs = {k: v for k, v in butterworth_kwargs.items() if k != "order"}
        needed = None if sos is None else sos_min_samples(sos, **filter_kwargs)
        if needed is not None and n <= needed:
            raise _too_short_to_filter(n, needed, low_pass, high_pass, t_r, butterworth_kwargs, run_label)
    if fill:
        signals = fill_censored(signals, kept, extrapolate)
        if confounds is not None:
            confounds = fill_censored(confounds, kept, extrapolate)
        mean_before = signals[kept].mean(axis=0) if standardize == "psc" else None
        if detrend:
            signals = detrend_columns(signals, copy=False)
            if confounds is not None:
                confounds = detrend_columns(confounds, copy=False)
        if sos is not None:
            apply_sos(signals, sos, **filter_kwargs)
            if confounds is not None:
                apply_sos(confounds, sos, **filter_kwargs)
        if confounds is not None:
            signals = regress_confounds(signals, confounds, standardize_confounds=standardize_confounds, rows=kept)
        return _standardize(signals, standardize, mean_before, rows=kept)
    if kept is not None:
        if butterworth:
            if not (kept.size == n and kept[0] == 0 and kept[-1] == n - 1 and np.all(np.diff(kept) == 1)):
                signals = interpolate_mirrored(signals, kept, t_r, extrapolate)
                if confounds is not None:
                    confounds = interpolate_mirrored(confounds, kept, t_r, extrapolate)
                if not extrapolate:
                    kept = kept - kept[0]
        else:
            signals = signals[kept]
            confounds = None if confounds is None else confounds[kept]
    mean_before = signals.mean(axis=0) if standardize == "psc" else None
    if detrend:
        signals = detrend_columns(signals, copy=False)
        if confounds is not None:
            confounds = detrend_columns(confounds, copy=False)
    if butterworth:
        if sos is not None:
            apply_sos(signals, sos, **filter_kwargs)
            if confounds is not None:
                apply_sos(confounds, sos, **filter_kwargs)
        if kept is not None:
            signals = signals[kept]
            confounds = None if confounds is None else confounds[kept]
    if confounds is not None:
        signals = regress_confounds(signals, confounds, standardize_confounds=standardize_confounds)
    return _standardize(signals, standardize, mean_before)


def _standardize(signals, standardize, mean_before, rows=None):
    """Standardise in place; with ``rows``, the statistics are those of these rows (applied to all)."""
    if standardize is None:
        return signals
    if (signals.shape[0] if rows is None else rows.size) == 1:
        warn(
            ONE_SAMPLE_STANDARDIZE,
            NimaskDataWarning, stacklevel=4,
        )
        return signals
    if standardize == "zscore_sample":
        return zscore_columns(signals, rows)
    # psc: add back the mean recorded before detrending when the signal lost its mean.
    denominator = np.mean(np.abs(mean_before))
    fitted = signals if rows is None else signals[rows]
    ratio = np.mean(np.abs(fitted.mean(axis=0))) / denominator if denominator else np.inf
    del fitted
    if ratio < 0.1:
        signals += mean_before
    return psc_columns(signals, rows)


class _CleaningMatrix:
    """``clean`` of one run as ``standardize(L @ X)`` then the censored rows' treatment (private).

    Every step before the standardisation (censoring, interpolation, detrending, filtering with
    its padding, confound regression) is linear in time and column by column, so it is one
    matrix ``L = clean(eye(n), standardize=None, ...)``; the z-score is then per column, on the
    rows ``clean`` fits it on, and the censored rows are set to 0 or interpolated afterwards,
    exactly as in :func:`_clean_run`. Built by :func:`_cleaning_matrix` (which says when this
    holds); :meth:`apply` computes in float64 whatever the dtype of the block.
    """

    def __init__(self, matrix, standardize, stat_rows, kept, post, extrapolate, center):
        self.matrix, self.standardize, self.stat_rows = matrix, standardize, stat_rows
        self.kept, self.post, self.extrapolate, self.center = kept, post, extrapolate, center
        self.n_out = matrix.shape[0] if post is None else matrix.shape[1]
        self.centred = None  # z-score on all rows: L minus its column means, whose product is y - mean(y)
        if standardize == "zscore_sample" and post is None and stat_rows is None and matrix.shape[0] > 1:
            self.centred = matrix - matrix.mean(axis=0)

    def apply(self, block: np.ndarray, out: np.ndarray) -> bool:
        """Clean a ``(n_samples, m)`` block into ``out`` (``(n_out, m)``, any float dtype); no warning.

        False, ``out`` untouched, when the block holds NaN/inf (``clean``'s own steps propagate them).
        """
        if self.centred is None and not np.isfinite(block).all():
            return False
        x = np.empty(block.shape, dtype=np.float64)
        if self.center:  # L annihilates constants: minus the first row (exact), constant columns come out 0
            np.subtract(block, block[:1], out=x, dtype=np.float64)
        else:
            x[...] = block
        if self.centred is not None:  # zscore_columns fused: the rows of centred(L) @ x have mean 0 already
            y = self.centred @ x
            del x
            std = np.sqrt(np.einsum("ij,ij->j", y, y) / (y.shape[0] - 1))  # ddof=1
            # NaN/inf in the block reach y (0 * NaN is NaN): one pass fewer than testing the block; a
            # NaN in a row that L ignores (dropped) would only give the steps' numbers, which drop it too
            if not np.isfinite(std).all():
                return False
            std[std < _EPS64] = 1.0  # zscore_columns' absolute threshold (catalogue D13)
            np.multiply(y, 1.0 / std, out=out, casting="same_kind")
            return True
        y = self.matrix @ x
        del x
        with silenced():  # the probe call of the caller gave the warnings
            y = _standardize(y, self.standardize, None, rows=self.stat_rows)
        if self.post is None:
            out[...] = y
            return True
        full = np.zeros((self.n_out, y.shape[1]))
        full[self.kept] = y
        del y
        if self.post == "interpolate":
            fill_censored(full, self.kept, self.extrapolate)
        out[...] = full
        return True


def _cleaning_matrix(
    n_samples, runs=None, detrend=True, standardize="zscore_sample", sample_mask=None, confounds=None,
    standardize_confounds=True, filter="butterworth", low_pass=None, high_pass=None, t_r=None,
    ensure_finite=False, extrapolate=False, *, censor="drop", **kwargs,
):
    """``clean``'s parameters as a :class:`_CleaningMatrix`, or None where it does not apply.

    None with runs/sessions, ``ensure_finite``, ``standardize="psc"`` (its "add the mean back"
    decision uses all columns). Call it with parameters ``clean`` accepted (it raises what
    ``clean`` raises otherwise); it gives no warning.
    """
    if runs is not None or "sessions" in kwargs or ensure_finite:
        return None
    with silenced():
        standardize = resolve_standardize(standardize)
        if standardize == "psc":
            return None
        censor = check_censor(censor)
        filter = _resolve_filter(filter, low_pass, high_pass, t_r)
        kept = check_sample_masks(sample_mask, None, n_samples)
        common = dict(
            detrend=detrend, standardize=None, confounds=confounds, standardize_confounds=standardize_confounds,
            filter=filter, low_pass=low_pass, high_pass=high_pass, t_r=t_r, extrapolate=extrapolate, **kwargs,
        )
        eye = np.eye(n_samples)
        stat_rows = post = None
        if kept is None or censor == "drop" or kept.size == n_samples:
            matrix = clean(eye, sample_mask=kept, censor="drop", _owned=True, **common)
        elif censor == "interpolate" and filter == "butterworth":  # filled, cleaned on all rows, fitted on kept
            matrix = clean(eye, sample_mask=kept, censor="interpolate", _owned=True, **common)
            stat_rows = kept
        else:  # standardised on the kept rows, then the censored rows are set to 0 or interpolated
            matrix = clean(eye, sample_mask=kept, censor="drop", _owned=True, **common)
            post = censor
    scale = max(1.0, float(np.abs(matrix).max(initial=0.0)))
    center = bool(detrend) and float(np.abs(matrix.sum(axis=1)).max(initial=0.0)) <= 1e-9 * scale
    return _CleaningMatrix(matrix, standardize, stat_rows, kept, post, extrapolate, center)
