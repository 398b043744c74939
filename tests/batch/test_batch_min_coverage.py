"""``nimask extract --min-coverage F`` (and ``min_coverage=F`` of one atlas): regions with less than
F of themselves inside the run's brain mask become ``n/a`` columns, the reason in the coverage table
and the sidecar; the threshold is part of the outputs' key only when given."""
from __future__ import annotations

import json
import shutil
import warnings

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from _helpers import assert_oracle
from nimask.__main__ import main
from nimask.batch import extract_batch, find_runs, parse_atlas, parse_spheres, parse_strategy, select_confounds
from nimask.batch.atlases import AtlasSpec, make_masker
from nimask.batch.manifest import output_options
from nimask.datasets import write_bids_derivatives
from nimask.exceptions import ParameterError

STRATEGY = "motion24+wm_csf"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """One run whose brain mask lost its x < 5 half: the regions keep various fractions of themselves.

    Labels: region01 and region05 0 (no voxel left), region04 0.125, the others >= 0.69; maps:
    0.36 to 0.61 (mapregion01 0.40, 04 0.43, 05 0.36 under 0.5); spheres: seed0 0, seed1 0.75,
    seed2 0.89."""
    root = tmp_path_factory.mktemp("cov")
    data = write_bids_derivatives(root, subjects=("01",), shape=(10, 12, 10), n_volumes=30, n_regions=6)
    run = find_runs(data["root"])[0]
    mask = nib.load(run.mask)
    values = np.asarray(mask.dataobj).copy()
    values[:5] = 0
    nib.save(nib.Nifti1Image(values, mask.affine, mask.header), run.mask)
    return root, data


@pytest.fixture
def tree(pristine, tmp_path):
    root, data = pristine
    shutil.copytree(root, tmp_path / "data")
    moved = {k: (tmp_path / "data" / v.relative_to(root)) if hasattr(v, "relative_to") else v
             for k, v in data.items() if k != "runs"}
    return moved, tmp_path


def _specs(data, spheres_override="0.8"):
    return [parse_atlas(f"{data['labels']},lut={data['lut']}"),
            parse_atlas(f"{data['maps']},lut={data['maps_lut']}"),
            parse_spheres(f"{data['spheres']},radius=5" + (f",min_coverage={spheres_override}"
                                                            if spheres_override else ""))]


def _batch(data, out, min_coverage, overwrite=False, **kw):
    return extract_batch(data["root"], out, _specs(data, **kw), [parse_strategy(STRATEGY)], progress=False,
                         min_coverage=min_coverage, overwrite=overwrite)


def _read(out, run, atlas, what):
    base = out / run.relpath / f"{run.stem}_atlas-{atlas}"
    if what == "coverage":
        return pd.read_csv(f"{base}_coverage.tsv", sep="\t", keep_default_na=False)
    stem = f"{base}_desc-{parse_strategy(STRATEGY).label}_timeseries"
    return pd.read_csv(f"{stem}.tsv", sep="\t", na_values="n/a"), json.loads(open(f"{stem}.json").read()), \
        open(f"{stem}.tsv").read()


def test_cli_min_coverage_na_columns_reasons_and_sidecar(tree):
    data, tmp = tree
    out = tmp / "out"
    argv = ["extract", str(data["root"]), str(out), "--atlas", f"{data['labels']},lut={data['lut']}",
            "--atlas", f"{data['maps']},lut={data['maps_lut']}",
            "--spheres", f"{data['spheres']},radius=5,min_coverage=0.8", "--strategy", STRATEGY,
            "--min-coverage", "0.5", "-q"]
    assert main(argv) == 0
    run = find_runs(data["root"])[0]
    expected_nan = {"sample": {"region01", "region04", "region05"},
                    "sampleprob": {"mapregion01", "mapregion04", "mapregion05"},
                    "spheres": {"seed0", "seed1"}}
    low = {"sample": {"region04"}, "sampleprob": {"mapregion01", "mapregion04", "mapregion05"},
           "spheres": {"seed1"}}
    conf, keep = select_confounds(pd.read_csv(run.confounds, sep="\t", na_values="n/a"), parse_strategy(STRATEGY),
                                  30)
    for spec in _specs(data):
        spec = spec if spec.min_coverage is not None else AtlasSpec(**{**spec.__dict__, "min_coverage": 0.5})
        got, side, text = _read(out, run, spec.name, "timeseries")
        nan = {c for c in got.columns if got[c].isna().all()}
        assert nan == expected_nan[spec.name]
        assert "n/a" in text and np.isfinite(got.drop(columns=sorted(nan)).to_numpy()).all()
        assert list(got.columns) == side["Columns"]
        assert side["Atlas"]["min_coverage"] == spec.min_coverage
        excluded = {r["name"]: r["reason"] for r in side["RegionsExcluded"]}
        assert set(excluded) == expected_nan[spec.name]
        for name in low[spec.name]:
            assert excluded[name].startswith("coverage ") and f"< min_coverage {spec.min_coverage}" in excluded[name]
        cov = _read(out, run, spec.name, "coverage")
        reasons = dict(zip(cov["name"], cov["reason"]))
        assert {n for n, r in reasons.items() if r} == expected_nan[spec.name]
        assert all(reasons[n] == excluded[n] for n in excluded)
        assert "fraction" in cov.columns and "low" not in cov.columns
        # the other columns: the masker's output (spheres: the spheres masker's, whose columns are not n/a)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = make_masker(spec, run.mask, 2.0, **parse_strategy(STRATEGY).clean_params()).fit_transform(
                run.bold, confounds=conf, sample_mask=keep)
        ok = [i for i, c in enumerate(got.columns) if c not in nan]
        assert ours.shape[1] == len(got.columns)
        assert_oracle(got.to_numpy()[:, ok], ours[:, ok])
        if spec.kind != "spheres":  # the maskers' own min_coverage gives the same n/a columns
            assert np.isnan(ours[:, [i for i, c in enumerate(got.columns) if c in nan]]).all()
    # the threshold's coverage detail: fractions of the labels atlas and of the spheres
    cov = _read(out, run, "sample", "coverage")
    np.testing.assert_allclose(cov.set_index("name").loc["region04", "fraction"], 2 / 16)
    sph = _read(out, run, "spheres", "coverage")
    assert sph.columns.tolist() == ["index", "name", "voxels_in_sphere", "voxels_kept", "fraction", "reason"]
    np.testing.assert_allclose(sph["fraction"], [0.0, 0.75, 17 / 19])


def test_default_outputs_keys_unchanged_and_reruns(tree):
    data, tmp = tree
    spec = parse_atlas(f"{data['labels']},lut={data['lut']}")
    assert spec.min_coverage is None
    assert spec.to_dict() == {"kind": "labels", "name": "sample", "path": spec.path, "lut": spec.lut,
                              "radius": None}  # the keys of outputs written before --min-coverage existed
    assert AtlasSpec(**{**spec.__dict__, "min_coverage": 0.5}).to_dict()["min_coverage"] == 0.5
    assert output_options(spec) != output_options(AtlasSpec(**{**spec.__dict__, "min_coverage": 0.5}))
    out = tmp / "out"
    first = _batch(data, out, 0.5, spheres_override=None)
    assert first.exit_code == 0 and len(first.done) == 1
    again = _batch(data, out, 0.5, spheres_override=None)
    assert again.exit_code == 0 and not again.done and len(again.skipped) == 1  # same threshold: nothing to do
    # a new threshold: the outputs are out of date (as for any changed option, replacing them needs --overwrite)
    refused = _batch(data, out, 0.6, spheres_override=None)
    assert refused.exit_code == 1 and not refused.skipped and refused.failed[0]["error_type"] == "OutputExistsError"
    changed = _batch(data, out, 0.6, overwrite=True, spheres_override=None)
    assert changed.exit_code == 0 and len(changed.done) == 1
    assert len(changed.done[0]["outputs"]) == 3 * 3  # every atlas: coverage + tsv + json
    run = find_runs(data["root"])[0]
    got, side, _ = _read(out, run, "sampleprob", "timeseries")
    assert side["Atlas"]["min_coverage"] == 0.6 and got["mapregion02"].isna().all()  # 0.55 < 0.6 now
    # no threshold: nilearn's output again (the regions left empty by the mask are still n/a)
    back = _batch(data, out, None, overwrite=True, spheres_override=None)
    assert back.exit_code == 0 and len(back.done) == 1
    got, side, _ = _read(out, run, "sampleprob", "timeseries")
    assert "min_coverage" not in side["Atlas"] and not got.isna().any().any() and side["RegionsExcluded"] == []
    got, side, _ = _read(out, run, "sample", "timeseries")
    assert {c for c in got.columns if got[c].isna().all()} == {"region01", "region05"}
    assert {r["name"] for r in side["RegionsExcluded"]} == {"region01", "region05"}
    # the same as a batch without the option from scratch
    ref = tmp / "ref"
    assert _batch(data, ref, None, spheres_override=None).exit_code == 0
    for path in ref.rglob("*_timeseries.tsv"):
        assert path.read_bytes() == (out / path.relative_to(ref)).read_bytes()


def test_min_coverage_validation(tree, capsys):
    data, tmp = tree
    for bad in (1.5, -0.1, "half", True):
        with pytest.raises(ParameterError, match="--min-coverage"):
            _batch(data, tmp / "out", bad)
    with pytest.raises(ParameterError, match="min_coverage"):
        parse_atlas(f"{data['labels']},min_coverage=2")
    with pytest.raises(ParameterError, match="min_coverage"):
        parse_spheres(f"{data['spheres']},min_coverage=x")
    assert parse_atlas(f"{data['labels']},min_coverage=0.25").min_coverage == 0.25
    rc = main(["extract", str(data["root"]), str(tmp / "out"), "--atlas", str(data["labels"]), "--strategy", STRATEGY,
               "--min-coverage", "1.2", "-q"])
    assert rc == 2
    assert not (tmp / "out").exists() or not list((tmp / "out").rglob("*_timeseries.tsv"))
