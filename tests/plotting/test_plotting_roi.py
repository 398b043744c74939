"""plot_roi / plot_img / plot_epi: structural checks on the drawn pixels (no baseline images)."""
from __future__ import annotations

import matplotlib  # noqa: F401, E402 - a test extra; the reports/figures need it
import nibabel as nib
import numpy as np
import pytest

from nimask.exceptions import DimensionError, ParameterError  # noqa: E402
from nimask.plotting import find_cut_coords, plot_epi, plot_img, plot_roi  # noqa: E402

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
AFFINE[:3, 3] = [-20.0, -24.0, -18.0]


def _box_mask(lo=(5, 6, 4), hi=(12, 14, 10), shape=(20, 24, 18), affine=AFFINE):
    data = np.zeros(shape, np.uint8)
    data[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 1
    return nib.Nifti1Image(data, affine)


def _world_box(img):
    """(min, max) world corners of the nonzero voxels, voxel edges included."""
    ijk = np.argwhere(np.asanyarray(img.dataobj) != 0)
    aff = img.affine
    half = np.abs(np.diag(aff)[:3]) / 2
    world = ijk @ aff[:3, :3].T + aff[:3, 3]
    return world.min(0) - half, world.max(0) + half


def _rgb(display):
    fig = display.figure
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(int)


def _pixels_of(display, predicate):
    """Per panel: world (u, v) coordinates of the pixels selected by ``predicate(rgb)``."""
    rgb = _rgb(display)
    height = rgb.shape[0]
    out = []
    for panel in display.panels:
        bbox = panel.ax.get_window_extent()
        x0, x1 = int(np.ceil(bbox.x0)), int(np.floor(bbox.x1))
        y0, y1 = int(np.ceil(bbox.y0)), int(np.floor(bbox.y1))
        sub = rgb[height - y1:height - y0, x0:x1]
        rows, cols = np.nonzero(predicate(sub))
        disp = np.column_stack([x0 + cols + 0.5, y1 - rows - 0.5])
        out.append((panel, panel.ax.transData.inverted().transform(disp) if len(disp) else np.zeros((0, 2))))
    return out


def _is_red(rgb):
    return (rgb[..., 0] > 120) & (rgb[..., 1] < 60) & (rgb[..., 2] < 60)


AXIS = {"x": 0, "y": 1, "z": 2}


def _check_inside(display, predicate, lo, hi, tol):
    n_total = 0
    for panel, uv in _pixels_of(display, predicate):
        u, v = [a for a in range(3) if a != AXIS[panel.axis]]
        if lo[AXIS[panel.axis]] <= panel.coord <= hi[AXIS[panel.axis]]:
            assert len(uv) > 50, f"panel {panel.axis}={panel.coord}: no overlay pixels"
        n_total += len(uv)
        if len(uv):
            assert uv[:, 0].min() >= lo[u] - tol and uv[:, 0].max() <= hi[u] + tol
            assert uv[:, 1].min() >= lo[v] - tol and uv[:, 1].max() <= hi[v] + tol
            # and the overlay fills the box (not a few stray pixels): it spans most of it
            assert uv[:, 0].max() - uv[:, 0].min() > 0.8 * (hi[u] - lo[u])
            assert uv[:, 1].max() - uv[:, 1].min() > 0.8 * (hi[v] - lo[v])
    return n_total


def test_mask_overlay_pixels_lie_where_the_mask_is():
    mask = _box_mask()
    display = plot_roi(mask, annotate=False)
    lo, hi = _world_box(mask)
    assert _check_inside(display, _is_red, lo, hi, tol=1.0) > 0
    # the default cut is the mask's centre of mass
    np.testing.assert_allclose(display.cut_coords, (lo + hi) / 2, atol=1.01)


def test_overlay_on_a_background_of_another_grid_stays_at_the_mask_location():
    mask = _box_mask()
    bg_aff = np.diag([1.0, 1.0, 1.0, 1.0])
    bg_aff[:3, 3] = [-22.0, -26.0, -20.0]
    rng = np.random.default_rng(0)
    bg = nib.Nifti1Image((rng.random((44, 52, 40)) * 0.3).astype(np.float32), bg_aff)  # dark grey noise
    display = plot_roi(mask, bg, annotate=False, alpha=1.0)
    lo, hi = _world_box(mask)
    assert _check_inside(display, _is_red, lo, hi, tol=1.5) > 0


def test_flipped_affine_is_shown_in_world_orientation():
    mask = _box_mask(lo=(2, 6, 4), hi=(6, 14, 10))
    flip = np.diag([-2.0, 2.0, 2.0, 1.0])
    flip[:3, 3] = [20.0, -24.0, -18.0]
    flipped = nib.Nifti1Image(np.asanyarray(mask.dataobj), flip)
    lo, hi = _world_box(nib.as_closest_canonical(flipped))
    display = plot_roi(flipped, annotate=False)
    assert _check_inside(display, _is_red, lo, hi, tol=1.0) > 0
    assert lo[0] > 0  # the box sits at positive x after the flip: right of the midline


def test_labels_get_one_colour_each_at_their_own_place():
    data = np.zeros((20, 24, 18), np.int16)
    data[2:7, 5:15, 5:12] = 3
    data[12:18, 5:15, 5:12] = 7
    atlas = nib.Nifti1Image(data, AFFINE)
    display = plot_roi(atlas, display_mode="z", cut_coords=[AFFINE[2, 3] + 2 * 8], annotate=False, alpha=1.0)
    np.testing.assert_array_equal(display.label_values, [3, 7])
    colors = (np.asarray(display.label_colors) * 255).round().astype(int)
    assert np.abs(colors[0] - colors[1]).sum() > 60
    for value, color in zip((3, 7), colors, strict=True):
        region = nib.Nifti1Image((data == value).astype(np.uint8), AFFINE)
        lo, hi = _world_box(region)
        [(panel, uv)] = _pixels_of(display, lambda rgb, c=color: np.abs(rgb - c).sum(-1) < 12)
        assert len(uv) > 50
        assert uv[:, 0].min() >= lo[0] - 1 and uv[:, 0].max() <= hi[0] + 1


def test_display_modes_and_cut_counts():
    mask = _box_mask()
    assert len(plot_roi(mask).panels) == 3
    display = plot_roi(mask, display_mode="x", cut_coords=4)
    assert [p.axis for p in display.panels] == ["x"] * 4
    lo, hi = _world_box(mask)
    assert all(lo[0] <= c <= hi[0] for c in display.cut_coords)
    mosaic = plot_roi(mask, display_mode="mosaic", cut_coords=3)
    assert [p.axis for p in mosaic.panels] == ["x"] * 3 + ["y"] * 3 + ["z"] * 3
    explicit = plot_roi(mask, display_mode="y", cut_coords=[-10.0, 0.0])
    assert [p.coord for p in explicit.panels] == [-10.0, 0.0]
    with pytest.raises(ParameterError, match="display_mode"):
        plot_roi(mask, display_mode="xyz-tiled")
    with pytest.raises(ParameterError, match="cut_coords"):
        plot_roi(mask, cut_coords=[1.0, 2.0])


def test_cut_coords_of_a_hollow_roi_fall_inside_it():
    data = np.zeros((20, 24, 18), np.uint8)
    data[2:5, 5:15, 5:12] = 1
    data[15:18, 5:15, 5:12] = 1  # two blobs: the centre of mass is between them
    img = nib.Nifti1Image(data, AFFINE)
    x, y, z = find_cut_coords(img)
    i, j, k = np.rint(np.linalg.inv(AFFINE) @ [x, y, z, 1])[:3].astype(int)
    assert data[i, j, k] == 1


def test_save_png_and_svg(tmp_path):
    mask = _box_mask()
    png, svg = tmp_path / "roi.png", tmp_path / "roi.svg"
    plot_roi(mask, title="a title", output_file=png)
    plot_roi(mask, output_file=svg)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in svg.read_bytes()[:2000]
    with pytest.raises(ParameterError, match="extension"):
        plot_roi(mask, output_file=tmp_path / "roi.bmpx")


def test_contours_are_drawn_on_the_mask_border():
    mask = _box_mask()
    display = plot_roi(mask, view_type="contours", annotate=False)
    lo, hi = _world_box(mask)
    for panel, uv in _pixels_of(display, _is_red):
        u, v = [a for a in range(3) if a != AXIS[panel.axis]]
        assert len(uv) > 20
        centre_u, centre_v = (lo[u] + hi[u]) / 2, (lo[v] + hi[v]) / 2
        # border only: no red in the middle of the box
        inner = ((np.abs(uv[:, 0] - centre_u) < 0.25 * (hi[u] - lo[u]))
                 & (np.abs(uv[:, 1] - centre_v) < 0.25 * (hi[v] - lo[v])))
        assert not inner.any()
    with pytest.raises(ParameterError, match="view_type"):
        plot_roi(mask, view_type="glass")


def test_4d_inputs_are_refused():
    img4 = nib.Nifti1Image(np.zeros((4, 5, 6, 3), np.float32), np.eye(4))
    with pytest.raises(DimensionError, match="mean_img"):
        plot_roi(img4)
    with pytest.raises(DimensionError):
        plot_img(img4)


def test_plot_img_threshold_hides_small_values():
    data = np.zeros((20, 24, 18), np.float32)
    data[4:16, 4:20, 4:14] = 0.5  # below threshold
    data[8:12, 8:14, 7:11] = 3.0  # above
    img = nib.Nifti1Image(data, AFFINE)
    display = plot_img(img, threshold=1.0, cmap="autumn", vmin=0, vmax=3, annotate=False)
    strong = nib.Nifti1Image((data > 1).astype(np.uint8), AFFINE)
    lo, hi = _world_box(strong)
    coloured = lambda rgb: (rgb.max(-1) - rgb.min(-1)) > 60  # noqa: E731 - autumn is never grey
    assert _check_inside(display, coloured, lo, hi, tol=1.0) > 0
    # the cuts centre on the part above the threshold
    np.testing.assert_allclose(display.cut_coords, (lo + hi) / 2, atol=1.01)


def test_plot_epi_uses_a_robust_range_and_draws_grey():
    rng = np.random.default_rng(1)
    data = (100 + 10 * rng.standard_normal((20, 24, 18))).astype(np.float32)
    data[0, 0, 0] = 1e6  # one hot voxel must not wash the image out
    display = plot_epi(nib.Nifti1Image(data, AFFINE), annotate=False)
    rgb = _rgb(display)
    panel_ax = display.panels[0].ax
    bbox = panel_ax.get_window_extent()
    sub = rgb[rgb.shape[0] - int(bbox.y1) + 2: rgb.shape[0] - int(bbox.y0) - 2, int(bbox.x0) + 2: int(bbox.x1) - 2]
    assert np.all(np.abs(sub[..., 0] - sub[..., 1]) <= 2)  # grey
    assert sub.std() > 20  # contrast kept: not a flat black image


def test_markers_only_near_each_plane():
    mask = _box_mask()
    display = plot_roi(mask, display_mode="z", cut_coords=[-10.0, 10.0])
    display.add_markers([[0.0, 0.0, -10.0]], max_distance=3.0)
    counts = [len(p.ax.collections) for p in display.panels]
    assert counts == [1, 0]
    display.add_markers([[0.0, 0.0, 50.0]])  # no limit: projected on every panel
    assert [len(p.ax.collections) for p in display.panels] == [2, 1]
