"""Catalogue §2.10 (estimator lifecycle and API, E1-E9)."""
from __future__ import annotations

import pickle
import warnings
from concurrent.futures import ThreadPoolExecutor

import nibabel as nib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from _rel import AFFINE, SHAPE, labels_img, maps_img, mask_img, run_img
from nimask import image
from nimask.maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiMasker, NiftiSpheresMasker

MAKERS = {
    "NiftiMasker": lambda: NiftiMasker(mask_img(), detrend=True, standardize="zscore_sample"),
    "NiftiLabelsMasker": lambda: NiftiLabelsMasker(labels_img(), detrend=True, standardize="zscore_sample"),
    "NiftiMapsMasker": lambda: NiftiMapsMasker(maps_img(), detrend=True, standardize="zscore_sample"),
    "NiftiSpheresMasker": lambda: NiftiSpheresMasker([(4, 6, 8), (10, 10, 12)], radius=2.5,
                                                      detrend=True, standardize="zscore_sample"),
}


@pytest.mark.parametrize("name", list(MAKERS))
def test_E1_transform_before_fit(name):
    with pytest.raises(NotFittedError):
        MAKERS[name]().transform(run_img())


def test_E2_inverse_transform_wrong_width():
    masker = NiftiMasker(mask_img()).fit()
    with pytest.raises(ValueError, match=r"Expected \(3, 64\)\.\s+Got \(3, 7\)"):
        masker.inverse_transform(np.zeros((3, 7)))


def test_E4_3d_input_gives_1d_output_like_nilearn():
    """E4: documented nilearn behaviour kept (drop-in): a 3D image gives ``(n_features,)``."""
    X = NiftiMasker(mask_img()).fit().transform(image.index_img(run_img(), 0))
    assert X.shape == (64,)


def test_E4_set_output_keeps_2d():
    masker = NiftiMasker(mask_img()).set_output(transform="default").fit()
    assert masker.transform(image.index_img(run_img(), 0)).shape == (1, 64)


def test_E5_refit_with_another_mask():
    masker = NiftiMasker(mask_img()).fit()
    other = np.zeros(SHAPE, np.uint8)
    other[0:2, 0:2, 0:2] = 1
    masker.set_params(mask_img=nib.Nifti1Image(other, AFFINE)).fit()
    assert masker.n_elements_ == 8
    assert masker.transform(run_img(t=3)).shape == (3, 8)


@pytest.mark.parametrize("name", list(MAKERS))
def test_E6_pickle_clone_get_params_round_trip(name):
    masker = MAKERS[name]()
    img = run_img()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        expected = masker.fit_transform(img)
        again = pickle.loads(pickle.dumps(masker)).transform(img)
        cloned = clone(masker)
        assert cloned.get_params().keys() == masker.get_params().keys()
        np.testing.assert_array_equal(again, expected)
        np.testing.assert_array_equal(cloned.fit_transform(img), expected)


@pytest.mark.parametrize("name", list(MAKERS))
def test_E8_one_masker_used_from_several_threads(name):
    """E8: a fitted masker is safe to share between threads (transform has no shared state)."""
    masker = MAKERS[name]()
    imgs = [run_img(seed=s) for s in range(6)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        masker.fit(imgs[0])
        serial = [masker.transform(img) for img in imgs]
        with ThreadPoolExecutor(3) as pool:
            threaded = list(pool.map(masker.transform, imgs))
    for a, b in zip(serial, threaded, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(MAKERS))
def test_E9_bitwise_identical_across_blas_thread_counts(name):
    """E9: same inputs, 1 or several BLAS/OpenMP threads: identical outputs."""
    from threadpoolctl import threadpool_limits

    img = run_img()
    conf = np.random.default_rng(3).standard_normal((30, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with threadpool_limits(limits=1):
            one = MAKERS[name]().fit_transform(img, confounds=conf)
        with threadpool_limits(limits=4):
            many = MAKERS[name]().fit_transform(img, confounds=conf)
        twice = MAKERS[name]().fit_transform(img, confounds=conf)
    np.testing.assert_array_equal(one, many)
    np.testing.assert_array_equal(many, twice)
