"""Float64 accumulation (catalogue D12): integer and float32 runs give the float64 copy's output.

A run with a large mean and a small variance loses its variance in float32 sums: nilearn's
labels, maps and spheres signals of a float32 run (and nilearn's sphere means of an integer
run, truncated to the integer type) are far from the same computation on the float64 copy
of the run. nimask reduces the regions and cleans their signals in float64 and casts only
the output to nilearn's dtype, so that every masker's output on an int16, uint8 or float32
run is within 1e-6 (relative to the largest value) of its output on the float64 copy.

NiftiMasker and MultiNiftiMasker keep float32 voxel matrices (their memory); their
float32 cleaning centres each column first, which already meets the 1e-6 target.
"""
from __future__ import annotations

import warnings

import nibabel as nib
import nilearn.maskers as nl
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import float64_copy, max_rel_err
from nimask import maskers as nm
from nimask.pipeline import stream, values_dtype
from nimask.regions._labels import prepare_labels
from nimask.regions._maps import prepare_maps
from nimask.regions._spheres import prepare_spheres
from nimask.regions._voxels import prepare_voxels

SHAPE = (10, 11, 12)
N_VOL = 40
AFF = np.diag([3.0, 3.0, 3.0, 1.0])
AFF[:3, 3] = [-15, -16, -18]
CLEANING = dict(detrend=True, standardize="zscore_sample", low_pass=0.1, high_pass=0.01, t_r=2.0)
SEEDS = [(-6.0, -7.0, -9.0), (3.0, 2.0, 0.0), (9.0, 8.0, 9.0)]
TARGET = 1e-6


def _run(dtype, offset=20000.0, scale=3.0, seed=0):
    """A run with a large mean and a small variance (a slow drift, noise, a shared signal)."""
    rng = np.random.default_rng(seed)
    t = np.arange(N_VOL)
    shared = np.sin(2 * np.pi * 0.05 * 2.0 * t)
    data = (offset + rng.uniform(-50, 50, SHAPE)[..., None] * (scale / 3.0)
            + scale * (rng.standard_normal(SHAPE + (N_VOL,)) + shared + 0.02 * t))
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        data = np.clip(np.rint(data), info.min, info.max)
    return nib.Nifti1Image(data.astype(dtype), AFF, dtype=np.dtype(dtype))


def _labels():
    labels = np.zeros(SHAPE, np.int16)
    labels[1:5, 1:6, 1:6], labels[5:9, 1:6, 2:8], labels[2:8, 6:10, 3:11] = 1, 2, 3
    return nib.Nifti1Image(labels, AFF)


def _maps():
    ijk = np.indices(SHAPE).transpose(1, 2, 3, 0).astype(np.float64)
    centres = [(3, 3, 3), (6, 5, 7), (5, 8, 6)]
    maps = [np.exp(-((ijk - c) ** 2).sum(-1) / 6.0) for c in centres]
    maps = np.stack(maps, -1)
    maps[maps < 0.05] = 0
    return nib.Nifti1Image(maps.astype(np.float32), AFF)


def _mask():
    mask = np.zeros(SHAPE, np.uint8)
    mask[1:9, 1:10, 1:11] = 1
    return nib.Nifti1Image(mask, AFF)


MASKERS = {
    "NiftiMasker": lambda m, **kw: m.NiftiMasker(mask_img=_mask(), **kw),
    "MultiNiftiMasker": lambda m, **kw: m.MultiNiftiMasker(mask_img=_mask(), **kw),
    "NiftiLabelsMasker": lambda m, **kw: m.NiftiLabelsMasker(_labels(), **kw),
    "MultiNiftiLabelsMasker": lambda m, **kw: m.MultiNiftiLabelsMasker(_labels(), **kw),
    "NiftiMapsMasker": lambda m, **kw: m.NiftiMapsMasker(_maps(), **kw),
    "MultiNiftiMapsMasker": lambda m, **kw: m.MultiNiftiMapsMasker(_maps(), **kw),
    "NiftiSpheresMasker": lambda m, **kw: m.NiftiSpheresMasker(SEEDS, radius=5.0, **kw),
}
REGION_MASKERS = [name for name in MASKERS if "Labels" in name or "Maps" in name or "Spheres" in name]


def _fit_transform(make, img, confounds=None, **kw):
    """``fit_transform``; a Multi masker is given a list of one image (its list path)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker = make(**kw)
        if type(masker).__name__.startswith("Multi"):
            return masker.fit_transform([img], confounds=None if confounds is None else [confounds])[0]
        return masker.fit_transform(img, confounds=confounds)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
@pytest.mark.parametrize("name", list(MASKERS))
def test_output_is_the_float64_copys_output_with_cleaning(name, dtype):
    """Detrend, zscore_sample, band-pass and confounds: within 1e-6 of the float64 copy's output,
    in nilearn's output dtype for the run's dtype."""
    offset = 200.0 if dtype == np.uint8 else 20000.0
    img = _run(dtype, offset=offset, scale=1.5 if dtype == np.uint8 else 3.0)
    conf = np.random.default_rng(1).standard_normal((N_VOL, 4))
    got = _fit_transform(lambda **kw: MASKERS[name](nm, **kw), img, conf, **CLEANING)
    ref = _fit_transform(lambda **kw: MASKERS[name](nm, **kw), float64_copy(img), conf, **CLEANING)
    theirs = _fit_transform(lambda **kw: MASKERS[name](nl, **kw), img, conf, **CLEANING)
    assert got.dtype == theirs.dtype
    assert ref.dtype == np.float64 and np.isfinite(got).all()
    assert max_rel_err(got, ref) <= TARGET


@pytest.mark.parametrize("name", REGION_MASKERS)
def test_nilearn_is_farther_from_the_float64_copy(name):
    """The case of the issue: nilearn's float32 region signals lose the small variance."""
    img = _run(np.float32)
    conf = np.random.default_rng(1).standard_normal((N_VOL, 4))
    got = _fit_transform(lambda **kw: MASKERS[name](nm, **kw), img, conf, **CLEANING)
    ref = _fit_transform(lambda **kw: MASKERS[name](nl, **kw), float64_copy(img), conf, **CLEANING)
    theirs = _fit_transform(lambda **kw: MASKERS[name](nl, **kw), img, conf, **CLEANING)
    assert max_rel_err(got, ref) <= TARGET < max_rel_err(theirs, ref)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", REGION_MASKERS)
@pytest.mark.parametrize("option", ["plain", "smoothing", "no_cleaning"])
def test_output_dtype_is_nilearns(name, dtype, option):
    """The final cast gives nilearn's pipeline dtype (spec §1.6), smoothing included."""
    img = _run(dtype, offset=100.0)
    kw = {"plain": CLEANING, "smoothing": dict(smoothing_fwhm=4.0, **CLEANING), "no_cleaning": {}}[option]
    got = _fit_transform(lambda **k: MASKERS[name](nm, **k), img, **kw)
    theirs = _fit_transform(lambda **k: MASKERS[name](nl, **k), img, **kw)
    assert got.dtype == theirs.dtype
    if option == "no_cleaning" and not (name == "NiftiSpheresMasker" and np.dtype(dtype).kind in "iu"):
        np.testing.assert_allclose(got, theirs, rtol=1e-6)  # the float64 values cast: nilearn's numbers


@pytest.mark.parametrize("dtype", [np.int16, np.float32])
@pytest.mark.parametrize("name", ["NiftiLabelsMasker", "NiftiMapsMasker"])
def test_output_dtype_is_nilearns_when_the_data_are_resampled(name, dtype):
    """Data resampled onto the atlas grid (cubic): int16 becomes float32 before the extraction."""
    img = _run(dtype, offset=100.0)
    shifted = nib.Nifti1Image(np.asarray(img.dataobj)[1:], AFF)  # another grid than the atlas's
    target = "labels" if "Labels" in name else "maps"
    got = _fit_transform(lambda **k: MASKERS[name](nm, **k), shifted, resampling_target=target, **CLEANING)
    theirs = _fit_transform(lambda **k: MASKERS[name](nl, **k), shifted, resampling_target=target, **CLEANING)
    assert got.dtype == theirs.dtype


def test_spheres_of_an_integer_run_are_not_truncated():
    """Deliberate fix (spec §12 item 3): nilearn truncates integer sphere means toward zero."""
    data = np.full(SHAPE + (2,), 10, np.int16)
    data[..., 1] = 11
    data[5:, ..., 1] = 12  # the sphere straddles x = 4 (11) and x = 5, 6 (12): a fractional mean
    img = nib.Nifti1Image(data, AFF)
    got = _fit_transform(lambda **k: nm.NiftiSpheresMasker([(0.0, 0.0, 0.0)], radius=4.0, **k), img)
    theirs = _fit_transform(lambda **k: nl.NiftiSpheresMasker([(0.0, 0.0, 0.0)], radius=4.0, **k), img)
    exact = _fit_transform(lambda **k: nl.NiftiSpheresMasker([(0.0, 0.0, 0.0)], radius=4.0, **k), float64_copy(img))
    assert got.dtype == theirs.dtype == np.float32
    assert exact[1, 0] % 1 != 0 and theirs[1, 0] == np.trunc(exact[1, 0])
    np.testing.assert_allclose(got, exact, rtol=1e-7)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32])
def test_region_operators_reduce_in_float64_and_voxels_stay_float32(dtype):
    img = _run(dtype, offset=200.0 if dtype == np.uint8 else 20000.0)
    mask = np.asarray(_mask().dataobj) > 0
    ops = [prepare_labels(np.asarray(_labels().dataobj), affine=AFF),
           prepare_maps(np.asarray(_maps().dataobj), affine=AFF),
           prepare_spheres(SEEDS, AFF, SHAPE, radius=5.0)]
    for out in stream(img, ops):
        assert out.dtype == np.float64
    assert stream(img, [prepare_voxels(mask, AFF)])[0].dtype == np.float32  # memory: nilearn's float32 matrix


class _Spy:
    """An operator recording the dtype of the values it is handed."""

    def __init__(self, op):
        self.op, self.seen = op, set()
        for name in ("shape", "affine", "index", "names", "batch_volumes", "pointwise", "nonfinite_where"):
            setattr(self, name, getattr(op, name))

    def reduce(self, values):
        self.seen.add(values.dtype)
        return self.op.reduce(values)


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int64, np.float32, np.float64])
@pytest.mark.parametrize("resample", [False, True])
@pytest.mark.parametrize("fwhm", [None, 0, 4.0])
def test_values_dtype_is_what_the_stream_hands_over(dtype, resample, fwhm, tmp_path):
    img = _run(dtype, offset=100.0)
    affine = AFF.copy()
    if resample:
        affine[:3, 3] += 1.0
    spy = _Spy(prepare_labels(np.asarray(_labels().dataobj), affine=affine))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stream(img, [spy], smoothing_fwhm=fwhm)
        assert spy.seen == {values_dtype(img, spy, fwhm)}
    if np.dtype(dtype).kind in "iu" and dtype != np.int64:  # a file with a slope: nibabel reads float64
        scaled = nib.Nifti1Image(np.asarray(img.dataobj), AFF)
        scaled.header.set_slope_inter(2.0, 1.0)
        path = tmp_path / "scaled.nii"
        nib.save(scaled, path)
        loaded = nib.load(path)
        spy = _Spy(prepare_labels(np.asarray(_labels().dataobj), affine=affine))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stream(loaded, [spy], smoothing_fwhm=fwhm)
        assert spy.seen == {values_dtype(loaded, spy, fwhm)}


def test_clean_signals_cleans_region_signals_in_float64():
    """The batch's path: the stream's float64 signals give transform's output; float32 signals
    given to clean_signals are cleaned in float64 too; the output has nilearn's dtype."""
    img = _run(np.float32)
    masker = nm.NiftiLabelsMasker(_labels(), **CLEANING).fit(img)
    raw = stream(img, [masker.operator_for(img)])[0]
    got = masker.clean_signals(raw, img)
    assert got.dtype == np.float32 and masker.clean_signals(raw, float64_copy(img)).dtype == np.float64
    np.testing.assert_array_equal(got, masker.transform(img))
    raw32 = raw.astype(np.float32)
    np.testing.assert_array_equal(masker.clean_signals(raw32, img),
                                  masker.clean_signals(raw32.astype(np.float64), img))


@settings(max_examples=12, deadline=None)
@given(offset=st.floats(500.0, 30000.0), scale=st.floats(0.5, 20.0),
       dtype=st.sampled_from([np.int16, np.float32]), name=st.sampled_from(REGION_MASKERS[::2] + ["NiftiMasker"]),
       seed=st.integers(0, 2**16))
def test_property_within_1e6_of_the_float64_copy(offset, scale, dtype, name, seed):
    img = _run(dtype, offset=offset, scale=scale, seed=seed)
    conf = np.random.default_rng(seed).standard_normal((N_VOL, 3))
    got = _fit_transform(lambda **kw: MASKERS[name](nm, **kw), img, conf, **CLEANING)
    ref = _fit_transform(lambda **kw: MASKERS[name](nm, **kw), float64_copy(img), conf, **CLEANING)
    assert max_rel_err(got, ref) <= TARGET
