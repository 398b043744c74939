"""scikit-learn surface of NiftiMasker / MultiNiftiMasker: estimator checks, clone, pipelines, output."""
from __future__ import annotations

import pickle
import warnings

import nibabel as nib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import parametrize_with_checks

from nimask.maskers import MultiNiftiMasker, NiftiMasker

SHAPE = (7, 8, 9)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


class _MaskImage(nib.Nifti1Image):
    """A mask whose repr is stable, so that pytest-xdist workers collect the same test ids."""

    def __repr__(self) -> str:
        return "<mask 7x8x9>"


def _mask_img():
    data = np.zeros(SHAPE, np.uint8)
    data[2:5, 2:6, 3:7] = 1
    return _MaskImage(data, AFFINE)


def _run(t=10, seed=0):
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image(rng.standard_normal(SHAPE + (t,)).astype(np.float32), AFFINE)


# The checks feed numpy arrays as X. A masker's X is an *image* (path or nibabel image;
# nilearn rejects arrays with a TypeError too), so every check that fits or transforms an
# array cannot apply. The maskers declare nilearn's tags (``two_d_array`` as nilearn's
# maskers, plus ``niimg_like`` and ``estimator_type="masker"``, which nilearn's own checks
# read), so scikit-learn runs every check; the data checks are listed here with the reason
# (nilearn lists them too and runs image versions of them, see conformance/).
_IMAGE_INPUT = "X must be an image (niimg-like); scikit-learn passes numpy arrays (TypeError)"
_DATA_CHECKS = [
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_complex_data",
    "check_dtype_object", "check_estimators_empty_data_messages", "check_pipeline_consistency",
    "check_estimators_nan_inf", "check_estimator_sparse_tag", "check_estimator_sparse_array",
    "check_estimator_sparse_matrix", "check_estimators_pickle", "check_f_contiguous_array_estimator",
    "check_transformer_data_not_an_array", "check_transformer_general", "check_transformer_preserve_dtypes",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance", "check_fit2d_1sample",
    "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent", "check_fit_check_is_fitted",
    "check_n_features_in", "check_fit1d", "check_fit2d_predict1d",
]
EXPECTED_FAILED = {name: _IMAGE_INPUT for name in _DATA_CHECKS}


@parametrize_with_checks(
    [NiftiMasker(_mask_img()), MultiNiftiMasker(_mask_img()), NiftiMasker()],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


# ---- the same properties, checked with images -------------------------------------------------
@pytest.mark.parametrize("cls", [NiftiMasker, MultiNiftiMasker])
def test_fit_returns_self_idempotent_and_params_untouched(cls):
    masker = cls(_mask_img(), detrend=True, memory_level=0)
    before = masker.get_params()
    assert masker.fit(_run()) is masker
    after = masker.get_params()
    assert before.keys() == after.keys()
    assert all(before[k] is after[k] for k in before)
    a = masker.fit_transform(_run())
    b = masker.fit(_run()).transform(_run())
    np.testing.assert_array_equal(a, b)
    assert all(attr.endswith("_") for attr in vars(masker) if not attr.startswith("_") and attr not in before)


def test_not_fitted_error_and_clone_and_pickle():
    masker = NiftiMasker(_mask_img(), standardize="zscore_sample")
    with pytest.raises(NotFittedError, match="NiftiMasker instance is not fitted yet"):
        masker.transform(_run())
    with pytest.raises(NotFittedError):
        masker.inverse_transform(np.zeros(3))
    masker.fit()
    twin = clone(masker)
    assert not hasattr(twin, "mask_img_")
    assert twin.get_params()["standardize"] == "zscore_sample"
    copy = pickle.loads(pickle.dumps(masker))
    np.testing.assert_array_equal(copy.transform(_run()), masker.transform(_run()))


def test_get_feature_names_out_and_set_output():
    masker = NiftiMasker(_mask_img()).fit()
    names = masker.get_feature_names_out()
    assert names.shape == (masker.n_elements_,)
    assert names[0] == "niftimasker0" and names[-1] == f"niftimasker{masker.n_elements_ - 1}"
    assert masker.transform(_run().slicer[..., 0]).shape == (masker.n_elements_,)
    masker.set_output(transform="pandas")
    frame = masker.transform(_run())
    assert list(frame.columns) == list(names)
    one = masker.transform(_run().slicer[..., 0])
    assert one.shape == (1, masker.n_elements_)
    masker.set_output(transform="default")
    assert masker.transform(_run().slicer[..., 0]).shape == (1, masker.n_elements_)  # nilearn's quirk
    multi = MultiNiftiMasker(_mask_img()).fit()
    assert multi.get_feature_names_out()[0] == "multiniftimasker0"
    multi.set_output(transform="pandas")
    assert list(multi.transform(_run()).columns) == list(multi.get_feature_names_out())
    outs = multi.transform([_run(), _run(5)])
    assert isinstance(outs, list) and all(isinstance(o, np.ndarray) for o in outs)


def test_pipeline_and_grid_search():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline

    rng = np.random.default_rng(0)
    y = np.tile([0, 1], 12)
    vols = []
    for label in y:
        data = rng.standard_normal(SHAPE).astype(np.float32)
        data[3, 3, 4] += 3.0 * label
        vols.append(nib.Nifti1Image(data, AFFINE))
    pipe = Pipeline([("masker", NiftiMasker(_mask_img())), ("clf", LogisticRegression())])
    grid = GridSearchCV(pipe, {"masker__smoothing_fwhm": [None, 2.0], "clf__C": [0.1, 1.0]}, cv=3)
    grid.fit(vols, y)
    assert set(grid.best_params_) == {"masker__smoothing_fwhm", "clf__C"}
    assert grid.best_score_ > 0.7
    assert grid.predict(vols[:4]).shape == (4,)


def test_input_data_alias_and_sessions():
    from nimask import input_data

    assert input_data.NiftiMasker is NiftiMasker
    assert input_data.MultiNiftiMasker is MultiNiftiMasker
    runs = np.repeat([0, 1], 5)
    with pytest.warns(DeprecationWarning, match="'sessions' is the old name of 'runs'"):
        old = NiftiMasker(_mask_img(), sessions=runs, detrend=True)
    assert old.runs is runs
    assert "sessions" not in old.get_params()
    new = NiftiMasker(_mask_img(), runs=runs, detrend=True)
    np.testing.assert_array_equal(old.fit_transform(_run()), new.fit_transform(_run()))
    with pytest.warns(DeprecationWarning):
        multi = MultiNiftiMasker(_mask_img(), sessions=runs)
    assert multi.runs is runs
    with pytest.raises(TypeError, match="unexpected keyword argument 'clean__extrapolate'.*clean_args"):
        NiftiMasker(clean__extrapolate=True)


def test_positional_order_matches_nilearn():
    import inspect

    import nilearn.maskers as nl
    for ours, theirs in ((NiftiMasker, nl.NiftiMasker), (MultiNiftiMasker, nl.MultiNiftiMasker)):
        a = [p for p in inspect.signature(ours).parameters.values() if p.kind != p.VAR_KEYWORD]
        b = list(inspect.signature(theirs).parameters.values())
        assert [(p.name, p.default) for p in a] == [(p.name, p.default) for p in b]
