"""NiftiMasker properties (hypothesis), chunked == whole, and the content-keyed cache."""
from __future__ import annotations

import os
import warnings

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nimask import pipeline
from nimask.maskers import MultiNiftiMasker, NiftiMasker
from nimask.pipeline import stream
from nimask.regions._voxels import prepare_voxels

SHAPE = (7, 8, 9)
AFFINE = np.diag([2.0, 2.5, 3.0, 1.0])


def _img(t, seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image((rng.standard_normal(SHAPE + (t,)) * 50).astype(dtype), AFFINE)


mask_arrays = st.integers(0, 2**32 - 1).map(
    lambda seed: np.random.default_rng(seed).random(SHAPE) < 0.4
).filter(lambda m: m.any())


@settings(max_examples=25, deadline=None)
@given(mask=mask_arrays, t=st.integers(1, 6), seed=st.integers(0, 1000),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_inverse_of_transform_is_identity_inside_the_mask(mask, t, seed, dtype):
    img = _img(t, seed, dtype)
    masker = NiftiMasker(nib.Nifti1Image(mask.astype(np.uint8), AFFINE)).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        X = masker.transform(img)
    back = np.asarray(masker.inverse_transform(X).dataobj)
    data = np.asarray(img.dataobj)
    np.testing.assert_array_equal(back[mask], data[mask])
    assert not back[~mask].any()
    assert X.dtype == dtype


@settings(max_examples=12, deadline=None)
@given(mask=mask_arrays, t=st.integers(2, 9), seed=st.integers(0, 1000),
       chunk=st.integers(1, 4), fwhm=st.sampled_from([None, 3.0]),
       resample=st.booleans())
def test_chunked_equals_whole(mask, t, seed, chunk, fwhm, resample):
    img = _img(t, seed)
    mask_affine = np.diag([2.2, 2.4, 3.1, 1.0]) if resample else AFFINE
    op = prepare_voxels(mask, mask_affine, crop=resample)
    with warnings.catch_warnings(record=True) as w1:
        warnings.simplefilter("always")
        whole = stream(img, [op], smoothing_fwhm=fwhm, chunk_size=t)[0]
    with warnings.catch_warnings(record=True) as w2:
        warnings.simplefilter("always")
        parts = stream(img, [op], smoothing_fwhm=fwhm, chunk_size=chunk)[0]
    np.testing.assert_array_equal(parts, whole)
    assert [str(w.message) for w in w1] == [str(w.message) for w in w2]  # the same non-finite count


@pytest.mark.parametrize("params", [{}, {"smoothing_fwhm": 4.0}, {"target_affine": np.diag([3.0, 3.0, 3.5])},
                                    {"target_affine": np.diag([3.0, 3.0, 3.5]), "smoothing_fwhm": 4.0}])
def test_file_chunks_equal_whole_array(tmp_path, params, monkeypatch):
    img = _img(12, 3)
    path = tmp_path / "run.nii.gz"
    img.to_filename(path)
    mask = nib.Nifti1Image((np.random.default_rng(1).random(SHAPE) < 0.5).astype(np.uint8), AFFINE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = NiftiMasker(mask, **params).fit_transform(img)
        import nimask._nifti_io as io

        monkeypatch.setattr(io, "_DEFAULT_CHUNK_BYTES", 1)  # one volume per chunk
        out = NiftiMasker(mask, **params).fit_transform(str(path))
    np.testing.assert_array_equal(out, ref)


# ---- cache ---------------------------------------------------------------------------------------
def _count_calls(monkeypatch):
    calls = []
    original = pipeline.stream

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "stream", counting)
    return calls


def test_cache_hits_and_never_stale_after_rewrite(tmp_path, monkeypatch):
    calls = _count_calls(monkeypatch)
    path = tmp_path / "run.nii"
    _img(8, 0).to_filename(path)
    mask = nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFFINE)
    masker = NiftiMasker(mask, memory=str(tmp_path / "cache"), detrend=True).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        first = masker.transform(str(path))
        again = masker.transform(str(path))
        assert len(calls) == 1  # second call served from the cache
        np.testing.assert_array_equal(first, again)
        stat = os.stat(path)
        _img(8, 1).to_filename(path)  # same size, new content
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the old mtime
        assert os.stat(path).st_size == stat.st_size
        fresh = masker.transform(str(path))
        expected = NiftiMasker(mask, detrend=True).fit().transform(str(path))
    assert len(calls) == 3
    np.testing.assert_array_equal(fresh, expected)
    assert not np.array_equal(fresh, first)


def test_cache_distinguishes_parameters_and_confounds(tmp_path, monkeypatch):
    calls = _count_calls(monkeypatch)
    img = _img(30, 0)
    mask = nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFFINE)
    cache = str(tmp_path / "cache")
    conf = np.random.default_rng(0).standard_normal((30, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        a = NiftiMasker(mask, memory=cache).fit().transform(img)
        b = NiftiMasker(mask, memory=cache, detrend=True).fit().transform(img)
        c = NiftiMasker(mask, memory=cache, detrend=True).fit().transform(img, confounds=conf)
        d = NiftiMasker(mask, memory=cache, detrend=True).fit().transform(img, confounds=conf)
    assert len(calls) == 3
    assert not np.array_equal(a, b) and not np.array_equal(b, c)
    np.testing.assert_array_equal(c, d)


def test_memory_level_zero_with_location_warns_and_keeps_param(tmp_path):
    masker = MultiNiftiMasker(nib.Nifti1Image(np.ones(SHAPE, np.uint8), AFFINE), memory=str(tmp_path))
    with pytest.warns(UserWarning, match="Setting memory_level to 1"):
        masker.fit()
    assert masker.memory_level == 0  # nilearn changes the parameter in place; nimask does not
    assert masker.memory_.location is not None


def test_multi_n_jobs_gives_same_list():
    mask = nib.Nifti1Image((np.random.default_rng(1).random(SHAPE) < 0.5).astype(np.uint8), AFFINE)
    n_voxels = int(np.asarray(mask.dataobj).astype(bool).sum())
    lengths = (5, 7, 6)
    imgs = [_img(t, t) for t in lengths]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        serial = MultiNiftiMasker(mask, detrend=True).fit_transform(imgs)
        threads = MultiNiftiMasker(mask, detrend=True, n_jobs=2).fit_transform(imgs)
        single = [NiftiMasker(mask, detrend=True).fit_transform(img) for img in imgs]
    assert isinstance(threads, list) and len(threads) == len(serial) == len(imgs)
    assert [x.shape for x in threads] == [(t, n_voxels) for t in lengths]  # one run per image, in input order
    for one, a, b in zip(single, serial, threads, strict=True):
        np.testing.assert_array_equal(a, one)  # the serial list holds each image's own signals
        np.testing.assert_array_equal(b, a)  # threads give the serial values, in the same order


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("chunk", [1, 2, 5])
def test_smoothing_over_a_thread_pool_equals_one_thread(monkeypatch, threads, chunk):
    """Chunks smoothed ahead on a pool (volumes of the next chunks in flight while the oldest is reduced) give
    the one-thread numbers, the same non-finite count, and one ``after_chunk`` call per chunk."""
    data = (np.random.default_rng(5).standard_normal(SHAPE + (11,)) * 50).astype(np.float32)
    data[2, 3, 4, 6] = np.nan
    img = nib.Nifti1Image(data, AFFINE)
    op = prepare_voxels(np.random.default_rng(6).random(SHAPE) < 0.5, AFFINE)
    monkeypatch.setattr(pipeline, "n_threads", lambda n, cap=4: 1)
    with pytest.warns(UserWarning, match="1 NaN/inf") as ref_warnings:
        ref = stream(img, [op], smoothing_fwhm=4.0, chunk_size=chunk)[0]
    monkeypatch.setattr(pipeline, "n_threads", lambda n, cap=4: threads)
    calls = []
    with pytest.warns(UserWarning, match="1 NaN/inf") as pool_warnings:
        out = stream(img, [op], smoothing_fwhm=4.0, chunk_size=chunk, after_chunk=lambda: calls.append(1))[0]
    np.testing.assert_array_equal(out, ref)
    assert len(calls) == -(-11 // chunk)
    assert [str(w.message) for w in pool_warnings] == [str(w.message) for w in ref_warnings]
