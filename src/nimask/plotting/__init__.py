"""Look at the data: ROI / atlas overlays on orthogonal slices, plain image slices, carpet plots.

matplotlib is an optional dependency (``pip install nimask[plotting]``): it is imported
inside the functions, so ``import nimask.plotting`` (and ``import nimask``) never need it.
Figures are built on matplotlib's object API (no pyplot, no global figure state) and drawn
with the Agg canvas, so they work headless.
"""
from __future__ import annotations

from ._carpet import plot_carpet
from ._display import SlicesDisplay
from ._slices import find_cut_coords
from ._views import plot_epi, plot_img, plot_roi

__all__ = ["SlicesDisplay", "find_cut_coords", "plot_carpet", "plot_epi", "plot_img", "plot_roi"]
