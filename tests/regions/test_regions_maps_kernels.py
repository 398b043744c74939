"""Maps kernels (img_to_signals_maps / signals_to_img_maps) against nilearn 0.14.1."""
import warnings

import nibabel as nib
import nilearn.regions as nl_regions
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import apply_op, assert_oracle
from nimask.regions._maps import img_to_signals_maps, maps_array, prepare_maps, signals_to_img_maps

AFF = np.diag([2.0, 2.5, 3.0, 1.0])


def _maps(seed=0, k=3, dtype=np.float32):
    rng = np.random.default_rng(seed)
    maps = np.zeros((7, 8, 9, k), dtype)
    maps[1:4, 1:5, 1:6, 0] = rng.random((3, 4, 5))
    maps[3:6, 2:7, 3:8, 1] = rng.random((3, 5, 5))
    maps[5:7, 6:8, 7:9, 2] = 1
    for j in range(3, k):
        maps[..., j] = rng.random((7, 8, 9)) * (rng.random((7, 8, 9)) > 0.7)
    return maps


def _mask():
    mask = np.zeros((7, 8, 9), np.int8)
    mask[:5, :, :6] = 1
    return nib.Nifti1Image(mask, AFF)


def _data(dtype, seed=1, t=6):
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image((rng.random((7, 8, 9, t)) * 100).astype(dtype), AFF)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("use_mask", [False, True])
def test_img_to_signals_maps_oracle(dtype, use_mask):
    maps_img = nib.Nifti1Image(_maps(k=5), AFF)
    mask = _mask() if use_mask else None
    img = _data(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, exp_labels = nl_regions.img_to_signals_maps(img, maps_img, mask_img=mask)
        actual, labels = img_to_signals_maps(img, maps_img, mask_img=mask)
    assert actual.dtype == expected.dtype
    assert [int(i) for i in labels] == [int(i) for i in exp_labels]
    assert_oracle(actual, expected)


def test_masked_map_removed_warns_like_nilearn():
    maps_img = nib.Nifti1Image(_maps(), AFF)
    with pytest.warns(UserWarning, match=r"removed: \{2\}"):
        signals, labels = img_to_signals_maps(_data(np.float32), maps_img, mask_img=_mask())
    assert labels == [0, 1] and signals.shape == (6, 2)


def test_keep_masked_maps_oracle():
    maps_img = nib.Nifti1Image(_maps(), AFF)
    img = _data(np.float64)
    expected, _ = nl_regions.img_to_signals_maps(img, maps_img, mask_img=_mask(), keep_masked_maps=True)
    actual, labels = img_to_signals_maps(img, maps_img, mask_img=_mask(), keep_masked_maps=True)
    assert labels == [0, 1, 2]
    assert_oracle(actual, expected)


@pytest.mark.parametrize("use_mask", [False, True])
def test_signals_to_img_maps_oracle(use_mask):
    maps_img = nib.Nifti1Image(_maps(k=4), AFF)
    mask = _mask() if use_mask else None
    signals = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    expected = nl_regions.signals_to_img_maps(signals, maps_img, mask_img=mask)
    actual = signals_to_img_maps(signals, maps_img, mask_img=mask)
    assert actual.shape == expected.shape
    assert_oracle(actual.get_fdata(), expected.get_fdata())


def test_rank_deficient_maps_fall_back_to_lstsq():
    maps = _maps(k=3, dtype=np.float64)
    maps = np.concatenate([maps, maps[..., :1] * 2], axis=3)  # map 3 = 2 x map 0
    op = prepare_maps(maps)
    assert op.gram is None
    img = _data(np.float64)
    expected, _ = nl_regions.img_to_signals_maps(img, nib.Nifti1Image(maps, AFF))
    actual, _ = img_to_signals_maps(img, nib.Nifti1Image(maps, AFF))
    assert_oracle(actual, expected)


def test_well_conditioned_maps_use_the_gram_factor():
    op = prepare_maps(_maps(k=4))
    assert op.gram is not None and op.gram[0].shape == (4, 4)
    assert op.weights.dtype == np.float32  # the maps keep their dtype: no float64 copy
    # only the support of the maps is read
    assert op.n_rows == int(np.any(_maps(k=4) != 0, axis=3).sum())


def test_nan_in_data_counts_as_zero():
    maps_img = nib.Nifti1Image(_maps(), AFF)
    data = _data(np.float32).get_fdata(dtype=np.float32)
    data[2, 2, 2, 0] = np.nan
    expected, _ = nl_regions.img_to_signals_maps(nib.Nifti1Image(data, AFF), maps_img)
    actual, _ = img_to_signals_maps(nib.Nifti1Image(data, AFF), maps_img)
    assert np.all(np.isfinite(actual))
    assert_oracle(actual, expected)


@settings(max_examples=15, deadline=None)
@given(chunk=st.integers(1, 7), seed=st.integers(0, 1000))
def test_chunked_equals_whole(chunk, seed):
    maps = _maps(seed=seed, k=4)
    op = prepare_maps(maps_array(nib.Nifti1Image(maps, AFF)))
    data = np.random.default_rng(seed).random((7, 8, 9, 7)).astype(np.float32)
    whole = apply_op(op, data, chunk_size=7)
    np.testing.assert_array_equal(apply_op(op, data, chunk_size=chunk), whole)
    # F-ordered chunks (file reader layout) give the same numbers
    np.testing.assert_array_equal(apply_op(op, np.asfortranarray(data), chunk_size=chunk), whole)


def test_incompatible_grids_raise():
    maps_img = nib.Nifti1Image(_maps(), AFF)
    other = nib.Nifti1Image(np.zeros((7, 8, 10, 2), np.float32), AFF)
    with pytest.raises(ValueError, match="incompatible shapes"):
        img_to_signals_maps(other, maps_img)
    moved = AFF.copy()
    moved[0, 3] = 1
    with pytest.raises(ValueError, match="different affine"):
        img_to_signals_maps(nib.Nifti1Image(np.zeros((7, 8, 9, 2), np.float32), moved), maps_img)


@pytest.mark.parametrize("n_volumes", [1, 47, 48, 49, 130])
def test_batched_extraction_equals_one_solve(n_volumes):
    """Batches of gathered chunks (any split) give the signals of one whole-run solve."""
    maps = _maps(k=4)
    op = prepare_maps(maps)
    rng = np.random.default_rng(n_volumes)
    data = rng.standard_normal(maps.shape[:3] + (n_volumes,)).astype(np.float32)
    rows = data[op.rows]  # (n_rows, T)
    whole = op.solve(rows)
    batched = apply_op(op, data, chunk_size=5)  # 5-volume chunks gathered into 48-volume batches
    assert batched.shape == (n_volumes, 4)
    np.testing.assert_allclose(batched, whole, rtol=1e-6, atol=1e-6 * np.abs(whole).max())
    expected = np.linalg.lstsq(op.weights.astype(np.float64), rows.astype(np.float64), rcond=None)[0].T
    np.testing.assert_allclose(batched, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_blocked_products_match_numpy_over_several_blocks(monkeypatch):
    from nimask.regions import _maps

    monkeypatch.setattr(_maps, "_ROW_BLOCK", 7)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((100, 3)).astype(np.float32)
    b = rng.integers(-5, 5, (100, 4)).astype(np.int16)
    got = _maps.blocked_products(a, b)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, a.astype(np.float64).T @ b.astype(np.float64), rtol=1e-12)
