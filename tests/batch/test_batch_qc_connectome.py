"""``nimask extract --qc`` (per-run QC tables) and ``--connectome`` (per-run relmats).

The QC numbers are checked against a direct computation on the run's mask voxels (cleaned with
:func:`nimask.signal.clean` voxel by voxel), the connectomes against ``ConnectivityMeasure`` on
the time series read back from the written TSVs (nimask's and nilearn's).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nimask.__main__ import main
from nimask.batch import extract_batch, parse_atlas, parse_strategy
from nimask.batch.bids import find_runs
from nimask.batch.job import confounds_reader, strategy_confounds
from nimask.batch.qc import QC_COLUMNS, run_statistics
from nimask.connectome import ConnectivityMeasure
from nimask.datasets import write_bids_derivatives
from nimask.signal import clean

STRATEGIES = ("motion6+wm_csf", "motion6+scrub0.5")


def _labels_with_outside_region(data, folder: Path) -> tuple[str, str]:
    """The sample labels atlas plus a region ('outside') in a corner voxel, outside every brain mask."""
    img = nib.load(data["labels"])
    labels = np.asarray(img.dataobj).astype(np.int16)
    new = int(labels.max()) + 1
    labels[0, 0, 0] = new
    path = folder / "atlas-extra_dseg.nii.gz"
    nib.save(nib.Nifti1Image(labels, img.affine), path)
    lut = pd.read_csv(data["lut"], sep="\t")
    lut = pd.concat([lut, pd.DataFrame({"index": [new], "name": ["outside"]})], ignore_index=True)
    lut_path = folder / "atlas-extra_dseg.tsv"
    lut.to_csv(lut_path, sep="\t", index=False)
    return str(path), str(lut_path)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("qc")
    data = write_bids_derivatives(root, subjects=("01", "02"), shape=(10, 12, 10), n_volumes=40)
    labels, lut = _labels_with_outside_region(data, root)
    atlases = [parse_atlas(f"{labels},lut={lut}"), parse_atlas(str(data["maps"]))]
    strategies = [parse_strategy(s) for s in STRATEGIES]
    out = root / "out"
    summary = extract_batch(data["root"], out, atlases, strategies, progress=False, qc=True,
                            connectome="correlation,partial_correlation,covariance")
    assert summary.exit_code == 0 and len(summary.done) == 2
    runs = find_runs(data["root"])
    return data, root, out, atlases, strategies, runs


def _ts(out: Path, run, atlas: str, label: str) -> pd.DataFrame:
    return pd.read_csv(out / run.relpath / f"{run.stem}_atlas-{atlas}_desc-{label}_timeseries.tsv", sep="\t",
                       na_values="n/a")


def test_qc_table_equals_a_direct_computation_on_the_mask_voxels(batch):
    data, root, out, atlases, strategies, runs = batch
    for run in runs:
        img = nib.load(run.bold)
        mask = np.asarray(nib.load(run.mask).dataobj) != 0
        x = np.asarray(img.dataobj, dtype=np.float64)[mask].T  # (T, V), in C order of the mask
        n_vol = x.shape[0]
        t_r = json.loads(Path(run.sidecar).read_text())["RepetitionTime"]
        fd = pd.read_csv(run.confounds, sep="\t", na_values="n/a")["framewise_displacement"].to_numpy()
        for s in strategies:
            row = pd.read_csv(out / run.relpath / f"{run.stem}_desc-{s.label}_qc.tsv", sep="\t", na_values="n/a")
            assert list(row.columns) == list(QC_COLUMNS) and len(row) == 1
            row = row.iloc[0]
            conf, sample_mask = strategy_confounds(run, s, n_vol, confounds_reader(run))
            kept = np.arange(n_vol) if sample_mask is None else np.asarray(sample_mask)
            cleaned = clean(x, confounds=conf, sample_mask=sample_mask, t_r=t_r, detrend=s.detrend,
                            standardize=False, standardize_confounds=s.standardize_confounds,
                            low_pass=s.low_pass, high_pass=s.high_pass)
            pairs = np.flatnonzero(np.diff(kept) == 1)
            after = np.sqrt(np.mean(np.square(cleaned[pairs + 1] - cleaned[pairs]), axis=1))
            before = np.sqrt(np.mean(np.square(np.diff(x, axis=0)), axis=1))
            np.testing.assert_allclose(row["mean_dvars_after"], after.mean(), rtol=1e-8)
            np.testing.assert_allclose(row["mean_dvars_before"], before.mean(), rtol=1e-10)
            np.testing.assert_allclose(row["fd_dvars_corr_before"], np.corrcoef(fd[1:], before)[0, 1], rtol=1e-8)
            np.testing.assert_allclose(row["fd_dvars_corr_after"], np.corrcoef(fd[kept[pairs + 1]], after)[0, 1],
                                       rtol=1e-6)
            np.testing.assert_allclose(row["mean_fd"], np.nanmean(fd[1:]), rtol=1e-12)
            np.testing.assert_allclose(row["max_fd"], np.nanmax(fd[1:]), rtol=1e-12)
            assert row["n_volumes"] == n_vol and row["n_censored"] == n_vol - kept.size
            assert row["fraction_censored"] == pytest.approx((n_vol - kept.size) / n_vol)
            sd = x.std(axis=0, ddof=1)
            np.testing.assert_allclose(row["tsnr_median"], np.median(x.mean(axis=0)[sd > 0] / sd[sd > 0]),
                                       rtol=1e-8)
            meta = json.loads((out / run.relpath / f"{run.stem}_desc-{s.label}_qc.json").read_text())
            assert set(meta["Columns"]) == set(QC_COLUMNS) and meta["VolumesKept"] == kept.tolist()
            sidecar = json.loads((out / run.relpath / f"{run.stem}_atlas-extra_desc-{s.label}_timeseries.json"
                                  ).read_text())
            dof = sidecar["DegreesOfFreedom"]
            assert (row["dof_confounds"], row["dof_used"], row["dof_left"]) == (
                dof["ConfoundRegressors"], dof["Used"], dof["Left"])
    # scrubbing censors volumes of these runs: the two strategies' rows differ where they should
    scrub = pd.read_csv(out / runs[0].relpath / f"{runs[0].stem}_desc-motion6scrub0p5_qc.tsv", sep="\t")
    assert scrub["n_censored"].iloc[0] > 0


@settings(max_examples=30, deadline=None)
@given(n_t=st.integers(3, 12), n_v=st.integers(1, 40), offset=st.floats(0, 1e4), seed=st.integers(0, 2**16))
def test_gram_statistics_give_the_quadratic_forms_of_the_raw_data(n_t, n_v, offset, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_t, n_v)) + offset * rng.uniform(0.5, 1.5, size=n_v)
    m = rng.normal(size=(4, n_t))
    stats = run_statistics(x.astype(np.float32))
    x32 = x.astype(np.float32).astype(np.float64)
    expected = np.einsum("ij,ij->i", m @ x32 @ x32.T, m)
    np.testing.assert_allclose(stats.quadratic(m), expected, rtol=1e-7, atol=1e-9 * max(1.0, offset) ** 2 * n_v)
    np.testing.assert_allclose(stats.dvars, np.sqrt(np.mean(np.diff(x32, axis=0) ** 2, axis=1)), rtol=1e-7,
                               atol=1e-12)


@pytest.mark.parametrize("kind,measure", [("correlation", "PearsonCorrelation"),
                                          ("partial_correlation", "PartialCorrelation"),
                                          ("covariance", "Covariance")])
def test_relmats_equal_connectivity_measure_on_the_written_time_series(batch, kind, measure):
    from nilearn.connectome import ConnectivityMeasure as NilearnMeasure

    data, root, out, atlases, strategies, runs = batch
    for run in runs:
        for atlas in ("extra", "sampleprob"):
            for s in strategies:
                ts = _ts(out, run, atlas, s.label)
                base = out / run.relpath / f"{run.stem}_atlas-{atlas}_desc-{s.label}_meas-{measure}_relmat"
                mat = pd.read_csv(f"{base}.tsv", sep="\t", na_values="n/a")
                assert list(mat.columns) == list(ts.columns) and mat.shape == (ts.shape[1], ts.shape[1])
                meta = json.loads(Path(f"{base}.json").read_text())
                assert meta["Measure"] == measure and meta["NumberOfVolumesUsed"] == len(ts)
                values = ts.to_numpy()
                empty = np.flatnonzero(np.isnan(values).all(axis=0))
                assert [r["name"] for r in meta["RegionsExcluded"]] == list(ts.columns[empty])
                ours = ConnectivityMeasure(kind=kind.replace("_", " ")).fit_transform([values])[0]
                np.testing.assert_allclose(mat.to_numpy(), ours, rtol=1e-10, atol=1e-14, equal_nan=True)
                keep = np.setdiff1d(np.arange(values.shape[1]), empty)
                theirs = NilearnMeasure(kind=kind.replace("_", " ")).fit_transform([values[:, keep]])[0]
                np.testing.assert_allclose(mat.to_numpy()[np.ix_(keep, keep)], theirs, rtol=1e-6, atol=1e-12)
                assert np.isnan(mat.to_numpy()[empty]).all() and np.isnan(mat.to_numpy()[:, empty]).all()
    # the region outside the mask is that atlas's excluded region, with the coverage table's reason
    meta = json.loads(Path(out / runs[0].relpath / f"{runs[0].stem}_atlas-extra_desc-motion6wmcsf_meas-"
                                                   f"{measure}_relmat.json").read_text())
    assert meta["RegionsExcluded"] == [{"name": "outside", "reason": "no voxel left after resampling/masking"}]


def test_fisher_z_and_censored_rows_left_out(batch, tmp_path):
    data, root, out, atlases, strategies, runs = batch
    summary = extract_batch(data["root"], tmp_path / "z", atlases[:1], strategies, progress=False,
                            connectome=["correlation"], fisher_z=True, censor="zero")
    assert summary.exit_code == 0
    run = runs[0]
    for s in strategies:
        name = f"{run.stem}_atlas-extra_desc-{s.label}_meas-PearsonCorrelation_relmat"
        z = pd.read_csv(tmp_path / "z" / run.relpath / f"{name}.tsv", sep="\t", na_values="n/a").to_numpy()
        r = pd.read_csv(out / run.relpath / f"{name}.tsv", sep="\t", na_values="n/a").to_numpy()
        assert np.isnan(np.diag(z)).all()
        off = ~np.eye(len(r), dtype=bool) & np.isfinite(r)
        # censor=zero writes every volume; the connectome uses the kept ones: drop's matrix, as z
        np.testing.assert_allclose(z[off], np.arctanh(r[off]), rtol=1e-6)
        meta = json.loads((tmp_path / "z" / run.relpath / f"{name}.json").read_text())
        assert meta["FisherZ"] is True
        ts = _ts(tmp_path / "z", run, "extra", s.label)
        assert len(ts) == 40 and meta["NumberOfVolumesUsed"] == 40 - json.loads(
            (tmp_path / "z" / run.relpath / f"{run.stem}_atlas-extra_desc-{s.label}_timeseries.json").read_text()
        )["Censoring"]["NumberOfVolumesCensored"]


def test_qc_added_to_a_finished_batch_computes_only_the_qc(batch, tmp_path):
    data, root, out, atlases, strategies, runs = batch
    folder = tmp_path / "inc"
    assert extract_batch(data["root"], folder, atlases[:1], strategies, progress=False).exit_code == 0
    series = sorted(folder.rglob("*_timeseries.*"))
    before = {p: p.stat().st_mtime_ns for p in series}
    summary = extract_batch(data["root"], folder, atlases[:1], strategies, progress=False, qc=True)
    assert summary.exit_code == 0 and len(summary.done) == 2
    assert {p: p.stat().st_mtime_ns for p in series} == before  # the time series were not rewritten
    assert len(list(folder.rglob("*_qc.tsv"))) == 4
    again = extract_batch(data["root"], folder, atlases[:1], strategies, progress=False, qc=True)
    assert len(again.done) == 0 and len(again.skipped) == 2
    # connectomes asked later: only they are written (the run is read again for them)
    qc_files = {p: p.stat().st_mtime_ns for p in folder.rglob("*_qc.tsv")}
    summary = extract_batch(data["root"], folder, atlases[:1], strategies, progress=False, qc=True,
                            connectome="correlation")
    assert summary.exit_code == 0 and len(list(folder.rglob("*_relmat.tsv"))) == 4
    assert {p: p.stat().st_mtime_ns for p in series} == before
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*_qc.tsv")} == qc_files
    # the relmats equal those of a batch that wrote everything at once
    for rel in folder.rglob("*_relmat.tsv"):
        ref = out / rel.relative_to(folder)
        assert rel.read_bytes() == ref.read_bytes()
    # --fisher-z changes the correlation connectomes only: they are out of date (replaced with --overwrite, as
    # any output whose options changed), nothing else
    summary = extract_batch(data["root"], folder, atlases[:1], strategies, progress=False, qc=True,
                            connectome="correlation", fisher_z=True)
    assert summary.exit_code == 1 and "OutputExistsError" in {f["error_type"] for f in summary.failed}
    summary = extract_batch(data["root"], folder, atlases[:1], strategies, progress=False, qc=True,
                            connectome="correlation", fisher_z=True, overwrite=True)
    assert len(summary.done) == 2 and {p: p.stat().st_mtime_ns for p in series} == before
    assert all(np.isnan(np.diag(pd.read_csv(p, sep="\t", na_values="n/a").to_numpy())).all()
               for p in folder.rglob("*_relmat.tsv"))


def test_cli_connectome_and_qc_options(batch, tmp_path, capsys):
    data, root, out, atlases, strategies, runs = batch
    args = ["extract", str(data["root"]), "--atlas", f"{data['labels']},lut={data['lut']}",
            "--strategy", "motion6+wm_csf", "--no-progress", "-q"]
    assert main([*args, str(tmp_path / "cli"), "--qc", "--connectome", "correlation,precision", "--fisher-z"]) == 0
    names = {p.name.split("_atlas-")[-1] for p in (tmp_path / "cli").rglob("*_relmat.tsv")}
    assert names == {"sample_desc-motion6wmcsf_meas-PearsonCorrelation_relmat.tsv",
                     "sample_desc-motion6wmcsf_meas-Precision_relmat.tsv"}
    assert len(list((tmp_path / "cli").rglob("*_desc-motion6wmcsf_qc.tsv"))) == 2
    capsys.readouterr()
    assert main([*args, str(tmp_path / "bad"), "--connectome", "tangent"]) == 2
    assert "nimask group" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "bad2"), "--connectome", "covariance", "--fisher-z"]) == 2
    assert "--fisher-z" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "bad" / "sub-01")


def test_qc_of_a_run_without_brain_mask_has_no_voxel_metrics(tmp_path):
    data = write_bids_derivatives(tmp_path, subjects=("01",), shape=(8, 9, 8), n_volumes=30)
    run = find_runs(data["root"])[0]
    os.unlink(run.mask)
    summary = extract_batch(data["root"], tmp_path / "out", [parse_atlas(f"{data['labels']},lut={data['lut']}")],
                            [parse_strategy("motion6")], progress=False, qc=True, allow_no_mask=True)
    assert summary.exit_code == 0
    row = pd.read_csv(next((tmp_path / "out").rglob("*_qc.tsv")), sep="\t", na_values="n/a").iloc[0]
    for name in ("mean_dvars_before", "mean_dvars_after", "fd_dvars_corr_before", "tsnr_median"):
        assert np.isnan(row[name])
    assert np.isfinite(row["mean_fd"]) and row["dof_confounds"] == 6
