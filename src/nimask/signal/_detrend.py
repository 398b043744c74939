"""Float conversion, linear detrending and column standardisation (float32 stays float32)."""
from __future__ import annotations

import numpy as np

from ..exceptions import NimaskDataWarning, ParameterError
from ._warn import warn

_EPS64 = np.finfo(np.float64).eps
# Elements per block when a temporary of shape (n_samples, block) is needed (8 MB in float64).
BLOCK_ELEMENTS = 1 << 20


def column_blocks(n_rows: int, n_cols: int, shrink: int = 1):
    """Yield slices over columns so that one block holds about ``BLOCK_ELEMENTS / shrink`` elements."""
    step = max(1, BLOCK_ELEMENTS // shrink // max(n_rows, 1))
    for start in range(0, n_cols, step):
        yield slice(start, min(start + step, n_cols))


def as_float(signals: np.ndarray, copy: bool = True) -> np.ndarray:
    """Return ``signals`` as a float array with nilearn's dtype rule.

    float32/float64 keep their dtype; 8-byte integers and float16 become float64; other
    integers and booleans become float32. A copy is made when ``copy`` is True or the dtype changes.
    """
    signals = np.asarray(signals)
    if signals.dtype.kind == "f":
        if signals.dtype.itemsize < 4:
            return signals.astype(np.float64)
        return signals.copy() if copy else signals
    if signals.dtype.kind in "iub":
        target = np.float64 if signals.dtype.itemsize >= 8 else np.float32
        return signals.astype(target)
    raise ParameterError(
        f"signals must hold real numbers; got an array of dtype {signals.dtype}.",
        param="signals", expected="float or integer array", found=str(signals.dtype),
    )


def detrend(signals: np.ndarray, *, copy: bool = True) -> np.ndarray:
    """Remove each column's mean and linear trend (least squares), in the signals' dtype.

    The trend regressor ``arange(n)`` is built in the signals' dtype, centred and normalised,
    so float32 data are detrended in float32 arithmetic exactly as nilearn does.
    With a single sample, warns and returns the (float) signals unchanged.
    """
    signals = as_float(signals, copy=copy)
    if signals.ndim == 1:
        signals = signals[:, np.newaxis]
        squeeze = True
    else:
        squeeze = False
    n = signals.shape[0]
    if n == 1:
        warn(
            "Detrending of 3D signal has been requested but would lead to zero values. Skipping. The signal has "
            "a single time point (one volume, e.g. a 3D image): detrend needs a 4D time series with more volumes; "
            "the values are returned as they are.",
            NimaskDataWarning, stacklevel=2,
        )
        return signals[:, 0] if squeeze else signals
    signals -= signals.mean(axis=0)
    regressor = np.arange(n, dtype=signals.dtype)
    regressor -= regressor.mean()
    norm = np.sqrt((regressor**2).sum())
    if norm >= _EPS64:
        regressor /= norm
    for cols in column_blocks(n, signals.shape[1]):
        block = signals[:, cols]
        block -= np.outer(regressor, regressor @ block)
    return signals[:, 0] if squeeze else signals


def zscore_columns(signals: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Centre each column and divide it by its ddof=1 std (std < eps64 divides by 1), in place.

    With ``rows`` (indices), the mean and std are those of these rows, applied to every row.
    """
    for cols in column_blocks(*signals.shape):  # np.std makes a full-size temporary
        block = signals[:, cols]
        fitted = block if rows is None else block[rows]
        std = fitted.std(axis=0, ddof=1)
        std[std < _EPS64] = 1.0
        block -= fitted.mean(axis=0)
        block /= std
    return signals


def psc_columns(signals: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Percent signal change ``100 * (Y - mean) / |mean|`` per column, in place.

    Columns whose mean is below eps64 in magnitude are set to 0 with a warning. With ``rows``
    (indices), the mean is that of these rows, applied to every row.
    """
    mean = (signals if rows is None else signals[rows]).mean(axis=0)
    invalid = np.abs(mean) < _EPS64
    signals -= mean
    safe = np.abs(mean)
    safe[invalid] = 1.0
    signals /= safe
    signals *= 100
    if invalid.any():
        signals[:, invalid] = 0
        warn(
            f"psc standardization strategy is meaningless for features that have a mean of 0. "
            f"These time series are set to 0 ({int(invalid.sum())} of {invalid.size} features).",
            NimaskDataWarning, stacklevel=3,
        )
    return signals


_detrend = detrend  # the name is shadowed by the keyword of standardize_signal

_STANDARDIZE_CHOICES = ("zscore_sample", "psc", True, False, None)


def resolve_standardize(standardize):
    """Map nilearn's accepted ``standardize`` values to "zscore_sample", "psc" or None.

    Booleans give nilearn's FutureWarning (True means "zscore_sample", False means None).
    """
    if isinstance(standardize, (bool, np.bool_)):
        warn(
            "boolean values for 'standardize' will be deprecated in nilearn 0.15.0. "
            "Use 'zscore_sample' instead of 'True' or use 'None' instead of 'False'.",
            FutureWarning, stacklevel=3,
        )
        return "zscore_sample" if standardize else None
    if standardize is None or (isinstance(standardize, str) and standardize in ("zscore_sample", "psc")):
        return standardize
    raise ParameterError(
        f"'standardize' must be one of {_STANDARDIZE_CHOICES}; got {standardize!r}.",
        param="standardize", expected=_STANDARDIZE_CHOICES, found=standardize,
    )


ONE_SAMPLE_STANDARDIZE = (
    "Standardization of 3D signal has been requested but would lead to zero values. Skipping. The signal has a "
    "single time point (one volume, e.g. a 3D image): standardize needs a 4D time series with more volumes; "
    "the values are returned as they are."
)


def _warn_one_sample() -> None:
    warn(
        ONE_SAMPLE_STANDARDIZE,
        NimaskDataWarning, stacklevel=3,
    )


def standardize_signal(
    signals: np.ndarray, detrend: bool = False, standardize: bool | str | None = "zscore_sample"
) -> np.ndarray:
    """Optionally detrend, then z-score (ddof=1) or percent-signal-change each column.

    Parameters
    ----------
    signals : ndarray, shape (n_samples, n_features)
        Time series; never modified (a float copy is made).
    detrend : bool, default=False
        Remove the mean and linear trend first.
    standardize : {"zscore_sample", "psc", True, False, None}, default="zscore_sample"
        Booleans are deprecated aliases (FutureWarning).

    Returns
    -------
    ndarray
        Same shape. float32 stays float32; integers give float32 when detrended, float64
        otherwise (nilearn's rule).

    Differences from nilearn
    ------------------------
    float16 input is computed in float64 (nilearn computes in float16 when not detrending).
    """
    standardize = resolve_standardize(standardize)
    signals = np.asarray(signals)
    if detrend:
        signals = _detrend(signals, copy=True)
    elif standardize is None:
        return signals.copy()
    elif signals.dtype.kind in "biu" or signals.dtype.itemsize < 4:
        signals = signals.astype(np.float64)  # nilearn's z-score/psc arithmetic promotes ints
    else:
        signals = signals.copy()
    if standardize is None:
        return signals
    if signals.shape[0] == 1:
        _warn_one_sample()
        return signals
    if standardize == "zscore_sample":
        return zscore_columns(signals)
    return psc_columns(signals)
