"""compute_brain_mask / compute_multi_brain_mask vs nilearn, given nilearn's own template file as template=
(without template=, the shipped copies: test_masking_templates_oracle.py)."""
import os
import warnings
from pathlib import Path

import nibabel as nib
import nilearn
import numpy as np
import pytest
from nilearn import masking as nm

import nimask.masking as km
from _helpers import oblique_affine
from _masking_data import mask_equal
from nimask.exceptions import MaskWarning

DATA = Path(nilearn.__file__).parent / "datasets" / "data"
TEMPLATES = {
    "whole-brain": DATA / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": DATA / "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": DATA / "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}


@pytest.fixture(scope="module")
def templates():
    # load once (in memory) so each test resamples without decompressing again
    return {k: nib.Nifti1Image(np.asanyarray(nib.load(v).dataobj), nib.load(v).affine) for k, v in TEMPLATES.items()}


def target(shape=(30, 36, 30), vox=5.0, dtype=np.float32, affine=None):
    if affine is None:
        affine = np.diag([vox, vox * 1.1, vox * 0.9, 1.0])
        affine[:3, 3] = [-75, -110, -65]
    return nib.Nifti1Image(np.zeros(shape, dtype), affine)


def both(tpl, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = km.compute_brain_mask(*args, template=tpl, **kw)
        b = nm.compute_brain_mask(*args, **kw)
    mask_equal(a, b)
    return a


@pytest.mark.parametrize("mask_type", ["whole-brain", "gm", "wm"])
def test_brain_mask_types(templates, mask_type):
    out = both(templates[mask_type], target(), mask_type=mask_type)
    assert np.asanyarray(out.dataobj).sum() > 100


def test_brain_mask_from_file_path():
    both(str(TEMPLATES["whole-brain"]), target((20, 24, 20), vox=8.0))


@pytest.mark.parametrize(
    "kwargs", [dict(threshold=0.3), dict(threshold=0.8, connected=False), dict(opening=0), dict(opening=1),
               dict(opening=True, connected=False), dict(opening=0, connected=False),
               dict(opening=False, connected=False, threshold=0.3)],
)
def test_brain_mask_options(templates, kwargs):
    both(templates["whole-brain"], target((22, 26, 22), vox=7.0), **kwargs)


@pytest.mark.parametrize("dtype", [np.int16, np.float64])
def test_brain_mask_target_dtype_oblique_4d(templates, dtype):
    aff = oblique_affine(3)
    aff[:3, :3] *= 3
    aff[:3, 3] = [-40, -50, -30]
    tgt4 = nib.Nifti1Image(np.zeros((21, 23, 19, 2), dtype), aff)
    both(templates["whole-brain"], tgt4)


def test_brain_mask_empty_warns(templates):
    with pytest.warns(MaskWarning, match="whole-brain mask is empty"):
        km.compute_brain_mask(target((10, 11, 12)), threshold=2.0, template=templates["whole-brain"])


def test_multi_brain_mask(templates):
    tgts = [target((20, 24, 20), vox=8.0), target((20, 24, 20), vox=8.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = km.compute_multi_brain_mask(tgts, template=templates["gm"], mask_type="gm")
        b = nm.compute_multi_brain_mask(tgts, mask_type="gm")
    mask_equal(a, b)
    with pytest.raises(ValueError, match="[Ff]ield of view"):
        km.compute_multi_brain_mask([tgts[0], target((20, 24, 21), vox=8.0)], template=templates["gm"])


def test_brain_mask_templateflow_file_as_template(tmp_path, monkeypatch, templates):
    """find_templateflow_template skips TemplateFlow's empty placeholders; its file works as template=."""
    folder = tmp_path / "tpl-MNI152NLin2009cAsym"
    folder.mkdir()
    nib.save(templates["wm"], folder / "tpl-MNI152NLin2009cAsym_res-01_label-WM_probseg.nii.gz")
    (folder / "tpl-MNI152NLin2009cAsym_res-01_label-GM_probseg.nii.gz").touch()  # not downloaded
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path))
    assert km.find_templateflow_template("gm") is None
    path = km.find_templateflow_template("wm")
    assert path == str(folder / "tpl-MNI152NLin2009cAsym_res-01_label-WM_probseg.nii.gz")
    tgt = target((20, 24, 20), vox=8.0)
    found = km.compute_brain_mask(tgt, mask_type="wm", template=path)
    given = km.compute_brain_mask(tgt, mask_type="wm", template=templates["wm"])
    np.testing.assert_array_equal(np.asanyarray(found.dataobj), np.asanyarray(given.dataobj))
    monkeypatch.setenv("TEMPLATEFLOW_HOME", str(tmp_path / "nothing"))
    assert km.find_templateflow_template("whole-brain") is None
    assert not os.path.exists(tmp_path / "nothing")
