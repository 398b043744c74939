"""A masker's report state under the private names nilearn's maskers use.

nilearn's report checks (run by ``conformance/run.py``) and tools written against nilearn's
maskers read three private members: ``_report_content`` (a dict with the report's title and
description and whether reports were on at fit), ``_has_report_data()`` and
``_report_warnings``. nimask keeps its own record (``_report_log``, a
:class:`~nimask.reporting.ReportLog`); these functions read it the way nilearn's members
answer. Nothing is stored on the masker (``generate_report`` leaves it unchanged): each call reads
its current state, and the title and warnings of its last report are kept here, by weak
reference.
"""
from __future__ import annotations

import weakref
from typing import Any

from ._record import ReportLog

__all__ = ["report_content", "has_report_data", "report_warnings", "remember_report"]

_LAST: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def remember_report(masker: Any, title: str, notes: list[str]) -> None:
    """Keep the title and the warnings of the masker's last report (forgotten with the masker)."""
    _LAST[masker] = (title, list(notes), id(masker.__dict__.get("_report_log")))


def has_report_data(masker: Any) -> bool:
    """Whether the masker was fitted with ``reports=True`` (so its report has figures)."""
    return masker.__sklearn_is_fitted__() and isinstance(masker.__dict__.get("_report_log"), ReportLog)


def report_warnings(masker: Any) -> list[str]:
    """The warnings the report raised about itself (why it shows less than usual), as nilearn's
    list: those of the last report since the last fit (a new fit empties it).

    The warnings fit and transform raised about the data are the report's ``Warnings`` section."""
    title, notes, fit_record = _LAST.get(masker, (None, [], None))
    return sorted(set(notes)) if fit_record == id(masker.__dict__.get("_report_log")) else []


def report_content(masker: Any) -> dict:
    """The report's title, description and, once fitted, whether reports were on at fit."""
    doc = (type(masker).__doc__ or type(masker).__name__).strip().splitlines()[0]
    content = {"title": _LAST.get(masker, (type(masker).__name__,))[0], "description": doc,
               "warning_messages": report_warnings(masker)}
    if masker.__sklearn_is_fitted__():
        content["reports_at_fit_time"] = has_report_data(masker)
    return content
