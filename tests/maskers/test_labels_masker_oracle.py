"""NiftiLabelsMasker / MultiNiftiLabelsMasker vs nilearn 0.14.1 on small synthetic images."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from _helpers import assert_float64_oracle, assert_oracle, float64_copy
from nimask.maskers import MultiNiftiLabelsMasker, NiftiLabelsMasker

AFF = np.diag([2.0, 2.5, 3.0, 1.0])
AFF[:3, 3] = [-6, -8, -10]
SHAPE = (7, 8, 9)


def _labels(seed=0, values=(0, 1, 2, 3, 7), dtype=np.int16, shape=SHAPE, affine=AFF):
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image(rng.choice(values, shape).astype(dtype), affine)


def _img(dtype=np.float32, n=40, seed=1, shape=SHAPE, affine=AFF):
    rng = np.random.default_rng(seed)
    d = rng.standard_normal(shape + (n,)) * 50 + 500
    if n == 0:
        d = d[..., 0]
    if np.dtype(dtype).kind in "iu":
        d = np.rint(d)
    return nib.Nifti1Image(d.astype(dtype), affine)


def _both(kwargs, fit_imgs=None, transform_imgs=None, multi=False, **tkw):
    from nilearn import maskers as nm

    out = []
    pairs = (nm.MultiNiftiLabelsMasker, MultiNiftiLabelsMasker) if multi else (nm.NiftiLabelsMasker, NiftiLabelsMasker)
    for cls in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = cls(**kwargs).fit(fit_imgs)
            s = m.transform(transform_imgs, **tkw)
        out.append((m, s))
    return out


CLEANING = [
    {},
    dict(detrend=True, standardize="zscore_sample"),
    dict(standardize="psc"),
    dict(low_pass=0.2, high_pass=0.02, t_r=2.0, detrend=True),
    dict(smoothing_fwhm=5.0),
    dict(standardize="zscore_sample", standardize_confounds=False),
    dict(clean_args={"filter": "cosine"}, high_pass=0.02, t_r=2.0),
]


@pytest.mark.parametrize("params", CLEANING)
@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
def test_labels_masker_oracle_cleaning_dtypes(params, dtype):
    """nilearn cleans float32 region signals in float32, nimask in float64 (catalogue D12): the
    oracle is nilearn on the float64 copy of the image; the dtype is nilearn's on the image."""
    img = _img(dtype)
    conf = np.random.default_rng(5).standard_normal((40, 3))
    (nm, exp), (mm, got) = _both(dict(labels_img=_labels(), **params), img, img, confounds=conf)
    (_, exp64), _ = _both(dict(labels_img=_labels(), **params), img, float64_copy(img), confounds=conf)
    assert_float64_oracle(got, exp, exp64)
    assert mm.get_feature_names_out() == list(nm.get_feature_names_out())


@pytest.mark.parametrize("strategy", ["mean", "median", "sum", "minimum", "maximum", "standard_deviation", "variance"])
def test_labels_masker_oracle_strategies_with_mask(strategy):
    img = _img(np.float64)
    mask = nib.Nifti1Image((np.random.default_rng(2).random(SHAPE) > 0.3).astype(np.uint8), AFF)
    (nm, exp), (mm, got) = _both(dict(labels_img=_labels(), mask_img=mask, strategy=strategy), img, img)
    assert_oracle(got, exp)


@pytest.mark.parametrize("dtype_param", [None, "auto", np.float64, np.float32])
@pytest.mark.parametrize("src", [np.int16, np.uint8, np.float32])
def test_labels_masker_oracle_output_dtype_and_3d(dtype_param, src):
    img4 = _img(src, n=3)
    img3 = nib.Nifti1Image(np.asarray(img4.dataobj)[..., 0], AFF)
    for img in (img4, img3):
        (nm, exp), (mm, got) = _both(dict(labels_img=_labels(), dtype=dtype_param), None, img)
        assert got.shape == exp.shape and got.dtype == exp.dtype
        assert_oracle(got, exp)


@pytest.mark.parametrize("target", ["data", "labels"])
@pytest.mark.parametrize("with_mask", [False, True])
def test_labels_masker_oracle_resampling(target, with_mask):
    """Atlas on a coarser, shifted grid; mask on a third grid."""
    laff = np.diag([3.0, 3.0, 3.5, 1.0])
    laff[:3, 3] = [-5, -7, -9]
    labels = _labels(1, shape=(6, 7, 8), affine=laff)
    maff = np.diag([2.5, 2.5, 2.5, 1.0])
    maff[:3, 3] = [-6, -8, -10]
    mask = nib.Nifti1Image(np.ones((7, 9, 10), np.uint8), maff) if with_mask else None
    mask_data = np.asarray(mask.dataobj) if with_mask else None
    if with_mask:
        mask_data[:2] = 0
    img = _img(np.float32, n=6)
    (nm, exp), (mm, got) = _both(dict(labels_img=labels, mask_img=mask, resampling_target=target), img, img)
    assert_oracle(got, exp, rtol=1e-5)
    assert mm.region_ids_ == nm.region_ids_
    assert mm.labels_img_.shape == nm.labels_img_.shape
    # fitted without images: resampling happens at transform (with a warning)
    (nm2, exp2), (mm2, got2) = _both(dict(labels_img=labels, mask_img=mask, resampling_target=target), None, img)
    assert_oracle(got2, exp2, rtol=1e-5)


def test_labels_masker_oracle_resampling_none_errors():
    labels = _labels(1, shape=(6, 7, 8))
    m = NiftiLabelsMasker(labels, resampling_target=None)
    with pytest.raises(ValueError, match="field of view"):
        m.fit(_img())
    with pytest.raises(ValueError, match="resampling_target"):
        NiftiLabelsMasker(_labels(), resampling_target="mask").fit()


NAMES = [
    {},
    dict(labels=["a", "b", "c", "d"]),
    dict(labels=["Background", "a", "b", "c", "d"]),
    dict(labels=["background", "a", "b", "c", "d"]),
    dict(labels=["a", "b"]),
    dict(labels=["Unknown", "a", "b", "c", "d", "e"]),
    dict(lut=pd.DataFrame({"index": [0, 1, 2, 3, 7, 9], "name": ["bg", "x1", "x2", "x3", "x7", "x9"],
                           "color": ["#000"] * 6})),
    dict(lut=pd.DataFrame({"index": [1, 2, 3], "name": ["x1", "x2", "x3"]})),
    dict(background_label=1),
    dict(background_label=3, labels=["a", "b", "c", "d"]),
]


@pytest.mark.parametrize("params", NAMES)
def test_labels_masker_oracle_names_and_attributes(params):
    img = _img(np.float32, n=4)
    mask = nib.Nifti1Image((np.asarray(_labels().dataobj) != 2).astype(np.uint8), AFF)
    for mask_img in (None, mask):
        from nilearn.maskers import NiftiLabelsMasker as N

        pair = []
        for cls in (N, NiftiLabelsMasker):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = cls(_labels(), mask_img=mask_img, **params).fit()
                before = (m.labels_, m.n_elements_, m.region_ids_, m.region_names_, list(m.get_feature_names_out()))
                lut = m.lut_.to_dict("list")
                s = m.transform(img)
                after = (m.labels_, m.n_elements_, m.region_ids_, m.region_names_, list(m.get_feature_names_out()))
                m.set_output(transform="pandas")
                df = m.transform(img)
            pair.append((before, lut, s, after, list(df.columns), m))
        (b1, l1, s1, a1, c1, n), (b2, l2, s2, a2, c2, mine) = pair
        # nilearn rewrites these attributes in transform when the mask empties a region; nimask
        # computes them at fit with the mask applied (equal to nilearn's after its transform) and
        # transform leaves them unchanged
        assert str(b2) == str(a1)
        assert str(a2) == str(a1)
        assert str(l2) == str(l1)
        assert c2 == c1
        assert_oracle(s2, s1)
        np.testing.assert_array_equal(np.asarray(mine.region_atlas_.dataobj), np.asarray(n.region_atlas_.dataobj))


def test_labels_masker_oracle_lut_file(tmp_path):
    path = tmp_path / "atlas_dseg.tsv"
    lut = pd.DataFrame({"index": [0, 1, 2, 3, 7], "name": ["Background", "r1", "r2", "r3", "r7"]})
    lut.to_csv(path, sep="\t", index=False)
    img = _img(n=3)
    (nm, exp), (mm, got) = _both(dict(labels_img=_labels(), lut=str(path)), None, img)
    assert_oracle(got, exp)
    assert mm.region_names_ == nm.region_names_


@pytest.mark.parametrize("keep", [False, True])
def test_labels_masker_oracle_keep_masked_labels_and_inverse(keep):
    labels = _labels()
    mask = nib.Nifti1Image((np.asarray(labels.dataobj) != 3).astype(np.uint8), AFF)
    img = _img(np.float64, n=5)
    (nm, exp), (mm, got) = _both(dict(labels_img=labels, mask_img=mask, keep_masked_labels=keep), img, img)
    assert_oracle(got, exp)
    label_data = np.asarray(labels.dataobj)
    for sig in (exp, exp[0]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inv_n = nm.inverse_transform(sig)
            inv_m = mm.inverse_transform(sig)
        assert inv_m.shape == inv_n.shape
        assert np.asarray(inv_m.dataobj).dtype == np.asarray(inv_n.dataobj).dtype
        if not keep:
            np.testing.assert_allclose(np.asarray(inv_m.dataobj), np.asarray(inv_n.dataobj))
        else:
            # nilearn writes column j into the j-th region of the *masked* atlas, so with
            # keep_masked_labels region 7 receives region 3's zero column; nimask writes
            # each column into its own region (documented difference)
            data = np.asarray(inv_m.dataobj)
            sig2 = np.atleast_2d(sig)
            for j, region in enumerate([1, 2, 3, 7]):
                inside = (label_data == region) & (np.asarray(mask.dataobj) != 0)
                if data.ndim == 4:
                    expected = np.broadcast_to(sig2[:, j], (int(inside.sum()), sig2.shape[0]))
                    np.testing.assert_array_equal(data[inside].reshape(-1, sig2.shape[0]), expected)
                else:
                    np.testing.assert_array_equal(data[inside], sig2[0, j])
            assert not np.any(data[np.asarray(mask.dataobj) == 0])


def test_labels_masker_oracle_sample_mask_and_hv_confounds():
    img = _img(np.float32, n=20)
    sm = np.arange(20)[np.arange(20) % 4 != 1]
    (nm, exp), (mm, got) = _both(dict(labels_img=_labels(), high_variance_confounds=True, detrend=True), img, img,
                                 sample_mask=sm, confounds=np.random.default_rng(0).standard_normal((20, 2)))
    assert_oracle(got, exp, rtol=1e-5)


def test_labels_masker_oracle_multi():
    imgs = [_img(np.float32, n=6, seed=s) for s in range(3)]
    conf = [np.random.default_rng(s).standard_normal((6, 2)) for s in range(3)]
    for n_jobs in (1, 2):
        (nm, exp), (mm, got) = _both(dict(labels_img=_labels(), detrend=True, n_jobs=n_jobs), imgs, imgs, multi=True,
                                     confounds=conf)
        (_, exp64), _ = _both(dict(labels_img=_labels(), detrend=True), imgs, float64_copy(imgs), multi=True,
                              confounds=conf)
        assert isinstance(got, list) and len(got) == 3
        for g, e, e64 in zip(got, exp, exp64, strict=True):  # float64 cleaning: the float64 copy is the oracle
            assert_float64_oracle(g, e, e64)
    # a single image through the multi masker behaves as the single masker
    (nm, exp), (mm, got) = _both(dict(labels_img=_labels()), None, imgs[0], multi=True)
    assert_oracle(got, exp)
    with pytest.raises(ValueError, match="Field of view"):
        MultiNiftiLabelsMasker(_labels()).fit().transform([imgs[0], _img(shape=(7, 8, 10))])
    with pytest.raises(TypeError, match="list"):
        MultiNiftiLabelsMasker(_labels()).fit().transform(imgs, confounds=conf[0])
