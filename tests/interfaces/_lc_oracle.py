"""Run nimask's and nilearn's ``load_confounds`` / ``load_confounds_strategy`` on the same
inputs and compare: the same columns in the same order, values within 1e-10, the same sample
masks (None where nilearn gives None), or an error of nilearn's type (and nimask's family)."""
from __future__ import annotations

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
from nilearn.interfaces import fmriprep as nl

from nimask.exceptions import NimaskError
from nimask.interfaces import fmriprep as nm

ATOL = 1e-10
PAIRS = {"load_confounds": (nm.load_confounds, nl.load_confounds),
         "load_confounds_strategy": (nm.load_confounds_strategy, nl.load_confounds_strategy)}


def call(fn, *args, **kwargs) -> tuple[Any, BaseException | None, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return fn(*args, **kwargs), None, list(caught)
        except Exception as exc:  # noqa: BLE001 - the comparison is the test
            return None, exc, list(caught)


def assert_same_confounds(mine: Any, ref: Any, where: str = "") -> None:
    if isinstance(ref, list):
        assert isinstance(mine, list) and len(mine) == len(ref), (where, type(mine), mine)
        for i, (a, b) in enumerate(zip(mine, ref)):
            assert_same_confounds(a, b, f"{where}[{i}]")
        return
    if ref is None:
        assert mine is None, (where, mine)
        return
    assert isinstance(mine, pd.DataFrame), (where, type(mine))
    assert [str(c) for c in mine.columns] == [str(c) for c in ref.columns], where
    assert mine.shape == ref.shape, (where, mine.shape, ref.shape)
    assert list(mine.index) == list(ref.index), where
    a, b = mine.to_numpy(dtype=np.float64), ref.to_numpy(dtype=np.float64)
    np.testing.assert_allclose(a, b, atol=ATOL, rtol=0, equal_nan=True, err_msg=where)
    for col in range(ref.shape[1]):  # integer columns stay integers (demean=False)
        assert mine.iloc[:, col].dtype.kind == ref.iloc[:, col].dtype.kind, (where, ref.columns[col])


def assert_same_masks(mine: Any, ref: Any, where: str = "") -> None:
    if isinstance(ref, list):
        assert isinstance(mine, list) and len(mine) == len(ref), (where, mine)
        for i, (a, b) in enumerate(zip(mine, ref)):
            assert_same_masks(a, b, f"{where}[{i}]")
        return
    if ref is None:
        assert mine is None, (where, mine)
        return
    assert isinstance(mine, np.ndarray) and mine.dtype.kind == "i", (where, mine)
    np.testing.assert_array_equal(mine, ref, err_msg=where)


def nilearn_wording(exc: BaseException) -> list[str]:
    """The stable parts of nilearn's message: the pieces of its first line around the list
    reprs (whose order may vary), before any table repr."""
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    first = re.split(r"Index\(| {3,}\S", text.split("\n")[0])[0]
    return [piece.strip() for piece in re.split(r"\[[^\]]*\]", first) if piece.strip()]


def compare(function: str, *args, warnings_too: bool = True, **kwargs) -> Any:
    """Call both implementations; assert the same result or the same kind of error. Returns
    nilearn's result (or its exception)."""
    mine_fn, ref_fn = PAIRS[function]
    ref, ref_exc, ref_warn = call(ref_fn, *args, **kwargs)
    mine, mine_exc, mine_warn = call(mine_fn, *args, **kwargs)
    where = f"{function}({args}, {kwargs})"
    if ref_exc is not None:
        assert mine_exc is not None, f"{where}: nilearn raised {ref_exc!r}, nimask returned {mine}"
        assert isinstance(mine_exc, type(ref_exc)), f"{where}: {mine_exc!r} is not a {type(ref_exc).__name__}"
        assert isinstance(mine_exc, NimaskError), f"{where}: {mine_exc!r} is not a NimaskError"
        if not isinstance(ref_exc, (TypeError, AttributeError)):  # those are incidental in nilearn
            for wording in nilearn_wording(ref_exc):
                assert wording in str(mine_exc), f"{where}: {str(mine_exc)!r} lacks nilearn's {wording!r}"
        return ref_exc
    assert mine_exc is None, f"{where}: nilearn returned, nimask raised {mine_exc!r}"
    assert_same_confounds(mine[0], ref[0], where)
    assert_same_masks(mine[1], ref[1], where)
    if warnings_too:
        assert_same_warnings(mine_warn, ref_warn, where)
    return ref


def assert_same_warnings(mine: list, ref: list, where: str) -> None:
    """Each nilearn warning has a nimask one of a subclass of its category, holding its text
    (nimask may add context)."""
    assert len(mine) == len(ref), (where, [str(w.message) for w in mine], [str(w.message) for w in ref])
    for a, b in zip(mine, ref):
        assert issubclass(a.category, b.category), (where, a.category, b.category)
        assert str(b.message) in str(a.message), (where, str(a.message), str(b.message))
