"""Build the HTML report of a fitted masker from its fitted attributes and its ``_report_log``."""
from __future__ import annotations

import os
import re
import warnings
from typing import Any

import numpy as np

from ._html import esc, image, page, section, table
from ._record import ReportLog, resolve_source, source_label
from ._report import Report

__all__ = ["masker_report"]

_DPI = 80


# ------------------------------------------------------------------------------ helpers
def _kind(masker) -> str:
    if hasattr(masker, "labels_img_"):
        return "labels"
    if hasattr(masker, "maps_img_"):
        return "maps"
    if hasattr(masker, "seeds_"):
        return "spheres"
    return "voxels"


def _encoded(display, kind: str = "png") -> bytes:
    try:
        return display.to_bytes(kind, dpi=_DPI)
    finally:
        display.close()


def _mean_of(source, log: ReportLog) -> Any:
    """Mean image of a recorded source (streamed once, then kept in ``log`` as a float32 3D
    image), or None when the source is gone."""
    import nibabel as nib

    from .._niimg import check_niimg
    from ..image import mean_img

    key = None
    if source is not None and source[0] == "path" and os.path.isfile(source[1]):
        st = os.stat(source[1])
        key = (source[1], st.st_size, st.st_mtime_ns)  # a rewritten file is read again
    if key is not None and key in log.means:
        return log.means[key]
    target = resolve_source(source)
    if target is None:
        return None
    img = check_niimg(target)
    if len(img.shape) == 3:
        return img
    mean = mean_img(img)
    mean = nib.Nifti1Image(np.asarray(mean.dataobj, dtype=np.float32), mean.affine)
    if key is not None:
        log.means[key] = mean  # a file's mean: the next report does not read the file again
    return mean


def _short(value, limit: int = 90) -> str:
    import nibabel as nib

    if isinstance(value, nib.spatialimages.SpatialImage):
        name = value.get_filename()
        return f"{type(value).__name__} {tuple(value.shape)}" + (f" ({name})" if name else "")
    if isinstance(value, np.ndarray):
        return f"array {value.shape} {value.dtype}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}"


# ------------------------------------------------------------------------------ overlays
def _argmax_labels(masker):
    """Maps as labels: each voxel gets the index (1-based) of its largest positive map."""
    import nibabel as nib

    data = np.asarray(masker.maps_img_.dataobj)
    if data.ndim == 3:
        data = data[..., np.newaxis]
    top = data.max(axis=3)
    labels = (data.argmax(axis=3) + 1).astype(np.int32)
    labels[~(top > 0)] = 0
    return nib.Nifti1Image(labels, masker.maps_img_.affine)


def _spheres_grid(masker, bg):
    """(reference image for the sphere grid, note): the mean image, the mask, or a box around the seeds."""
    import nibabel as nib

    if bg is not None:
        return bg, None
    if getattr(masker, "mask_img_", None) is not None:
        return masker.mask_img_, "spheres drawn on the mask grid (no image recorded)"
    seeds = np.asarray(masker.seeds_, dtype=np.float64)
    radii = masker.radius if isinstance(masker.radius, (list, tuple)) else [masker.radius or 2.0]
    pad = float(max(r or 2.0 for r in radii)) + 8.0
    lo, hi = seeds.min(axis=0) - pad, seeds.max(axis=0) + pad
    shape = tuple(int(n) for n in np.ceil((hi - lo) / 2.0) + 1)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = lo
    return nib.Nifti1Image(np.zeros(shape, np.uint8), affine), "spheres drawn on a 2 mm box around the seeds"


def _spheres_labels(masker, ref):
    import nibabel as nib

    op = masker.operator_for(ref)
    labels = np.zeros(op.shape, dtype=np.int32)
    matrix = op.matrix.tocsr()
    for i in range(matrix.shape[0]):
        cols = matrix.indices[matrix.indptr[i]:matrix.indptr[i + 1]]
        labels[tuple(v[cols] for v in op.voxels)] = i + 1
    return nib.Nifti1Image(labels, ref.affine), op


OVERLAY_ALPHA = 0.35  # opacity of the regions drawn over the mean image


def _overlay_figures(masker, kind: str, bg, name: str) -> tuple[list[str], Any]:
    """The overlay figures (HTML) of one image, and the spheres operator when built."""
    from ..plotting import plot_roi

    what = "the mean image" if bg is not None else "their own grid (no image recorded)"
    op = None
    if kind == "voxels":
        roi, view, title = masker.mask_img_, ("contours" if bg is not None else "filled"), f"mask over {what}"
    elif kind == "labels":
        roi = getattr(masker, "region_atlas_", None)
        roi = masker.labels_img_ if roi is None else roi
        view, title = "filled", f"regions over {what}"
    elif kind == "maps":
        roi, view, title = _argmax_labels(masker), "filled", f"maps (largest at each voxel) over {what}"
    else:
        ref, note = _spheres_grid(masker, bg)
        try:
            roi, op = _spheres_labels(masker, ref)
        except Exception as exc:  # an overlap / empty sphere on this grid: shown, not hidden
            return [f'<p class="warn">Spheres could not be drawn on this grid: {esc(exc)}</p>'], None
        view, title = "filled", f"spheres over {what}" if note is None else note
    # over a mean image the regions are translucent, so that the anatomy / signal under them stays visible
    alpha = OVERLAY_ALPHA if bg is not None else 0.9
    figs = []
    cmap = getattr(masker, "cmap", None) if kind in ("labels", "maps") else None
    for mode, cuts in (("ortho", None), ("z", 7)):
        display = plot_roi(roi, bg, cut_coords=cuts, display_mode=mode, title=title if mode == "ortho" else None,
                           view_type=view, alpha=alpha, cmap=cmap)
        if kind == "spheres":
            radii = masker.radius if isinstance(masker.radius, (list, tuple)) else [masker.radius]
            reach = max(float(r or 0.0) for r in radii) + float(display.grid.step.max())
            display.add_markers(np.asarray(masker.seeds_, dtype=np.float64), color="yellow", size=25,
                                max_distance=reach)
        figs.append(image(_encoded(display, "svg"), f"{name}: {title} ({mode} slices)", kind="svg"))
    return figs, op


def _mask_coverage(masker, bg) -> str:
    """For a voxel mask over a mean image on the same grid: how well the mask fits the signal."""
    if bg is None:
        return ""
    mask = np.asanyarray(masker.mask_img_.dataobj) != 0
    if tuple(bg.shape[:3]) != mask.shape or not np.allclose(bg.affine, masker.mask_img_.affine):
        return '<p class="note">The image grid differs from the mask grid: coverage not computed.</p>'
    mean = np.nan_to_num(np.asanyarray(bg.dataobj, dtype=np.float64))
    signal = mean > 0.2 * np.percentile(mean[mean > 0], 98) if np.any(mean > 0) else np.zeros_like(mask)
    rows = [
        ("mask voxels", int(mask.sum())),
        ("mask voxels where the mean image is 0", int((mask & (mean == 0)).sum())),
        ("bright voxels (mean > 20% of its 98th percentile)", int(signal.sum())),
        ("bright voxels inside the mask",
         f"{int((signal & mask).sum())} ({100 * (signal & mask).sum() / max(signal.sum(), 1):.1f}%)"),
        ("bright voxels outside the mask", int((signal & ~mask).sum())),
    ]
    return table(["mask coverage", "value"], rows, numeric=[1])


def _carpet_groups(masker, kind: str, run):
    """Region of each carpet row (the overlay's colours), for the region maskers."""
    if kind == "labels":
        ids = np.asarray([v for k, v in masker.region_ids_.items() if k != "background"])
        if ids.size == run.n_columns:
            names = dict(zip(ids.tolist(), masker.region_names_.values()))
            return ids[run.columns], names
    elif kind in ("maps", "spheres") and run.n_columns == masker.n_elements_:
        return run.columns + 1, None  # the overlay's label of map/sphere k is k + 1
    return None, None


# ------------------------------------------------------------------------------ regions
def _regions_voxels(masker):
    mask = masker.mask_img_
    data = np.asanyarray(mask.dataobj) != 0
    zooms = np.abs(np.linalg.det(np.asarray(mask.affine)[:3, :3]))
    rows = [("mask voxels (n_elements_)", masker.n_elements_), ("grid shape", tuple(mask.shape[:3])),
            ("voxel volume (mm³)", _fmt(zooms)), ("mask volume (cm³)", _fmt(data.sum() * zooms / 1000.0)),
            ("fraction of the field of view", f"{100 * data.mean():.1f}%")]
    return table(["mask", "value"], rows, numeric=[1]), []


def _regions_labels(masker):
    cov = getattr(masker, "region_coverage_", None)
    bg = masker.background_label
    from .._niimg import check_niimg

    native = np.asanyarray(check_niimg(masker.labels_img).dataobj)
    values, counts = np.unique(native[native != bg], return_counts=True)
    in_atlas = dict(zip(values.tolist(), counts.tolist()))
    names = dict(zip(masker.lut_["index"].tolist(), masker.lut_["name"].tolist()))
    rows, classes, dropped = [], [], []
    if cov is not None:
        listed = set(cov["index"].tolist())
        for r in cov.itertuples(index=False):
            status = "kept" if not r.reason else f"NaN column: {r.reason}"
            rows.append((r.index, r.name, r.voxels_in_atlas, r.voxels_kept, f"{100 * r.fraction:.1f}%", status))
            classes.append("" if not r.reason else "dropped")
            if r.reason:
                dropped.append((r.index, r.name, status))
            elif r.voxels_kept == 0:
                classes[-1] = "dropped"
                rows[-1] = rows[-1][:5] + ("zero column: no voxel left after masking (keep_masked_labels)",)
                dropped.append((r.index, r.name, rows[-1][5]))
        for value in sorted(v for v in names if v != bg and v not in listed):
            reason = "no voxel left after resampling/masking: no output column"
            rows.append((value, names[value], in_atlas.get(value, 0), 0, "0.0%", f"dropped: {reason}"))
            classes.append("dropped")
            dropped.append((value, names[value], reason))
        note = ""
    else:
        for value, name in names.items():
            if value == bg:
                continue
            rows.append((value, name, in_atlas.get(value, 0), "", "", "fitted (no image transformed yet)"))
            classes.append("")
        note = '<p class="note">Voxels kept and coverage are known after a transform.</p>'
    html = table(["label", "name", "voxels in atlas", "voxels kept", "coverage", "status"], rows,
                 numeric=[0, 2, 3, 4], row_classes=classes) + note
    return html, dropped


def _regions_maps(masker):
    data = np.asarray(masker.maps_img_.dataobj)
    if data.ndim == 3:
        data = data[..., np.newaxis]
    mask = None
    if masker.mask_img_ is not None and tuple(masker.mask_img_.shape[:3]) == data.shape[:3]:
        mask = np.asanyarray(masker.mask_img_.dataobj) != 0
    support = (data != 0).reshape(-1, data.shape[3])
    n_vox = support.sum(axis=0)
    n_in = support[mask.reshape(-1)].sum(axis=0) if mask is not None else n_vox
    rows, classes, dropped = [], [], []
    cov = getattr(masker, "region_coverage_", None)
    nan_reasons = {} if getattr(masker, "min_coverage", None) is None or cov is None else \
        {int(i): r for i, r in zip(cov["index"], cov["reason"]) if r}
    for k in range(data.shape[3]):
        vmax = float(data[..., k].max()) if n_vox[k] else 0.0
        if k in nan_reasons:  # min_coverage: a NaN column, and why
            status = f"NaN column: {nan_reasons[k]}"
        elif n_vox[k] == 0:
            status = "zero column: map is all zero"
        elif n_in[k] == 0:
            status = "zero column: outside the mask" if masker.keep_masked_maps else "dropped: outside the mask"
        else:
            status = "kept"
        rows.append((k, int(n_vox[k]), int(n_in[k]) if mask is not None else "", _fmt(vmax), status))
        classes.append("" if status == "kept" else "dropped")
        if status != "kept":
            dropped.append((k, f"map {k}", status))
    html = table(["map", "voxels (weight ≠ 0)", "inside the mask", "max weight", "status"], rows,
                 numeric=[0, 1, 2, 3], row_classes=classes)
    return html, dropped


def _regions_spheres(masker, op):
    radius = masker.radius
    rows, classes, dropped = [], [], []
    sizes = None if op is None else np.asarray(op.matrix.getnnz(axis=1))
    empty = set() if op is None else set(op.empty.tolist())
    for i, seed in enumerate(masker.seeds_):
        r = radius[i] if isinstance(radius, (list, tuple)) else radius
        status = "empty: NaN column" if i in empty else "kept"
        rows.append((i, *(f"{c:.1f}" for c in seed), "nearest voxel" if r is None else r,
                     "" if sizes is None else int(sizes[i]), status))
        classes.append("dropped" if i in empty else "")
        if i in empty:
            dropped.append((i, "seed (" + ", ".join(f"{c:.1f}" for c in seed) + ")", status))
    html = table(["sphere", "x (mm)", "y (mm)", "z (mm)", "radius (mm)", "voxels", "status"], rows,
                 numeric=[0, 1, 2, 3, 5], row_classes=classes)
    return html, dropped


# ------------------------------------------------------------------------------ cleaning
def _cleaning_steps(masker, kind: str, log: ReportLog) -> list[str]:
    p = masker.get_params(deep=False)
    steps = []
    target = p.get("resampling_target", None)
    if kind == "voxels" and (p.get("target_affine") is not None or p.get("target_shape") is not None):
        steps.append("images resampled to target_affine / target_shape (continuous interpolation)")
    elif kind in ("labels", "maps") and target is not None:
        steps.append(f"resampling_target={target!r}: images and atlas brought to the {target} grid when they differ")
    if p.get("smoothing_fwhm"):
        steps.append(f"spatial smoothing, FWHM {p['smoothing_fwhm']} mm")
    if kind == "labels":
        steps.append(f"region signal: {p['strategy']} of the voxels of each region")
    elif kind == "maps":
        steps.append("region signal: least-squares fit of the maps to each volume")
    elif kind == "spheres":
        steps.append("region signal: mean of the voxels of each sphere")
    if p.get("high_variance_confounds"):
        steps.append("5 high-variance confounds computed from the image and added to the confounds")
    if p.get("runs") is not None:
        steps.append(f"each run cleaned separately ({np.unique(np.asarray(p['runs'])).size} runs)")
    if p.get("detrend"):
        steps.append("linear detrending")
    low, high, t_r = p.get("low_pass"), p.get("high_pass"), p.get("t_r")
    filt = (p.get("clean_args") or {}).get("filter", "butterworth")
    if low is not None or high is not None:
        band = " and ".join(x for x in (f"high-pass {high} Hz" if high else "", f"low-pass {low} Hz" if low else "")
                            if x)
        steps.append(f"{filt} filter: {band} (t_r = {t_r} s)")
    confounds = sorted({r.confounds for r in log.runs if r.confounds})
    if confounds:
        steps.append(f"confound regression ({'; '.join(confounds)}; "
                     f"standardize_confounds={p.get('standardize_confounds')})")
    censored = sorted({r.sample_mask for r in log.runs if r.sample_mask})
    if censored:
        steps.append(f"censoring by sample_mask ({'; '.join(censored)})")
    std = p.get("standardize")
    if std not in (False, None):
        steps.append(f"standardize={std!r}")
    extra = {k: v for k, v in (p.get("clean_args") or {}).items() if k != "filter"}
    if extra:
        steps.append(f"clean_args: {_short(extra)}")
    if p.get("dtype") is not None:
        steps.append(f"output dtype: {p['dtype']!r}")
    return steps


# ------------------------------------------------------------------------------ the report
# what a report tells when it shows less than usual (each also a NimaskReportWarning): the masker's
# name, then, from a new line, the wording nilearn's reports use for the same condition
NOT_FITTED = ("\nThis estimator has not been fit yet.\nRun fit before generate_report: this page only shows the "
              "parameters.")
REPORTS_OFF = ("\nReport generation not enabled!\nNo visual outputs created. (reports=False: set reports=True "
               "before fit to record the images, warnings and signals a report shows.)")
OFF_AT_FIT = ("\nReport generation was disabled when fit was run. Nothing was recorded for this report: set "
              "reports=True before fit.")


def _no_image(name: str, unit: str) -> str:
    return (f"No image provided to fit in {name}, and no image transformed since: the {unit} are drawn on "
            "their own grid, without an image.")


def report_notes(masker: Any) -> list[str]:
    """Why the report of ``masker`` shows less than usual (empty when it shows everything)."""
    notes = []
    reports_on = bool(getattr(masker, "reports", True))
    log = getattr(masker, "_report_log", None)
    fitted = masker.__sklearn_is_fitted__()
    name = f"{type(masker).__name__} report:"
    if not reports_on:
        notes.append(name + REPORTS_OFF)
    if not fitted:
        notes.append(name + NOT_FITTED)
    elif not isinstance(log, ReportLog):
        notes.append(name + OFF_AT_FIT)
    elif reports_on and not log.runs and log.fit_sources is None:
        unit = {"voxels": "mask voxels", "labels": "regions", "maps": "maps", "spheres": "spheres"}[_kind(masker)]
        notes.append(_no_image(type(masker).__name__, unit))
    elif reports_on and not log.runs and log.fit_sources[0] == "list" and len(log.fit_sources[1]) > 1:
        notes.append(f"A list of 4D subject images were provided to fit: the {type(masker).__name__} report shows "
                     "the first of them (the images given to transform next are each shown).")
    return notes


def option_notes(masker: Any, engine: str, options: dict) -> list[str]:
    """Notes on nilearn's ``generate_report`` options that nimask's report does not follow.

    ``engine`` other than "matplotlib", ``displayed_maps`` / ``displayed_spheres`` selecting
    fewer than every element; any other option is a TypeError."""
    unknown = sorted(set(options) - {"displayed_maps", "displayed_spheres"})
    if unknown:
        raise TypeError(f"{type(masker).__name__}.generate_report() got an unexpected keyword argument {unknown[0]!r}")
    notes = []
    if engine != "matplotlib":
        notes.append(f"engine={engine!r} is not available: nimask's report draws its figures with matplotlib.")
    n = getattr(masker, "n_elements_", None)
    for key, value in options.items():
        if isinstance(value, str) and value == "all" or n is None:
            continue
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            every = int(value) >= n
        else:
            every = set(np.asarray(value).ravel().tolist()) >= set(range(n))
        if not every:
            notes.append(f"{key}={value!r}: nimask's report shows every {key.split('_')[1][:-1]}.")
    return notes


def _notes_section(notes: list[str], log: ReportLog, reports_on: bool) -> str:
    rows = [("report", "NimaskReportWarning", note, 1) for note in notes]
    rows += [(w["stage"], w["category"], w["message"], w["count"]) for w in log.warnings]
    if rows:
        body = table(["during", "category", "message", "times"], rows, numeric=[3])
    else:
        body = "<p>No warning was raised during fit and the last transform.</p>" if reports_on \
            else "<p>Not recorded (reports=False).</p>"
    return section("Warnings", body, "warnings")


def _estimator_view(masker: Any) -> str:
    """scikit-learn's HTML view of the estimator (as in nilearn's reports), without its script.

    The script only copies parameter names to the clipboard; the view folds and unfolds
    without it (CSS), so the page stays free of scripts."""
    from sklearn.utils import estimator_html_repr

    view = re.sub(r"<script\b.*?</script>", "", estimator_html_repr(masker), flags=re.S | re.I)
    return re.sub(r"</?(body|html)>", "", view, flags=re.I)  # a fragment, not a page


def _parameters_section(masker: Any, fitted: bool) -> str:
    """The parameters; once fitted with reports on, scikit-learn's view of the estimator too."""
    params = sorted(masker.get_params(deep=False).items())
    body = table(["parameter", "value"], [(k, _short(v)) for k, v in params])
    if fitted:
        body += "<details><summary>scikit-learn view</summary>" + _estimator_view(masker) + "</details>"
    return section("Parameters", body, "parameters")


def masker_report(masker: Any, title: str | None = None, notes: list[str] | None = None) -> Report:
    """The HTML report of a masker.

    Shows the parameters, the mask / regions / spheres over the mean image of every image
    transformed last (or of the fit images), the voxels and coverage of each region, the
    regions dropped and why, the signal-cleaning steps, the warnings raised during fit and
    transform, and a carpet plot of the extracted signals of each image.

    A report that shows less than that says why, in its warnings section and in a
    :class:`~nimask.exceptions.NimaskReportWarning`: a masker not fitted yet (the
    parameters only), ``reports=False`` (no figure), a fit with ``reports=False`` (nothing
    recorded), no image given to fit nor transformed (figures without an image).

    Parameters
    ----------
    masker : a nimask masker
    title : str, optional
        Default: the masker's class name and "report".
    notes : list of str, optional
        More reasons to warn (each also a NimaskReportWarning).
    """
    import nimask

    from .._warnings import find_stack_level
    from ..exceptions import NimaskReportWarning

    name = type(masker).__name__
    title = title or f"{name} report"
    notes = report_notes(masker) + list(notes or [])
    for note in notes:
        warnings.warn(note, NimaskReportWarning, stacklevel=find_stack_level())
    reports_on = bool(getattr(masker, "reports", True))
    log = getattr(masker, "_report_log", None)
    log = log if isinstance(log, ReportLog) else ReportLog()
    if not masker.__sklearn_is_fitted__():
        facts = table(["", ""], [("masker", name), ("fitted", "no")])
        sections = [section("Summary", facts, "summary"), _notes_section(notes, log, reports_on),
                    _parameters_section(masker, fitted=False)]
        return Report(page(title, f"nimask {nimask.__version__} · not fitted", sections), title=title, notes=notes)
    kind = _kind(masker)
    sections = []

    # summary
    n = masker.n_elements_
    unit = {"voxels": "voxels", "labels": "regions", "maps": "maps", "spheres": "spheres"}[kind]
    facts = [("masker", name), ("output columns (n_elements_)", f"{n} {unit}"),
             ("images in this report", len(log.runs) or "none transformed yet")]
    if log.fit_seconds is not None:
        facts.append(("fit time", f"{log.fit_seconds:.2f} s"))
    if log.transform_seconds is not None:
        facts.append(("last transform time", f"{log.transform_seconds:.2f} s"))
    if not reports_on:
        facts.append(("reports", "False: no warnings, images or signals were recorded, no figure drawn"))
    sections.append(section("Summary", table(["", ""], facts), "summary"))

    # one section per image (every subject of a Multi masker); no figure with reports=False
    op = None
    entries = (list(enumerate(log.runs)) or [(0, None)]) if reports_on else []
    for i, run in entries:
        source = run.source if run is not None else log.fit_sources
        if run is None and source is not None and source[0] == "list" and len(source[1]) > 1:
            source = source[1][0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a report never warns about the data again
            try:
                bg = _mean_of(source, log)
            except Exception:  # the file changed or vanished: show what we can
                bg = None
            label = source_label(source, i) if run is not None else (
                "fit image" if source is not None else "fitted masker (no image recorded)")
            figs, op_i = _overlay_figures(masker, kind, bg, label)
        op = op_i if op_i is not None else op
        body = []
        if bg is None and run is not None:
            body.append('<p class="note">The image is no longer available (an in-memory image that was deleted, '
                        'a moved file, or an input that was not a list of images): overlays are drawn without '
                        'it.</p>')
        body.append('<div class="image">' + "".join(figs) + "</div>")
        if kind == "voxels":
            body.append(_mask_coverage(masker, bg))
        if run is not None:
            body.append(f'<p class="note">{run.n_volumes} volumes × {run.n_columns} columns'
                        + (f"; {run.nan_columns} all-NaN columns" if run.nan_columns else "")
                        + (f"; confounds: {esc(run.confounds)}" if run.confounds else "")
                        + (f"; {esc(run.sample_mask)}" if run.sample_mask else "") + "</p>")
            if run.n_volumes > 1 and run.sample.size:
                from ..plotting import plot_carpet

                shown = "" if run.sample.shape[1] == run.n_columns else f", {run.sample.shape[1]} evenly spaced shown"
                groups, names = _carpet_groups(masker, kind, run)
                display = plot_carpet(run.sample, t_r=getattr(masker, "t_r", None), max_rows=run.sample.shape[1],
                                      groups=groups, group_names=names,
                                      # the image's name is the section's heading: a long file name would cut
                                      # the title off at the figure's edge
                                      title=f"extracted signals ({run.n_columns} {unit}{shown}), z-scored "
                                            f"per row for display", figure_size=(10.0, 3.6))
                body.append(image(_encoded(display), f"carpet plot of {label}"))
        heading = f"Image {i + 1}: {label}" if run is not None else label
        sections.append(section(heading, "".join(body), f"image-{i + 1}"))

    # regions, coverage and dropped regions
    if kind == "voxels":
        regions, dropped = _regions_voxels(masker)
    elif kind == "labels":
        regions, dropped = _regions_labels(masker)
    elif kind == "maps":
        regions, dropped = _regions_maps(masker)
    else:
        regions, dropped = _regions_spheres(masker, op)
    sections.append(section("Regions: voxels and coverage" if kind != "voxels" else "Mask", regions, "regions"))
    if kind != "voxels":
        body = (table([unit[:-1], "name", "why"], dropped) if dropped else "<p>None: every region gives a signal.</p>")
        sections.append(section("Regions dropped", body, "dropped"))

    steps = _cleaning_steps(masker, kind, log)
    body = ("<ol>" + "".join(f"<li>{esc(s)}</li>" for s in steps) + "</ol>") if steps else \
        "<p>None: the signals are the extracted values as they are.</p>"
    sections.append(section("Signal extraction and cleaning steps", body, "cleaning"))

    sections.append(_notes_section(notes, log, reports_on))
    sections.append(_parameters_section(masker, fitted=reports_on and isinstance(masker.__dict__.get("_report_log"),
                                                                                   ReportLog)))
    # nothing that changes between two reports of the same fitted masker (no build time): a report is
    # reproducible (nilearn's check_masker_generate_report_constant)
    subtitle = f"nimask {nimask.__version__} · {n} {unit}"
    return Report(page(title, subtitle, sections), title=title, notes=notes)
