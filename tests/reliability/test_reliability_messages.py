"""Issue #14, round 2 (docs/reliability.md, section 2.15, Q5 and Q6): errors speak of the user's inputs.

Seeds given as one triplet (or a flat list, a string, a seed of the wrong length) say what
``seeds`` must be and what was given, keeping nilearn's wording (its tests match on it) and
nilearn's exception type (``ValueError``). Butterworth filtering of a 3D image, or of a series too
short for the filter, names the cut-off, the image and its volumes instead of scipy's ``padlen``;
detrending or standardising one volume keeps nilearn's warning, which now says why.
"""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

from _rel import AFFINE, labels_img, mask_img, raises, run_img
from nimask import signal
from nimask.exceptions import AtlasError, NimaskDataWarning, ParameterError
from nimask.maskers import MultiNiftiMasker, NiftiLabelsMasker, NiftiMasker, NiftiSpheresMasker

NILEARN_SEEDS = "Seeds must be a list of triplets of coordinates in native space."


@pytest.mark.parametrize("seeds, needles", [
    ((0, -52, 18), ["Seed #0 is not a valid triplet of coordinates. It is of type int.",
                    "list of (x, y, z) triplets", "one triplet was given, (0, -52, 18)", "seeds=[(0, -52, 18)]"]),
    ([0.0, -52.0, 18.0], ["It is of type float", "one triplet was given, (0.0, -52.0, 18.0)"]),
    (np.array([0, -52, 18]), ["one triplet was given, (0, -52, 18)"]),
    ([0, -52, 18, 4, 10, 20], ["a flat sequence of 6 numbers was given", "group them as (x, y, z) triplets"]),
    ("0,-52,18", ["Given seed list is of type: <class 'str'>", "a string is not a list of coordinates"]),
    ([(0, -52)], ["Seed #0 is of length 2 instead of 3: (0, -52)", "(x, y, z) triplet"]),
    ([(0, -52, 18), 7], ["Seed #1 is not a valid triplet of coordinates. It is of type int: 7"]),
    ([(0, -52, 18), "abc"], ["Seed #1 is not a valid triplet of coordinates. It is of type str"]),
], ids=["tuple-triplet", "list-triplet", "array-triplet", "flat-list", "string", "pair", "scalar-seed",
        "string-seed"])
def test_Q5_seeds_that_are_not_a_list_of_triplets_say_what_was_given(seeds, needles):
    masker = NiftiSpheresMasker(seeds, radius=2)
    with raises(AtlasError, ValueError, NILEARN_SEEDS, *needles) as info:
        masker.fit_transform(run_img())
    assert info.value.param == "seeds"
    assert not hasattr(masker, "seeds_")  # nothing fitted, nothing returned


def _img3d(path=None):
    img = nib.Nifti1Image(np.asarray(run_img(t=1).dataobj)[..., 0], AFFINE)
    if path is not None:
        nib.save(img, path)
        return str(path)
    return img


@pytest.mark.parametrize("case", ["NiftiMasker-3d-low_pass", "NiftiMasker-3d-file-high_pass",
                                  "NiftiLabelsMasker-3d-band", "NiftiSpheresMasker-5-volumes",
                                  "MultiNiftiMasker-list", "clean-1-sample", "clean-band-10-samples",
                                  "clean-short-run"])
def test_Q6_filtering_a_3d_image_or_a_too_short_series_names_the_inputs(tmp_path, case):
    """nilearn (and nimask before) raised scipy's "The length of the input vector x must be greater than
    padlen, which is 18." for each of these."""
    if case == "NiftiMasker-3d-low_pass":
        call, needles = lambda: NiftiMasker(mask_img(), low_pass=0.1, t_r=2).fit_transform(_img3d()), [
            "NiftiMasker: low_pass=0.1 needs a 4D time series with more volumes", "is 3D (a single volume)",
            "more than 18 volumes", "low_pass=None"]
    elif case == "NiftiMasker-3d-file-high_pass":
        path = _img3d(tmp_path / "anat.nii.gz")
        call, needles = lambda: NiftiMasker(mask_img(), high_pass=0.01, t_r=2).fit_transform(path), [
            "high_pass=0.01 needs a 4D time series", repr(path), "is 3D (a single volume)"]
    elif case == "NiftiLabelsMasker-3d-band":
        call, needles = lambda: NiftiLabelsMasker(labels_img(), low_pass=0.1, high_pass=0.01,
                                                  t_r=2).fit_transform(_img3d()), [
            "low_pass=0.1 and high_pass=0.01 need a 4D time series", "more than 33 volumes",
            "low_pass=None and high_pass=None"]
    elif case == "NiftiSpheresMasker-5-volumes":
        call, needles = lambda: NiftiSpheresMasker([(4, 6, 8)], radius=2, low_pass=0.1,
                                                   t_r=2).fit_transform(run_img(t=5)), [
            "low_pass=0.1 needs a 4D time series", "has 5 volumes", "more than 18 volumes"]
    elif case == "MultiNiftiMasker-list":
        call, needles = lambda: MultiNiftiMasker(mask_img(), high_pass=0.01, t_r=2).fit_transform(
            [run_img(t=30), run_img(t=4)]), ["MultiNiftiMasker: high_pass=0.01", "has 4 volumes"]
    elif case == "clean-1-sample":
        call, needles = lambda: signal.clean(np.ones((1, 3)), low_pass=0.1, t_r=2), [
            "low_pass=0.1 (Butterworth filtering, t_r=2) needs a time series of more than 18 time points",
            "got a single time point", "4D time series with more volumes"]
    elif case == "clean-band-10-samples":
        call, needles = lambda: signal.clean(np.random.default_rng(0).random((10, 3)), low_pass=0.1,
                                             high_pass=0.01, t_r=2), ["need a time series of more than 33",
                                                                      "got 10 time points"]
    else:
        runs = np.r_[np.zeros(30), np.ones(6)]
        call, needles = lambda: signal.clean(np.random.default_rng(0).random((36, 3)), high_pass=0.01, t_r=2,
                                             runs=runs), ["high_pass=0.01", "got 6 time points in run 1.0"]
    result = None
    with warnings.catch_warnings(record=True) as caught, raises(ParameterError, ValueError, *needles) as info:
        warnings.simplefilter("always")
        result = call()
    assert result is None
    assert info.value.param in ("low_pass", "high_pass")
    assert "padlen" not in str(info.value)
    assert not [w for w in caught if issubclass(w.category, NimaskDataWarning)]  # no step ran (or warned) before


@pytest.mark.parametrize("step", ["detrend", "standardize"])
def test_Q6_detrending_or_standardising_one_volume_warns_with_the_reason(step):
    """The neighbours: these keep nilearn's behaviour (a warning, the values returned as they are)."""
    kwargs = {"detrend": step == "detrend", "standardize": "zscore_sample" if step == "standardize" else None}
    nilearn_words = {"detrend": "Detrending of 3D signal has been requested but would lead to zero values",
                     "standardize": "Standardization of 3D signal has been requested but would lead to zero values"}
    img = _img3d()
    with pytest.warns(NimaskDataWarning, match=nilearn_words[step]) as record:
        out = NiftiMasker(mask_img(), **kwargs).fit_transform(img)
    assert any("single time point" in str(w.message) and f"{step} needs a 4D time series" in str(w.message)
               for w in record)
    inside = np.asarray(mask_img().dataobj).astype(bool)
    np.testing.assert_array_equal(out, np.asarray(img.dataobj)[inside])  # returned as they are (nilearn)
