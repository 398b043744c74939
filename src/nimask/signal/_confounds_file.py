"""Confounds text files (.tsv, .csv, .txt): what is read as a regressor, and what is refused.

One reader for the library (``confounds=path`` in ``signal.clean`` and every masker) and for
the batch command (fMRIPrep ``desc-confounds_timeseries.tsv``). The rules (catalogue §2.14):

* **Text**: UTF-8, a byte-order mark is dropped; UTF-16 or other bytes are refused.
  Blank lines and lines starting with ``#`` are skipped (as ``numpy.genfromtxt``).
* **Separator**: tab, comma or semicolon, the first of these the first line holds outside
  double quotes, else runs of whitespace. Fields may be double-quoted (a quoted number is a
  number, as pandas reads it). Mixed separators are refused, naming the column whose field
  holds the other separator (tab, comma or semicolon; for whitespace files comma or
  semicolon): a first line with two of them outside quotes, a row whose number of fields
  differs from the others' or the header's, a value that is not a number (decimal commas in a
  semicolon file).
* **Header**: the first line is a header when one of its fields is neither a number nor an
  NA token (``n/a``, ``nan``, empty, ...), so fMRIPrep's ``n/a`` first data row is data; and
  when it is pandas' header of a frame without column names (``,0,1,2``: an empty field,
  then ``0 .. k-2``). A first line that is exactly the integers ``0 .. k-1`` while other rows
  hold non-integers (pandas' ``to_csv(index=False)`` of such a frame) is refused as
  ambiguous. Without a header the columns are positional regressors, as nilearn reads them
  (``numpy.savetxt`` files).
* **Columns**: every column used must be a named confound. Refused, naming the file and the
  column: a column without a name (empty, or pandas' ``Unnamed: N``; also the leading column
  of rows with one field more than the header), a column named ``index`` or ``level_0``
  (pandas' names of a written row index), a name given to more than one column, a column
  with no value at all (a trailing separator), a non-numeric value (strings, dates), and a
  column written as the integers ``0 .. T-1`` or ``1 .. T`` (T >= 3 rows: a row index, by any
  name or none; a linear trend is ``detrend=True``).
* **The one column dropped**: pandas' default ``DataFrame.to_csv(path)`` writes the frame's
  ``RangeIndex`` as a first column with an empty header field holding the integers
  ``0 .. T-1``. That column, and only that one, is dropped (nilearn regresses it out as a
  linear trend; nilearn's own estimator checks write confounds this way).
"""
from __future__ import annotations

import csv
import itertools
import os
import re
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..exceptions import ConfoundsError, ConfoundsNotFoundError

__all__ = ["ConfoundsTable", "parse_confounds_file", "read_confounds_file"]

NA_TOKENS = frozenset({"", "n/a", "na", "nan", "-nan", "+nan", "null", "none"})
_SEPARATORS = ("\t", ",", ";")
_SEPARATOR_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", None: "whitespace"}
_UNNAMED = re.compile(r"(?:Unnamed: \d+(?:_level_\d+)?)?")
_INDEX_NAMES = frozenset({"index", "level_0"})
MIN_INDEX_ROWS = 3  # a column of row numbers is recognised from 3 rows on


def parse_float(token: str) -> float:
    """A field as a float: NA tokens give NaN; anything else non-numeric raises ``ValueError``."""
    if token.lower() in NA_TOKENS:
        return np.nan
    return float(token)


def _is_number(token: str) -> bool:
    try:
        parse_float(token)
    except ValueError:
        return False
    return True


def _is_int(token: str) -> bool:
    return token.isdigit() or (token[:1] in ("+", "-") and token[1:].isdigit())


def _unquote(token: str) -> str:
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "\"'":
        token = token[1:-1].strip()
    return token


@dataclass
class ConfoundsTable:
    """A confounds file as read: names (``None`` without a header row) and the values of its columns.

    ``data[i, j]`` is the value of column ``j`` on data row ``i`` (NaN for an NA token and for a
    non-numeric field), ``line_numbers[i]`` the row's line in the file (1-based). Per column:
    ``bad[j]`` is the first non-numeric field ``(line, field)`` or None, ``filled[j]`` whether
    any field is non-empty, ``integral[j]`` whether every field is written as an integer.
    :meth:`values` and :meth:`check` apply the column rules of the module docstring.
    """

    path: str
    names: list[str] | None
    data: np.ndarray
    line_numbers: np.ndarray
    separator: str | None
    bad: list[tuple[int, str] | None]
    filled: list[bool]
    integral: list[bool]

    @property
    def n_rows(self) -> int:
        return int(self.data.shape[0])

    @property
    def n_columns(self) -> int:
        return int(self.data.shape[1])

    def __len__(self) -> int:
        return self.n_rows

    def label(self, j: int) -> str:
        """How a message names column ``j``."""
        if self.names is None:
            return f"column {j + 1} (the file has no header row)"
        name = self.names[j]
        if name == "":
            return f"column {j + 1} (empty header field)"
        if _UNNAMED.fullmatch(name):
            return f"column {j + 1} ({name!r}: pandas' name for a column without a name)"
        return f"column {name!r}"

    def _error(self, j: int, what: str, found=None) -> ConfoundsError:
        return ConfoundsError(f"Confounds file {self.path!r}: {self.label(j)} {what}", path=self.path,
                              param="confounds", found=self.label(j) if found is None else found)

    def row_numbers_start(self, j: int) -> int | None:
        """0 or 1 when column ``j`` is the integers ``start .. start + T - 1`` (T >= 3), written as integers."""
        if not self.integral[j] or self.n_rows < MIN_INDEX_ROWS:
            return None
        return next((start for start in (0, 1) if np.array_equal(
            self.data[:, j], np.arange(start, start + self.n_rows, dtype=np.float64))), None)

    def check(self, indices=None) -> None:
        """Raise a :class:`ConfoundsError` naming the file and the column unless every column of
        ``indices`` (default: all) is a named (or, without a header, positional) numeric confound."""
        indices = range(self.n_columns) if indices is None else indices
        for j in indices:
            start = self.row_numbers_start(j)
            row_numbers = f"the row numbers {start} .. {start + self.n_rows - 1}" if start is not None else ""
            if self.names is not None:
                name = self.names[j]
                if _UNNAMED.fullmatch(name):
                    if not self.filled[j]:
                        why = "has no name and no value on any row (a trailing separator?)"
                    elif row_numbers:
                        why = (f"has no name and holds {row_numbers}: a row index (pandas writes one unless "
                               f"to_csv(index=False)), not a confound")
                    else:
                        why = "has no name"
                    raise self._error(j, f"{why}. An unnamed column is never used as a regressor: name it in "
                                         f"the header, or remove it.")
                if name.lower() in _INDEX_NAMES:
                    raise self._error(j, "is a row index (the name pandas gives a written index), not a confound: "
                                         "remove it (e.g. DataFrame.to_csv(index=False)).")
                same = [k + 1 for k, other in enumerate(self.names) if other == name]
                if len(same) > 1:
                    raise self._error(j, f"is the name of {len(same)} columns (columns {same}): each confound "
                                         f"must have its own name.", found=name)
            if not self.filled[j]:
                raise self._error(j, "has no value on any row (a trailing separator?).")
            self.values(j)
            if row_numbers:
                raise self._error(j, f"holds {row_numbers} written as integers: a row index, not a confound "
                                     f"(remove it, e.g. DataFrame.to_csv(index=False); a linear trend is removed "
                                     f"with detrend=True).")

    def values(self, j: int) -> np.ndarray:
        """Column ``j`` as float64 (NA tokens -> NaN); a non-numeric field is a :class:`ConfoundsError`."""
        if self.bad[j] is not None:
            line, token = self.bad[j]
            foreign = _foreign_separator(token, self.separator)
            hint = ""
            if foreign is not None:
                hint = (f" The file mixes separators: its first line is {_SEPARATOR_NAMES[self.separator]}-"
                        f"separated and this field holds a {_SEPARATOR_NAMES[foreign]}"
                        + (" (decimal commas?)" if foreign == "," and self.separator == ";" else "") + ".")
            raise self._error(j, f"is not numeric (line {line}: {token!r}).{hint}", found=token)
        return self.data[:, j].copy()

    def index_of(self, name: str) -> int | None:
        """Position of the column named ``name`` (the first one), or None."""
        if self.names is None or name not in self.names:
            return None
        return self.names.index(name)

    def _drop_first_column(self) -> None:
        self.names = None if self.names is None else self.names[1:]
        self.data = self.data[:, 1:]
        self.bad, self.filled, self.integral = self.bad[1:], self.filled[1:], self.integral[1:]


def _foreign_separator(text: str, separator: str | None) -> str | None:
    foreign = [s for s in _SEPARATORS if s != separator and not (separator is None and s == "\t")]
    return next((s for s in foreign if s in text), None)


def _mixed_column(fields: list[str], names: list[str] | None, separator: str | None) -> str | None:
    """'column X holds a comma' for the first field holding another separator than the file's, or None."""
    for j, field in enumerate(fields):
        foreign = _foreign_separator(field, separator)
        if foreign is not None:
            label = f"column {names[j]!r}" if names is not None and j < len(names) else f"column {j + 1}"
            return (f"{label} holds a {_SEPARATOR_NAMES[foreign]} ({field!r}) in a "
                    f"{_SEPARATOR_NAMES[separator]}-separated file")
    return None


def _content_lines(path: Path):
    """(line number, line) of the lines that are neither blank nor ``#`` comments, decoded as UTF-8."""
    with open(path, encoding="utf-8-sig") as fh:
        for n, line in enumerate(fh, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                yield n, line.rstrip("\r\n")


def _split(line: str, separator: str | None) -> list[str]:
    if separator is None:
        fields = line.split()
    elif '"' in line:
        fields = next(csv.reader([line], delimiter=separator, quotechar='"'))
    else:
        fields = line.split(separator)
    if '"' in line or "'" in line:
        return [_unquote(t) for t in fields]
    return [t.strip() for t in fields]


def _outside_quotes(line: str) -> str:
    return re.sub(r'"[^"]*"', "", line)


def parse_confounds_file(path: str | os.PathLike) -> ConfoundsTable:
    """Read the layout of a confounds file (separator, header, columns) without judging its columns.

    Raises :class:`~nimask.exceptions.ConfoundsNotFoundError` when it does not exist and
    :class:`~nimask.exceptions.ConfoundsError` for an empty file, a file that is not UTF-8,
    mixed separators, rows of different lengths, a header that does not match the rows, and
    an ambiguous first line. Column checks are :meth:`ConfoundsTable.check`. The file is read
    line by line into one float64 array (no per-field Python objects are kept).
    """
    path = Path(path)
    if not path.exists():
        raise ConfoundsNotFoundError(f"Confounds file {str(path)!r} not found.", path=path, param="confounds")
    try:
        return _parse(path)
    except UnicodeDecodeError as exc:
        with open(path, "rb") as fh:
            utf16 = fh.read(2) in (b"\xff\xfe", b"\xfe\xff")
        what = "UTF-16 text (save it as UTF-8)" if utf16 else f"not UTF-8 text ({exc.reason})"
        raise ConfoundsError(f"Confounds file {str(path)!r} is {what}: expected a UTF-8 .tsv/.csv/.txt file.",
                             path=path, param="confounds", found="not UTF-8") from None


def _parse(path: Path) -> ConfoundsTable:
    where = f"Confounds file {str(path)!r}"
    lines = _content_lines(path)
    first_n, first = next(lines, (None, None))
    if first is None:
        raise ConfoundsError(f"{where} is empty: expected one row per time point.",
                             path=path, param="confounds", found="empty file")
    present = [s for s in _SEPARATORS if s in _outside_quotes(first)]
    separator = present[0] if present else None
    fields = _split(first, separator)
    if len(present) > 1:
        raise ConfoundsError(
            f"{where}: its first line (line {first_n}) mixes separators "
            f"({' and '.join(_SEPARATOR_NAMES[s] for s in present)}): {_mixed_column(fields, None, separator)}. "
            f"Expected one separator: tab, comma or semicolon.",
            path=path, param="confounds", found=[_SEPARATOR_NAMES[s] for s in present],
        )
    pandas_header = (len(fields) > 1 and fields[0] == ""
                     and fields[1:] == [str(i) for i in range(len(fields) - 1)])
    names = fields if pandas_header or not all(_is_number(f) for f in fields) else None
    rows = ((n, _split(line, separator)) for n, line in lines)
    if names is None:
        rows = itertools.chain([(first_n, fields)], rows)
    values, numbers = array("d"), array("q")
    width = None
    for n, row in rows:
        if width is None:
            width, first_row = len(row), (n, row)
            bad, filled, integral = [None] * width, [False] * width, [True] * width
            if names is not None and len(names) != width:
                _header_mismatch(where, path, names, n, row, separator)
        elif len(row) != width:
            mixed = _mixed_column(row, names, separator)
            hint = f" The file mixes separators: on line {n}, {mixed}." if mixed else ""
            raise ConfoundsError(
                f"{where}: rows have different numbers of columns {sorted({width, len(row)})} (line "
                f"{first_row[0]}: {width}, line {n}: {len(row)}).{hint}",
                path=path, param="confounds", found=sorted({width, len(row)}),
            )
        for j, token in enumerate(row):
            if token:
                filled[j] = True
            try:
                value = float(token)
            except ValueError:
                value = np.nan
                integral[j] = False
                if bad[j] is None and token.lower() not in NA_TOKENS:
                    bad[j] = (n, token)
            else:
                if integral[j] and not _is_int(token):
                    integral[j] = False
            values.append(value)
        numbers.append(n)
    if width is None:
        raise ConfoundsError(f"{where} has a header but no data rows.", path=path, param="confounds")
    if names is None and width >= 2 and [_is_int(f) and int(f) for f in fields] == list(range(width)) \
            and not all(integral):
        raise ConfoundsError(
            f"{where}: its first line {first.strip()!r} is the integers 0 .. {width - 1}, the column labels "
            f"pandas writes for a frame without column names (DataFrame.to_csv(index=False)), while the "
            f"other rows hold non-integer values: it is neither clearly a header nor a time point. Name "
            f"the columns in a header, or write the file without one (header=False).",
            path=path, param="confounds", found=first.strip(),
        )
    data = np.frombuffer(values, dtype=np.float64).reshape(len(numbers), width)
    table = ConfoundsTable(str(path), names, data, np.frombuffer(numbers, dtype=np.int64), separator,
                           bad, filled, integral)
    if names is not None and width > 1 and names[0] == "" and table.row_numbers_start(0) == 0:
        table._drop_first_column()  # pandas' default RangeIndex column (see the module docstring)
    return table


def _header_mismatch(where, path, names, n, row, separator):
    mixed = _mixed_column(row, names, separator)
    width = len(row)
    if mixed:
        detail = f"the file mixes separators: on line {n}, {mixed}"
    elif len(names) < width:
        detail = ("column 1 has no name (pandas writes its row index so with index_label=False or a "
                  "space separator); an unnamed column is never used as a regressor")
    else:
        detail = f"column {width + 1} ({names[width]!r}) has no values"
    raise ConfoundsError(
        f"{where}: the header names {len(names)} column(s) and the rows have {width} field(s): {detail}.",
        path=path, param="confounds", found={"header": len(names), "rows": width},
    )


def read_confounds_file(path: str | os.PathLike) -> tuple[np.ndarray, list[str] | None]:
    """Read a confounds file; return (float64 array (T, k), column names or None without a header).

    Every column is checked (:meth:`ConfoundsTable.check`): an error names the file and the
    column that is not a named numeric confound. See the module docstring for the rules.
    """
    table = parse_confounds_file(path)
    table.check()
    return np.array(table.data, dtype=np.float64, order="C"), table.names
