"""generate_report() for every masker: content, self-containment, recording, Report API."""
from __future__ import annotations

import gc
import pickle
import re
import warnings
import weakref

import matplotlib  # noqa: F401, E402 - a test extra; the reports/figures need it
import nibabel as nib
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError  # noqa: E402

from _report_cases import MASKERS, fitted, sample, second_run  # noqa: E402
from nimask.exceptions import NimaskReportWarning, ParameterError  # noqa: E402
from nimask.maskers import (  # noqa: E402
    MultiNiftiLabelsMasker,
    NiftiLabelsMasker,
    NiftiMapsMasker,
    NiftiMasker,
    NiftiSpheresMasker,
)
from nimask.reporting import Report  # noqa: E402
from nimask.reporting._record import MAX_COLUMNS  # noqa: E402

_FETCHING = re.compile(
    r"""<(script|link|iframe|object|embed)\b|\b(src|href|srcset|poster|data)\s*=\s*(?!["']?(?:data:|#))""", re.I
)
_URL_IN_CSS = re.compile(r"url\(\s*(?!['\"]?data:)", re.I)


@pytest.fixture(scope="module")
def data():
    return sample()


def _section(html: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def assert_self_contained(html: str) -> None:
    """No element that fetches anything: no script/link/iframe, every src/href is a data: URI.

    Hyperlinks (``<a href>``: the documentation links of scikit-learn's estimator view) are
    followed only when clicked, so they are allowed."""
    assert html.startswith("<!DOCTYPE html>")
    html = re.sub(r"<a\s[^>]*>", "<a>", html, flags=re.I)
    assert not _FETCHING.search(html), _FETCHING.search(html).group(0)
    assert not _URL_IN_CSS.search(html)
    assert "@import" not in html


@pytest.mark.parametrize("name", MASKERS)
def test_report_of_every_masker(name, data):
    masker, imgs = fitted(name, data)
    report = masker.generate_report()
    html = report.get_html()
    assert_self_contained(html)
    assert f"{name} report" in html
    # one section per transformed image, each with its overlays and its carpet plot
    for i in range(len(imgs)):
        body = _section(html, f"image-{i + 1}")
        # the overlays are SVG (as nilearn's), the carpet plot PNG
        assert body.count('src="data:image/svg+xml;base64,') == 2
        assert body.count('src="data:image/png;base64,') == 1
        n_vol = imgs[i].shape[3]
        assert f"{n_vol} volumes × {masker.n_elements_} columns" in body
    assert f"image-{len(imgs) + 1}" not in html
    for anchor in ("summary", "regions", "cleaning", "warnings", "parameters"):
        _section(html, anchor)
    params = _section(html, "parameters")
    for key in masker.get_params(deep=False):
        assert f"<td>{key}</td>" in params


def test_nifti_masker_report_lists_cleaning_steps_in_order(data):
    masker, _ = fitted("NiftiMasker", data)
    steps = _section(masker.generate_report().get_html(), "cleaning")
    order = ["linear detrending", "low-pass 0.1 Hz (t_r = 2.0 s)", "confound regression (12 columns",
             "standardize=&#x27;zscore_sample&#x27;"]
    positions = [steps.find(s) for s in order]
    assert all(p >= 0 for p in positions), steps
    assert positions == sorted(positions)
    regions = _section(masker.generate_report().get_html(), "regions")
    assert f"<td class=\"num\">{masker.n_elements_}</td>" in regions


def test_labels_report_names_dropped_regions_and_why(data):
    labels = np.asanyarray(data["labels"].dataobj)
    mask = (np.asanyarray(data["mask"].dataobj) != 0) & (labels != 2)  # region 2 entirely masked out
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), data["mask"].affine)
    masker = NiftiLabelsMasker(data["labels"], labels=data["label_names"], mask_img=mask_img)
    with pytest.warns(UserWarning):  # the masked-out region is still reported to the caller
        signals = masker.fit_transform(data["func"])
    assert signals.shape[1] == 5
    html = masker.generate_report().get_html()
    dropped = _section(html, "dropped")
    assert "region02" in dropped and "no voxel left" in dropped
    assert "region01" not in dropped
    table = _section(html, "regions")
    n_atlas = int((labels == 2).sum())
    assert re.search(rf"<td>region02</td><td class=\"num\">{n_atlas}</td><td class=\"num\">0</td>", table)
    n_kept = int((labels[mask] == 1).sum())
    n_atlas1 = int((labels == 1).sum())
    assert re.search(rf"<td>region01</td><td class=\"num\">{n_atlas1}</td><td class=\"num\">{n_kept}</td>", table)


def test_labels_min_coverage_gives_a_reason(data):
    labels = np.asanyarray(data["labels"].dataobj)
    mask = np.asanyarray(data["mask"].dataobj) != 0
    keep = mask.copy()
    keep[(labels == 3) & (np.indices(labels.shape)[0] % 4 != 0)] = False  # keep ~1/4 of region 3
    masker = NiftiLabelsMasker(data["labels"], mask_img=nib.Nifti1Image(keep.astype(np.uint8), data["mask"].affine),
                               keep_all_regions=True, min_coverage=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        signals = masker.fit_transform(data["func"])
    assert np.isnan(signals[:, 2]).all()
    html = masker.generate_report().get_html()
    assert "min_coverage 0.5" in _section(html, "dropped")
    assert "1 all-NaN columns" in _section(html, "image-1")


def test_maps_report_flags_empty_maps_and_records_the_warning(data):
    maps = np.asanyarray(data["maps"].dataobj).copy()
    maps[..., 4] = 0
    masker = NiftiMapsMasker(nib.Nifti1Image(maps, data["maps"].affine), standardize=None)
    with pytest.warns(UserWarning, match=r"maps \[4\] are all zero"):
        masker.fit_transform(data["func"])
    html = masker.generate_report().get_html()
    assert "map is all zero" in _section(html, "dropped")
    warns = _section(html, "warnings")
    assert "NimaskDataWarning" in warns and "maps [4] are all zero" in warns


def test_spheres_report_shows_empty_spheres(data):
    masker = NiftiSpheresMasker([(0, 0, 0), (500, 0, 0)], radius=5, empty_spheres="nan")
    with pytest.warns(UserWarning, match="empty"):
        masker.fit_transform(data["func"])
    html = masker.generate_report().get_html()
    dropped = _section(html, "dropped")
    assert "seed (500.0, 0.0, 0.0)" in dropped and "NaN column" in dropped
    regions = _section(html, "regions")
    assert "<td class=\"num\">500.0</td>" in regions


def test_multi_report_covers_every_subject_in_order(data):
    imgs = [data["func"], second_run(data, 15), second_run(data, 12)]
    masker = MultiNiftiLabelsMasker(data["labels"], standardize=None)
    masker.fit_transform(imgs)
    html = masker.generate_report().get_html()
    for i, n in enumerate((20, 15, 12)):
        assert f"{n} volumes × 6 columns" in _section(html, f"image-{i + 1}")
    assert "images in this report</td><td>3</td>" in html


def test_warnings_are_recorded_and_still_reach_the_caller(data):
    masker = NiftiMasker(data["mask"])
    with pytest.warns(RuntimeWarning, match="Given mask will be used") as record:
        masker.fit(data["func"])
    assert record[0].filename == __file__  # still points at the caller's line
    assert "Given mask will be used" in _section(masker.generate_report().get_html(), "warnings")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match="Given mask will be used"):
            NiftiMasker(data["mask"]).fit(data["func"])


def test_no_strong_reference_to_in_memory_images(data):
    func = nib.Nifti1Image(np.asanyarray(data["func"].dataobj).astype(np.float32), data["func"].affine)
    masker = NiftiMasker(data["mask"])
    masker.fit_transform(func)
    ref = weakref.ref(func)
    del func
    gc.collect()
    assert ref() is None  # the masker did not keep the 4D image alive
    log = masker._report_log
    assert log.runs[0].sample.shape == (20, MAX_COLUMNS) and masker.n_elements_ > MAX_COLUMNS
    html = masker.generate_report().get_html()
    assert "no longer available" in html
    assert_self_contained(html)


def test_file_sources_and_pickling(tmp_path, data):
    path = tmp_path / "run.nii.gz"
    nib.save(data["func"], path)
    masker = NiftiMasker(data["mask"], standardize=None)
    masker.fit_transform(str(path))
    clone = pickle.loads(pickle.dumps(masker))  # weak references are dropped when pickling
    for m in (masker, clone):
        html = m.generate_report().get_html()
        assert "Image 1: run.nii.gz" in html
        assert "no longer available" not in html


def test_report_object(tmp_path, monkeypatch, data):
    masker, _ = fitted("NiftiSpheresMasker", data)
    report = masker.generate_report(title="my spheres")
    assert isinstance(report, Report)
    assert str(report) == report.get_html()
    assert "<title>my spheres</title>" in report.get_html()
    frame = report._repr_html_()
    assert frame.startswith("<iframe srcdoc=") and "&lt;!DOCTYPE html&gt;" in frame
    out = report.save_as_html(tmp_path / "r.html")
    assert out.read_text(encoding="utf-8") == report.get_html()
    with pytest.raises(ParameterError, match=r"\.html"):
        report.save_as_html(tmp_path / "r.txt")
    with pytest.raises(ParameterError, match="does not exist"):
        report.save_as_html(tmp_path / "missing" / "r.html")
    opened = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    path = report.open_in_browser(tmp_path / "b.html")
    assert opened == [path.resolve().as_uri()] and path.read_text(encoding="utf-8") == report.get_html()


def test_reports_false_records_nothing_and_draws_nothing(data):
    masker = NiftiMasker(data["mask"], standardize=None, reports=False)
    masker.fit_transform(data["func"])
    assert not hasattr(masker, "_report_log")
    with pytest.warns(NimaskReportWarning) as caught:
        html = masker.generate_report().get_html()
    messages = [str(w.message) for w in caught]
    # nilearn's wording for the same conditions, from a new line after the masker's name
    assert any(m.startswith("NiftiMasker report:\nReport generation not enabled!\nNo visual outputs created.")
               for m in messages)
    assert any("\nReport generation was disabled when fit was run." in m for m in messages)
    assert_self_contained(html)
    assert "reports=False" in html and "data:image" not in html
    warns = _section(html, "warnings")
    assert "Report generation not enabled!" in warns and "disabled when fit was run" in warns
    _section(html, "regions")
    _section(html, "parameters")


def test_reports_enabled_after_a_fit_without_them(data):
    masker = NiftiMasker(data["mask"], standardize=None, reports=False).fit()
    masker.reports = True
    with pytest.warns(NimaskReportWarning, match="Report generation was disabled when fit was run") as caught:
        html = masker.generate_report().get_html()
    assert len(caught) == 1
    assert "Report generation was disabled when fit was run" in _section(html, "warnings")
    assert 'src="data:image/svg+xml;base64,' in html  # the mask is drawn on its own grid


def test_unfitted_masker_report_warns_and_shows_the_parameters():
    masker = NiftiMasker(smoothing_fwhm=4.0)
    with pytest.warns(NimaskReportWarning, match="This estimator has not been fit yet") as caught:
        report = masker.generate_report(title="before fit")
    assert len(caught) == 1
    html = report.get_html()
    assert_self_contained(html)
    assert "<title>before fit</title>" in html and "data:image" not in html
    assert "This estimator has not been fit yet." in _section(html, "warnings")
    assert "<td>smoothing_fwhm</td><td>4.0</td>" in _section(html, "parameters")
    assert not hasattr(masker, "mask_img_")
    with pytest.raises(NotFittedError):
        masker.transform(np.zeros((2, 2, 2)))


@pytest.mark.parametrize("name", ["NiftiMasker", "NiftiLabelsMasker", "NiftiMapsMasker", "NiftiSpheresMasker"])
def test_fit_without_image_is_said_until_an_image_is_transformed(name, data):
    masker = {
        "NiftiMasker": lambda: NiftiMasker(data["mask"], standardize=None),
        "NiftiLabelsMasker": lambda: NiftiLabelsMasker(data["labels"], standardize=None),
        "NiftiMapsMasker": lambda: NiftiMapsMasker(data["maps"], standardize=None),
        "NiftiSpheresMasker": lambda: NiftiSpheresMasker([(0, 0, 0)], radius=6, standardize=None),
    }[name]().fit()
    with pytest.warns(NimaskReportWarning, match=f"No image provided to fit in {name}"):
        html = masker.generate_report().get_html()
    assert "No image provided to fit" in _section(html, "warnings")
    assert 'src="data:image/svg+xml;base64,' in html
    masker.transform(data["func"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a report of a masker that saw an image warns about nothing
        html = masker.generate_report().get_html()
    assert "No image provided to fit" not in html


def test_report_frame_size_and_page_access(data):
    masker, _ = fitted("NiftiMasker", data)
    report = masker.generate_report()
    assert report.html == report.get_standalone() == report.get_html() == str(report)
    assert "width: 800px; height: 800px" in report._repr_html_()  # nilearn's default frame
    assert report.resize(1200, 600) is report and (report.width, report.height) == (1200, 600)
    assert report._repr_html_() == report.body == report.get_iframe()
    assert "width: 1200px; height: 600px" in report.get_iframe()
    assert "width: 300px; height: 200px" in report.get_iframe(300, 200)
    with pytest.warns(NimaskReportWarning, match="Using default instead"):
        report.width = "foo"
    assert report.width == 800
    report.width = None  # the whole width of the notebook cell
    assert "width: 100%" in report.get_iframe()
    with pytest.warns(NimaskReportWarning, match="Using default instead"):
        report.height = -3
    assert report.height == 800


def test_generate_report_takes_nilearns_arguments(data):
    masker, _ = fitted("NiftiMapsMasker", data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        masker.generate_report("matplotlib", "maps", displayed_maps=masker.n_elements_)  # nilearn's order
        masker.generate_report(displayed_maps="all")
        masker.generate_report(displayed_maps=list(range(masker.n_elements_)))
    with pytest.warns(NimaskReportWarning, match=r"displayed_maps=\[0, 2\]: nimask's report shows every map"):
        masker.generate_report(displayed_maps=[0, 2])
    with pytest.warns(NimaskReportWarning, match="engine='plotly' is not available"):
        html = masker.generate_report(engine="plotly").get_html()
    assert "engine=&#x27;plotly&#x27; is not available" in _section(html, "warnings")
    with pytest.raises(TypeError, match="displayed_regions"):
        masker.generate_report(displayed_regions=3)


def test_report_before_any_transform_uses_the_fit_image(data):
    masker = NiftiMasker(mask_strategy="epi").fit(data["func"])
    html = masker.generate_report().get_html()
    assert "fit image" in html and "none transformed yet" in html
    assert html.count('src="data:image/svg+xml;base64,') == 2  # overlays, no carpet without signals
    assert 'src="data:image/png;base64,' not in html


@pytest.mark.slow  # starting the worker processes takes seconds
def test_multi_maps_with_worker_processes(data):
    """n_jobs=2 pickles the masker to worker processes: the report log (weak references) must pickle."""
    from nimask.maskers import MultiNiftiMapsMasker

    imgs = [data["func"], second_run(data)]
    masker = MultiNiftiMapsMasker(data["maps"], n_jobs=2, standardize=None).fit(imgs)
    out = masker.transform(imgs)
    assert [o.shape[0] for o in out] == [20, 15]
    html = masker.generate_report().get_html()
    assert "15 volumes × 6 columns" in _section(html, "image-2")


def test_module_filters_still_apply_to_re_emitted_warnings(data):
    masker = NiftiMasker(data["mask"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=RuntimeWarning, module=__name__)
        masker.fit(data["func"])  # "Given mask will be used" points at this module: ignored
    assert not [w for w in caught if "Given mask" in str(w.message)]
    assert "Given mask will be used" in _section(masker.generate_report().get_html(), "warnings")


def test_carpet_title_fits_in_its_figure_with_a_long_file_name(tmp_path, data, monkeypatch):
    """The carpet plot's title is not cut at the figure's edge (the file name is the heading)."""
    import nimask.plotting

    path = tmp_path / ("sub-01_ses-baseline_task-restingstate_acq-multiband_run-01_space-MNI152NLin2009cAsym_"
                       "res-2_desc-preproc_bold.nii.gz")
    nib.save(data["func"], path)
    masker = NiftiLabelsMasker(data["labels"], standardize=None)
    masker.fit_transform(str(path))
    shown = []
    real = nimask.plotting.plot_carpet

    def spy(*args, **kwargs):
        display = real(*args, **kwargs)
        figure = display.figure
        figure.canvas.draw()
        texts = [t for ax in figure.axes for t in (ax.title, ax._left_title, ax._right_title)] + figure.texts
        texts += [figure._suptitle] if figure._suptitle is not None else []
        boxes = [t.get_window_extent() for t in texts if t.get_text()]
        shown.append((kwargs.get("title"), boxes, figure.bbox))
        return display

    monkeypatch.setattr(nimask.plotting, "plot_carpet", spy)
    html = masker.generate_report().get_html()
    assert len(shown) == 1 and path.name in html  # the name is the section's heading
    title, boxes, figure_box = shown[0]
    assert path.name not in title and boxes
    for box in boxes:
        assert box.x0 >= figure_box.x0 - 1 and box.x1 <= figure_box.x1 + 1, (title, box, figure_box)


@pytest.mark.parametrize("name", ["NiftiLabelsMasker", "NiftiMapsMasker"])
def test_regions_are_translucent_over_the_mean_image(name, data, monkeypatch):
    """Region colours over the transformed image's mean are drawn at OVERLAY_ALPHA (the image stays visible)."""
    import nimask.plotting as plotting
    from nimask.reporting._masker_report import OVERLAY_ALPHA

    assert OVERLAY_ALPHA <= 0.4
    calls = []
    real = plotting.plot_roi

    def spy(roi, bg=None, **kwargs):
        calls.append((bg is not None, kwargs.get("alpha")))
        return real(roi, bg, **kwargs)

    monkeypatch.setattr(plotting, "plot_roi", spy)
    masker, _ = fitted(name, data)
    masker.generate_report().get_html()
    assert calls and all(alpha == OVERLAY_ALPHA for has_bg, alpha in calls if has_bg)
    assert any(has_bg for has_bg, _ in calls)


def test_run_record_counts_all_nan_columns_without_a_full_temporary():
    """Only all-NaN columns count (a column whose first value only is NaN does not)."""
    from nimask.reporting._record import _run_record

    signals = np.arange(40, dtype=np.float32).reshape(8, 5)
    signals[:, 1] = np.nan
    signals[:, 3] = np.nan
    signals[0, 4] = np.nan
    rec = _run_record("img", signals, None, None, 0.1)
    assert rec.nan_columns == 2 and rec.n_volumes == 8 and rec.n_columns == 5
