"""The fMRIPrep-format fixtures are deterministic, consistent and hold what they claim."""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from _fmriprep_fixtures import FAMILIES, RUNS, confounds_frame, make_fmriprep_derivatives


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_fmriprep_derivatives(tmp_path_factory.mktemp("fmriprep"))


def test_same_bytes_every_time(tmp_path, runs):
    again = make_fmriprep_derivatives(tmp_path, runs=("full", "legacy_compcor"))
    for name in again:
        for attr in ("confounds_tsv", "confounds_json"):
            assert Path(getattr(again[name], attr)).read_bytes() == Path(getattr(runs[name], attr)).read_bytes()


def test_layout(runs):
    full = runs["full"]
    assert full.img.endswith("sub-01/func/sub-01_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz")
    assert full.confounds_tsv.endswith("sub-01/func/sub-01_task-rest_desc-confounds_timeseries.tsv")
    assert full.aroma_img.endswith("sub-01_task-rest_space-MNI152NLin2009cAsym_desc-smoothAROMAnonaggr_bold.nii.gz")
    assert Path(full.img).parents[2].joinpath("dataset_description.json").is_file()
    img = nib.load(full.img)
    assert img.shape[3] == full.n_volumes == len(pd.read_csv(full.confounds_tsv, sep="\t"))
    assert runs["no_compcor"].confounds_json is None and runs["no_aroma"].aroma_img is None
    assert nib.load(full.mask_img).shape == img.shape[:3] and img.header.get_zooms()[3] == 2.0
    assert json.loads(Path(full.bold_json).read_text())["RepetitionTime"] == 2.0


def test_the_batch_finds_the_runs(runs):
    from nimask.batch import find_runs

    found = {Path(r.bold).name: r for r in find_runs(Path(runs["full"].img).parents[2])}
    for name in ("full", "clean", "entities", "partial", "high_motion"):
        run = found[Path(runs[name].img).name]
        assert run.confounds == runs[name].confounds_tsv and run.mask == runs[name].mask_img
        assert run.repetition_time() == 2.0
    assert set(runs) == set(RUNS)


def test_every_family_with_fmriprep_names_and_na_first_rows(runs):
    frame = pd.read_csv(runs["full"].confounds_tsv, sep="\t")
    cols = set(frame.columns)
    for base in ("trans_x", "rot_z", "global_signal", "csf", "white_matter"):
        assert {base, f"{base}_derivative1", f"{base}_power2", f"{base}_derivative1_power2"} <= cols
    for prefix in ("t_comp_cor_", "c_comp_cor_", "w_comp_cor_", "a_comp_cor_", "cosine", "non_steady_state_outlier",
                   "motion_outlier", "aroma_motion_"):
        assert any(c.startswith(prefix) for c in cols), prefix
    assert {"framewise_displacement", "std_dvars", "dvars", "rmsd", "csf_wm", "tcompcor"} <= cols
    first = frame.iloc[0]
    na_first = [c for c in cols if "derivative1" in c] + ["framewise_displacement", "std_dvars", "dvars"]
    assert first[na_first].isna().all()
    assert frame.iloc[1:].notna().all().all()
    raw = Path(runs["full"].confounds_tsv).read_text().split("\n")[1]
    assert "n/a" in raw.split("\t")
    # derivatives and squares are what they say
    np.testing.assert_allclose(frame.trans_x_derivative1[1:], np.diff(frame.trans_x), atol=1e-12)
    np.testing.assert_allclose(frame.csf_power2, frame.csf ** 2, rtol=1e-12)
    fd = frame.framewise_displacement.to_numpy()
    assert 0.02 < np.nanmedian(fd) < 0.2 and (fd[1:] > 0.5).sum() == 3


def test_sidecar_fields(runs):
    meta = json.loads(Path(runs["full"].confounds_json).read_text())
    frame = pd.read_csv(runs["full"].confounds_tsv, sep="\t")
    comp = {k: v for k, v in meta.items() if "comp_cor" in k or k.startswith("dropped_")}
    assert {v["Mask"] for v in comp.values() if v["Method"] == "aCompCor"} == {"combined", "CSF", "WM"}
    assert {v["Method"] for v in comp.values()} == {"aCompCor", "tCompCor"}
    assert any(not v["Retained"] for v in comp.values())
    for name, entry in comp.items():
        assert {"CumulativeVarianceExplained", "Retained", "Method"} <= set(entry)
        assert (name in frame.columns) == entry["Retained"], name
    legacy = json.loads(Path(runs["legacy_compcor"].confounds_json).read_text())
    masks = {v["Mask"] for k, v in legacy.items() if k.startswith("a_comp_cor_")}
    assert masks == {"combined", "CSF", "WM"}


@pytest.mark.parametrize("family", FAMILIES)
def test_families_can_be_left_out(family):
    full, _ = confounds_frame(20, seed=3)
    frame, meta = confounds_frame(20, seed=3, omit=(family,))
    assert len(frame.columns) < len(full.columns)


def test_tedana_run(runs):
    run = runs["tedana"]
    mixing = pd.read_csv(run.confounds_tsv, sep="\t")
    metrics = pd.read_csv(run.options["metrics"], sep="\t")
    assert list(metrics.Component) == list(mixing.columns)
    assert set(metrics.classification) == {"accepted", "rejected", "ignored"}
    assert run.img.endswith("_desc-optcom_bold.nii.gz")
