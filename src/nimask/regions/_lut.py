"""Look-up tables of labels atlases: BIDS ``index``/``name`` tables, nilearn's ``lut_``, region names."""
from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from .._warnings import find_stack_level
from ..exceptions import AtlasError, AtlasFileNotFoundError, NimaskDataWarning

__all__ = ["read_lut", "build_lut", "region_names", "all_region_ids"]


def read_lut(lut: Any) -> Any:
    """A BIDS-style look-up table (``index`` and ``name`` columns) as a DataFrame.

    ``lut`` is a DataFrame or the path of a delimited text file (tab, comma, semicolon or
    whitespace, sniffed from the first line).
    """
    import pandas as pd

    if isinstance(lut, pd.DataFrame):
        table = lut.copy()
        source = "lut"
    elif isinstance(lut, (str, os.PathLike)):
        path = os.path.expanduser(os.fspath(lut))
        if not os.path.isfile(path):
            raise AtlasFileNotFoundError(f"'lut': the look-up table file {path!r} does not exist (No such file or "
                                         f"directory).", param="lut", path=path)
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
        sep = next((s for s in ("\t", ",", ";") if s in first), r"\s+")
        table = pd.read_csv(path, sep=sep, engine="python")
        source = repr(path)
    else:
        raise TypeError(f"'lut' must be a pandas DataFrame or the path of a TSV file; got {type(lut).__name__}.")
    missing = [c for c in ("index", "name") if c not in table.columns]
    if missing:
        raise AtlasError(
            f"'lut' ({source}) must have the columns 'index' and 'name'; missing {missing}, found "
            f"{list(table.columns)}.",
            param="lut", expected=["index", "name"], found=list(table.columns),
        )
    return table


def build_lut(present: np.ndarray, background_label: Any, *, labels: Any = None, lut: Any = None,
              warn_missing: bool = True) -> Any:
    """nilearn's ``lut_`` (spec §4.2): one row per present label value, sorted by index.

    Parameters
    ----------
    present : ndarray
        Sorted unique label values of the atlas (background included when present).
    background_label : number
    labels : list of str or None
        Names matched to ``present`` ("Background" inserted at the background's place).
    lut : DataFrame or path or None
        A table with ``index`` and ``name`` columns.
    """
    import pandas as pd

    has_bg = bool(np.any(present == background_label))
    if lut is not None:
        table = read_lut(lut)
    elif labels is not None:
        names = list(labels)
        if "Background" not in names and has_bg:
            names.insert(int(np.searchsorted(present, background_label)), "Background")
        if len(names) > present.size:
            warnings.warn(
                f"Too many names for the indices. Dropping excess names values. The labels image has "
                f"{present.size} label values (background included) for {len(names)} names; the last "
                f"{len(names) - present.size} names are dropped.",
                UserWarning, stacklevel=find_stack_level(),
            )
            names = names[: present.size]
        elif len(names) < present.size:
            warnings.warn(
                f"Too many indices for the names. Padding 'names' with 'unknown'. The labels image has "
                f"{present.size} label values (background included) for {len(names)} names; the values "
                f"{present[len(names):].tolist()} are named 'unknown'.",
                UserWarning, stacklevel=find_stack_level(),
            )
            names = names + ["unknown"] * (present.size - len(names))
        table = pd.DataFrame({"index": present, "name": names})
    else:
        table = pd.DataFrame({"index": present, "name": [str(v) for v in present.tolist()]})
    table = table.reset_index(drop=True)
    is_bg = table["index"].to_numpy() == background_label
    if is_bg.any():
        first = int(np.flatnonzero(is_bg)[0])
        table.loc[first, "name"] = "Background"
        table = pd.concat([table.iloc[[first]], table.drop(index=first)]).reset_index(drop=True)
    else:
        row = {c: np.nan for c in table.columns}
        row.update({"index": background_label, "name": "Background"})
        if "color" in table.columns:
            row["color"] = "FFFFFF"
        table = pd.concat([pd.DataFrame([row]), table]).reset_index(drop=True)
    index = table["index"].to_numpy()
    table = table[np.isin(index, present)]
    absent = present[~np.isin(present, table["index"].to_numpy())]
    if absent.size:
        if lut is not None and warn_missing:
            warnings.warn(
                f"'lut' has no row for the label values {absent.tolist()} of labels_img; they are named "
                f"'unknown'.",
                NimaskDataWarning, stacklevel=find_stack_level(),
            )
        extra = pd.DataFrame({"index": absent, "name": ["unknown"] * absent.size})
        table = pd.concat([table, extra])
    table = table.sort_values("index", kind="stable").reset_index(drop=True)
    values = table["index"].to_numpy()
    if values.dtype.kind == "f" and np.all(values == np.round(values)) and present.dtype.kind in "iu":
        table["index"] = values.astype(np.int64)
    return table


def region_names(ids: np.ndarray, lut: Any, extra: Any = None) -> list[str]:
    """Names of the label values ``ids`` from a ``lut_`` table (then ``extra``'s rows; else "unknown")."""
    names = dict(zip(lut["index"].tolist(), lut["name"].tolist()))
    if extra is not None:
        for i, n in zip(extra["index"].tolist(), extra["name"].tolist()):
            names.setdefault(i, n)
    return [str(names.get(i, "unknown")) for i in np.asarray(ids).tolist()]


def all_region_ids(lut: Any, background_label: Any, extra: Any = None) -> np.ndarray:
    """Every region label of a ``lut_`` table and of the user's table ``extra``, sorted."""
    index = lut["index"].to_numpy()
    ids = index[index != background_label]
    if extra is not None:
        user = extra["index"].to_numpy()
        user = user[user != background_label]
        if user.size:
            ids = np.union1d(ids, user.astype(ids.dtype) if ids.dtype.kind in "iu" else user)
    return np.sort(ids)
