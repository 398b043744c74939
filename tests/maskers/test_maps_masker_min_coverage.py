"""NiftiMapsMasker / MultiNiftiMapsMasker: the opt-in ``min_coverage`` (NaN columns, coverage table)."""
import warnings

import nibabel as nib
import nilearn.maskers as nl
import numpy as np
import pytest

from _helpers import assert_oracle
from nimask.exceptions import ParameterError
from nimask.maskers import MultiNiftiMapsMasker, NiftiMapsMasker

AFF = np.diag([2.0, 2.5, 3.0, 1.0])
SHAPE = (10, 10, 10)


def _maps():
    rng = np.random.default_rng(0)
    maps = np.zeros(SHAPE + (4,), np.float32)
    maps[1:5, 1:5, 1:5, 0] = rng.random((4, 4, 4)) + 0.1
    maps[4:9, 1:5, 1:5, 1] = rng.random((5, 4, 4)) + 0.1  # overlaps map 0
    maps[2:8, 6:9, 6:9, 2] = 1.0  # half of it outside the mask below
    maps[0:2, 8:10, 0:2, 3] = 1.0  # wholly outside the mask below
    return nib.Nifti1Image(maps, AFF)


def _mask():
    mask = np.ones(SHAPE, np.uint8)
    mask[:5, 6:, 6:] = 0
    mask[0:2, 8:10, 0:2] = 0
    return nib.Nifti1Image(mask, AFF)


def _img(t=25, seed=1):
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image((rng.standard_normal(SHAPE + (t,)) * 10 + 100).astype(np.float32), AFF)


def _fit_transform(**kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = NiftiMapsMasker(_maps(), mask_img=_mask(), **kw)
        return m, m.fit_transform(_img())


def test_maps_min_coverage_nan_columns_and_reasons():
    kw = dict(detrend=True, standardize="zscore_sample")
    ref_masker, ref = _fit_transform(**kw)  # default: map 3 (outside the mask) dropped, as nilearn
    assert ref.shape == (25, 3)
    m, got = _fit_transform(min_coverage=0.6, **kw)
    assert got.shape == (25, 4)  # one column per map, aligned with maps_img
    assert np.isnan(got[:, 2]).all() and np.isnan(got[:, 3]).all()
    np.testing.assert_array_equal(got[:, :2], ref[:, :2])  # the regression of the others is unchanged
    cov = m.region_coverage_
    assert cov.columns.tolist() == ["index", "name", "weight_in_map", "weight_kept", "fraction", "reason"]
    assert cov["index"].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(cov["fraction"], [1.0, 1.0, 0.5, 0.0])
    np.testing.assert_allclose(cov.loc[2, ["weight_in_map", "weight_kept"]].to_numpy(float), [54.0, 27.0])
    assert cov.loc[2, "reason"] == "coverage 0.5 < min_coverage 0.6"
    assert cov.loc[3, "reason"] == "no weight inside the mask"
    assert cov.loc[0, "reason"] == "" and cov.loc[1, "reason"] == ""
    assert len(m.get_feature_names_out()) == 4
    # the default masker's table gives the same reasons for what it drops, no coverage reason
    assert ref_masker.region_coverage_.loc[3, "reason"] == "no weight inside the mask"
    assert ref_masker.region_coverage_.loc[2, "reason"] == ""


@pytest.mark.parametrize(("threshold", "nan"), [(0.5, False), (np.nextafter(0.5, 1), True), (0.49, False)])
def test_maps_min_coverage_threshold_edges(threshold, nan):
    _, got = _fit_transform(min_coverage=threshold)
    assert np.isnan(got[:, 2]).all() == nan
    assert np.isnan(got[:, 3]).all()  # no weight inside the mask: NaN whatever the threshold
    assert np.isfinite(got[:, :2]).all()


def test_maps_min_coverage_none_and_zero_are_nilearn():
    img = _img()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = nl.NiftiMapsMasker(_maps(), mask_img=_mask()).fit_transform(img)
        default = NiftiMapsMasker(_maps(), mask_img=_mask()).fit_transform(img)
        zero = NiftiMapsMasker(_maps(), mask_img=_mask(), min_coverage=0.0).fit_transform(img)
    assert_oracle(default, ref)
    assert zero.shape == (25, 4) and np.isnan(zero[:, 3]).all()
    np.testing.assert_array_equal(zero[:, :3], default)


def test_maps_min_coverage_without_mask_and_on_another_grid():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = NiftiMapsMasker(_maps(), min_coverage=0.9).fit()
        assert (m.region_coverage_["fraction"] == 1.0).all()
        assert np.isfinite(m.transform(_img())).all()
        # fitted without images (resampling_target="data"): the table is on the maps grid
        m = NiftiMapsMasker(_maps(), mask_img=_mask(), min_coverage=0.6).fit()
        np.testing.assert_allclose(m.region_coverage_["fraction"], [1.0, 1.0, 0.5, 0.0])
        op = m.operator_for(_img())
        assert op.names == ["map0", "map1", "map2", "map3"] and op.coverage["low"].tolist() == [0, 0, 1, 1]


def test_maps_min_coverage_inverse_transform_nan_where_the_map_is():
    m, got = _fit_transform(min_coverage=0.6)
    inv = np.asarray(m.inverse_transform(got).dataobj)
    maps, mask = np.asarray(_maps().dataobj), np.asarray(_mask().dataobj) != 0
    nan_where = (maps[..., 2] != 0) & mask
    assert np.isnan(inv[nan_where]).all()
    assert np.isfinite(inv[~nan_where]).all()
    ok = np.nan_to_num(got)
    ok[:, 2:] = 0
    expected = np.asarray(m.inverse_transform(ok).dataobj)
    np.testing.assert_allclose(inv[~nan_where], expected[~nan_where])
    single = np.asarray(m.inverse_transform(got[0]).dataobj)
    assert single.shape == SHAPE and np.isnan(single[nan_where]).all()


def test_maps_min_coverage_multi_and_validation():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mm = MultiNiftiMapsMasker(_maps(), mask_img=_mask(), min_coverage=0.6)
        outs = mm.fit_transform([_img(), _img(seed=2)])
    assert [o.shape for o in outs] == [(25, 4), (25, 4)]
    assert all(np.isnan(o[:, 2:]).all() and np.isfinite(o[:, :2]).all() for o in outs)
    assert mm.region_coverage_.loc[2, "reason"].startswith("coverage 0.5")
    for bad in (1.5, -0.1, "half"):
        with pytest.raises((ParameterError, TypeError, ValueError), match="min_coverage"):
            NiftiMapsMasker(_maps(), min_coverage=bad).fit()


def test_maps_min_coverage_in_the_report():
    m, _ = _fit_transform(min_coverage=0.6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        html = str(m.generate_report())
    assert "NaN column: coverage 0.5 &amp;lt; min_coverage 0.6" in html or "NaN column: coverage 0.5 &lt; min" in html
    assert "NaN column: no weight inside the mask" in html
