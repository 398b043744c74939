"""NiftiMasker checks t_r at fit, filter or not (nilearn accepts t_r=-2 or 2000 silently)."""
from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from nimask.exceptions import ParameterError
from nimask.maskers import MultiNiftiMasker, NiftiMasker

AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])


def _mask():
    data = np.zeros((7, 8, 9), np.uint8)
    data[2:5, 2:6, 3:7] = 1
    return nib.Nifti1Image(data, AFFINE)


@pytest.mark.parametrize("cls", [NiftiMasker, MultiNiftiMasker])
@pytest.mark.parametrize("t_r, match", [(-2.0, r"t_r must be > 0 seconds; got t_r=-2.0"),
                                        (0, r"t_r must be > 0 seconds; got t_r=0"),
                                        (2000, r"t_r=2000 s is implausibly large.*milliseconds")])
def test_bad_t_r_refused_at_fit_without_filter(cls, t_r, match):
    masker = cls(_mask(), t_r=t_r)  # __init__ stores it unchanged
    assert masker.get_params()["t_r"] == t_r
    with pytest.raises(ParameterError, match=match) as info:
        masker.fit()
    assert info.value.param == "t_r"


def test_plausible_t_r_accepted():
    assert NiftiMasker(_mask(), t_r=0.8).fit().n_elements_ == 48


def test_no_file_checksum_without_a_cache(tmp_path, monkeypatch):
    """Cache keys (file checksums) are only built when a cache location is used."""
    import nimask.maskers._cache as base

    path = tmp_path / "run.nii.gz"
    rng = np.random.default_rng(0)
    nib.Nifti1Image(rng.standard_normal((7, 8, 9, 5)).astype(np.float32), AFFINE).to_filename(path)
    calls = []
    real = base._file_fingerprint
    monkeypatch.setattr(base, "_file_fingerprint", lambda p: calls.append(p) or real(p))
    out = NiftiMasker(_mask(), standardize=None).fit_transform(str(path))
    assert out.shape == (5, 48) and calls == []
    NiftiMasker(_mask(), standardize=None, memory=str(tmp_path / "cache")).fit_transform(str(path))
    assert calls  # with a cache, the file content is part of the key


@pytest.mark.parametrize("dtype", [np.float32, np.int16])
def test_streamed_mean_of_a_file_matches_numpy_and_nilearn(tmp_path, dtype):
    """Masks computed from a file use a streamed mean: same bits as numpy's mean of the array."""
    import warnings

    import nilearn.maskers as nl_maskers

    from nimask.masking._mean import mean_volume
    rng = np.random.default_rng(4)
    data = rng.random((20, 22, 24, 13)) * 10
    data[4:16, 4:18, 5:19] += 100
    path = tmp_path / "run.nii.gz"
    nib.Nifti1Image(data.astype(dtype), np.diag([8.0, 8.0, 8.0, 1.0])).to_filename(path)
    _, mean, _ = mean_volume(str(path))
    expected = np.asanyarray(nib.load(path).dataobj).mean(axis=-1)
    assert mean.dtype == expected.dtype
    np.testing.assert_array_equal(mean, expected)
    for strategy in ("epi", "background"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = NiftiMasker(mask_strategy=strategy).fit(str(path))
            theirs = nl_maskers.NiftiMasker(mask_strategy=strategy).fit(str(path))
        np.testing.assert_array_equal(np.asarray(ours.mask_img_.dataobj), np.asarray(theirs.mask_img_.dataobj))
