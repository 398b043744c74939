"""plot_carpet: rows grouped by region, downsampled, z-scored; NaN columns visible."""
from __future__ import annotations

import matplotlib  # noqa: F401, E402 - a test extra; the reports/figures need it
import nibabel as nib
import numpy as np
import pytest

from nimask.exceptions import DimensionError, ParameterError  # noqa: E402
from nimask.plotting import plot_carpet  # noqa: E402
from nimask.plotting._carpet import carpet_rows  # noqa: E402


def _carpet_pixels(display):
    fig = display.figure
    fig.canvas.draw()
    rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)
    bbox = display.ax.get_window_extent()
    h = rgb.shape[0]
    return rgb[h - int(bbox.y1) + 1: h - int(bbox.y0) - 1, int(bbox.x0) + 1: int(bbox.x1) - 1]


def test_rows_are_sorted_by_group_and_downsampled():
    rng = np.random.default_rng(0)
    groups = rng.integers(1, 6, size=5000)
    rows = carpet_rows(5000, groups, max_rows=300)
    assert rows.size <= 300
    assert np.all(np.diff(groups[rows]) >= 0)  # grouped
    assert set(groups[rows]) == set(groups)  # every group still shown
    np.testing.assert_array_equal(carpet_rows(10), np.arange(10))


def test_carpet_of_an_array_shows_time_on_x_and_groups_on_y():
    t, n = 60, 40
    signals = np.zeros((t, n))
    signals[:30, :20] = 1.0  # group A: high in the first half
    signals[30:, 20:] = 1.0  # group B: high in the second half
    groups = np.array([2] * 20 + [1] * 20)
    display = plot_carpet(signals, groups=groups, t_r=2.0, standardize=False, vmin=0, vmax=1, cmap="gray")
    np.testing.assert_array_equal(display.groups, np.sort(groups))
    px = _carpet_pixels(display)[..., 0]
    top, bottom = px[: px.shape[0] // 2 - 2], px[px.shape[0] // 2 + 2:]
    left, right = slice(0, px.shape[1] // 2 - 2), slice(px.shape[1] // 2 + 2, None)
    # top rows = group 1 (columns 20-39): dark in the first half, bright in the second
    assert top[:, left].mean() < 30 and top[:, right].mean() > 225
    assert bottom[:, left].mean() > 225 and bottom[:, right].mean() < 30
    assert display.ax.get_xlabel() == "time (s)"
    assert display.ax.get_xlim() == (0.0, 120.0)


def test_nan_columns_are_drawn_red():
    signals = np.random.default_rng(1).standard_normal((20, 6))
    signals[:, 3] = np.nan
    display = plot_carpet(signals)
    px = _carpet_pixels(display)
    red = (px[..., 0] > 200) & (px[..., 1] < 50)
    assert red.any()
    assert red.mean() == pytest.approx(1 / 6, abs=0.05)


def test_carpet_of_a_4d_image_with_labels(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.standard_normal((6, 7, 8, 15)).astype(np.float32)
    mask = np.zeros((6, 7, 8), np.uint8)
    mask[1:5, 1:6, 1:7] = 1
    labels = np.zeros((6, 7, 8), np.int16)
    labels[1:3, 1:6, 1:7] = 1
    labels[3:5, 1:6, 1:7] = 2
    aff = np.eye(4)
    out = tmp_path / "carpet.png"
    display = plot_carpet(nib.Nifti1Image(data, aff), nib.Nifti1Image(mask, aff),
                          labels_img=nib.Nifti1Image(labels, aff), output_file=out)
    assert display.columns.size == int(mask.sum())
    assert set(np.unique(display.groups)) == {1, 2}
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_carpet_errors():
    with pytest.raises(DimensionError):
        plot_carpet(np.zeros(10))
    with pytest.raises(ParameterError, match="groups"):
        plot_carpet(np.zeros((5, 3)), groups=[1, 2])
    with pytest.raises(ParameterError, match="t_r"):
        plot_carpet(np.zeros((5, 3)), t_r=-2)
    with pytest.raises(ParameterError, match="max_rows"):
        plot_carpet(np.zeros((5, 3)), max_rows=0)
    with pytest.raises(DimensionError):
        plot_carpet(nib.Nifti1Image(np.zeros((3, 4, 5), np.float32), np.eye(4)))
