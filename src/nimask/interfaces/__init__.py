"""Readers of other tools' outputs (nilearn.interfaces equivalent).

* :mod:`nimask.interfaces.fmriprep`: ``load_confounds`` and ``load_confounds_strategy``, the
  denoising confounds and sample masks of fMRIPrep runs.
"""
from __future__ import annotations

from . import fmriprep

__all__ = ["fmriprep"]
