"""``plot_roi``, ``plot_img`` and ``plot_epi``: slices of a 3D image, with an optional overlay."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ._display import SlicesDisplay, draw, label_colors, require_matplotlib
from ._slices import as_3d, display_grid, resolve_cuts, sample_nearest

__all__ = ["plot_roi", "plot_img", "plot_epi", "robust_range"]

_MAX_LABELS = 5000
_VIEW_TYPES = ("filled", "contours")


def robust_range(data: np.ndarray) -> tuple[float, float]:
    """(2nd, 99.8th) percentiles of the nonzero finite values (0, 1 when there are none)."""
    values = data[np.isfinite(data) & (data != 0)]
    if values.size == 0:
        return 0.0, 1.0
    if values.size > 200_000:  # a strided sample gives the same percentiles to display precision
        values = values[:: values.size // 200_000]
    lo, hi = np.percentile(values, [2.0, 99.8])
    return float(lo), float(hi) if hi > lo else float(lo) + 1.0


def _background_layer(bg_data: np.ndarray, vmin, vmax, cmap="gray") -> dict:
    lo, hi = robust_range(bg_data)
    return {"kind": "image", "data": bg_data, "cmap": cmap, "vmin": lo if vmin is None else vmin,
            "vmax": hi if vmax is None else vmax}


def _finish(display: SlicesDisplay, output_file) -> SlicesDisplay:
    if output_file is not None:
        display.savefig(output_file)
    return display


def plot_roi(
    roi_img: Any,
    bg_img: Any = None,
    cut_coords: Any = None,
    output_file: str | os.PathLike | None = None,
    display_mode: str = "ortho",
    title: str | None = None,
    cmap: Any = None,
    alpha: float = 0.7,
    view_type: str = "filled",
    bg_vmin: float | None = None,
    bg_vmax: float | None = None,
    annotate: bool = True,
    figure_width: float | None = None,
) -> SlicesDisplay:
    """Draw a mask or a labels atlas as a coloured overlay on slices of a background image.

    Parameters
    ----------
    roi_img : 3D niimg-like
        A binary mask (one colour) or integer labels (one colour per label); 0 is not drawn.
    bg_img : 3D niimg-like, optional
        The background (e.g. the mean EPI image); the slices follow its grid, and the ROI is
        sampled on it by nearest voxel. None: the ROI alone on black, on its own grid.
    cut_coords : None, int, sequence or dict
        World coordinates (mm) of the slices; an int is a number of slices; None: the
        centre of mass of the ROI (ortho) or slices spread over its extent.
    output_file : str or Path, optional
        Also save the figure there (.png, .svg, .pdf, .jpg).
    display_mode : {"ortho", "x", "y", "z", "mosaic"}
        Three orthogonal slices, a row of sagittal / coronal / axial slices, or a montage
        (one row per axis).
    title : str, optional
    cmap : matplotlib colormap or name, optional
        Colours of the labels (default: red for a mask, distinct hues for labels).
    alpha : float, default=0.7
        Opacity of the filled overlay.
    view_type : {"filled", "contours"}
    bg_vmin, bg_vmax : float, optional
        Background display range (default: its 2nd and 99.8th percentiles).
    annotate : bool, default=True
        Write the slice coordinates and L/R on the panels.
    figure_width : float, optional
        In inches (the height follows the slices' proportions).

    Returns
    -------
    SlicesDisplay
        The figure (``savefig``, ``to_bytes``, ``close``) and the cut coordinates used.
    """
    require_matplotlib()
    if view_type not in _VIEW_TYPES:
        raise ParameterError(f"'view_type' must be one of {_VIEW_TYPES}; got {view_type!r}.",
                             param="view_type", expected=_VIEW_TYPES, found=view_type)
    if not (isinstance(alpha, (int, float, np.number)) and 0 <= alpha <= 1):
        raise ParameterError(f"'alpha' must be a number in [0, 1]; got {alpha!r}.", param="alpha", found=alpha)
    roi = as_3d(roi_img, "roi_img")
    roi_data = np.asanyarray(roi.dataobj)
    if roi_data.dtype.kind == "f":
        roi_data = np.where(np.isfinite(roi_data), roi_data, 0)
    layers = []
    if bg_img is not None:
        grid, bg_data = display_grid(as_3d(bg_img, "bg_img"))
        layers.append(_background_layer(bg_data, bg_vmin, bg_vmax))
        roi_on_grid = sample_nearest(roi_data, roi.affine, grid)
    else:
        grid, roi_on_grid = display_grid(roi)
    values = np.unique(roi_on_grid)
    values = values[values != 0]
    if values.size > _MAX_LABELS:
        raise ParameterError(
            f"'roi_img' has {values.size} distinct nonzero values on the display grid; plot_roi draws masks and "
            f"labels (at most {_MAX_LABELS}). Use plot_img for a continuous image.",
            param="roi_img", found=int(values.size),
        )
    colors = label_colors(max(values.size, 1), cmap)
    if view_type == "filled":
        from matplotlib.colors import ListedColormap

        index = np.zeros(roi_on_grid.shape, dtype=np.int32)
        nz = roi_on_grid != 0
        index[nz] = np.searchsorted(values, roi_on_grid[nz]) + 1
        layers.append({"kind": "labels", "data": index, "n": max(values.size, 1), "alpha": alpha,
                       "cmap": ListedColormap(colors)})
    else:
        layers.append({"kind": "contours", "data": roi_on_grid, "values": values.tolist(),
                       "colors": [tuple(c) for c in colors]})
    cuts = resolve_cuts(grid, roi_on_grid != 0, None, display_mode, cut_coords)
    display = draw(grid, cuts, display_mode, layers, title=title, annotate=annotate, figure_width=figure_width)
    display.label_values = values
    display.label_colors = colors
    return _finish(display, output_file)


def plot_img(
    img: Any,
    bg_img: Any = None,
    cut_coords: Any = None,
    output_file: str | os.PathLike | None = None,
    display_mode: str = "ortho",
    title: str | None = None,
    cmap: Any = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    threshold: float | None = None,
    alpha: float | None = None,
    colorbar: bool = False,
    annotate: bool = True,
    figure_width: float | None = None,
) -> SlicesDisplay:
    """Slices of a 3D image, alone or over a background image.

    Parameters
    ----------
    img : 3D niimg-like
        A 4D image raises a ``DimensionError`` (plot one volume or the mean).
    bg_img : 3D niimg-like, optional
        Background; ``img`` is then sampled on its grid (nearest voxel) and drawn on top.
    cut_coords, output_file, display_mode, title, annotate, figure_width
        As :func:`plot_roi`.
    cmap : colormap or name, default="gray"
    vmin, vmax : float, optional
        Display range (default: the data's finite min and max).
    threshold : float, optional
        Values with ``|v| <= threshold`` are not drawn (and the cuts centre on the others).
    alpha : float, optional
        Opacity of ``img`` (default: opaque, 0.8 over a background).
    colorbar : bool, default=False
    """
    require_matplotlib()
    image = as_3d(img, "img")
    layers = []
    if bg_img is not None:
        grid, bg_data = display_grid(as_3d(bg_img, "bg_img"))
        layers.append(_background_layer(bg_data, None, None))
        data = sample_nearest(np.nan_to_num(np.asanyarray(image.dataobj, dtype=np.float64)), image.affine, grid)
        alpha = 0.8 if alpha is None else alpha
    else:
        grid, data = display_grid(image)
    data = data.astype(np.float64, copy=False)
    finite = data[np.isfinite(data)]
    lo = float(finite.min()) if vmin is None and finite.size else (0.0 if vmin is None else vmin)
    hi = float(finite.max()) if vmax is None and finite.size else (1.0 if vmax is None else vmax)
    if threshold is not None:
        if not isinstance(threshold, (int, float, np.number)) or threshold < 0:
            raise ParameterError(f"'threshold' must be a number >= 0 or None; got {threshold!r}.",
                                 param="threshold", found=threshold)
        support = np.abs(data) > threshold
        hide = lambda plane: np.abs(plane) <= threshold  # noqa: E731
    else:
        support = data != 0
        hide = None
    layers.append({"kind": "image", "data": data, "cmap": cmap, "vmin": lo, "vmax": hi, "alpha": alpha,
                   "hide": hide, "colorbar": colorbar})
    cuts = resolve_cuts(grid, support, np.where(support, data, 0), display_mode, cut_coords)
    display = draw(grid, cuts, display_mode, layers, title=title, annotate=annotate, figure_width=figure_width,
                   colorbar={} if colorbar else None)
    return _finish(display, output_file)


def plot_epi(epi_img: Any, cut_coords: Any = None, output_file: str | os.PathLike | None = None,
             display_mode: str = "ortho", title: str | None = None,
             cmap: Any = "gray", vmin: float | None = None, vmax: float | None = None, **kwargs) -> SlicesDisplay:
    """Slices of an EPI volume (e.g. the mean image) in grey, with a robust display range.

    The default range is the 2nd to 99.8th percentile of the nonzero values, so a few bright
    voxels do not wash the image out. Other keywords go to :func:`plot_img`.
    """
    data = np.asanyarray(as_3d(epi_img, "epi_img").dataobj)
    lo, hi = robust_range(data.astype(np.float64, copy=False))
    return plot_img(epi_img, cut_coords=cut_coords, output_file=output_file, display_mode=display_mode, title=title,
                    cmap=cmap, vmin=lo if vmin is None else vmin, vmax=hi if vmax is None else vmax, **kwargs)
