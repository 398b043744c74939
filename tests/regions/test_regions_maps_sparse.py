"""Maps kept as their nonzero values (``regions/_maps_sparse``): the same operator, the same
resampled maps and the same warnings as the dense path."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nimask.exceptions import AtlasError
from nimask.image._resampling import resample_prepared
from nimask.regions._maps import prepare_maps
from nimask.regions._maps_sparse import SparseCollector, SparseMaps, prepare_maps_sparse


def _sparse_of(dense: np.ndarray) -> SparseMaps:
    flat = dense.reshape(-1, dense.shape[3], order="F")
    index = [np.flatnonzero(flat[:, j]) for j in range(flat.shape[1])]
    return SparseMaps(dense.shape[:3], index, [flat[i, j] for j, i in enumerate(index)], dense.dtype)


def _random_maps(seed: int, shape=(9, 8, 7), k=5, density=0.2, negative=False):
    rng = np.random.default_rng(seed)
    data = rng.random(shape + (k,)).astype(np.float32) * (rng.random(shape + (k,)) < density)
    if negative:
        data -= 0.1 * (data > 0)
    data[..., k // 2] = 0 if k > 2 else data[..., k // 2]  # one empty map
    return np.asfortranarray(data)


def _assert_same_operator(a, b):
    assert all(np.array_equal(x, y) for x, y in zip(a.rows, b.rows, strict=True))
    np.testing.assert_array_equal(a.kept, b.kept)
    np.testing.assert_array_equal(a.weights, b.weights)
    assert a.weights.dtype == b.weights.dtype
    if b.gram is None:
        assert a.gram is None
    else:
        np.testing.assert_allclose(a.gram[0], b.gram[0], rtol=1e-12, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), use_mask=st.booleans(), keep=st.booleans(), small=st.booleans(),
       negative=st.booleans(), density=st.sampled_from([0.05, 0.3, 0.9]))
def test_sparse_operator_equals_dense(seed, use_mask, keep, small, negative, density):
    data = _random_maps(seed, density=density, negative=negative)
    mask = None
    if use_mask:
        mask = np.random.default_rng(seed + 1).random(data.shape[:3]) < 0.6
    kwargs = dict(keep_masked_maps=keep, affine=np.eye(4), zero_small_weights=small)
    with warnings.catch_warnings(record=True) as dense_warnings:
        warnings.simplefilter("always")
        try:
            dense = prepare_maps(data, mask, **kwargs)
        except AtlasError as exc:
            with pytest.raises(AtlasError, match="No map left"):
                prepare_maps_sparse(_sparse_of(data), mask, **kwargs)
            assert "No map left" in str(exc)
            return
    with warnings.catch_warnings(record=True) as sparse_warnings:
        warnings.simplefilter("always")
        sparse = prepare_maps_sparse(_sparse_of(data), mask, **kwargs)
    _assert_same_operator(sparse, dense)
    assert [str(w.message) for w in sparse_warnings] == [str(w.message) for w in dense_warnings]


def test_removed_maps_are_named():
    data = _random_maps(3, density=0.5)
    mask = np.zeros(data.shape[:3], dtype=bool)
    mask[:3] = True
    data[:3, ..., 1] = 0  # map 1 lies outside the mask
    with pytest.warns(UserWarning, match=r"removed: \{1, 2\}"):
        op = prepare_maps_sparse(_sparse_of(data), mask)
    assert 1 not in op.kept


def test_dense_and_totals():
    data = _random_maps(5, negative=True)
    maps = _sparse_of(data)
    np.testing.assert_array_equal(maps.dense(), data)
    assert maps.dense().flags.f_contiguous
    np.testing.assert_allclose(maps.abs_totals(), np.abs(data).sum(axis=(0, 1, 2), dtype=np.float64), rtol=1e-12)
    mask = np.random.default_rng(0).random(data.shape[:3]) < 0.5
    np.testing.assert_allclose(maps.abs_totals(mask), np.abs(data[mask]).sum(axis=0, dtype=np.float64), rtol=1e-12)


@pytest.mark.parametrize("case", ["selection", "interpolated", "all_negative"])
def test_collector_equals_dense_resampling(case, tmp_path):
    """The sink path gives the dense resampled maps, clip included (values clipped to 0 leave the support)."""
    rng = np.random.default_rng(7)
    data = (rng.random((16, 14, 12, 6)) * (rng.random((16, 14, 12, 6)) < 0.3)).astype(np.float32)
    if case == "all_negative":
        data = -data
    src = nib.Nifti1Image(data, np.eye(4))
    path = tmp_path / "maps.nii.gz"
    nib.save(src, path)
    target = np.diag([2.0, 2.0, 2.0, 1.0])
    if case != "selection":
        target[:3, 3] = [0.3, 0.7, 0.5]
    ref = nib.Nifti1Image(np.zeros((8, 7, 6), np.int16), target)
    for source in (src, str(path)):
        dense = np.asarray(resample_prepared(source, ref, "linear", clip=True).dataobj)
        sink = SparseCollector((8, 7, 6))
        clip = resample_prepared(source, ref, "linear", clip=True, sink=sink)
        assert (clip is None) == (case == "selection")
        maps = sink.finish(clip)
        np.testing.assert_array_equal(maps.dense(), dense)
        assert all(np.all(v != 0) for v in maps.values)
        assert maps.dtype == dense.dtype


@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("allow_overlap", [True, False])
def test_masker_resampling_at_fit_equals_maps_given_on_the_data_grid(with_mask, allow_overlap, tmp_path):
    """NiftiMapsMasker resampling its maps at fit (sparse path) = the same maps given already resampled
    (dense path): maps_img_, the coverage table and the signals."""
    from nimask.maskers import NiftiMapsMasker

    rng = np.random.default_rng(11)
    maps = np.zeros((20, 18, 16, 4), np.float32)
    for j in range(4):  # non-overlapping blobs when allow_overlap=False
        maps[5 * j : 5 * j + 4, 3:15, 2:14, j] = rng.random((4, 12, 12)) + 0.1
    maps_img = nib.Nifti1Image(maps, np.eye(4))
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    run = nib.Nifti1Image((rng.standard_normal((10, 9, 8, 30)) * 10 + 500).astype(np.int16), affine)
    run_path = tmp_path / "run.nii.gz"
    nib.save(run, run_path)
    mask = None
    if with_mask:
        m = np.zeros((10, 9, 8), np.uint8)
        m[1:9, 1:8, 1:7] = 1
        mask = nib.Nifti1Image(m, affine)
    kwargs = dict(mask_img=mask, allow_overlap=allow_overlap, detrend=True, standardize="zscore_sample")
    fitted = NiftiMapsMasker(maps_img, **kwargs)
    signals = fitted.fit_transform(str(run_path))
    on_grid = nib.Nifti1Image(np.asarray(fitted.maps_img_.dataobj), affine)
    reference = NiftiMapsMasker(on_grid, **kwargs)
    expected = reference.fit_transform(str(run_path))
    np.testing.assert_array_equal(np.asarray(fitted.maps_img_.dataobj), np.asarray(reference.maps_img_.dataobj))
    np.testing.assert_allclose(signals, expected, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(fitted.region_coverage_["fraction"], reference.region_coverage_["fraction"],
                               rtol=1e-12)
    resampled = resample_prepared(maps_img, run, "linear", clip=True)
    np.testing.assert_array_equal(np.asarray(fitted.maps_img_.dataobj), np.asarray(resampled.dataobj))


@pytest.mark.parametrize("allow_overlap", [True, False])
@pytest.mark.parametrize("resampled", [False, True])
def test_coverage_totals_are_the_maps_own_sums(allow_overlap, resampled):
    """``weight_in_map`` sums every value of each map, also the small and negative weights that
    ``allow_overlap=False`` leaves out of the regression."""
    from nimask.maskers import NiftiMapsMasker

    maps = np.zeros((6, 5, 4, 2), np.float32)
    maps[:3, ..., 0] = 0.5
    maps[3:, ..., 1] = 0.25
    maps[0, 0, 0, 1] = -0.125  # negative: zeroed in the operator when allow_overlap=False
    maps[5, 4, 3, 0] = 1e-9  # below float32 epsilon: the same
    affine = np.eye(4)
    run_affine = np.diag([2.0, 2.0, 2.0, 1.0]) if resampled else affine
    shape = (3, 3, 2) if resampled else (6, 5, 4)
    run = nib.Nifti1Image(np.random.default_rng(0).standard_normal(shape + (5,)).astype(np.float32), run_affine)
    masker = NiftiMapsMasker(nib.Nifti1Image(maps, affine), allow_overlap=allow_overlap).fit(run)
    on_grid = np.asarray(masker.maps_img_.dataobj)
    expected = np.abs(on_grid.astype(np.float64)).sum(axis=(0, 1, 2))
    np.testing.assert_allclose(masker.region_coverage_["weight_in_map"], expected, rtol=1e-12)
    if not resampled:
        assert expected[1] == pytest.approx(0.25 * 60 + 0.125)
