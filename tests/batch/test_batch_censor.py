"""``nimask extract --censor``: censored volumes dropped (default), zeroed or interpolated; the sidecars
record the mode, the censored volumes and the degrees of freedom; strategy spellings and label clashes."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from nimask.__main__ import main
from nimask.batch import extract_batch, find_runs, parse_atlas, parse_strategy
from nimask.datasets import write_bids_derivatives
from nimask.exceptions import ParameterError

N_VOLUMES = 40


@pytest.fixture(scope="module")
def tree(tmp_path_factory):  # t_r = 2 s; the synthetic confounds have motion spikes (scrub0.5 censors)
    return write_bids_derivatives(tmp_path_factory.mktemp("censor"), subjects=("01",), shape=(8, 9, 8),
                                  n_volumes=N_VOLUMES, n_regions=4, t_r=2.0)


@pytest.fixture(scope="module")
def filtered(tmp_path_factory):
    path = tmp_path_factory.mktemp("strategy") / "bandpass.json"
    path.write_text(json.dumps({"name": "bandpass", "confounds": ["trans_x", "csf"], "fd_threshold": 0.5,
                                "low_pass": 0.1, "high_pass": 0.01}))
    return str(path)


def _extract(tree, out, *extra):
    return main(["extract", str(tree["root"]), str(out), "--atlas", f"{tree['labels']},lut={tree['lut']}",
                 "--strategy", "motion6+scrub0.5", "-q", *extra])


@pytest.fixture(scope="module")
def outputs(tree, filtered, tmp_path_factory):
    out = {}
    for mode in ("drop", "zero", "interpolate"):
        folder = tmp_path_factory.mktemp(mode)
        extra = ["--strategy", filtered] + ([] if mode == "drop" else ["--censor", mode])
        assert _extract(tree, folder, *extra) == 0
        out[mode] = folder
    return out


def _read(folder, label):
    tsv = next(folder.rglob(f"*desc-{label}_timeseries.tsv"))
    sidecar = json.loads(tsv.with_suffix(".json").read_text())
    return pd.read_csv(tsv, sep="\t").to_numpy(), sidecar


def test_drop_is_the_default_and_the_sidecar_records_it(outputs):
    values, sidecar = _read(outputs["drop"], "motion6scrub0p5")
    kept = sidecar["VolumesKept"]
    censored = sorted(set(range(N_VOLUMES)) - set(kept))
    assert censored, "the synthetic run must have censored volumes"
    assert values.shape[0] == len(kept) == sidecar["NumberOfVolumesKept"]
    assert sidecar["Censoring"] == {"Mode": "drop", "VolumesCensored": censored,
                                    "NumberOfVolumesCensored": len(censored), "NumberOfRows": len(kept)}


@pytest.mark.parametrize("label", ["motion6scrub0p5", "bandpass"])
def test_zero_keeps_every_volume_with_drop_rows_and_zeros(outputs, label):
    drop, _ = _read(outputs["drop"], label)
    zero, sidecar = _read(outputs["zero"], label)
    kept = sidecar["VolumesKept"]
    censored = sidecar["Censoring"]["VolumesCensored"]
    assert sidecar["Censoring"]["Mode"] == "zero" and sidecar["Censoring"]["NumberOfRows"] == N_VOLUMES
    assert zero.shape == (N_VOLUMES, drop.shape[1])
    np.testing.assert_array_equal(zero[kept], drop)
    assert (zero[censored] == 0).all()


def test_interpolate_keeps_every_volume(outputs):
    drop, _ = _read(outputs["drop"], "motion6scrub0p5")
    interp, sidecar = _read(outputs["interpolate"], "motion6scrub0p5")
    kept = sidecar["VolumesKept"]
    assert sidecar["Censoring"]["Mode"] == "interpolate" and interp.shape == (N_VOLUMES, drop.shape[1])
    assert np.isfinite(interp).all()
    np.testing.assert_array_equal(interp[kept], drop)  # no Butterworth filter: drop's rows
    bandpass, _ = _read(outputs["interpolate"], "bandpass")
    assert bandpass.shape[0] == N_VOLUMES and np.isfinite(bandpass).all()


def test_interpolate_outputs_are_the_maskers_with_censor_interpolate(tree, outputs, filtered):
    """The batch output equals the masker called directly with clean_args={"censor": "interpolate"}."""
    import warnings

    from nimask.batch.atlases import make_masker
    from nimask.batch.strategies import read_confounds_tsv, select_confounds

    run = find_runs(tree["root"])[0]
    strategy = parse_strategy(filtered)
    conf, mask = select_confounds(read_confounds_tsv(run.confounds), strategy, N_VOLUMES)
    masker = make_masker(parse_atlas(f"{tree['labels']},lut={tree['lut']}"), run.mask, 2.0,
                         clean_args={"censor": "interpolate"}, **strategy.clean_params())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = masker.fit_transform(run.bold, confounds=conf, sample_mask=mask)
    values, _ = _read(outputs["interpolate"], "bandpass")
    np.testing.assert_allclose(values, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


def test_degrees_of_freedom(outputs):
    for mode in ("drop", "zero", "interpolate"):
        _, sidecar = _read(outputs[mode], "motion6scrub0p5")
        n = sidecar["NumberOfVolumesKept"]
        assert sidecar["DegreesOfFreedom"] == {"KeptVolumes": n, "ConfoundRegressors": 6, "MeanAndTrend": 2,
                                               "Filter": 0, "Used": 8, "Left": n - 8}
        _, sidecar = _read(outputs[mode], "bandpass")
        n = sidecar["NumberOfVolumesKept"]
        below = min(n - 1, math.floor(2 * n * 2.0 * 0.01))  # cosine terms under high_pass
        above = n - 1 - math.floor(2 * n * 2.0 * 0.1)  # cosine terms over low_pass
        dof = sidecar["DegreesOfFreedom"]
        assert dof["Filter"] == below + above and dof["ConfoundRegressors"] == 2 and dof["MeanAndTrend"] == 2
        assert dof["Used"] == 2 + 2 + below + above and dof["Left"] == n - dof["Used"]


def test_no_scrubbing_censors_nothing(tree, tmp_path):
    assert main(["extract", str(tree["root"]), str(tmp_path), "--atlas", str(tree["labels"]), "--strategy", "motion6",
                 "--censor", "zero", "-q"]) == 0
    values, sidecar = _read(tmp_path, "motion6")
    assert values.shape[0] == N_VOLUMES
    assert sidecar["Censoring"] == {"Mode": "zero", "VolumesCensored": [], "NumberOfVolumesCensored": 0,
                                    "NumberOfRows": N_VOLUMES}


def test_the_censoring_mode_is_part_of_the_task(tree, tmp_path):
    assert _extract(tree, tmp_path) == 0
    assert _extract(tree, tmp_path) == 0  # same options: skipped
    # another mode changes the outputs: the files of the drop run are not replaced silently
    assert _extract(tree, tmp_path, "--censor", "zero") == 1
    failures = pd.read_csv(tmp_path / "nimask_failures.tsv", sep="\t")
    assert failures["error_type"][0] == "OutputExistsError"
    assert _extract(tree, tmp_path, "--censor", "zero", "--overwrite") == 0
    values, sidecar = _read(tmp_path, "motion6scrub0p5")
    assert values.shape[0] == N_VOLUMES and sidecar["Censoring"]["Mode"] == "zero"


def test_unknown_mode_is_a_usage_error(tree, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        _extract(tree, tmp_path, "--censor", "kill")
    assert exc.value.code == 2 and "invalid choice: 'kill'" in capsys.readouterr().err
    with pytest.raises(ParameterError, match="censor must be one of"):
        extract_batch(tree["root"], tmp_path, [parse_atlas(str(tree["labels"]))], [parse_strategy("motion6")],
                      censor="kill", progress=False)


def test_two_spellings_of_one_strategy_are_done_once(tree, tmp_path):
    assert main(["extract", str(tree["root"]), str(tmp_path), "--atlas", str(tree["labels"]), "-q", "--strategy",
                 "motion6+scrub0.5", "--strategy", "scrub0.5+motion6", "--strategy", "motion6+scrub05"]) == 0
    names = sorted(p.name.split("_desc-")[1] for p in tmp_path.rglob("*_timeseries.tsv"))
    assert names == ["motion6scrub0p5_timeseries.tsv", "motion6scrub5_timeseries.tsv"]


def test_two_strategies_with_one_label_are_refused_naming_both(tree, tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps({"name": "my-strategy", "confounds": ["csf"]}))
    b.write_text(json.dumps({"name": "my_strategy", "confounds": ["white_matter"]}))
    out = tmp_path / "out"
    rc = main(["extract", str(tree["root"]), str(out), "--atlas", str(tree["labels"]), "--strategy", str(a),
               "--strategy", str(b)])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(a) in err and str(b) in err and "desc-mystrategy" in err
    assert not list(out.rglob("*_timeseries.tsv"))
    with pytest.raises(ParameterError, match=r"a\.json.*b\.json.*desc-mystrategy"):
        extract_batch(tree["root"], out, [parse_atlas(str(tree["labels"]))],
                      [parse_strategy(str(a)), parse_strategy(str(b))], progress=False)
