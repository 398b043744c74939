"""Bad inputs: nimask raises an error of its family that is also the exception nilearn 0.14.1
raises for the same input (so ``except ValueError`` written for nilearn keeps working)."""
from __future__ import annotations

import numpy as np
import pytest
from nilearn import connectome as nl
from sklearn.covariance import EmpiricalCovariance
from sklearn.exceptions import NotFittedError

from nimask import connectome as nm
from nimask.exceptions import ConnectomeError, ConnectomeTypeError, NimaskError, ParameterError


def _x(n=5, lengths=(30, 40, 35), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((t, n)) for t in lengths]


def _raised(module, call):
    try:
        call(module)
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return exc
    raise AssertionError(f"{module.__name__}: no exception")


CASES = {
    "wrong kind": lambda c: c.ConnectivityMeasure(kind="foo").fit(_x()),
    "1D array": lambda c: c.ConnectivityMeasure().fit(np.ones(10)),
    "list of 1D arrays": lambda c: c.ConnectivityMeasure().fit([np.ones(10), np.ones(10)]),
    "3D subject": lambda c: c.ConnectivityMeasure().fit([np.ones((3, 4, 5))]),
    "not an iterable": lambda c: c.ConnectivityMeasure().fit(1.0),
    "no subject": lambda c: c.ConnectivityMeasure().fit([]),
    "not arrays": lambda c: c.ConnectivityMeasure().fit([[[1.0, 2.0], [3.0, 4.0]]]),
    "inconsistent regions": lambda c: c.ConnectivityMeasure().fit([np.ones((10, 4)), np.ones((10, 5))]),
    "regions differ from fit": lambda c: c.ConnectivityMeasure().fit(_x()).transform(_x(n=4)),
    "transform not fitted": lambda c: c.ConnectivityMeasure().transform(_x()),
    "inverse_transform not fitted": lambda c: c.ConnectivityMeasure().inverse_transform(np.ones((2, 3, 3))),
    "tangent on one subject": lambda c: c.ConnectivityMeasure(kind="tangent").fit_transform(_x()[:1]),
    "tangent transform of one subject": lambda c: c.ConnectivityMeasure(kind="tangent").fit(_x()).transform(_x()[:1]),
    "cov_estimator without fit": lambda c: c.ConnectivityMeasure(cov_estimator="x").fit(_x()),
    "tangent, covariance not positive definite": lambda c: c.ConnectivityMeasure(
        kind="tangent", cov_estimator=EmpiricalCovariance()).fit(_x(n=8, lengths=(4, 5, 6))),
    "NaN values": lambda c: c.ConnectivityMeasure().fit([np.where(x > 1.5, np.nan, x) for x in _x()]),
    "inf values": lambda c: c.ConnectivityMeasure().fit([np.where(x > 1.5, np.inf, x) for x in _x()]),
    "no time point": lambda c: c.ConnectivityMeasure().fit([x[:0] for x in _x()]),
    "confounds without vectorize": lambda c: c.ConnectivityMeasure().fit_transform(_x(), confounds=np.ones((3, 1))),
    "confounds not iterable": lambda c: c.ConnectivityMeasure(vectorize=True).fit_transform(_x(), confounds=1.0),
    "confounds of the wrong length": lambda c: c.ConnectivityMeasure(vectorize=True).fit_transform(
        _x(), confounds=np.random.default_rng(0).standard_normal((4, 1))),
    "discarded diagonal unknown": lambda c: (lambda m: m.inverse_transform(m.fit_transform(_x())))(
        c.ConnectivityMeasure(vectorize=True, discard_diagonal=True)),
    "vector of unsuitable length": lambda c: c.vec_to_sym_matrix(np.ones(4)),
    "diagonal of the wrong shape": lambda c: c.vec_to_sym_matrix(np.ones(3), np.zeros(4)),
    "set_output": lambda c: c.ConnectivityMeasure().set_output(transform="pandas"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_same_exception_types_as_nilearn(case):
    expected = _raised(nl, CASES[case])
    got = _raised(nm, CASES[case])
    # nimask's error is catchable as whatever nilearn raised
    assert isinstance(got, type(expected)), f"nilearn: {type(expected).__mro__}, nimask: {type(got).__mro__}"
    if not isinstance(got, (NotFittedError, NotImplementedError)):
        assert isinstance(got, NimaskError), type(got).__mro__


def test_error_classes_and_messages():
    with pytest.raises(ParameterError, match=r"'kind' must be one of .*'foo' was provided") as info:
        nm.ConnectivityMeasure(kind="foo").fit(_x())
    assert info.value.param == "kind"
    with pytest.raises(ConnectomeTypeError, match="iterable of numpy arrays"):
        nm.ConnectivityMeasure().fit(3)
    with pytest.raises(ConnectomeError, match="same number of features"):
        nm.ConnectivityMeasure().fit([np.ones((10, 4)), np.ones((10, 5))])
    with pytest.raises(ConnectomeError, match="X has 4 features, but ConnectivityMeasure is expecting 5"):
        nm.ConnectivityMeasure().fit(_x()).transform(_x(n=4))
    with pytest.raises(ConnectomeError, match=r"Subject 1: .* NaN or infinite values in regions \[2\]"):
        x = _x()
        x[1][3, 2] = np.nan  # one NaN in a region that has signal
        nm.ConnectivityMeasure().fit(x)
    with pytest.raises(ConnectomeError, match="1 sample.* a covariance needs at least 2 time points"):
        nm.ConnectivityMeasure().fit([x[:1] for x in _x()])  # nilearn returns zero/NaN matrices
    with pytest.raises(ConnectomeError, match="subject 0 is not positive definite"):
        nm.ConnectivityMeasure(kind="tangent", cov_estimator=EmpiricalCovariance()).fit(_x(n=8, lengths=(4, 5, 6)))
    with pytest.raises(ParameterError, match="'standardize' must be one of"):
        nm.ConnectivityMeasure(standardize="bogus").fit(_x())  # nilearn accepts anything here
    with pytest.raises(TypeError, match="'vectorize' must be a bool"):
        nm.ConnectivityMeasure(vectorize="yes").fit(_x())


def test_inverse_transform_checks_the_number_of_regions():
    m = nm.ConnectivityMeasure(kind="correlation").fit(_x())
    with pytest.raises(ConnectomeError, match="expected matrices of 5 x 5 regions"):
        m.inverse_transform(np.ones((2, 4, 4)))
    m = nm.ConnectivityMeasure(kind="correlation", vectorize=True).fit(_x())
    with pytest.raises(ConnectomeError, match="expected matrices of 5 x 5 regions"):
        m.inverse_transform(np.ones((2, 10)))


def test_non_square_inputs_of_the_functions():
    for func in (nm.sym_matrix_to_vec, nm.cov_to_corr, nm.prec_to_partial):
        with pytest.raises(ConnectomeError, match="square"):
            func(np.ones((3, 4)))


def test_an_error_in_a_worker_thread_names_its_subject():
    X = _x(n=6, lengths=[40] * 20)
    X[12] = X[12][:4]  # fewer time points than regions: the empirical covariance is singular
    with pytest.raises(ConnectomeError, match="subject 12 is not positive definite"):
        nm.ConnectivityMeasure(kind="tangent", cov_estimator=EmpiricalCovariance()).fit(X)


def test_tangent_transform_after_refitting_another_kind():
    m = nm.ConnectivityMeasure(kind="covariance").fit(_x())
    m.set_params(kind="tangent")
    with pytest.raises(ConnectomeError, match="fitted with another kind"):
        m.transform(_x())
