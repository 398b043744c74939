"""The report recording and the warnings machinery: ``reports=False`` touches neither the
warning filters nor the warnings; ``reports=True`` records per outermost call and re-emits."""
from __future__ import annotations

import warnings

import pytest

import nimask.masking._epi as epi_kernel
import nimask.signal._clean as clean_kernel
from _report_cases import MASKERS, fitted, sample
from nimask.exceptions import NimaskWarning
from nimask.maskers import NiftiMasker

_NYQUIST = "too high to be handled by a digital filter"


@pytest.fixture(scope="module")
def data():
    return sample()


def _probe(monkeypatch, module, name: str) -> list:
    """Wrap ``module.name`` to record ``(warnings.filters, copy of its entries)`` at each call."""
    seen: list = []
    original = getattr(module, name)

    def probe(*args, **kwargs):
        seen.append((warnings.filters, list(warnings.filters)))
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, probe)
    return seen


def _filters_seen(masker, call, monkeypatch, module, name: str) -> tuple[list, object, list]:
    seen = _probe(monkeypatch, module, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("default", message="a filter of the caller")
        filters = warnings.filters
        contents = list(filters)
        call(masker)
    assert seen, f"the probe on {name} was not called"
    return seen, filters, contents


@pytest.mark.parametrize("stage", ["fit", "transform"])
def test_reports_false_leaves_the_callers_filters(stage, data, monkeypatch):
    if stage == "fit":  # the EPI mask kernel runs inside fit
        make = lambda rep: NiftiMasker(mask_strategy="epi", reports=rep)  # noqa: E731
        call = lambda m: m.fit(data["func"])  # noqa: E731
        where = (epi_kernel, "epi_threshold")
    else:  # the cleaning kernel runs inside transform
        make = lambda rep: NiftiMasker(data["mask"], detrend=True, reports=rep).fit()  # noqa: E731
        call = lambda m: m.transform(data["func"])  # noqa: E731
        where = (clean_kernel, "_clean_run")
    seen, filters, contents = _filters_seen(make(False), call, monkeypatch, *where)
    for during, entries in seen:
        assert during is filters and entries == contents
    # the probe sees the recording when there is one (so the check above can fail)
    monkeypatch.undo()
    seen, filters, contents = _filters_seen(make(True), call, monkeypatch, *where)
    assert all(during is not filters and entries != contents for during, entries in seen)
    assert warnings.filters is not filters  # the recording ended with the call


def test_reports_false_error_filter_raises_inside_the_kernel(data):
    masker = NiftiMasker(data["mask"], reports=False, low_pass=0.4, t_r=2.0).fit()  # Nyquist 0.25 Hz
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("error", NimaskWarning)
        with pytest.raises(NimaskWarning, match=_NYQUIST) as excinfo:
            masker.transform(data["func"])
    # raised where the kernel warns, not by a re-emission after transform returned
    innermost = excinfo.traceback[-1].path
    assert innermost.parent.name == "signal" and innermost.parent.parent.name == "nimask", innermost


def _caught(masker, call) -> list:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call(masker)
    return [(w.category, str(w.message)) for w in caught]


def test_reports_true_lists_and_re_emits_each_warning_once(data):
    params = {"mask_img": data["mask"], "low_pass": 0.4, "t_r": 2.0, "standardize": "zscore_sample"}
    plain = NiftiMasker(**params, reports=False).fit()
    reported = NiftiMasker(**params, reports=True).fit()
    direct = _caught(plain, lambda m: m.transform(data["func"]))
    assert any(_NYQUIST in message for _, message in direct)
    assert _caught(reported, lambda m: m.transform(data["func"])) == direct  # once each, same order
    listed = [w for w in reported._report_log.warnings if w["stage"] == "transform"]
    assert {(w["category"], w["message"]) for w in listed} == {(c.__name__, m) for c, m in direct}
    assert sum(w["count"] for w in listed) == len(direct)
    with warnings.catch_warnings():  # an error filter still raises from a recorded call
        warnings.simplefilter("error", NimaskWarning)
        with pytest.raises(NimaskWarning, match=_NYQUIST):
            reported.transform(data["func"])


# ------------------------------------------------------------------ transform adds no attribute
@pytest.mark.parametrize("reports", [True, False])
def test_transform_adds_no_attribute(reports, data):
    masker = NiftiMasker(data["mask"], detrend=True, standardize=None, reports=reports).fit()
    log = getattr(masker, "_report_log", None)
    assert (log is not None) == reports  # fit creates the log when it records
    for n_volumes in (20, 12):
        keys = set(vars(masker))
        masker.transform(data["func"].slicer[..., :n_volumes])
        assert set(vars(masker)) == keys
        assert getattr(masker, "_report_log", None) is log  # updated in place, not rebound
        if reports:
            assert [r.n_volumes for r in log.runs] == [n_volumes]


@pytest.mark.parametrize("name", MASKERS)
def test_every_masker_updates_its_log_in_place(name, data):
    masker, imgs = fitted(name, data)  # reports=True: fitted and transformed once
    keys, log = set(vars(masker)), masker._report_log
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker.transform(imgs if name.startswith("Multi") else imgs[0])
    assert set(vars(masker)) == keys and masker._report_log is log and log.runs


def test_recording_keeps_nothing_but_the_log_on_the_masker(data):
    kept = []
    for reports in (True, False):
        masker = NiftiMasker(data["mask"], detrend=True, standardize=None, reports=reports)
        masker.fit_transform(data["func"])
        masker.transform(data["func"])
        kept.append(set(vars(masker)))
    assert kept[0] - kept[1] == {"_report_log"}  # no recursion depth or other state on the instance


def test_transform_after_a_fit_that_recorded_nothing_records_nothing(data):
    masker = NiftiMasker(data["mask"], detrend=True, standardize=None, reports=False).fit()
    masker.set_params(reports=True)
    keys = set(vars(masker))
    masker.transform(data["func"])
    assert set(vars(masker)) == keys and not hasattr(masker, "_report_log")
    masker.fit_transform(data["func"])  # a fit may add it
    assert masker._report_log.runs[0].n_volumes == 20


def test_a_failed_recorded_call_leaves_no_recording_state(data):
    masker = NiftiMasker(data["mask"], standardize=None, reports=True).fit()
    with pytest.raises(ValueError, match="confounds"):
        masker.transform(data["func"], confounds=[[1.0]])  # one confound row for 20 volumes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("outside any masker call", NimaskWarning, stacklevel=1)
        masker.transform(data["func"].slicer[..., :12])
    assert [str(w.message) for w in caught][0] == "outside any masker call"
    assert [r.n_volumes for r in masker._report_log.runs] == [12]  # this call recorded again
