"""Property tests (hypothesis) over the region maskers, and E3/G12 for every masker.

NiftiMasker's round trip and chunked == whole are in
``tests/maskers/test_masker_nifti_properties.py``; the confound orthogonality of ``clean`` in
``tests/signal/test_signal_properties.py``. Here: the labels, maps and spheres maskers
(round trip, chunked == whole, confound orthogonality) and invariance of every masker to a
reorientation that keeps world coordinates (``nib.as_closest_canonical``, catalogue G12).
"""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nimask import _nifti_io
from nimask.maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiMasker, NiftiSpheresMasker

SHAPE = (7, 8, 9)
seeds = st.integers(0, 2**32 - 1)
SETTINGS = dict(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _affine(flips=(1, 1, 1), seed=0):
    """An affine with axis flips (LPI-like when negative), anisotropic voxels and an offset."""
    rng = np.random.default_rng(seed)
    aff = np.diag([2.0 * flips[0], 2.5 * flips[1], 3.0 * flips[2], 1.0])
    aff[:3, 3] = rng.uniform(-20, 20, 3)
    return aff


def _img(seed, t=8, affine=None):
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image((rng.standard_normal(SHAPE + (t,)) * 20 + 100).astype(np.float32),
                           _affine() if affine is None else affine)


def _labels(seed, affine=None, n=4):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, n + 1, SHAPE).astype(np.int16)
    data[0, 0, 0:n + 1] = np.arange(n + 1)  # every label present
    return nib.Nifti1Image(data, _affine() if affine is None else affine)


def _maps(seed, affine=None, n=3):
    lab = np.asarray(_labels(seed, n=n).dataobj)
    rng = np.random.default_rng(seed + 1)
    weights = np.stack([(lab == k) * rng.uniform(0.5, 1.5, SHAPE) for k in range(1, n + 1)], -1)
    return nib.Nifti1Image(weights.astype(np.float32), _affine() if affine is None else affine)


def _quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


# ---- round trips (E3) -------------------------------------------------------------------------
@settings(**SETTINGS)
@given(seed=seeds, t=st.integers(1, 6))
def test_labels_round_trip_is_exact_on_region_signals(seed, t):
    """transform(inverse_transform(S)) == S for the mean strategy."""
    masker = _quiet(NiftiLabelsMasker(_labels(seed)).fit, _img(seed))
    signals = np.random.default_rng(seed).standard_normal((t, masker.n_elements_)).astype(np.float32)
    back = _quiet(masker.transform, _quiet(masker.inverse_transform, signals))
    np.testing.assert_allclose(back.reshape(t, -1), signals, rtol=1e-5, atol=1e-5)


@settings(**SETTINGS)
@given(seed=seeds, t=st.integers(1, 6))
def test_maps_round_trip_is_exact_for_non_overlapping_maps(seed, t):
    masker = _quiet(NiftiMapsMasker(_maps(seed)).fit, _img(seed))
    signals = np.random.default_rng(seed).standard_normal((t, masker.n_elements_)).astype(np.float32)
    back = _quiet(masker.transform, _quiet(masker.inverse_transform, signals))
    np.testing.assert_allclose(back.reshape(t, -1), signals, rtol=1e-4, atol=1e-4)


@settings(**SETTINGS)
@given(seed=seeds, t=st.integers(1, 6))
def test_spheres_round_trip_is_exact(seed, t):
    mask = nib.Nifti1Image(np.ones(SHAPE, np.uint8), _affine())
    centres = _affine()[:3, :3] @ np.array([[2, 2, 2], [5, 5, 6]]).T + _affine()[:3, 3:4]
    masker = _quiet(NiftiSpheresMasker([tuple(c) for c in centres.T], radius=2.0, mask_img=mask).fit)
    signals = np.random.default_rng(seed).standard_normal((t, 2)).astype(np.float32)
    back = _quiet(masker.transform, _quiet(masker.inverse_transform, signals))
    np.testing.assert_allclose(back.reshape(t, -1), signals, rtol=1e-5, atol=1e-5)


# ---- invariance to a world-preserving reorientation (G12) -----------------------------------
FLIPS = [(-1, 1, 1), (1, -1, 1), (-1, -1, 1), (-1, 1, -1)]


def _pair(seed, flips):
    """(image, atlas-like maker) on a flipped grid, and the same in canonical orientation."""
    aff = _affine(flips, seed)
    return aff, (lambda img: nib.as_closest_canonical(img))


@settings(**SETTINGS)
@given(seed=seeds, flips=st.sampled_from(FLIPS))
def test_region_maskers_are_invariant_to_canonical_reorientation(seed, flips):
    aff, canon = _pair(seed, flips)
    img, labels, maps = _img(seed, affine=aff), _labels(seed, aff), _maps(seed, aff)
    centre = aff[:3, :3] @ np.array([3.0, 4.0, 4.0]) + aff[:3, 3]
    cases = [
        (lambda a: NiftiLabelsMasker(a, detrend=True), labels),
        (lambda a: NiftiMapsMasker(a, detrend=True), maps),
        (lambda a: NiftiSpheresMasker([tuple(centre)], radius=3.7, detrend=True), None),
    ]
    for make, atlas in cases:
        native = _quiet(make(atlas).fit_transform, img)
        reoriented = _quiet(make(None if atlas is None else canon(atlas)).fit_transform, canon(img))
        np.testing.assert_allclose(reoriented, native, rtol=1e-5, atol=1e-4)


@settings(**SETTINGS)
@given(seed=seeds, flips=st.sampled_from(FLIPS))
def test_nifti_masker_is_invariant_to_canonical_reorientation(seed, flips):
    """Voxel columns follow the grid order, so compare the images written back in world space."""
    aff = _affine(flips, seed)
    img = _img(seed, affine=aff)
    mask = nib.Nifti1Image((np.random.default_rng(seed).random(SHAPE) < 0.5).astype(np.uint8), aff)
    native = _quiet(NiftiMasker(mask, standardize="zscore_sample").fit, img)
    canon_masker = _quiet(NiftiMasker(nib.as_closest_canonical(mask), standardize="zscore_sample").fit,
                          nib.as_closest_canonical(img))
    a = nib.as_closest_canonical(native.inverse_transform(_quiet(native.transform, img)))
    b = canon_masker.inverse_transform(_quiet(canon_masker.transform, nib.as_closest_canonical(img)))
    np.testing.assert_allclose(a.affine, b.affine)
    np.testing.assert_allclose(np.asarray(a.dataobj), np.asarray(b.dataobj), rtol=1e-5, atol=1e-5)


# ---- chunked == whole ------------------------------------------------------------------------
@settings(**{**SETTINGS, "max_examples": 4})
@given(seed=seeds, chunk_bytes=st.sampled_from([1, 2000, 5000]))
def test_region_maskers_file_chunks_equal_in_memory(tmp_path, seed, chunk_bytes):
    path = str(tmp_path / f"run{seed}.nii.gz")
    img = _img(seed, t=9)
    nib.save(img, path)
    centre = tuple(_affine()[:3, :3] @ np.array([3.0, 4.0, 4.0]) + _affine()[:3, 3])
    makers = [lambda: NiftiLabelsMasker(_labels(seed), standardize="zscore_sample"),
              lambda: NiftiMapsMasker(_maps(seed), detrend=True),
              lambda: NiftiSpheresMasker([centre], radius=3.7)]
    whole = [_quiet(make().fit_transform, img) for make in makers]
    old = _nifti_io._DEFAULT_CHUNK_BYTES
    _nifti_io._DEFAULT_CHUNK_BYTES = chunk_bytes  # forces one or a few volumes per chunk
    try:
        chunked = [_quiet(make().fit_transform, path) for make in makers]
    finally:
        _nifti_io._DEFAULT_CHUNK_BYTES = old
    for a, b in zip(chunked, whole, strict=True):
        np.testing.assert_array_equal(a, b)


# ---- confound regression orthogonality --------------------------------------------------------
@settings(**SETTINGS)
@given(seed=seeds, k=st.integers(1, 4))
def test_confound_cleaned_signals_are_orthogonal_to_confounds_for_every_masker(seed, k):
    img = _img(seed, t=25)
    rng = np.random.default_rng(seed)
    conf = rng.standard_normal((25, k))
    centre = tuple(_affine()[:3, :3] @ np.array([3.0, 4.0, 4.0]) + _affine()[:3, 3])
    mask = nib.Nifti1Image((rng.random(SHAPE) < 0.3).astype(np.uint8), _affine())
    makers = [NiftiMasker(mask), NiftiLabelsMasker(_labels(seed)), NiftiMapsMasker(_maps(seed)),
              NiftiSpheresMasker([centre], radius=3.7)]
    centred = conf - conf.mean(0)
    for masker in makers:
        masker.set_params(detrend=False, standardize=None, standardize_confounds=True)
        out = _quiet(masker.fit_transform, img, confounds=conf).astype(np.float64)
        out = out - out.mean(0)
        scale = np.abs(out).max() * np.abs(centred).max() * 25
        assert np.abs(centred.T @ out).max() <= 1e-4 * scale, type(masker).__name__
