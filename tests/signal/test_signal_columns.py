"""clean's private ``_quiet`` and clean_by_columns: warnings once, caller's filters untouched."""
from __future__ import annotations

import threading
import warnings

import numpy as np
import pytest

import nimask.signal._clean as clean_kernel
import nimask.signal._columns as columns
from nimask._threads import single_threaded_blas
from nimask.exceptions import NimaskWarning
from nimask.signal import clean

T = 40
RNG = np.random.default_rng(0)
SMALL = (RNG.standard_normal((T, 30)) * 10 + 50).astype(np.float32)
CONF = RNG.standard_normal((T, 3))
_NYQUIST = "too high to be handled by a digital filter"

WARNING_CASES = [  # each makes clean warn (nimask's own warnings)
    {"low_pass": 0.4, "t_r": 2.0},  # above Nyquist
    {"high_pass": -0.1, "low_pass": 0.1, "t_r": 2.0},
    {"confounds": CONF, "detrend": False, "standardize_confounds": False},
    {"filter": False, "low_pass": 0.1},
    {"filter": "cosine", "high_pass": 0.3, "low_pass": 0.1, "t_r": 2.0},
    {"standardize": True},
    {"sessions": np.repeat([0, 1], T // 2)},
]


def _warned(call) -> tuple[object, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [(w.category, str(w.message)) for w in caught]


@pytest.mark.parametrize("kwargs", WARNING_CASES, ids=range(len(WARNING_CASES)))
def test_quiet_clean_warns_nothing_and_gives_the_same_numbers(kwargs):
    loud, loud_warnings = _warned(lambda: clean(SMALL, **kwargs))
    quiet, quiet_warnings = _warned(lambda: clean(SMALL, **kwargs, _quiet=True))
    assert loud_warnings and not quiet_warnings
    np.testing.assert_array_equal(quiet, loud)
    _, again = _warned(lambda: clean(SMALL, **kwargs))  # the silence ended with the call
    assert again == loud_warnings


def test_quiet_is_local_to_its_thread(monkeypatch):
    """A quiet call in one thread does not silence a concurrent call in another."""
    inside, release = threading.Event(), threading.Event()
    original = clean_kernel._clean_run

    def blocking(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            inside.set()
            release.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(clean_kernel, "_clean_run", blocking)
    worker = threading.Thread(target=clean, args=(SMALL,), kwargs={"low_pass": 0.1, "t_r": 2.0, "_quiet": True})
    with warnings.catch_warnings():
        warnings.simplefilter("error", NimaskWarning)
        filters = list(warnings.filters)
        worker.start()
        try:
            assert inside.wait(10)  # the worker is inside its quiet call
            assert warnings.filters == filters
            with pytest.raises(NimaskWarning, match="too high"):
                clean(SMALL, low_pass=0.4, t_r=2.0)
        finally:
            release.set()
            worker.join(10)


@pytest.mark.parametrize("n_runs", [1, 2])
@pytest.mark.parametrize("cutoffs", [{"low_pass": 0.4}, {"high_pass": -0.1, "low_pass": 0.1}], ids=["low", "high"])
def test_cutoff_warnings_once_per_run_as_nilearn(cutoffs, n_runs):
    import nilearn.signal as nl_signal
    signals = np.vstack([SMALL, SMALL[::-1]])  # runs of 40 samples: longer than the band-pass padding
    runs = None if n_runs == 1 else np.repeat([0, 1], T)
    kwargs = {**cutoffs, "t_r": 2.0, "runs": runs, "standardize": "zscore_sample"}
    _, ours = _warned(lambda: clean(signals, **kwargs))
    _, theirs = _warned(lambda: nl_signal.clean(signals, **kwargs))
    assert [m for _, m in theirs if "frequency specified" in m]
    assert [m[:60] for _, m in ours] == [m[:60] for _, m in theirs]  # same warnings, same order


# ------------------------------------------------------------------------------ clean_by_columns
def _big() -> np.ndarray:
    """More than two default blocks of columns (2**21 elements // 40 rows = 52428 columns)."""
    step = columns._CLEAN_BLOCK_ELEMENTS // T
    return (np.random.default_rng(1).standard_normal((T, 2 * step + 1000)) * 10 + 50).astype(np.float32)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_clean_by_columns_warns_once_and_leaves_the_filters(n_threads, monkeypatch):
    monkeypatch.setattr(columns, "_MATRIX_PATH", False)  # the blocks of clean (the matrix path: test_clean_matrix_path)
    big = _big()
    kwargs = {"low_pass": 0.4, "t_r": 2.0, "detrend": True, "standardize": "zscore_sample"}  # Nyquist 0.25 Hz
    seen = []
    original = clean_kernel._clean_run

    def probe(signals, *args, **kw):
        seen.append((threading.current_thread(), warnings.filters, list(warnings.filters), signals.shape[1]))
        return original(signals, *args, **kw)

    # BLAS pinned to one thread for both calls: the threaded path pins it, and OpenBLAS's
    # threaded float32 gemv (the detrend projection) may differ in the last bit from one thread.
    with single_threaded_blas():
        expected, one_call = _warned(lambda: clean(big, **kwargs))
        assert [m for _, m in one_call if _NYQUIST in m]
        monkeypatch.setattr(clean_kernel, "_clean_run", probe)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            filters, contents = warnings.filters, list(warnings.filters)
            got = columns.clean_by_columns(big.copy(), n_threads=n_threads, **kwargs)
            assert warnings.filters is filters and warnings.filters == contents
    assert [(w.category, str(w.message)) for w in caught] == one_call  # the Nyquist warning once
    assert len(seen) == 3 and sum(n for *_, n in seen) == big.shape[1]  # three blocks
    assert all(during is filters and entries == contents for _, during, entries, _ in seen)
    assert any(t is not threading.main_thread() for t, *_ in seen) == (n_threads > 1)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)  # the same numbers, exactly


def test_clean_by_columns_error_filter_raises_from_the_first_block(monkeypatch):
    monkeypatch.setattr(columns, "_MATRIX_PATH", False)  # the blocks of clean (the matrix path: test_clean_matrix_path)
    big = _big()
    blocks = []
    original = clean_kernel._clean_run
    monkeypatch.setattr(clean_kernel, "_clean_run", lambda s, *a, **k: blocks.append(s.shape) or original(s, *a, **k))
    with warnings.catch_warnings():
        warnings.simplefilter("error", NimaskWarning)
        filters = list(warnings.filters)
        with pytest.raises(NimaskWarning, match=_NYQUIST):
            columns.clean_by_columns(big, low_pass=0.4, t_r=2.0)
        assert warnings.filters == filters
    assert blocks == [(T, columns._CLEAN_BLOCK_ELEMENTS // T)]  # raised from the first block, the others never ran
