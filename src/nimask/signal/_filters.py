"""Butterworth and cosine (DCT-II) temporal filters, and t_r / cut-off validation."""
from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..exceptions import NimaskWarning, ParameterError
from ._detrend import column_blocks
from ._warn import silenced, warn

_EPS32 = float(np.finfo(np.float32).eps)
MAX_PLAUSIBLE_T_R = 100.0  # seconds; larger values are almost surely milliseconds


def check_t_r(t_r: Any, *, purpose: str = "filtering") -> float:
    """Validate a repetition time in seconds and return it as a float.

    Raises
    ------
    ParameterError
        ``t_r`` is None, not a finite number, not positive, or above 100 s (milliseconds?).
    """
    if t_r is None:
        raise ParameterError(
            f"Repetition time (t_r) must be specified for {purpose}. Got: 't_r=None'",
            param="t_r", expected="repetition time in seconds", found=None,
        )
    if isinstance(t_r, bool) or not isinstance(t_r, numbers.Real) or not math.isfinite(t_r):
        raise ParameterError(
            f"t_r must be a finite number of seconds; got {t_r!r}.",
            param="t_r", expected="finite positive float", found=t_r,
        )
    if t_r <= 0:
        raise ParameterError(
            f"t_r must be > 0 seconds; got t_r={t_r!r}.",
            param="t_r", expected="> 0", found=t_r,
        )
    if t_r > MAX_PLAUSIBLE_T_R:
        raise ParameterError(
            f"t_r={t_r!r} s is implausibly large (> {MAX_PLAUSIBLE_T_R:g} s): did you give milliseconds? "
            f"Pass the repetition time in seconds (e.g. t_r={t_r / 1000:g}).",
            param="t_r", expected=f"<= {MAX_PLAUSIBLE_T_R:g} s", found=t_r,
        )
    return float(t_r)


def _check_cutoff(name: str, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ParameterError(
            f"{name} must be a finite frequency in Hz or None; got {value!r}.",
            param=name, expected="finite float or None", found=value,
        )
    return float(value)


def _clamp_cutoff(name: str, kind: str, value: float, nyquist: float) -> float:
    """Bring a cut-off inside (0, Nyquist) with nilearn's warnings and values."""
    if value >= nyquist:
        new = nyquist * (1 - _EPS32 * 10)
        warn(
            f"The frequency specified for the {kind} pass filter is too high to be handled by a "
            f"digital filter (superior to Nyquist frequency). It has been lowered to {new} "
            f"(Nyquist frequency). ({name}={value!r})",
            NimaskWarning, stacklevel=4,
        )
        return new
    if value < 0:
        new = nyquist * _EPS32
        warn(
            f"The frequency specified for the {kind} pass filter is too low to be handled by a "
            f"digital filter (must be non-negative). It has been set to eps: {new}. ({name}={value!r})",
            NimaskWarning, stacklevel=4,
        )
        return new
    return value


def butterworth_sos(sampling_rate: float, low_pass=None, high_pass=None, order: int = 5):
    """Second-order sections of nilearn's Butterworth filter, or None when nothing is filtered.

    Raises ``ParameterError`` when both cut-offs are given and ``high_pass >= low_pass``.
    """
    from scipy import signal as sp_signal

    low_pass = _check_cutoff("low_pass", low_pass)
    high_pass = _check_cutoff("high_pass", high_pass)
    if low_pass is None and high_pass is None:
        return None
    if low_pass is not None and high_pass is not None and high_pass >= low_pass:
        raise ParameterError(
            f"High pass cutoff frequency ({high_pass}) is greater than or equal to low pass filter "
            f"frequency ({low_pass}): high_pass must be < low_pass.",
            param="high_pass", expected=f"< low_pass={low_pass}", found=high_pass,
        )
    nyquist = sampling_rate * 0.5
    if low_pass is not None:
        low_pass = _clamp_cutoff("low_pass", "low", low_pass, nyquist)
    if high_pass is not None:
        high_pass = _clamp_cutoff("high_pass", "high", high_pass, nyquist)
    if low_pass is not None and high_pass is not None:
        if low_pass == high_pass:
            warn(
                f"The filter band is empty after bringing the cut-offs inside (0, Nyquist): "
                f"high_pass = low_pass = {low_pass}. No filtering is done.",
                NimaskWarning, stacklevel=3,
            )
            return None
        btype, wn = "band", [high_pass, low_pass]
    elif low_pass is not None:
        btype, wn = "low", low_pass
    else:
        btype, wn = "high", high_pass
    return sp_signal.butter(N=order, Wn=wn, btype=btype, output="sos", fs=sampling_rate)


def sos_min_samples(sos, padtype="odd", padlen=None) -> int:
    """The padding length of :func:`scipy.signal.sosfiltfilt`: a signal needs *more* samples than this.

    scipy's rule: ``padlen`` when given, else ``3 * (2 * sections + 1 - trailing zero taps)``;
    0 with ``padtype=None`` (no padding).
    """
    if padtype is None:
        return 0
    if padlen is not None:
        return int(padlen)
    ntaps = 2 * sos.shape[0] + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
    return 3 * ntaps


def butterworth_min_samples(low_pass, high_pass, t_r, clean_args: dict | None = None) -> int | None:
    """How many samples ``clean`` with these parameters needs to *exceed* (None: no Butterworth
    filtering, or parameters ``clean`` itself refuses with its own message)."""
    clean_args = clean_args or {}
    if clean_args.get("filter", "butterworth") != "butterworth" or (low_pass is None and high_pass is None):
        return None
    try:
        with silenced():
            sos = butterworth_sos(1.0 / check_t_r(t_r), low_pass=low_pass, high_pass=high_pass,
                                  order=clean_args.get("butterworth__order", 5))
    except ValueError:  # a bad t_r or cut-off: clean raises its own error about it
        return None
    if sos is None:
        return None
    return sos_min_samples(sos, clean_args.get("butterworth__padtype", "odd"), clean_args.get("butterworth__padlen"))


def apply_sos(signals: np.ndarray, sos, *, padtype="odd", padlen=None) -> np.ndarray:
    """Zero-phase filter each column of a 2D float array in place, block of columns by block.

    Each block is transposed to a contiguous float64 copy (time on the last axis, scipy's fast
    path) and written back, so the float64 temporary stays small and float32 stays float32.
    """
    from scipy import signal as sp_signal

    n = signals.shape[0]
    for cols in column_blocks(n, signals.shape[1]):
        block = np.ascontiguousarray(signals[:, cols].T, dtype=np.float64)
        try:
            filtered = sp_signal.sosfiltfilt(sos, block, axis=-1, padtype=padtype, padlen=padlen)
        except ValueError as exc:
            if "padlen" in str(exc):
                raise ParameterError(
                    f"Butterworth filtering needs a time series longer than the filter's padding: the signals "
                    f"have {n} samples (rows), and filtering needs more than {sos_min_samples(sos, padtype, padlen)}. "
                    f"Give a longer time series (more volumes), or a smaller padlen or order.",
                    param="signals", expected=f"> {sos_min_samples(sos, padtype, padlen)} samples", found=n,
                ) from exc
            raise
        signals[:, cols] = filtered.T
    return signals


def butterworth(
    signals: np.ndarray,
    sampling_rate: float,
    low_pass: float | None = None,
    high_pass: float | None = None,
    order: int = 5,
    padtype: str | None = "odd",
    padlen: int | None = None,
    copy: bool = False,
) -> np.ndarray:
    """Zero-phase Butterworth low-, high- or band-pass filter along the first axis.

    Parameters
    ----------
    signals : ndarray, shape (n_samples,) or (n_samples, n_features)
        Filtered in place when ``copy`` is False and the array is float (as in nilearn).
    sampling_rate : float
        Samples per second (``1 / t_r``).
    low_pass, high_pass : float or None
        Cut-offs in Hz; both None returns the signals unchanged. Cut-offs at or above Nyquist are
        lowered just below it, negative ones raised to ~0, each with a warning.
    order : int, default=5
    padtype, padlen :
        Passed to :func:`scipy.signal.sosfiltfilt`.
    copy : bool, default=False
        When True the result is a new float64 array (nilearn's rule), else the input's dtype.

    Returns
    -------
    ndarray
        The filtered signals, same shape.

    Differences from nilearn
    ------------------------
    Integer input with ``copy=False`` gives a float64 result (nilearn writes the filtered values
    back into the integer array, truncating them). A non-positive ``sampling_rate`` and runs
    shorter than the padding raise ``ParameterError`` with the run length.
    """
    if (isinstance(sampling_rate, bool) or not isinstance(sampling_rate, numbers.Real)
            or not math.isfinite(sampling_rate) or sampling_rate <= 0):
        raise ParameterError(
            f"sampling_rate must be a positive number of samples per second (1 / t_r); got "
            f"{sampling_rate!r}.",
            param="sampling_rate", expected="> 0", found=sampling_rate,
        )
    sos = butterworth_sos(sampling_rate, low_pass=low_pass, high_pass=high_pass, order=order)
    if sos is None:
        return signals
    signals = np.asarray(signals)
    if copy:
        out = np.array(signals, dtype=np.float64)
    elif signals.dtype.kind == "f":
        out = signals
    else:
        out = signals.astype(np.float64)
    view = out[:, np.newaxis] if out.ndim == 1 else out
    apply_sos(view, sos, padtype=padtype, padlen=padlen)
    return out


def cosine_drift(high_pass: float, t_r: float, n_samples: int) -> np.ndarray | None:
    """DCT-II drift regressors (without the constant), shape (n_samples, order), or None.

    ``order = min(n - 1, floor(2 * n * high_pass * t_r))``; nilearn's warnings are kept.
    """
    dt = t_r
    n_times = np.arange(n_samples)
    order = int(min(n_samples - 1, np.floor(2 * n_samples * high_pass * dt)))
    if high_pass * dt >= 0.5:
        warn(
            f"High-pass filter will span all accessible frequencies and saturate the design matrix. "
            f"You may want to reduce the high_pass value. The provided value is {high_pass} Hz",
            NimaskWarning, stacklevel=3,
        )
    if order <= 0:
        warn(
            f"Cosine filter was not created. The time series might be too short or the high pass "
            f"filter is not suitable for the data (high_pass={high_pass}, t_r={t_r}, "
            f"n_samples={n_samples}).",
            NimaskWarning, stacklevel=3,
        )
        return None
    k = np.arange(1, order + 1)
    return np.sqrt(2.0 / n_samples) * np.cos(np.pi / n_samples * (n_times[:, None] + 0.5) * k[None, :])


def merge_cosine_drift(drift: np.ndarray, confounds: np.ndarray | None) -> np.ndarray:
    """Append the drift terms to the confounds, unless the user already gives cosines (r > 0.9)."""
    if confounds is None:
        return drift
    stacked = np.hstack([drift, confounds])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(stacked.T)
    np.fill_diagonal(corr, 0)
    if (corr[: drift.shape[1]] > 0.9).any():
        warn(
            "Cosine filter was not created: the confounds already contain regressors highly "
            "correlated (r > 0.9) with cosine drift terms, so the user-provided confounds are used.",
            NimaskWarning, stacklevel=3,
        )
        return confounds
    return np.hstack([confounds, drift])
