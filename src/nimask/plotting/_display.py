"""The slices figure: panels laid out on a matplotlib Figure (object API, Agg canvas)."""
from __future__ import annotations

import colorsys
import io
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import ParameterError
from ._slices import AXES, DisplayGrid, slice_of

__all__ = ["FigureDisplay", "SlicesDisplay", "label_colors", "new_figure", "require_matplotlib"]

_FORMATS = ("png", "svg", "pdf", "jpg", "jpeg")


def require_matplotlib() -> None:
    """Raise an ImportError saying how to install matplotlib when it is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:  # exercised in a subprocess test
        raise ImportError(
            "nimask.plotting needs matplotlib: pip install 'nimask[plotting]' (or pip install matplotlib)."
        ) from exc


def new_figure(figsize, facecolor="black"):
    """A matplotlib Figure with its own Agg canvas (no pyplot: no global state, headless)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, facecolor=facecolor)
    FigureCanvasAgg(fig)
    return fig


def label_colors(n: int, cmap: Any = None) -> np.ndarray:
    """``n`` distinct RGB colours (golden-ratio hues), or ``n`` samples of a colormap."""
    if cmap is not None:
        import matplotlib

        if isinstance(cmap, str) and cmap not in matplotlib.colormaps:
            raise ParameterError(f"'cmap': {cmap!r} is not a matplotlib colormap name.", param="cmap", found=cmap)
        cm = matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap
        return np.asarray(cm(np.linspace(0.1, 0.9, n) if n > 1 else [0.6]))[:, :3]
    if n == 1:
        return np.array([[1.0, 0.0, 0.0]])
    hues = (np.arange(n) * 0.618033988749895) % 1.0
    return np.array([colorsys.hsv_to_rgb(h, 0.85 if i % 2 else 1.0, 1.0 if i % 3 else 0.8) for i, h in enumerate(hues)])


@dataclass
class Panel:
    """One slice: its axis name ('x', 'y', 'z'), world coordinate and matplotlib Axes."""

    axis: str
    coord: float
    ax: Any = field(repr=False)


@dataclass
class FigureDisplay:
    """Saving and encoding shared by the displays (the figure is in ``self.figure``)."""

    figure: Any

    def savefig(self, path: str | os.PathLike, dpi: int | None = None) -> None:
        """Save to ``path``; the format comes from the extension (.png, .svg, .pdf, .jpg)."""
        ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
        if ext not in _FORMATS:
            raise ParameterError(
                f"output file {os.fspath(path)!r}: unsupported extension {ext!r}; expected one of {_FORMATS}.",
                param="output_file", expected=_FORMATS, found=ext,
            )
        self.figure.savefig(path, dpi=dpi, facecolor=self.figure.get_facecolor())

    def to_bytes(self, format: str = "png", dpi: int | None = None) -> bytes:
        """The figure encoded in memory (``"png"`` or ``"svg"``)."""
        buf = io.BytesIO()
        self.figure.savefig(buf, format=format, dpi=dpi, facecolor=self.figure.get_facecolor())
        return buf.getvalue()

    def close(self) -> None:
        """Drop this display's references to its figure (no pyplot: the memory is then freed)."""
        for name in ("panels", "ax"):
            if hasattr(self, name):
                setattr(self, name, [] if name == "panels" else None)
        self.figure = None


@dataclass
class SlicesDisplay(FigureDisplay):
    """A drawn figure of slices.

    Attributes
    ----------
    figure : matplotlib.figure.Figure
    panels : list of Panel (``axis``, ``coord`` in mm, ``ax``)
    cut_coords : tuple, list or dict
        The slice coordinates used (mm).
    grid : DisplayGrid
        The canonical voxel grid the slices are drawn on.
    """

    panels: list
    cut_coords: Any
    grid: DisplayGrid
    title: str | None = None
    label_values: Any = None
    label_colors: Any = None

    @property
    def axes(self) -> list:
        """The matplotlib Axes of the panels, in order."""
        return [p.ax for p in self.panels]

    def add_markers(self, coords: Any, color: Any = "yellow", size: float = 40.0,
                    max_distance: float | None = None) -> None:
        """Draw world points (mm) on the panels, projected along each panel's normal.

        ``max_distance`` (mm): on each panel, only the points at most this far from its plane.
        """
        coords = np.atleast_2d(np.asarray(coords, dtype=np.float64))
        for panel in self.panels:
            axis = AXES[panel.axis]
            u, v = [a for a in range(3) if a != axis]
            near = coords if max_distance is None else coords[np.abs(coords[:, axis] - panel.coord) <= max_distance]
            if len(near):
                panel.ax.scatter(near[:, u], near[:, v], s=size, c=color, marker="o",
                                 edgecolors="black", linewidths=0.8, zorder=5)


def _layout(grid: DisplayGrid, rows: list[list[tuple[str, float]]], title, figure_width: float | None):
    """Figure and panels: each row's panels share its height, widths follow the world extents."""
    widths, heights = [], []
    for row in rows:
        ext = [grid.extent(AXES[a]) for a, _ in row]
        widths.append([e[1] - e[0] for e in ext])
        heights.append(max(e[3] - e[2] for e in ext))
    row_units = [sum(w) / h for w, h in zip(widths, heights, strict=True)]  # row width in units of its height
    max_units = max(row_units)
    fig_w = figure_width or float(np.clip(2.2 * max_units, 3.0, 14.0))
    title_h = 0.35 if title else 0.0
    row_h = [fig_w / max_units for _ in rows]  # inches per row (widest row fills the width)
    fig_h = sum(row_h) + title_h
    fig = new_figure((fig_w, fig_h))
    panels = []
    top = 1.0 - title_h / fig_h
    for row, w, h, rh in zip(rows, widths, heights, row_h, strict=True):
        frac_h = rh / fig_h
        x = (1.0 - sum(w) / h / max_units) / 2
        for (axis, coord), width in zip(row, w, strict=True):
            frac_w = width / h / max_units
            ax = fig.add_axes([x, top - frac_h, frac_w, frac_h])
            ax.set_facecolor("black")
            ax.set_axis_off()
            panels.append(Panel(axis, float(coord), ax))
            x += frac_w
        top -= frac_h
    if title:
        fig.text(0.01, 1.0 - 0.5 * title_h / fig_h, str(title), color="white", fontsize=12,
                 ha="left", va="center")
    return fig, panels


def draw(grid: DisplayGrid, cut_coords, display_mode: str, layers: list[dict], *, title=None,
         annotate: bool = True, figure_width: float | None = None, colorbar: dict | None = None) -> SlicesDisplay:
    """Draw ``layers`` (dicts: data, kind="image"|"labels"|"contours", style) on the cuts."""
    if display_mode == "mosaic":
        rows = [[(a, c) for c in cut_coords[a]] for a in ("x", "y", "z")]
    elif display_mode == "ortho":
        rows = [[("x", cut_coords[0]), ("y", cut_coords[1]), ("z", cut_coords[2])]]
    else:
        rows = [[(display_mode, c) for c in cut_coords]]
    fig, panels = _layout(grid, rows, title, figure_width)
    mappable = None
    for panel in panels:
        axis = AXES[panel.axis]
        extent = grid.extent(axis)
        for layer in layers:
            plane = slice_of(layer["data"], grid, axis, panel.coord)
            kind = layer["kind"]
            if kind == "image":
                shown = np.ma.masked_where(layer["hide"](plane), plane) if layer.get("hide") else plane
                im = panel.ax.imshow(shown, origin="lower", extent=extent, cmap=layer["cmap"], vmin=layer["vmin"],
                                     vmax=layer["vmax"], alpha=layer.get("alpha"), interpolation="nearest")
                if layer.get("colorbar"):
                    mappable = im
            elif kind == "labels":
                shown = np.ma.masked_equal(plane, 0)
                panel.ax.imshow(shown, origin="lower", extent=extent, cmap=layer["cmap"], vmin=0.5,
                                vmax=layer["n"] + 0.5, alpha=layer.get("alpha"), interpolation="nearest")
            elif kind == "contours":
                u, v = [a for a in range(3) if a != axis]
                xu = grid.origin[u] + np.arange(plane.shape[1]) * grid.step[u]
                yv = grid.origin[v] + np.arange(plane.shape[0]) * grid.step[v]
                # strict=False: a layer without regions has one colour and no value
                for value, color in zip(layer["values"], layer["colors"], strict=False):
                    binary = (plane == value).astype(np.float32)
                    if binary.any() and not binary.all():
                        panel.ax.contour(xu, yv, binary, levels=[0.5], colors=[color],
                                         linewidths=layer.get("linewidth", 1.5))
        panel.ax.set_xlim(extent[0], extent[1])
        panel.ax.set_ylim(extent[2], extent[3])
        if annotate:
            panel.ax.text(0.02, 0.02, f"{panel.axis}={panel.coord:.0f}", transform=panel.ax.transAxes,
                          color="white", fontsize=8, ha="left", va="bottom")
            if panel.axis in ("y", "z") and display_mode == "ortho":
                panel.ax.text(0.02, 0.5, "L", transform=panel.ax.transAxes, color="white", fontsize=9, va="center")
                panel.ax.text(0.98, 0.5, "R", transform=panel.ax.transAxes, color="white", fontsize=9,
                              va="center", ha="right")
    if colorbar is not None and mappable is not None:
        cax = fig.add_axes([0.93, 0.1, 0.015, 0.6])
        cb = fig.colorbar(mappable, cax=cax)
        cb.ax.tick_params(colors="white", labelsize=7)
    return SlicesDisplay(figure=fig, panels=panels, cut_coords=cut_coords, grid=grid, title=title)
