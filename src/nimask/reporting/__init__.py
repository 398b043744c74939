"""Masker reports: one self-contained HTML page per fitted masker (``masker.generate_report()``).

``import nimask.reporting`` needs no matplotlib; building a report does (``nimask[plotting]``).
"""
from __future__ import annotations

from ._masker_report import masker_report
from ._record import ReportLog, reported
from ._report import Report

__all__ = ["Report", "ReportLog", "masker_report", "reported"]
