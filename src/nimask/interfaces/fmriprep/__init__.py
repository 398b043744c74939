"""Denoising confounds of fMRIPrep runs (nilearn.interfaces.fmriprep equivalent).

:func:`load_confounds` picks groups of columns (motion, white matter and CSF, global signal,
CompCor, ICA-AROMA, TEDANA, cosine drifts) from the confounds table fMRIPrep writes next to a
preprocessed image, and gives the volumes to keep (non-steady-state volumes, scrubbing).
:func:`load_confounds_strategy` does the same from a named preset (``"simple"``,
``"scrubbing"``, ``"compcor"``, ``"ica_aroma"``). Both return what nilearn 0.14.1 returns
(same columns in the same order, same values, same sample masks), ready for the
``confounds=`` and ``sample_mask=`` arguments of the maskers.
"""
from __future__ import annotations

from ._load import load_confounds
from ._strategy import load_confounds_strategy

__all__ = ["load_confounds", "load_confounds_strategy"]
