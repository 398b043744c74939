"""ConnectivityMeasure's API: nilearn's signature and defaults, a numpydoc docstring that documents
every parameter (in order, with its default) and every fitted attribute, scikit-learn behaviour."""
from __future__ import annotations

import ast
import inspect
import re
import warnings

import numpy as np
import pytest
from nilearn import connectome as nl
from numpydoc.docscrape import NumpyDocString
from sklearn.base import clone
from sklearn.covariance import EmpiricalCovariance
from sklearn.utils.estimator_checks import parametrize_with_checks

from nimask import connectome as nm


def _doc() -> NumpyDocString:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return NumpyDocString(nm.ConnectivityMeasure.__doc__)


def _x():
    rng = np.random.default_rng(0)
    return [rng.standard_normal((30, 4)), rng.standard_normal((40, 4))]


def test_signature_is_nilearns():
    ours = inspect.signature(nm.ConnectivityMeasure.__init__).parameters
    theirs = inspect.signature(nl.ConnectivityMeasure.__init__).parameters
    assert [(p.name, p.default) for p in ours.values()] == [(p.name, p.default) for p in theirs.values()]
    for method in ("fit", "fit_transform", "transform", "inverse_transform"):
        ours = inspect.signature(getattr(nm.ConnectivityMeasure, method)).parameters
        theirs = inspect.signature(getattr(nl.ConnectivityMeasure, method)).parameters
        assert [(p.name, p.default) for p in ours.values()] == [(p.name, p.default) for p in theirs.values()]


def test_every_parameter_is_documented_in_order_with_its_default():
    doc = _doc()
    signature = [p for p in inspect.signature(nm.ConnectivityMeasure.__init__).parameters.values() if p.name != "self"]
    assert [p.name for p in doc["Parameters"]] == [p.name for p in signature]
    documented = {p.name: p.type for p in doc["Parameters"]}
    for param in signature:
        match = re.search(r"default=(.+)$", documented[param.name])
        assert match and ast.literal_eval(match.group(1)) == param.default, param.name


@pytest.mark.parametrize("kind", ["covariance", "tangent"])
def test_every_fitted_attribute_is_documented(kind):
    measure = nm.ConnectivityMeasure(kind=kind).fit(_x())
    fitted = {k for k in vars(measure) if k.endswith("_") and not k.startswith("_")}
    documented = [a.name for a in _doc()["Attributes"]]
    assert set(documented) == fitted
    assert documented == sorted(documented)
    reference = nl.ConnectivityMeasure(kind=kind).fit(_x())
    assert {k for k in vars(reference) if k.endswith("_")} <= fitted  # nilearn's and excluded_regions_


def test_scikit_learn_behaviour():
    measure = nm.ConnectivityMeasure(kind="correlation", vectorize=True)
    assert clone(measure).get_params() == measure.get_params()
    assert "kind='correlation'" in repr(measure)
    assert not measure.__sklearn_is_fitted__()
    measure.fit(_x())
    assert measure.__sklearn_is_fitted__()
    assert measure.cov_estimator_ is not measure.cov_estimator
    assert not hasattr(measure.cov_estimator_, "covariance_")  # a template, never fitted


def test_verbose_prints_the_end_of_fit(capsys):
    nm.ConnectivityMeasure(verbose=1).fit(_x())
    assert capsys.readouterr().out == "[ConnectivityMeasure.fit] Finished fit\n"
    nm.ConnectivityMeasure().fit(_x())
    assert capsys.readouterr().out == ""


# scikit-learn's estimator checks, with the checks that nilearn 0.14.1's own ConnectivityMeasure
# is expected to fail (nilearn/_utils/estimator_checks.py), less three that nimask passes:
# check_estimator_sparse_array, check_estimator_sparse_matrix, check_readonly_memmap_input
NILEARN_EXPECTED_FAILURES = {
    "check_fit2d_predict1d": "not applicable",
    "check_methods_sample_order_invariance": "as nilearn",
    "check_methods_subset_invariance": "as nilearn",
    "check_transformer_data_not_an_array": "as nilearn",
    "check_transformer_general": "as nilearn",
    "check_transformer_preserve_dtypes": "as nilearn",
}


@parametrize_with_checks(
    [nm.ConnectivityMeasure(cov_estimator=EmpiricalCovariance()), nm.ConnectivityMeasure()],
    expected_failed_checks=lambda estimator: NILEARN_EXPECTED_FAILURES,
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
