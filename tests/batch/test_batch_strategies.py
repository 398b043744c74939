"""Denoising strategies: presets equal nilearn's load_confounds; JSON files; errors name the problem."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from nimask.batch import find_runs, parse_strategy, select_confounds
from nimask.batch.strategies import PRESET_TOKENS
from nimask.datasets import write_bids_derivatives
from nimask.exceptions import AllVolumesRemovedError, ConfoundsError, ParameterError


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = write_bids_derivatives(tmp_path_factory.mktemp("strat"), subjects=("01",), shape=(8, 9, 8), n_volumes=40)
    return find_runs(data["root"])[0]


@pytest.mark.parametrize("spec, kwargs", [
    ("motion6", dict(strategy=("motion",), motion="basic")),
    ("motion24+wm_csf", dict(strategy=("motion", "wm_csf"), motion="full", wm_csf="basic")),
    ("motion12+wm_csf4", dict(strategy=("motion", "wm_csf"), motion="derivatives", wm_csf="full")),
    ("motion6+gsr4", dict(strategy=("motion", "global_signal"), motion="basic", global_signal="full")),
    ("motion6+scrub0.5", dict(strategy=("motion", "scrub"), motion="basic", fd_threshold=0.5,
                              std_dvars_threshold=100, scrub=5)),
    ("motion24+scrub0.3", dict(strategy=("motion", "scrub"), motion="full", fd_threshold=0.3,
                               std_dvars_threshold=100, scrub=5)),
])
def test_presets_equal_nilearn_load_confounds(run, spec, kwargs):
    from nilearn.interfaces.fmriprep import load_confounds

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected, expected_mask = load_confounds(run.bold, **kwargs)
    strategy = parse_strategy(spec)
    table = pd.read_csv(run.confounds, sep="\t", na_values="n/a")
    conf, mask = select_confounds(table, strategy, 40)
    assert sorted(strategy.confounds) == sorted(expected.columns)
    np.testing.assert_allclose(conf, expected[list(strategy.confounds)].to_numpy(), rtol=0, atol=1e-12)
    if expected_mask is None:
        assert mask is None
    else:
        np.testing.assert_array_equal(mask, expected_mask)
        assert mask.size < 40


def test_preset_columns():
    assert len(PRESET_TOKENS["motion24"]) == 24
    s = parse_strategy("motion24+wm_csf+gsr+scrub0.5")
    assert len(s.confounds) == 27 and s.fd_threshold == 0.5 and s.label == "motion24wmcsfgsrscrub0p5"
    assert parse_strategy("scrub.2").confounds == () and parse_strategy("scrub.2").fd_threshold == 0.2


def test_json_strategy(tmp_path, run):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"name": "aCompCor-free", "confounds": ["csf", "white_matter"], "fd_threshold": 0.4,
                                "min_segment": 0, "standardize": False, "high_pass": 0.01}))
    s = parse_strategy(str(path))
    assert s.label == "aCompCorfree" and s.confounds == ("csf", "white_matter") and s.min_segment == 0
    assert s.clean_params() == {"detrend": True, "standardize": False, "standardize_confounds": True,
                                "low_pass": None, "high_pass": 0.01}
    table = pd.read_csv(run.confounds, sep="\t", na_values="n/a")
    conf, mask = select_confounds(table, s, 40)
    fd = table["framewise_displacement"].fillna(0).to_numpy()
    np.testing.assert_array_equal(mask, np.flatnonzero(fd <= 0.4))  # no short-segment removal
    np.testing.assert_allclose(conf[mask].mean(0), 0, atol=1e-9)  # demeaned over kept volumes


@pytest.mark.parametrize("content, match", [
    ({"confounds": "csf"}, "list of column names"),
    ({"confounds": ["csf"], "fd": 0.5}, "unknown keys"),
    ({"confounds": ["csf"], "fd_threshold": -1}, "fd_threshold"),
    ({"confounds": ["csf"], "standardize": "yes"}, "standardize"),
    ({"confounds": ["csf"], "min_volumes": 0}, "min_volumes"),
    ({"confounds": ["csf"], "min_volumes": True}, "min_volumes"),
])
def test_bad_json_strategy(tmp_path, content, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(content))
    with pytest.raises(ParameterError, match=match):
        parse_strategy(str(path))


def test_bad_presets():
    with pytest.raises(ParameterError, match="'motion25'"):
        parse_strategy("motion25")
    with pytest.raises(ParameterError, match="missing.json.*does not exist"):
        parse_strategy("missing.json")
    with pytest.raises(ParameterError, match="fd_threshold"):
        parse_strategy("motion6+scrub0")


def test_confound_errors_name_the_problem(run):
    table = pd.read_csv(run.confounds, sep="\t", na_values="n/a")
    with pytest.raises(ConfoundsError, match="39 rows of confounds for a run of 40"):
        select_confounds(table.iloc[:39], parse_strategy("motion6"), 40, source="c.tsv")
    with pytest.raises(ConfoundsError, match=r"lacks") as exc:
        select_confounds(table.drop(columns=["csf"]), parse_strategy("motion6+wm_csf"), 40)
    assert exc.value.found == ["csf"]
    holes = table.copy()
    holes.loc[7, "trans_x_derivative1"] = np.nan
    with pytest.raises(ConfoundsError, match=r"rows \[7\] of columns \['trans_x_derivative1'\]"):
        select_confounds(holes, parse_strategy("motion12"), 40)
    with pytest.raises(AllVolumesRemovedError, match="censors all 40 volumes"):
        select_confounds(table, parse_strategy("motion6+scrub0.001"), 40)
    holes = table.copy()
    holes.loc[3, "framewise_displacement"] = np.nan
    with pytest.raises(ConfoundsError, match="framewise_displacement is n/a at rows"):
        select_confounds(holes, parse_strategy("scrub0.5"), 40)


def test_S9_too_few_volumes_left_after_scrubbing_fail_the_run(run, tmp_path):
    """S9: a run left with fewer than min_volumes volumes fails with the counts (the library only warns)."""
    from nimask.exceptions import SampleMaskError

    table = pd.read_csv(run.confounds, sep="\t", na_values="n/a")
    fd = table["framewise_displacement"].fillna(0).to_numpy()
    threshold = float(np.sort(fd)[0]) + 1e-9  # keeps the volume(s) with the smallest FD
    kept = int((fd <= threshold).sum())
    assert 1 <= kept < 2
    spec = tmp_path / "strict.json"
    spec.write_text(json.dumps({"name": "strict", "fd_threshold": threshold, "min_segment": 0}))
    with pytest.raises(SampleMaskError, match=rf"keeps {kept} of 40 volumes, fewer than the strategy 'strict'"
                                              r"'s min_volumes=2") as exc:
        select_confounds(table, parse_strategy(str(spec)), 40, source="c.tsv")
    assert exc.value.param == "min_volumes" and exc.value.found == kept
    # a study's own minimum: 30 of 40 volumes
    loose = float(np.sort(fd)[24])  # keeps about 25 volumes
    spec.write_text(json.dumps({"name": "study", "fd_threshold": loose, "min_segment": 0, "min_volumes": 30}))
    with pytest.raises(SampleMaskError, match="min_volumes=30"):
        select_confounds(table, parse_strategy(str(spec)), 40)
    spec.write_text(json.dumps({"name": "study", "fd_threshold": loose, "min_segment": 0, "min_volumes": 20}))
    _, mask = select_confounds(table, parse_strategy(str(spec)), 40)
    assert len(mask) >= 20
