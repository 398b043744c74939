"""Carpet plot: time x voxels (or regions) as a grey image, rows grouped by region."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import DimensionError, ParameterError
from ._display import FigureDisplay, label_colors, new_figure, require_matplotlib

__all__ = ["CarpetDisplay", "plot_carpet", "carpet_rows"]


@dataclass
class CarpetDisplay(FigureDisplay):
    """A drawn carpet plot.

    Attributes
    ----------
    figure : matplotlib.figure.Figure
    ax : matplotlib Axes of the carpet
    columns : ndarray of int
        The columns of the input shown as rows of the carpet, top to bottom.
    groups : ndarray or None
        The group of each shown row.
    """

    ax: Any
    columns: np.ndarray
    groups: Any = None


def carpet_rows(n_columns: int, groups=None, max_rows: int = 800) -> np.ndarray:
    """Columns to show: sorted by group (stable), then at most ``max_rows`` evenly spaced."""
    order = np.arange(n_columns) if groups is None else np.argsort(np.asarray(groups), kind="stable")
    if n_columns <= max_rows:
        return order
    pick = np.unique(np.rint(np.linspace(0, n_columns - 1, max_rows)).astype(np.int64))
    return order[pick]


def _signals_of(data, mask_img, labels_img):
    """(T, n) signals and the group of each column for a 4D image or a 2D array."""
    if isinstance(data, np.ndarray) or hasattr(data, "to_numpy"):
        signals = np.asarray(data.to_numpy() if hasattr(data, "to_numpy") else data)
        if signals.ndim != 2:
            raise DimensionError(signals.ndim, 2,
                                 f"'data' as an array must be 2D (time, columns); got shape {signals.shape}.",
                                 param="data")
        if mask_img is not None or labels_img is not None:
            raise ParameterError("'mask_img' and 'labels_img' apply to a 4D image, not to an array of signals "
                                 "(use 'groups' to group the columns).", param="mask_img")
        return signals, None
    from .._niimg import check_niimg
    from ..masking import apply_mask

    img = check_niimg(data)
    if len(img.shape) != 4:
        raise DimensionError(len(img.shape), 4, f"'data' must be a 4D image or a 2D array; got an image of shape "
                             f"{tuple(img.shape)}.", param="data")
    if mask_img is None:
        from ..image import mean_img

        mask = np.asanyarray(mean_img(img).dataobj) != 0
        import nibabel as nib

        mask_img = nib.Nifti1Image(mask.astype(np.uint8), img.affine)
    signals = apply_mask(img, mask_img)
    groups = None
    if labels_img is not None:
        from ._slices import DisplayGrid, as_3d, sample_nearest

        labels = as_3d(labels_img, "labels_img")
        mask_data = np.asanyarray(check_niimg(mask_img).dataobj) != 0
        on_grid = sample_nearest(np.asanyarray(labels.dataobj), labels.affine,
                                 DisplayGrid(tuple(img.shape[:3]), np.asarray(img.affine, dtype=np.float64)))
        groups = on_grid[mask_data]
    return signals, groups


def plot_carpet(
    data: Any,
    mask_img: Any = None,
    *,
    labels_img: Any = None,
    groups: Any = None,
    group_names: dict | None = None,
    t_r: float | None = None,
    standardize: bool = True,
    max_rows: int = 800,
    vmin: float | None = None,
    vmax: float | None = None,
    cmap: Any = "gray",
    title: str | None = None,
    output_file: str | os.PathLike | None = None,
    figure_size: tuple = (10.0, 4.0),
) -> CarpetDisplay:
    """Carpet plot of voxel or region time series: one row per column, time on the x axis.

    Parameters
    ----------
    data : 4D niimg-like or array of shape (T, n)
        An image is masked with ``mask_img`` (default: voxels whose mean is nonzero); an
        array is drawn as given (e.g. a masker's output).
    mask_img : 3D niimg-like, optional
    labels_img : 3D niimg-like, optional
        Groups the voxels of an image by label (sampled on the image grid).
    groups : array of shape (n,), optional
        The group of each column of an array (e.g. region of each voxel).
    group_names : dict, optional
        Names shown for the groups (at most 20 are written).
    t_r : float, optional
        Seconds per volume: the x axis is then in seconds.
    standardize : bool, default=True
        z-score each shown row (constant rows become 0) so rows share one grey scale.
    max_rows : int, default=800
        Rows drawn at most (evenly spaced over the sorted columns; a figure cannot show
        more rows than it has pixels).
    vmin, vmax : float, optional
        Grey range (default: -2 and 2 when standardized, else the 2nd and 98th percentiles).
    cmap, title, output_file, figure_size
        Figure options (``output_file``: also save there).

    Returns
    -------
    CarpetDisplay
        NaN columns (e.g. empty regions) are drawn in red.
    """
    require_matplotlib()
    if isinstance(max_rows, bool) or not isinstance(max_rows, (int, np.integer)) or max_rows < 1:
        raise ParameterError(f"'max_rows' must be an int >= 1; got {max_rows!r}.", param="max_rows", found=max_rows)
    if t_r is not None and (isinstance(t_r, bool) or not isinstance(t_r, (int, float, np.number)) or not t_r > 0):
        raise ParameterError(f"'t_r' must be a positive number of seconds or None; got {t_r!r}.",
                             param="t_r", found=t_r)
    signals, img_groups = _signals_of(data, mask_img, labels_img)
    if groups is not None:
        if img_groups is not None:
            raise ParameterError("Give 'groups' or 'labels_img', not both.", param="groups")
        groups = np.asarray(groups)
        if groups.shape != (signals.shape[1],):
            raise ParameterError(f"'groups' must have one entry per column ({signals.shape[1]}); "
                                 f"got shape {groups.shape}.",
                                 param="groups", expected=signals.shape[1], found=groups.shape)
    else:
        groups = img_groups
    n_time, n_cols = signals.shape
    if n_time == 0 or n_cols == 0:
        raise ParameterError(f"'data' has no values to draw: shape {signals.shape}.", param="data", found=signals.shape)
    cols = carpet_rows(n_cols, groups, max_rows)
    rows = np.asarray(signals[:, cols], dtype=np.float64).T  # (shown rows, T)
    nan_rows = np.isnan(rows).all(axis=1)
    if standardize:
        valid = rows[~nan_rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(valid, axis=1, keepdims=True)
            std = np.nanstd(valid, axis=1, keepdims=True)
            valid = np.where(std > 0, (valid - mean) / np.where(std > 0, std, 1.0), 0.0)
        rows[~nan_rows] = valid
        rows[nan_rows] = np.nan
        lo, hi = (-2.0 if vmin is None else vmin), (2.0 if vmax is None else vmax)
    else:
        finite = rows[np.isfinite(rows)]
        p2, p98 = np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0)
        lo, hi = (p2 if vmin is None else vmin), (p98 if vmax is None else vmax)
    fig = new_figure(figure_size, facecolor="white")
    left = 0.1 if groups is not None else 0.06
    ax = fig.add_axes([left, 0.15, 0.88 - left, 0.72 if title else 0.78])
    duration = n_time * (t_r or 1.0)
    import matplotlib

    cm = (matplotlib.colormaps[cmap] if isinstance(cmap, str) else cmap).with_extremes(bad="red")
    ax.imshow(np.ma.masked_invalid(rows), aspect="auto", cmap=cm, vmin=lo, vmax=hi, interpolation="nearest",
              extent=[0, duration, rows.shape[0], 0])
    ax.set_xlabel("time (s)" if t_r else "volume")
    ax.set_yticks([])
    ax.set_ylabel(f"{n_cols} columns" + (f" ({rows.shape[0]} shown)" if rows.shape[0] < n_cols else ""))
    shown_groups = None
    if groups is not None:
        shown_groups = np.asarray(groups)[cols]
        values, index = np.unique(shown_groups, return_inverse=True)
        from matplotlib.colors import ListedColormap

        gax = fig.add_axes([left - 0.025, ax.get_position().y0, 0.02, ax.get_position().height])
        gax.imshow(index[:, None], aspect="auto", cmap=ListedColormap(label_colors(max(values.size, 1))),
                   interpolation="nearest", vmin=-0.5, vmax=max(values.size, 1) - 0.5)
        gax.set_xticks([])
        if values.size <= 20:
            centres = [float(np.mean(np.flatnonzero(index == k))) for k in range(values.size)]
            names = [str((group_names or {}).get(v, v)) for v in values.tolist()]
            gax.set_yticks(centres, names, fontsize=6)
        else:
            gax.set_yticks([])
        ax.set_ylabel("")
        gax.set_ylabel(f"{n_cols} columns, {np.unique(groups).size} groups", fontsize=8)
        gax.yaxis.set_label_position("left")
    if title:
        fig.text(0.01, 0.97, str(title), fontsize=11, ha="left", va="top")
    display = CarpetDisplay(figure=fig, ax=ax, columns=cols, groups=shown_groups)
    if output_file is not None:
        display.savefig(output_file)
    return display
