"""The shipped MNI templates: compute_brain_mask / compute_multi_brain_mask and the maskers'
template strategies WITHOUT ``template=`` give nilearn 0.14.1's masks voxel for voxel.

(The same functions given an explicit template are in test_masking_brain_oracle.py.)
"""
import ast
import hashlib
import re
import warnings
from pathlib import Path

import nibabel as nib
import nilearn
import numpy as np
import pytest
from nilearn import maskers as nl_maskers
from nilearn import masking as nm

import nimask.masking as km
from _helpers import assert_oracle, oblique_affine
from _masking_data import mask_equal
from nimask.exceptions import MaskError, MaskWarning
from nimask.maskers import MultiNiftiMasker, NiftiMasker
from nimask.masking import _brain

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "src" / "nimask" / "data" / "templates"
NILEARN_DATA = Path(nilearn.__file__).parent / "datasets" / "data"
FILES = {
    "whole-brain": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
MASK_TYPES = list(FILES)


def _img(shape, affine, dtype=np.float32):
    return nib.Nifti1Image(np.zeros(shape, dtype), affine)


def _aniso():
    aff = np.diag([5.0, 5.5, 4.5, 1.0])
    aff[:3, 3] = [-75, -110, -65]
    return _img((30, 36, 30), aff)


def _oblique_4d():
    aff = oblique_affine(3)
    aff[:3, :3] *= 2.5
    shape = (25, 27, 23)
    aff[:3, 3] = np.array([0.0, -18.0, 10.0]) - aff[:3, :3] @ ((np.array(shape) - 1) / 2)  # centred on the brain
    return _img(shape + (2,), aff, np.int16)


def _mni_2mm():  # the usual MNI 2 mm grid, x flipped (radiological storage)
    aff = np.array([[-2.0, 0, 0, 90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])
    return _img((91, 109, 91), aff)


def _partial_fov():  # covers only the upper back of the brain: components cut by the FOV edge
    aff = np.diag([4.0, 4.0, 4.0, 1.0])
    aff[:3, 3] = [-60, -70, 10]
    return _img((31, 22, 16), aff)


def _float64_4d():
    aff = np.diag([3.5, 3.5, 3.5, 1.0])
    aff[:3, 3] = [-84, -119, -70]
    return _img((48, 58, 46, 3), aff, np.float64)


TARGETS = {"aniso": _aniso, "oblique-4d": _oblique_4d, "mni-2mm": _mni_2mm, "partial-fov": _partial_fov,
           "float64-4d": _float64_4d}


def _quiet(func, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kw)


def test_shipped_files_are_nilearns_bytes():
    for name in FILES.values():
        ours, theirs = (SHIPPED / name).read_bytes(), (NILEARN_DATA / name).read_bytes()
        assert hashlib.sha256(ours).hexdigest() == hashlib.sha256(theirs).hexdigest(), name
        assert Path(str(_brain.shipped_template(next(k for k, v in FILES.items() if v == name)))).is_file()
    notice = (SHIPPED / "NOTICE").read_text()
    assert "Copyright (C) 1993-2009 Louis Collins, McConnell Brain Imaging Centre" in notice
    assert "Permission to use, copy, modify, and" in notice


def test_package_data_globs_cover_the_templates():
    """pyproject's package-data installs every file of the templates folder (wheel checked by hand)."""
    text = (ROOT / "pyproject.toml").read_text()  # no tomllib on Python 3.10
    section = text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    globs = ast.literal_eval(re.search(r"^nimask\s*=\s*(\[.*?\])", section, re.M | re.S).group(1))
    base = ROOT / "src" / "nimask"
    covered = {p for g in globs for p in base.glob(g)}
    assert set(SHIPPED.iterdir()) <= covered, set(SHIPPED.iterdir()) - covered


@pytest.mark.parametrize("name", list(TARGETS))
@pytest.mark.parametrize("mask_type", MASK_TYPES)
def test_brain_mask_default_template_matches_nilearn(mask_type, name):
    target = TARGETS[name]()
    a = _quiet(km.compute_brain_mask, target, mask_type=mask_type)
    b = _quiet(nm.compute_brain_mask, target, mask_type=mask_type)
    mask_equal(a, b)
    if (name, mask_type) != ("partial-fov", "gm"):  # thin cortex at 4 mm: opening=2 empties it, in both
        assert np.asanyarray(a.dataobj).sum() > 0


@pytest.mark.parametrize(
    "kwargs",
    [dict(threshold=0.2), dict(threshold=0.7, connected=False), dict(opening=0), dict(opening=1),
     dict(opening=False, connected=False), dict(mask_type="gm", threshold=0.3, opening=1),
     dict(mask_type="wm", threshold=0.4, opening=0)],
)
def test_brain_mask_default_template_options(kwargs):
    target = _aniso()
    mask_equal(_quiet(km.compute_brain_mask, target, **kwargs), _quiet(nm.compute_brain_mask, target, **kwargs))


@pytest.mark.parametrize("mask_type", MASK_TYPES)
def test_multi_brain_mask_default_template(mask_type):
    targets = [_float64_4d(), _float64_4d()]
    a = _quiet(km.compute_multi_brain_mask, targets, mask_type=mask_type)
    b = _quiet(nm.compute_multi_brain_mask, targets, mask_type=mask_type)
    mask_equal(a, b)


def test_templates_read_only_when_a_template_mask_is_computed(monkeypatch):
    calls = []
    real = _brain._read_shipped
    monkeypatch.setattr(_brain, "_read_shipped", lambda mask_type: calls.append(mask_type) or real(mask_type))
    img = _run_img(seed=5)
    NiftiMasker(mask_strategy="background").fit(img)
    NiftiMasker(mask_strategy="epi").fit(img)
    assert calls == []
    NiftiMasker(mask_strategy="gm-template", mask_args={"opening": 1}).fit(img)
    assert calls == ["gm"]
    km.compute_brain_mask(img, template=str(NILEARN_DATA / FILES["wm"]), mask_type="wm")
    assert calls == ["gm"]  # an explicit template replaces the shipped file


def test_missing_shipped_file_falls_back_to_templateflow(tmp_path, monkeypatch):
    monkeypatch.setattr(_brain, "shipped_template", lambda mask_type: None)
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path))
    target = _aniso()
    with pytest.raises(MaskError, match="not installed") as err:
        km.compute_brain_mask(target, mask_type="wm")
    assert "TEMPLATEFLOW_HOME" in str(err.value) and err.value.param == "template"
    folder = tmp_path / "tpl-MNI152NLin2009cAsym"
    folder.mkdir()
    nib.save(nib.load(NILEARN_DATA / FILES["wm"]), folder / "tpl-MNI152NLin2009cAsym_res-01_label-WM_probseg.nii.gz")
    assert km.find_templateflow_template("wm") == str(folder / "tpl-MNI152NLin2009cAsym_res-01_label-WM_probseg.nii.gz")
    with pytest.warns(MaskWarning, match="TemplateFlow"):
        found = km.compute_brain_mask(target, mask_type="wm")
    mask_equal(found, _quiet(nm.compute_brain_mask, target, mask_type="wm"))  # same file here, so same mask


def test_unknown_mask_type_still_refused():
    with pytest.raises(ValueError, match="Unknown mask type"):
        km.compute_brain_mask(_aniso(), mask_type="csf")


# ---- maskers -------------------------------------------------------------------------------

def _run_img(seed=0, n=3, shift=0):
    rng = np.random.default_rng(seed)
    aff = np.diag([4.0, 4.0, 4.0, 1.0])
    aff[:3, 3] = [-80, -116, -72]
    data = rng.random((41, 50, 42, n)).astype(np.float32) * 10
    data[8 + shift : 34, 8:44, 6:36] += 100
    return nib.Nifti1Image(data, aff)


def _mask_data(masker):
    return np.asarray(masker.mask_img_.dataobj)


@pytest.mark.parametrize("strategy", ["whole-brain-template", "gm-template", "wm-template"])
@pytest.mark.parametrize("extra", [{}, {"mask_args": {"opening": 1, "threshold": 0.4}},
                                   {"mask_args": {"opening": False, "connected": False}},
                                   {"target_affine": np.diag([5.0, 5.0, 5.0])}])
def test_nifti_masker_template_strategies(strategy, extra):
    img = _run_img()
    params = {"mask_strategy": strategy, **extra}
    ours = _quiet(NiftiMasker(**params).fit, img)
    theirs = _quiet(nl_maskers.NiftiMasker(**params).fit, img)
    np.testing.assert_array_equal(_mask_data(ours), _mask_data(theirs))
    if extra.get("mask_args", {}).get("connected", True):
        assert _mask_data(ours).dtype == _mask_data(theirs).dtype
    else:  # nilearn keeps compute_brain_mask's int8 here; nimask's mask_img_ is always uint8 (documented)
        assert (_mask_data(ours).dtype, _mask_data(theirs).dtype) == (np.uint8, np.int8)
    np.testing.assert_allclose(ours.mask_img_.affine, theirs.mask_img_.affine)
    assert ours.n_elements_ == theirs.n_elements_ > 0
    assert_oracle(_quiet(ours.transform, img), _quiet(theirs.transform, img))


@pytest.mark.parametrize("strategy", ["whole-brain-template", "gm-template", "wm-template", "template"])
def test_multi_nifti_masker_template_strategies(strategy):
    imgs = [_run_img(seed=1, n=2), _run_img(seed=2, n=2, shift=1)]
    for extra in ({}, {"target_affine": np.diag([5.0, 5.0, 5.0])}):
        params = {"mask_strategy": strategy, **extra}
        ours = _quiet(MultiNiftiMasker(**params).fit, imgs)
        theirs = _quiet(nl_maskers.MultiNiftiMasker(**params).fit, imgs)
        np.testing.assert_array_equal(_mask_data(ours), _mask_data(theirs))
        assert _mask_data(ours).dtype == _mask_data(theirs).dtype
        assert ours.n_elements_ == theirs.n_elements_ > 0
        for x, y in zip(_quiet(ours.transform, imgs), _quiet(theirs.transform, imgs), strict=True):
            assert_oracle(x, y)


def test_multi_nifti_masker_template_is_deprecated():
    imgs = [_run_img(seed=1, n=2)]
    with pytest.warns(UserWarning, match="Masking strategy 'template' is deprecated.") as record:
        MultiNiftiMasker(mask_strategy="template").fit(imgs)
    # nilearn's category: a UserWarning, shown by default (a DeprecationWarning would be hidden)
    assert not any(issubclass(w.category, DeprecationWarning) for w in record)
