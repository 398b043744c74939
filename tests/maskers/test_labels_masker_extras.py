"""NiftiLabelsMasker: opt-in keep_all_regions / min_coverage, bad inputs, and an integration
test with the real Harvard-Oxford 2 mm and AAL atlases (shared/bench/data)."""
from __future__ import annotations

import os
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from _helpers import assert_float64_oracle, assert_oracle, float64_copy
from nimask.exceptions import AtlasError, NimaskDataWarning
from nimask.maskers import NiftiLabelsMasker

AFF = np.diag([2.0, 2.5, 3.0, 1.0])
SHAPE = (7, 8, 9)


def _labels(seed=0, values=(0, 1, 2, 3, 7)):
    return np.random.default_rng(seed).choice(values, SHAPE).astype(np.int16)


def _img(n=6, seed=1, dtype=np.float64):
    return nib.Nifti1Image((np.random.default_rng(seed).standard_normal(SHAPE + (n,)) * 10 + 100).astype(dtype), AFF)


# ------------------------------------------------------------------------------ opt-ins
def test_labels_masker_keep_all_regions_nan_and_coverage():
    labels = _labels()
    mask = (labels != 3).astype(np.uint8)
    lut = pd.DataFrame({"index": [0, 1, 2, 3, 7, 9], "name": ["Background", "a", "b", "c", "d", "e"]})
    img = _img()
    m = NiftiLabelsMasker(nib.Nifti1Image(labels, AFF), lut=lut, mask_img=nib.Nifti1Image(mask, AFF),
                          keep_all_regions=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = m.fit_transform(img)
        ref = NiftiLabelsMasker(nib.Nifti1Image(labels, AFF), mask_img=nib.Nifti1Image(mask, AFF)).fit_transform(img)
    assert got.shape == (6, 5)
    assert m.get_feature_names_out() == ["a", "b", "c", "d", "e"]
    assert np.isnan(got[:, 2]).all() and np.isnan(got[:, 4]).all()
    np.testing.assert_array_equal(got[:, [0, 1, 3]], ref)
    cov = m.region_coverage_
    assert cov["index"].tolist() == [1, 2, 3, 7, 9]
    assert cov.loc[2, "voxels_kept"] == 0 and cov.loc[2, "voxels_in_atlas"] == int((labels == 3).sum())
    assert cov.loc[4, "reason"] == "not in labels_img"
    assert "no voxel left" in cov.loc[2, "reason"]
    np.testing.assert_allclose(cov.loc[0, "fraction"], 1.0)
    # inverse of the NaN-padded output writes only the present regions
    inv = np.asarray(m.inverse_transform(np.arange(5.0)).dataobj)
    assert np.all(inv[(labels == 7) & (mask == 1)] == 3.0)


def test_labels_masker_keep_all_regions_cleaning_skips_nan_columns():
    labels = _labels()
    mask = (labels != 2).astype(np.uint8)
    img = _img(n=12)
    kw = dict(mask_img=nib.Nifti1Image(mask, AFF), detrend=True, standardize="zscore_sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = NiftiLabelsMasker(nib.Nifti1Image(labels, AFF), keep_all_regions=True, **kw).fit_transform(img)
        ref = NiftiLabelsMasker(nib.Nifti1Image(labels, AFF), **kw).fit_transform(img)
    assert np.isnan(got[:, 1]).all()
    assert_oracle(got[:, [0, 2, 3]], ref)


def test_labels_masker_min_coverage():
    labels = _labels()
    mask = np.ones(SHAPE, np.uint8)
    mask[:5][labels[:5] == 1] = 0  # region 1 loses most of its voxels
    frac1 = (labels[mask == 1] == 1).sum() / (labels == 1).sum()
    m = NiftiLabelsMasker(nib.Nifti1Image(labels, AFF), mask_img=nib.Nifti1Image(mask, AFF), min_coverage=0.5)
    got = m.fit_transform(_img())
    assert frac1 < 0.5
    assert np.isnan(got[:, 0]).all() and np.isfinite(got[:, 1:]).all()
    np.testing.assert_allclose(m.region_coverage_.loc[0, "fraction"], frac1)
    assert "min_coverage 0.5" in m.region_coverage_.loc[0, "reason"]
    with pytest.raises(ValueError, match="min_coverage"):
        NiftiLabelsMasker(nib.Nifti1Image(labels, AFF), min_coverage=1.5).fit()


def test_labels_masker_chunked_equals_whole_file(tmp_path):
    """A file read in several chunks gives the in-memory result."""
    img = _img(n=30, dtype=np.float32)
    path = tmp_path / "run.nii.gz"
    nib.save(img, path)
    from nimask.pipeline import stream
    from nimask.regions._labels import prepare_labels

    op = prepare_labels(_labels(), affine=img.affine)
    whole = op.apply(np.asarray(img.dataobj))
    np.testing.assert_array_equal(stream(nib.load(path), [op], chunk_size=4)[0], whole)
    assert whole.dtype == np.float64  # float64 until the masker's cast to nilearn's dtype (catalogue D12)
    got = NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF)).fit_transform(str(path))
    np.testing.assert_array_equal(got, whole.astype(np.float32))


# ------------------------------------------------------------------------------ bad input
def test_labels_masker_bad_atlases():
    img = _img()
    four_d = nib.Nifti1Image(np.stack([_labels(), _labels(1)], -1), AFF)
    with pytest.raises(TypeError, match="labels_img"):
        NiftiLabelsMasker(four_d).fit()
    with pytest.raises(AtlasError, match="no label"):
        NiftiLabelsMasker(nib.Nifti1Image(np.zeros(SHAPE, np.uint8), AFF)).fit()
    frac = _labels().astype(np.float32)
    frac[0, 0, :2] = [1.5, 2.7]
    with pytest.raises(AtlasError, match=r"non-integer values \[1.5, 2.7"):
        NiftiLabelsMasker(nib.Nifti1Image(frac, AFF)).fit()
    neg = _labels()
    neg[0, 0, 0] = -2
    with pytest.raises(AtlasError, match=r"negative labels \[-2\]"):
        NiftiLabelsMasker(nib.Nifti1Image(neg, AFF)).fit()
    with pytest.raises(AtlasError, match="labels_img"):
        NiftiLabelsMasker().fit()
    with pytest.raises(ValueError, match="either labels or a lookup table"):
        lut = pd.DataFrame({"index": [1], "name": ["a"]})
        NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF), labels=["a"], lut=lut).fit()
    with pytest.raises(TypeError, match="All elements of 'labels' must be a string.*holding int"):
        NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF), labels=[1, 2, 3]).fit()
    with pytest.raises(TypeError, match=r"'labels' must be a list\. Got: set"):
        NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF), labels={"a", "b"}).fit()
    with pytest.raises(ValueError, match="strategy"):
        NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF), strategy="mode").fit()
    with pytest.raises(AtlasError, match="No label left after applying mask"):
        NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF),
                          mask_img=nib.Nifti1Image((_labels() == 0).astype(np.uint8), AFF)).fit(img)


def test_labels_masker_names_length_and_lut_warnings(tmp_path):
    lab = nib.Nifti1Image(_labels(), AFF)
    with pytest.warns(UserWarning, match=r"Too many names for the indices\. Dropping excess names values\..*"
                                         r"last 2 names are dropped"):
        NiftiLabelsMasker(lab, labels=["a", "b", "c", "d", "e", "f"]).fit()
    with pytest.warns(UserWarning, match=r"Too many indices for the names\..*\[3, 7\].*'unknown'"):
        m = NiftiLabelsMasker(lab, labels=["a", "b"]).fit()
    assert m.region_names_ == {0: "a", 1: "b", 2: "unknown", 3: "unknown"}
    with pytest.warns(NimaskDataWarning, match=r"no row for the label values \[7\]"):
        NiftiLabelsMasker(lab, lut=pd.DataFrame({"index": [0, 1, 2, 3], "name": ["bg", "a", "b", "c"]})).fit()
    bad = tmp_path / "lut.tsv"
    bad.write_text("id\tlabel\n1\ta\n")
    with pytest.raises(AtlasError, match=r"'index' and 'name'.*\['id', 'label'\]"):
        NiftiLabelsMasker(lab, lut=str(bad)).fit()
    with pytest.raises(AtlasError, match="does not exist"):
        NiftiLabelsMasker(lab, lut=str(tmp_path / "missing.tsv")).fit()


def test_labels_masker_not_fitted_and_inverse_shape():
    from sklearn.exceptions import NotFittedError

    m = NiftiLabelsMasker(nib.Nifti1Image(_labels(), AFF))
    with pytest.raises(NotFittedError):
        m.transform(_img())
    m.fit()
    with pytest.raises(ValueError, match="wrong shape"):
        m.inverse_transform(np.zeros((3, 9)))


# ------------------------------------------------------------------------------ integration
def _shared():
    root = os.environ.get("NIMASK_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
    data = os.path.join(root, "bench", "data")
    if not os.path.isdir(data):
        pytest.skip(f"shared benchmark data not found at {data!r} (set NIMASK_SHARED)")
    return data


def test_labels_masker_integration_real_atlases():
    """Harvard-Oxford 2 mm (data grid) and AAL (another grid, LUT from its CSV) vs nilearn."""
    from nilearn.maskers import NiftiLabelsMasker as N

    data = _shared()
    ho = nib.load(os.path.join(data, "HarvardOxford-cort-maxprob-thr25-2mm.nii.gz"))
    aal = os.path.join(data, "atlas_aal.nii.gz")
    lut = pd.read_csv(os.path.join(data, "labels_aal.csv"))
    brain = np.asarray(nib.load(os.path.join(data, "tpl-MNI152NLin6Asym_res-02_desc-brain_mask.nii.gz")).dataobj) > 0
    rng = np.random.default_rng(0)
    run = (rng.standard_normal(brain.shape + (10,)) * 20 + 500) * brain[..., None]
    img = nib.Nifti1Image(run.astype(np.float32), ho.affine)
    conf = rng.standard_normal((10, 2))
    for atlas, kw in ((ho, {}), (aal, {"lut": lut})):
        params = dict(detrend=True, standardize="zscore_sample", **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exp_m = N(atlas, **params)
            exp = exp_m.fit_transform(img, confounds=conf)
            got_m = NiftiLabelsMasker(atlas, **params)
            got = got_m.fit_transform(img, confounds=conf)
            exp64 = N(atlas, **params).fit_transform(float64_copy(img), confounds=conf)
        assert_float64_oracle(got, exp, exp64)  # nimask cleans in float64, nilearn in float32 (catalogue D12)
        assert got_m.get_feature_names_out() == list(exp_m.get_feature_names_out())
    assert got.shape[1] > 100 and got_m.region_names_[0] == "Precentral_L"


def test_labels_masker_cache_gives_same_numbers(tmp_path):
    lab = nib.Nifti1Image(_labels(), AFF)
    img = _img()
    plain = NiftiLabelsMasker(lab, detrend=True).fit_transform(img)
    m = NiftiLabelsMasker(lab, detrend=True, memory=str(tmp_path / "cache"))
    first = m.fit_transform(img)
    second = m.fit_transform(img)
    np.testing.assert_array_equal(first, plain)
    np.testing.assert_array_equal(second, plain)
    assert os.path.isdir(tmp_path / "cache")
