"""The report state nilearn's maskers keep under private names, read from nimask's record.

nilearn's report checks (conformance/run.py) and tools written against nilearn read
``_report_content``, ``_has_report_data()`` and ``_report_warnings``; ``generate_report``
must leave the masker unchanged all the same.
"""
from __future__ import annotations

import inspect
import warnings

import matplotlib  # noqa: F401 - a test extra; the reports need it
import pytest

from _report_cases import sample  # noqa: E402
from nimask.exceptions import NimaskReportWarning  # noqa: E402
from nimask.maskers import MultiNiftiMasker, NiftiLabelsMasker, NiftiMasker  # noqa: E402


@pytest.fixture(scope="module")
def data():
    return sample(n_volumes=12)


def test_report_state_follows_fit_and_reports(data):
    masker = NiftiMasker(data["mask"])
    assert masker._has_report_data() is False
    assert masker._report_content["description"] and "reports_at_fit_time" not in masker._report_content
    with pytest.warns(NimaskReportWarning, match="This estimator has not been fit yet"):
        masker.generate_report(title="before fit")
    assert masker._report_content["title"] == "before fit"
    assert masker._report_warnings == sorted(set(masker._report_warnings)) != []

    masker.fit(data["func"])  # a new fit: the last report's warnings are gone
    assert masker._has_report_data() is True and masker._report_warnings == []
    assert masker._report_content["reports_at_fit_time"] is True

    masker.reports = False
    masker.fit(data["func"])  # nothing is left of the first fit's record
    assert "_report_log" not in masker.__dict__
    assert masker._has_report_data() is False and masker._report_content["reports_at_fit_time"] is False
    with pytest.warns(NimaskReportWarning) as caught:
        report = masker.generate_report()
    messages = [str(w.message) for w in caught]
    assert any("Report generation was disabled when fit was run" in m for m in messages)
    assert masker._report_warnings == sorted(set(messages)) == sorted(report.notes)


def test_generate_report_leaves_the_fitted_masker_unchanged(data):
    masker = NiftiLabelsMasker(data["labels"], standardize=None).fit(data["func"])
    masker.transform(data["func"])
    before = dict(masker.__dict__)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = masker.generate_report(title="labels")
    assert masker.__dict__ == before
    assert masker._report_content["title"] == "labels" == report.title
    assert 'div id="sk-container-id' in str(report) and '<div class="image">' in str(report)


def test_multi_masker_fitted_on_a_list_says_which_image_it_shows(data):
    masker = MultiNiftiMasker(data["mask"]).fit([data["func"], data["func"]])
    with pytest.warns(NimaskReportWarning, match="A list of 4D subject images were provided to fit"):
        masker.generate_report()
    masker.transform([data["func"], data["func"]])  # each transformed image is shown: no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        masker.generate_report()


@pytest.mark.parametrize("cls", [NiftiMasker, MultiNiftiMasker])
def test_signature_is_nilearns_and_sessions_still_works(cls):
    import nilearn.maskers

    ours = inspect.signature(cls).parameters
    theirs = inspect.signature(getattr(nilearn.maskers, cls.__name__)).parameters
    assert list(ours) == list(theirs)
    assert all(ours[k].default == theirs[k].default for k in ours)
    with pytest.warns(DeprecationWarning, match="'sessions' is the old name of 'runs'"):
        assert cls(sessions=[0, 0, 1]).runs == [0, 0, 1]
    with pytest.raises(TypeError, match="unexpected keyword argument 'session'"):
        cls(session=[0])

    class Subclass(cls):  # a user's subclass gets its own signature
        def __init__(self, extra=1, **kwargs):
            super().__init__(**kwargs)
            self.extra = extra

    assert list(inspect.signature(Subclass).parameters) == ["extra", "kwargs"]
