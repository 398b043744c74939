"""Slice geometry for the plots (numpy only): display grid, nearest sampling, cut coordinates.

Images are shown on the voxel grid of the background image reoriented to the closest
canonical (RAS+) orientation, so rows and columns of a slice follow world axes; the
overlay is sampled on that grid with nearest-neighbour lookup (labels stay labels, no
interpolation warning). Coordinates are world millimetres throughout.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..exceptions import DimensionError, ParameterError

__all__ = ["DisplayGrid", "display_grid", "sample_nearest", "find_cut_coords", "slice_of", "AXES"]

AXES = {"x": 0, "y": 1, "z": 2}
_MODES_1D = ("x", "y", "z")
DISPLAY_MODES = ("ortho", "x", "y", "z", "mosaic")


@dataclass
class DisplayGrid:
    """A canonical (RAS+) voxel grid: shape, and the world position of voxel 0 and the step."""

    shape: tuple
    affine: np.ndarray

    @property
    def origin(self) -> np.ndarray:
        return self.affine[:3, 3]

    @property
    def step(self) -> np.ndarray:
        # near-diagonal after canonical reorientation; an oblique grid is shown approximately
        return np.abs(np.diag(self.affine[:3, :3]))

    def extent(self, axis: int) -> list[float]:
        """imshow extent (left, right, bottom, top) in mm of a slice normal to ``axis``."""
        u, v = [a for a in range(3) if a != axis]
        lo = self.origin - self.step / 2
        hi = self.origin + (np.asarray(self.shape) - 0.5) * self.step
        return [float(lo[u]), float(hi[u]), float(lo[v]), float(hi[v])]

    def index_of(self, axis: int, coord: float) -> int:
        i = int(round((coord - self.origin[axis]) / self.step[axis]))
        return int(np.clip(i, 0, self.shape[axis] - 1))

    def coord_of(self, axis: int, index: float) -> float:
        return float(self.origin[axis] + index * self.step[axis])


def as_3d(img, param: str):
    """A 3D image (a 4D image with one volume is squeezed); 4D raises a DimensionError."""
    from .._niimg import check_niimg

    img = check_niimg(img)
    shape = tuple(img.shape)
    if len(shape) == 4 and shape[3] == 1:
        img = check_niimg(img, ensure_ndim=3)
    elif len(shape) != 3:
        raise DimensionError(
            len(shape), 3,
            f"'{param}' must be a 3D image; got shape {shape}. Plot one volume "
            f"(nimask.image.index_img(img, 0)) or the mean (nimask.image.mean_img(img)).",
            param=param,
        )
    return img


def display_grid(img) -> tuple[DisplayGrid, np.ndarray]:
    """The canonical grid of a 3D image and its data (float, non-finite values set to 0)."""
    import nibabel as nib

    canon = nib.as_closest_canonical(img)
    data = np.asanyarray(canon.dataobj)
    if data.dtype.kind == "f":
        data = np.where(np.isfinite(data), data, 0)
    return DisplayGrid(tuple(data.shape[:3]), np.asarray(canon.affine, dtype=np.float64)), data


def sample_nearest(data: np.ndarray, affine: np.ndarray, grid: DisplayGrid, fill=0) -> np.ndarray:
    """``data`` (on ``affine``) sampled on ``grid`` by nearest voxel; outside: ``fill``."""
    affine = np.asarray(affine, dtype=np.float64)
    if tuple(data.shape[:3]) == tuple(grid.shape) and np.allclose(affine, grid.affine):
        return data
    to_src = np.linalg.inv(affine) @ grid.affine
    out = np.full(grid.shape, fill, dtype=data.dtype)
    # separable when the mapping is diagonal (same orientation): index each axis on its own
    if np.allclose(to_src[:3, :3], np.diag(np.diag(to_src[:3, :3]))):
        idx = [np.rint(to_src[a, a] * np.arange(grid.shape[a]) + to_src[a, 3]).astype(np.int64) for a in range(3)]
        ok = [(i >= 0) & (i < data.shape[a]) for a, i in enumerate(idx)]
        src = data[np.ix_(idx[0][ok[0]], idx[1][ok[1]], idx[2][ok[2]])]
        out[np.ix_(ok[0], ok[1], ok[2])] = src
        return out
    ijk = np.indices(grid.shape, dtype=np.float64).reshape(3, -1)
    src = np.rint(to_src[:3, :3] @ ijk + to_src[:3, 3:4]).astype(np.int64)
    inside = np.all((src >= 0) & (src < np.asarray(data.shape[:3])[:, None]), axis=0)
    flat = out.reshape(-1)
    flat[inside] = data[src[0, inside], src[1, inside], src[2, inside]]
    return out


def _check_mode(display_mode: str) -> None:
    if display_mode not in DISPLAY_MODES:
        raise ParameterError(
            f"'display_mode' must be one of {DISPLAY_MODES}; got {display_mode!r}.",
            param="display_mode", expected=DISPLAY_MODES, found=display_mode,
        )


def _centre(support: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Voxel index of the centre of mass, moved to the nearest support voxel when outside it."""
    coords = np.argwhere(support)
    w = None if weights is None else np.abs(weights[support]).astype(np.float64)
    centre = np.average(coords, axis=0, weights=w if w is not None and w.sum() > 0 else None)
    nearest = coords[np.argmin(((coords - centre) ** 2).sum(axis=1))]
    inside = support[tuple(np.clip(np.rint(centre).astype(int), 0, np.asarray(support.shape) - 1))]
    return np.rint(centre) if inside else nearest.astype(np.float64)


def find_cut_coords(
    img: Any, display_mode: str = "ortho", n_cuts: int | None = None
) -> tuple[float, float, float] | list[float] | dict[str, list[float]]:
    """World coordinates (mm) of the slices to show for the nonzero part of ``img``.

    ``"ortho"``: the centre of mass of the nonzero voxels (x, y, z), moved to the nearest
    nonzero voxel when it falls outside them (a ring, two hemispheres). ``"x"``, ``"y"``,
    ``"z"``: ``n_cuts`` (default 7) coordinates evenly spaced inside the nonzero extent
    along that axis. ``"mosaic"``: a dict of such lists for the three axes (default 5
    each). An all-zero image uses the whole grid.

    Parameters
    ----------
    img : 3D niimg-like
    display_mode : {"ortho", "x", "y", "z", "mosaic"}
    n_cuts : int, optional
    """
    _check_mode(display_mode)
    grid, data = display_grid(as_3d(img, "img"))
    return _cuts(grid, data != 0, data, display_mode, n_cuts)


def _cuts(grid: DisplayGrid, support: np.ndarray, weights, display_mode: str, n_cuts):
    if n_cuts is not None and (isinstance(n_cuts, bool) or not isinstance(n_cuts, (int, np.integer)) or n_cuts < 1):
        raise ParameterError(f"'cut_coords' as a number of cuts must be an int >= 1; got {n_cuts!r}.",
                             param="cut_coords", found=n_cuts)
    if not support.any():
        support = np.ones(grid.shape, dtype=bool)
        weights = None
    if display_mode == "ortho":
        centre = _centre(support, weights)
        return tuple(grid.coord_of(a, centre[a]) for a in range(3))

    def along(axis: int, n: int) -> list[float]:
        other = tuple(a for a in range(3) if a != axis)
        present = np.flatnonzero(support.any(axis=other))
        lo, hi = present.min(), present.max()
        idx = np.unique(np.rint(np.linspace(lo, hi, n + 2)[1:-1]).astype(int)) if hi > lo else np.array([lo])
        return [grid.coord_of(axis, i) for i in idx]

    if display_mode == "mosaic":
        return {name: along(axis, n_cuts or 5) for name, axis in AXES.items()}
    return along(AXES[display_mode], n_cuts or 7)


def resolve_cuts(grid: DisplayGrid, support, weights, display_mode: str, cut_coords):
    """Cut coordinates from the user's ``cut_coords`` (None, a number of cuts, or coordinates)."""
    _check_mode(display_mode)
    if cut_coords is None or isinstance(cut_coords, (int, np.integer)) and not isinstance(cut_coords, bool):
        return _cuts(grid, support, weights, display_mode, cut_coords)
    if display_mode == "mosaic":
        if isinstance(cut_coords, dict):
            missing = [k for k in AXES if k not in cut_coords]
            if missing:
                raise ParameterError(f"'cut_coords' for display_mode='mosaic' needs the keys x, y, z; "
                                     f"missing {missing}.",
                                     param="cut_coords", found=sorted(cut_coords))
            return {k: [float(c) for c in cut_coords[k]] for k in AXES}
        raise ParameterError("'cut_coords' for display_mode='mosaic' must be None, an int or a dict {x, y, z: coords}; "
                             f"got {cut_coords!r}.", param="cut_coords", found=cut_coords)
    coords = [float(c) for c in np.ravel(np.asarray(cut_coords, dtype=np.float64))]
    if display_mode == "ortho" and len(coords) != 3:
        raise ParameterError("'cut_coords' for display_mode='ortho' must be 3 coordinates (x, y, z); "
                             f"got {cut_coords!r}.",
                             param="cut_coords", expected=3, found=len(coords))
    if not coords or not np.all(np.isfinite(coords)):
        raise ParameterError(f"'cut_coords' must be finite coordinates in mm; got {cut_coords!r}.", param="cut_coords")
    return tuple(coords) if display_mode == "ortho" else coords


def slice_of(data: np.ndarray, grid: DisplayGrid, axis: int, coord: float) -> np.ndarray:
    """The 2D slice normal to ``axis`` at world ``coord``, laid out for ``imshow(origin="lower")``."""
    index = grid.index_of(axis, coord)
    return np.take(data, index, axis=axis).T
