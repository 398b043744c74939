"""Labels extraction kernels vs nilearn's img_to_signals_labels / signals_to_img_labels,
properties (constant regions, chunked == whole) and bad atlases."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import apply_op, assert_oracle
from nimask.exceptions import AtlasError, DimensionError, GeometryError
from nimask.regions import img_to_signals_labels, signals_to_img_labels
from nimask.regions._labels import STRATEGIES, prepare_labels

AFF = np.diag([2.0, 2.5, 3.0, 1.0])
SHAPE = (7, 8, 9)


def _labels(seed=0, values=(0, 1, 2, 3, 7), dtype=np.int16):
    rng = np.random.default_rng(seed)
    return rng.choice(values, SHAPE).astype(dtype)


def _data(dtype, n=5, seed=1):
    rng = np.random.default_rng(seed)
    d = rng.standard_normal(SHAPE + (n,)) * 100
    if np.dtype(dtype).kind in "iu":
        d = np.abs(np.rint(d))
    return d.astype(dtype)


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.uint8])
@pytest.mark.parametrize("with_mask", [False, True])
def test_regions_labels_oracle_strategies(strategy, dtype, with_mask):
    from nilearn.regions import img_to_signals_labels as nil

    lab = nib.Nifti1Image(_labels(), AFF)
    img = nib.Nifti1Image(_data(dtype), AFF)
    mask = nib.Nifti1Image((np.random.default_rng(3).random(SHAPE) > 0.2).astype(np.uint8), AFF) if with_mask else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp, exp_ids, exp_atlas = nil(img, lab, mask_img=mask, strategy=strategy)
    got, ids, atlas = img_to_signals_labels(img, lab, mask_img=mask, strategy=strategy)
    assert got.dtype == exp.dtype
    assert_oracle(got, exp)
    assert [int(i) for i in ids] == [int(i) for i in exp_ids]
    assert atlas.get_data_dtype() == exp_atlas.get_data_dtype()
    np.testing.assert_array_equal(np.asarray(atlas.dataobj), np.asarray(exp_atlas.dataobj))


@pytest.mark.parametrize("background_label", [0, 3])
@pytest.mark.parametrize("keep", [False, True])
def test_regions_labels_oracle_masked_regions(background_label, keep):
    """A mask that removes region 2 entirely: warning, dropped column (or zeros with keep)."""
    from nilearn.regions import img_to_signals_labels as nil

    labels = _labels(4)
    mask = (labels != 2).astype(np.uint8)
    lab, m = nib.Nifti1Image(labels, AFF), nib.Nifti1Image(mask, AFF)
    img = nib.Nifti1Image(_data(np.float64, 4), AFF)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exp, exp_ids, _ = nil(img, lab, mask_img=m, background_label=background_label, keep_masked_labels=keep)
    with pytest.warns(UserWarning, match=r"following labels were removed: \{2\}"):
        got, ids, _ = img_to_signals_labels(img, lab, mask_img=m, background_label=background_label,
                                            keep_masked_labels=keep)
    assert_oracle(got, exp)
    assert [int(i) for i in ids] == [int(i) for i in exp_ids]


def test_regions_labels_oracle_3d_nan_and_float_labels():
    from nilearn.regions import img_to_signals_labels as nil

    data = _data(np.float32, 1)[..., 0]
    data[0, 0, :] = np.nan
    data[1, 1, 1] = np.inf
    lab = nib.Nifti1Image(_labels(5).astype(np.float32), AFF)
    img = nib.Nifti1Image(data, AFF)
    exp = nil(nib.Nifti1Image(data[..., None], AFF), lab)[0]
    got = img_to_signals_labels(img, lab)[0]  # nimask also takes a 3D image (one scan)
    assert_oracle(got, exp)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_mask", [False, True])
def test_regions_labels_inverse_oracle(dtype, with_mask):
    from nilearn.regions import signals_to_img_labels as nil_inv

    labels = _labels(6)
    lab = nib.Nifti1Image(labels, AFF)
    mask = nib.Nifti1Image((labels != 3).astype(np.uint8), AFF) if with_mask else None
    n_regions = 3 if with_mask else 4
    signals = np.random.default_rng(0).standard_normal((6, n_regions)).astype(dtype)
    for s in (signals, signals[0]):
        exp = nil_inv(s, lab, mask_img=mask)
        got = signals_to_img_labels(s, lab, mask_img=mask)
        assert got.shape == exp.shape
        assert np.asarray(got.dataobj).dtype == np.asarray(exp.dataobj).dtype
        np.testing.assert_array_equal(np.asarray(got.dataobj), np.asarray(exp.dataobj))


# ------------------------------------------------------------------------------ properties
@settings(max_examples=25, deadline=None)
@given(
    value=st.floats(-1e4, 1e4, allow_nan=False, width=32),
    strategy=st.sampled_from(["mean", "median", "minimum", "maximum"]),
    seed=st.integers(0, 100),
)
def test_regions_labels_constant_region_gives_constant(value, strategy, seed):
    labels = _labels(seed)
    data = _data(np.float32, 3, seed)
    data[labels == 7] = value
    got, ids, _ = img_to_signals_labels(nib.Nifti1Image(data, AFF), nib.Nifti1Image(labels, AFF), strategy=strategy)
    col = [int(i) for i in ids].index(7)
    np.testing.assert_array_equal(got[:, col], np.float32(value))


@settings(max_examples=20, deadline=None)
@given(chunk=st.integers(1, 7), strategy=st.sampled_from(STRATEGIES), seed=st.integers(0, 50))
def test_regions_labels_chunked_equals_whole(chunk, strategy, seed):
    labels = _labels(seed)
    data = _data(np.float64, 7, seed)
    op = prepare_labels(labels)
    whole = op.apply(data, strategy)
    op.strategy = strategy
    np.testing.assert_array_equal(apply_op(op, data, chunk_size=chunk), whole)
    # C-ordered and non-contiguous chunks give the same numbers as F-ordered ones
    np.testing.assert_array_equal(op.apply(np.ascontiguousarray(data), strategy), whole)
    np.testing.assert_array_equal(op.apply(np.asfortranarray(data)[:, :, :, ::2], strategy), whole[::2])


def test_regions_labels_region_ids_order_and_fill():
    labels = _labels(2)
    data = _data(np.float64, 3)
    op = prepare_labels(labels, region_ids=[7, 5, 1], fill_value=np.nan)
    out = op.apply(data)
    ref = prepare_labels(labels).apply(data)
    np.testing.assert_array_equal(out[:, 0], ref[:, 3])
    np.testing.assert_array_equal(out[:, 2], ref[:, 0])
    assert np.isnan(out[:, 1]).all()


# ------------------------------------------------------------------------------ bad input
def test_regions_labels_errors():
    img = nib.Nifti1Image(_data(np.float32), AFF)
    lab4d = nib.Nifti1Image(np.stack([_labels(), _labels(1)], axis=-1), AFF)
    with pytest.raises(DimensionError, match="labels_img"):
        img_to_signals_labels(img, lab4d)
    with pytest.raises(AtlasError, match="no label"):
        img_to_signals_labels(img, nib.Nifti1Image(np.zeros(SHAPE, np.int16), AFF))
    frac = _labels().astype(np.float32)
    frac[0, 0, 0], frac[1, 0, 0] = 1.5, 2.7
    with pytest.raises(AtlasError, match=r"non-integer values \[1.5, 2.7"):
        img_to_signals_labels(img, nib.Nifti1Image(frac, AFF))
    neg = _labels()
    neg[0, 0, 0] = -4
    with pytest.raises(AtlasError, match=r"negative labels \[-4\]"):
        img_to_signals_labels(img, nib.Nifti1Image(neg, AFF))
    # negative background is fine
    ok = _labels()
    ok[ok == 0] = -1
    got, ids, _ = img_to_signals_labels(img, nib.Nifti1Image(ok, AFF), background_label=-1)
    assert [int(i) for i in ids] == [1, 2, 3, 7]
    with pytest.raises(GeometryError, match="incompatible shapes"):
        img_to_signals_labels(img, nib.Nifti1Image(_labels()[:-1], AFF))
    with pytest.raises(GeometryError, match="different affine"):
        img_to_signals_labels(img, nib.Nifti1Image(_labels(), np.diag([2.0, 2.5, 3.1, 1.0])))
    with pytest.raises(ValueError, match="strategy"):
        img_to_signals_labels(img, nib.Nifti1Image(_labels(), AFF), strategy="mode")
    with pytest.raises(AtlasError, match="one column per region"):
        signals_to_img_labels(np.zeros((2, 9)), nib.Nifti1Image(_labels(), AFF))
