"""Sphere membership and averaging kernels against nilearn 0.14.1's NiftiSpheresMasker."""
import warnings

import nibabel as nib
import nilearn.maskers as nl_maskers
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _helpers import apply_op, assert_oracle, oblique_affine
from nimask.exceptions import AtlasError, NimaskDataWarning, ParameterError
from nimask.regions._spheres import check_radius, check_seeds, overlap_pairs, prepare_spheres, sphere_members

SHAPE = (7, 8, 9)


def _case(trial):
    rng = np.random.default_rng(trial)
    if trial % 3 == 0:
        aff = oblique_affine(trial)
    else:
        aff = np.diag([rng.choice([1.0, 2.0, 3.0]), rng.choice([1.0, 2.5]), 2.0, 1.0])
        aff[:3, 3] = rng.uniform(-5, 5, 3) if trial % 3 == 1 else 0
    dtype = [np.float32, np.int16, np.float64][trial % 3]
    data = (rng.random(SHAPE + (3,)) * 100).astype(dtype)
    mask = (rng.random(SHAPE) > 0.2).astype(np.int8) if trial % 2 else None
    ijk = rng.uniform(-0.5, [6.5, 7.5, 8.5], (3, 3))
    if trial % 5 == 0:
        ijk = np.round(ijk)
    seeds = ijk @ aff[:3, :3].T + aff[:3, 3]
    if trial % 4 == 0:
        seeds = np.round(seeds * 2) / 2  # ties for round-half-to-even and truncation
    radius = [None, 0, 1.0, 2.5, 4.0][trial % 5]
    return aff, data, mask, seeds.tolist(), radius


@pytest.mark.parametrize("trial", range(40))
def test_sphere_means_match_nilearn(trial):
    aff, data, mask, seeds, radius = _case(trial)
    mask_img = None if mask is None else nib.Nifti1Image(mask, aff)
    masker = nl_maskers.NiftiSpheresMasker(seeds, radius=radius, mask_img=mask_img, allow_overlap=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = masker.fit_transform(nib.Nifti1Image(data, aff))
        except ValueError as exc:
            assert "empty" in str(exc)
            with pytest.raises(AtlasError, match="These spheres are empty"):
                prepare_spheres(seeds, aff, SHAPE, None if mask is None else mask.astype(bool), radius,
                                allow_overlap=True)
            return
    op = prepare_spheres(seeds, aff, SHAPE, None if mask is None else mask.astype(bool), radius, allow_overlap=True)
    actual = apply_op(op, data)
    assert actual.dtype == np.float64  # the means are float64 until the masker's final cast (catalogue D12)
    if data.dtype.kind == "i":
        # deliberate fix (catalogue D12): nilearn stores an integer image's sphere means in the image dtype,
        # truncated toward zero; nimask keeps the float means, so the oracle is nilearn on the float64 copy
        truncated = expected
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = masker.fit_transform(nib.Nifti1Image(data.astype(np.float64), aff))
        np.testing.assert_array_equal(truncated, np.trunc(expected))
    assert_oracle(actual, expected)


def test_truncated_coordinate_voxel_quirk():
    # seed (2.7, 0, 0) on a 1 mm grid with radius None: voxels x=3 (nearest) and x=2 (truncated)
    members = sphere_members([(2.7, 0, 0)], np.eye(4), SHAPE)
    assert np.unravel_index(members[0], SHAPE)[0].tolist() == [2, 3]
    # a seed just off the grid still picks voxel 0 through the truncation rule
    members = sphere_members([(-0.6, 0, 0)], np.eye(4), SHAPE)
    assert members[0].tolist() == [0]


def test_radius_inclusive():
    members = sphere_members([(3, 3, 3)], np.eye(4), SHAPE, radius=1.0)
    assert members[0].size == 7


@settings(max_examples=20, deadline=None)
@given(value=st.floats(-1e3, 1e3, allow_nan=False), radius=st.floats(0, 3), x=st.floats(2, 4))
def test_constant_region_gives_constant(value, radius, x):
    data = np.full(SHAPE + (2,), value, dtype=np.float64)
    op = prepare_spheres([(x, 3.5, 4)], np.eye(4), SHAPE, None, radius)
    np.testing.assert_allclose(apply_op(op, data), value, rtol=1e-12, atol=1e-12)


def test_integer_means_are_not_truncated():
    """Deliberate fix (catalogue D12, spec §12 item 3): nilearn gives -1 here (the mean stored in int16)."""
    data = np.zeros(SHAPE + (1,), np.int16)
    data[3, 3, 3] = -3
    data[2, 3, 3] = 0  # sphere {2,3} at x: mean -1.5
    op = prepare_spheres([(2.7, 3, 3)], np.eye(4), SHAPE)
    assert apply_op(op, data).tolist() == [[-1.5]]
    assert op.output_dtype(np.int16) == np.int16  # nilearn's dtype, then clean's float32 (the masker's cast)


def test_overlap_names_pair():
    with pytest.raises(AtlasError, match=r"#0 .* and #1"):
        prepare_spheres([(2, 2, 2), (3, 2, 2), (6, 6, 6)], np.eye(4), SHAPE, radius=1.5)
    members = sphere_members([(2, 2, 2), (3, 2, 2)], np.eye(4), SHAPE, radius=1.5)
    assert overlap_pairs(members) == [(0, 1)]


def test_empty_sphere_error_names_seed_and_nan_option():
    with pytest.raises(AtlasError, match=r"empty: \[1\].*\(100, 100, 100\)"):
        prepare_spheres([(2, 2, 2), (100, 100, 100)], np.eye(4), SHAPE, radius=2)
    with pytest.warns(NimaskDataWarning, match="NaN"):
        op = prepare_spheres([(2, 2, 2), (100, 100, 100)], np.eye(4), SHAPE, radius=2, empty_spheres="nan")
    out = apply_op(op, np.ones(SHAPE + (2,), np.int16))
    assert np.all(np.isnan(out[:, 1])) and np.all(out[:, 0] == 1)


def test_per_seed_radii():
    members = sphere_members([(3, 3, 3), (3, 3, 3)], np.eye(4), SHAPE, radius=[0, 1])
    assert members[0].size == 1 and members[1].size == 7


@pytest.mark.parametrize(
    "seeds, match",
    [
        ([(1, 2)], "Seed #0 is of length 2"),
        ([(1, 2, 3), (np.nan, 1, 1)], "seed #1 has non-finite"),
        ([(1, 2, 3), (np.inf, 1, 1)], "seed #1 has non-finite"),
        (5, "list of triplets"),
    ],
)
def test_bad_seeds(seeds, match):
    with pytest.raises(AtlasError, match=match):
        check_seeds(seeds)


@pytest.mark.parametrize("radius, match", [(-3, "radius must be a finite number of mm >= 0, found -3"),
                                           ([1, 2], "one radius per seed"), ("a", "radius must be None")])
def test_bad_radius(radius, match):
    with pytest.raises(ParameterError, match=match):
        check_radius(radius, 3)
