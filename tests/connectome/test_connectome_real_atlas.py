"""Region time series of a realistic BOLD run (shared/bench/gen_bold.py) extracted by nimask's
labels masker with the Harvard-Oxford atlas (48 regions): nimask.connectome against nilearn,
and a region emptied by a mask (``keep_all_regions=True`` gives its NaN column)."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings

import nibabel as nib
import numpy as np
import pytest
from nilearn import connectome as nl

from _helpers import assert_oracle
from nimask import connectome as nm
from nimask.exceptions import NimaskDataWarning
from nimask.maskers import NiftiLabelsMasker

pytestmark = pytest.mark.slow

KINDS = ("covariance", "correlation", "partial correlation", "tangent", "precision")
WINDOWS = ((0, 40), (3, 33), (8, 38), (0, 26))  # "subjects" of different lengths


def _shared():
    root = os.environ.get("NIMASK_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
    bench = os.path.join(root, "bench")
    if not os.path.isdir(os.path.join(bench, "data")):
        pytest.skip(f"shared benchmark data not found at {bench!r} (set NIMASK_SHARED)")
    return bench


@pytest.fixture(scope="module")
def region_signals(tmp_path_factory):
    bench = _shared()
    out = tmp_path_factory.mktemp("bold")
    subprocess.run([sys.executable, os.path.join(bench, "gen_bold.py"), str(out), "--volumes", "40"],
                   check=True, capture_output=True)
    bold = str(out / "sub-01_task-rest_bold.nii.gz")
    atlas = nib.load(os.path.join(bench, "data", "HarvardOxford-cort-maxprob-thr25-2mm.nii.gz"))
    labels = np.asarray(atlas.dataobj)
    brain = np.asarray(nib.load(os.path.join(bench, "data", "tpl-MNI152NLin6Asym_res-02_desc-brain_mask.nii.gz"))
                       .dataobj) > 0
    mask = nib.Nifti1Image((brain & (labels != 5)).astype(np.uint8), atlas.affine)  # region 5 left empty
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = NiftiLabelsMasker(atlas).fit_transform(bold)
        holed = NiftiLabelsMasker(atlas, mask_img=mask, keep_all_regions=True).fit_transform(bold)
    return full, holed


@pytest.mark.parametrize("kind", KINDS)
def test_real_region_signals_against_nilearn(region_signals, kind):
    full, _ = region_signals
    assert full.shape == (40, 48)
    subjects = [full[a:b] for a, b in WINDOWS]
    ref, ours = nl.ConnectivityMeasure(kind=kind, vectorize=True), nm.ConnectivityMeasure(kind=kind, vectorize=True)
    assert_oracle(ours.fit_transform(subjects), ref.fit_transform(subjects))
    assert_oracle(ours.mean_, ref.mean_)
    assert_oracle(ours.inverse_transform(ours.transform(subjects[:2])),
                  ref.inverse_transform(ref.transform(subjects[:2])))


@pytest.mark.parametrize("kind", ["correlation", "tangent"])
def test_region_emptied_by_the_mask(region_signals, kind):
    _, holed = region_signals
    gone = np.flatnonzero(np.isnan(holed).all(axis=0))
    assert gone.tolist() == [4]  # label 5 is the 5th column
    subjects = [holed[a:b] for a, b in WINDOWS]
    keep = np.setdiff1d(np.arange(holed.shape[1]), gone)
    with pytest.warns(NimaskDataWarning, match=r"regions \[4\]"):
        got = nm.ConnectivityMeasure(kind=kind).fit_transform(subjects)
    expected = nl.ConnectivityMeasure(kind=kind).fit_transform([s[:, keep] for s in subjects])
    assert_oracle(got[:, keep][:, :, keep], expected)
    assert np.isnan(got[:, gone]).all() and np.isnan(got[:, :, gone]).all()
