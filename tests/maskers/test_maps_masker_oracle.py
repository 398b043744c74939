"""NiftiMapsMasker / MultiNiftiMapsMasker against nilearn 0.14.1."""
import os
import warnings

import nibabel as nib
import nilearn.maskers as nl
import numpy as np
import pytest

from _helpers import RTOL_FLOAT32, assert_oracle, max_rel_err
from nimask.exceptions import AtlasError, NimaskDataWarning, ParameterError
from nimask.maskers.multi_nifti_maps_masker import MultiNiftiMapsMasker
from nimask.maskers.nifti_maps_masker import NiftiMapsMasker

AFF = np.diag([2.0, 2.5, 3.0, 1.0])


def _maps(dtype=np.float32):
    rng = np.random.default_rng(0)
    maps = np.zeros((7, 8, 9, 3), dtype)
    maps[1:4, 1:5, 1:6, 0] = rng.random((3, 4, 5))
    maps[3:6, 2:7, 3:8, 1] = rng.random((3, 5, 5))
    maps[5:7, 6:8, 7:9, 2] = 1
    return nib.Nifti1Image(maps, AFF)


def _mask():
    mask = np.zeros((7, 8, 9), np.int8)
    mask[:6, :, :8] = 1
    return nib.Nifti1Image(mask, AFF)


def _img(dtype, t=40, seed=1):
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image((rng.random((7, 8, 9, t)) * 100 + 50).astype(dtype), AFF)


def _both(kw, fit_img, call):
    out = []
    for klass in (nl.NiftiMapsMasker, NiftiMapsMasker):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            masker = klass(_maps(), **kw).fit(fit_img)
            out.append(call(masker))
    return out


OPTIONS = [
    {},
    {"mask_img": "mask"},
    {"standardize": "zscore_sample", "detrend": True},
    {"standardize": "psc"},
    {"low_pass": 0.1, "high_pass": 0.01, "t_r": 2.0},
    {"dtype": "auto"},
    {"dtype": np.float64},
    {"high_variance_confounds": True},
    {"clean_args": {"filter": "cosine"}, "high_pass": 0.02, "t_r": 2.0},
]


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
@pytest.mark.parametrize("kw", OPTIONS, ids=lambda kw: "-".join(kw) or "default")
def test_transform_oracle(dtype, kw):
    kw = {k: (_mask() if v == "mask" else v) for k, v in kw.items()}
    img = _img(dtype)
    expected, actual = _both(kw, img, lambda m: m.transform(img))
    assert actual.dtype == expected.dtype
    centred = kw.get("standardize") or kw.get("detrend") or "high_pass" in kw
    rtol = 1e-5 if (dtype != np.float64 and centred) else 1e-6  # float32 lstsq noise, amplified by centring
    assert_oracle(actual, expected, rtol=rtol)


def test_confounds_and_sample_mask_oracle():
    img = _img(np.float64)
    conf = np.random.default_rng(5).standard_normal((40, 2))
    keep = np.arange(40) % 4 != 0
    expected, actual = _both({"standardize": "zscore_sample"}, img,
                             lambda m: m.transform(img, confounds=conf, sample_mask=keep))
    assert_oracle(actual, expected)


@pytest.mark.parametrize("dtype", [np.int16, np.float32, np.float64])
def test_3d_input_and_inverse_oracle(dtype):
    img = _img(dtype, t=4)
    vol = nib.Nifti1Image(np.asanyarray(img.dataobj)[..., 0], AFF)
    expected, actual = _both({}, img, lambda m: m.transform(vol))
    assert actual.shape == expected.shape == (3,)
    assert_oracle(actual, expected)
    for mask in (None, _mask()):
        sig = np.random.default_rng(2).standard_normal((4, 3)).astype(np.float32)
        expected, actual = _both({"mask_img": mask}, img, lambda m, sig=sig: m.inverse_transform(sig))
        assert actual.shape == expected.shape and actual.get_data_dtype() == expected.get_data_dtype()
        assert_oracle(actual.get_fdata(), expected.get_fdata())


def test_mask_drops_map_like_nilearn():
    mask = np.zeros((7, 8, 9), np.int8)
    mask[:5, :, :6] = 1
    img = _img(np.float64)
    kw = {"mask_img": nib.Nifti1Image(mask, AFF)}
    expected, actual = _both(kw, img, lambda m: m.transform(img))
    assert actual.shape == expected.shape == (40, 2)
    assert_oracle(actual, expected)
    kw["keep_masked_maps"] = True
    expected, actual = _both(kw, img, lambda m: m.transform(img))
    assert actual.shape == (40, 3)
    assert_oracle(actual, expected)


def test_allow_overlap_false_zeroes_negative_weights_like_nilearn():
    maps = _maps().get_fdata(dtype=np.float32)
    maps[..., 1] = 0
    maps[1:3, 1:3, 1:3, 1] = -0.5  # negative weights inside map 0's support
    img = _img(np.float64)
    out = []
    for klass in (nl.NiftiMapsMasker, NiftiMapsMasker):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(klass(nib.Nifti1Image(maps.copy(), AFF), allow_overlap=False).fit_transform(img))
    assert_oracle(out[1], out[0])


def test_overlap_error_names_pair():
    with pytest.raises(AtlasError, match="maps 0 and 1"):
        NiftiMapsMasker(_maps(), allow_overlap=False).fit_transform(_img(np.float32))


def test_all_zero_map_warns_with_index():
    maps = _maps().get_fdata(dtype=np.float32)
    maps[..., 1] = 0
    with pytest.warns(NimaskDataWarning, match=r"maps \[1\] are all zero"):
        out = NiftiMapsMasker(nib.Nifti1Image(maps, AFF)).fit_transform(_img(np.float64))
    assert np.all(out[:, 1] == 0)


def test_bad_inputs():
    with pytest.raises(AtlasError, match="contains no map"):
        NiftiMapsMasker(nib.Nifti1Image(np.zeros((7, 8, 9, 2), np.float32), AFF)).fit()
    with pytest.raises(ParameterError, match="resampling_target"):
        NiftiMapsMasker(_maps(), resampling_target="labels").fit()
    with pytest.raises(ParameterError, match="no mask has been provided"):
        NiftiMapsMasker(_maps(), resampling_target="mask").fit()
    with pytest.raises(ValueError, match="'standardize' must be one of"):
        NiftiMapsMasker(_maps(), standardize="zscore").fit()
    with pytest.raises(TypeError, match="'dtype' cannot be bool"):
        NiftiMapsMasker(_maps(), dtype=bool).fit()
    with pytest.raises(TypeError, match="keep_masked_maps"):
        NiftiMapsMasker(_maps(), keep_masked_maps=np.bool_(True)).fit()
    labels = np.random.default_rng(0).integers(0, 5, (7, 8, 9)).astype(np.int16)
    with pytest.warns(NimaskDataWarning, match="looks like a labels atlas"):
        NiftiMapsMasker(nib.Nifti1Image(labels, AFF)).fit()
    other = nib.Nifti1Image(np.zeros((6, 8, 9, 2), np.float32), AFF)
    with pytest.raises(ValueError, match="field of view"):
        NiftiMapsMasker(_maps(), resampling_target=None).fit().transform(other)


def test_sklearn_surface():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    masker = NiftiMapsMasker(_maps(), standardize="psc")
    assert clone(masker).get_params()["standardize"] == "psc"
    with pytest.raises(NotFittedError):
        masker.transform(_img(np.float32))
    masker.fit()
    assert masker.get_feature_names_out().tolist() == ["niftimapsmasker0", "niftimapsmasker1", "niftimapsmasker2"]


def test_multi_maps_masker_oracle():
    imgs = [_img(np.float32, t=10, seed=s) for s in range(3)]
    conf = [np.random.default_rng(s).standard_normal((10, 2)) for s in range(3)]
    out = []
    for klass in (nl.MultiNiftiMapsMasker, MultiNiftiMapsMasker):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(klass(_maps(), standardize="zscore_sample", n_jobs=1).fit_transform(imgs, confounds=conf))
    assert isinstance(out[1], list) and len(out[1]) == 3
    for a, e in zip(out[1], out[0], strict=True):
        assert_oracle(a, e, rtol=1e-5)
    with pytest.raises(TypeError, match="'confounds' must be a None or a list"):
        MultiNiftiMapsMasker(_maps()).fit().transform(imgs, confounds=conf[0])


@pytest.mark.parametrize("target", ["data", "maps", "mask"])
def test_resampling_targets_oracle(target):
    aff2 = np.diag([3.0, 3.0, 3.0, 1.0])
    img = nib.Nifti1Image(np.random.default_rng(4).random((5, 6, 7, 8)).astype(np.float32) * 100, aff2)
    kw = {"resampling_target": target, "mask_img": _mask()}
    expected, actual = _both(kw, img, lambda m: m.transform(img))
    assert_oracle(actual, expected, rtol=1e-5)


def _shared():
    root = os.environ.get("NIMASK_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
    path = os.path.join(root, "bench", "data")
    if not os.path.isfile(os.path.join(path, "atlas_harvard_oxford.nii.gz")):
        pytest.skip("shared/bench/data not found")
    return path


@pytest.mark.slow
def test_harvard_oxford_probabilistic_integration():
    """Real 113-map 1 mm atlas resampled onto a 2 mm run.

    float64 data: equal to nilearn at the default tolerance. float32 data: nilearn solves the
    least squares in float32 (about 4e-6 relative error against the float64 solution); nimask's
    float64 factorisation is closer to the float64 truth than nilearn, and within the float32
    tolerance of nilearn.
    """
    data = _shared()
    mask_img = nib.load(os.path.join(data, "tpl-MNI152NLin6Asym_res-02_desc-brain_mask.nii.gz"))
    rng = np.random.default_rng(0)
    inside = np.asanyarray(mask_img.dataobj)[..., None] > 0
    arr = (rng.standard_normal(mask_img.shape + (6,)) * 10 + 100) * inside
    atlas = os.path.join(data, "atlas_harvard_oxford.nii.gz")
    out = {}
    runs = {dtype: nib.Nifti1Image(arr.astype(dtype), mask_img.affine) for dtype in (np.float64, np.float32)}
    for name, klass in (("nilearn", nl.NiftiMapsMasker), ("nimask", NiftiMapsMasker)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            masker = klass(atlas).fit(runs[np.float64])  # the atlas is resampled once per library
            for dtype, run in runs.items():
                out[name, dtype] = masker.transform(run)
    assert out["nimask", np.float64].shape == (6, 113)
    assert_oracle(out["nimask", np.float64], out["nilearn", np.float64])
    truth = out["nilearn", np.float64]
    assert out["nimask", np.float32].dtype == out["nilearn", np.float32].dtype == np.float32
    assert_oracle(out["nimask", np.float32], out["nilearn", np.float32], rtol=RTOL_FLOAT32)
    assert max_rel_err(out["nimask", np.float32], truth) <= max_rel_err(out["nilearn", np.float32], truth)


@pytest.mark.parametrize("use_mask", [False, True])
def test_maps_factored_once_at_fit_and_reused_for_every_image(monkeypatch, use_mask):
    """The least-squares operator depends on the maps only: built at fit, not per transform."""
    import nimask.maskers.nifti_maps_masker as module

    calls = []
    real = module.prepare_maps
    monkeypatch.setattr(module, "prepare_maps", lambda *a, **k: calls.append(1) or real(*a, **k))
    masker = NiftiMapsMasker(_maps(), mask_img=_mask() if use_mask else None).fit(_img(np.float32))
    assert len(calls) == 1
    first = masker.transform(_img(np.float32, seed=2))
    second = masker.transform(_img(np.float64, seed=3))
    assert len(calls) == 1
    assert first.shape == (40, 3) and second.shape == (40, 3)
    expected, _ = _both({"mask_img": _mask() if use_mask else None}, _img(np.float32),
                        lambda m: m.transform(_img(np.float64, seed=3)))
    assert_oracle(second, expected)


def test_nan_weights_counted_when_the_maps_are_resampled_at_fit(tmp_path):
    """The streamed resampling path zeroes NaN/inf weights per chunk and warns once, with the maps."""
    maps = np.asarray(_maps().dataobj).copy()
    maps[2, 2, 2, 1] = np.nan
    maps[4, 3, 4, 2] = np.inf
    path = tmp_path / "maps.nii.gz"
    nib.Nifti1Image(maps, AFF).to_filename(path)
    img = nib.Nifti1Image(np.asarray(_img(np.float32).dataobj)[::2, ::2, ::2], AFF @ np.diag([2, 2, 2, 1]))
    with pytest.warns(NimaskDataWarning, match=r"2 NaN/inf weights in maps \[1, 2\]"):
        masker = NiftiMapsMasker(str(path)).fit(img)
    fitted = np.asarray(masker.maps_img_.dataobj)
    assert np.isfinite(fitted).all() and fitted.shape == img.shape[:3] + (3,)
    clean = maps.copy()
    clean[~np.isfinite(clean)] = 0
    expected = NiftiMapsMasker(nib.Nifti1Image(clean, AFF)).fit(img)
    np.testing.assert_array_equal(fitted, np.asarray(expected.maps_img_.dataobj))
