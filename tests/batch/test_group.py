"""``nimask group`` / ``group_outputs`` on the outputs of a real (small) batch, with synthetic per-run QC tables:
QC-FC, edge lengths and tangent matrices against direct computations (numpy / scipy / nimask / nilearn)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from _browser import NO_CHROMIUM, Browser, external_requests, find_chromium, in_ci, png_variance, require_chromium
from nimask.__main__ import main
from nimask.batch import extract_batch, group_outputs, parse_atlas, parse_spheres, parse_strategy
from nimask.batch.group import QC_COLUMNS
from nimask.datasets import write_bids_derivatives
from nimask.exceptions import ParameterError

STRATEGIES = ("motion24+wm_csf", "motion6+gsr+scrub0.5")
LABELS = ("motion24wmcsf", "motion6gsrscrub0p5")


def _write_qc(out: Path, seed: int = 3) -> dict[tuple[str, str], dict]:
    """A synthetic ``<run>_desc-<S>_qc.tsv`` next to each run's time series (one per run x strategy)."""
    rng = np.random.default_rng(seed)
    written = {}
    for ts in sorted(out.rglob("*_atlas-sample_desc-*_timeseries.tsv")):
        stem, desc = ts.name.split("_atlas-")[0], ts.name.split("_desc-")[1].split("_")[0]
        values = dict(zip(QC_COLUMNS, rng.uniform(0.05, 0.6, len(QC_COLUMNS)).tolist()))
        path = ts.parent / f"{stem}_desc-{desc}_qc.tsv"
        pd.DataFrame([values]).to_csv(path, sep="\t", index=False)
        written[(ts.parent.relative_to(out).as_posix() + "/" + stem, desc)] = values
    return written


def _atlases(data):
    return [parse_atlas(f"{data['labels']},lut={data['lut']}"), parse_atlas(str(data["maps"])),
            parse_spheres(f"{data['spheres']},radius=5")]


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("group")
    data = write_bids_derivatives(root, subjects=("01", "02", "03"), sessions=("1", "2"), shape=(10, 12, 10),
                                  n_volumes=40)
    out = root / "out"
    summary = extract_batch(data["root"], out, _atlases(data), [parse_strategy(s) for s in STRATEGIES],
                            progress=False)
    assert summary.exit_code == 0 and len(summary.done) == 6
    qc = _write_qc(out)
    return data, root, out, qc


@pytest.fixture(scope="module")
def grouped(batch):
    data, root, out, qc = batch
    return group_outputs(out, tangent=True)


def _series(out: Path, atlas: str, desc: str) -> tuple[list[str], list[pd.DataFrame]]:
    runs, tables = [], []
    for ts in sorted(out.rglob(f"*_atlas-{atlas}_desc-{desc}_timeseries.tsv")):
        if "group" in ts.relative_to(out).parts:
            continue
        runs.append(ts.parent.relative_to(out).as_posix() + "/" + ts.name.split("_atlas-")[0])
        tables.append(pd.read_csv(ts, sep="\t", na_values="n/a"))
    return runs, tables


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", na_values="n/a", keep_default_na=False)


@pytest.mark.parametrize("atlas", ["sample", "sampleprob", "spheres"])
@pytest.mark.parametrize("desc", LABELS)
def test_qcfc_equals_a_direct_computation(batch, grouped, atlas, desc):
    data, root, out, qc = batch
    runs, tables = _series(out, atlas, desc)
    assert len(runs) == 6
    fd = np.array([qc[(r, desc)]["mean_fd"] for r in runs])
    n = tables[0].shape[1]
    iu = np.triu_indices(n, k=1)
    edges = np.array([np.corrcoef(t.to_numpy(), rowvar=False)[iu] for t in tables])
    expected = [stats.pearsonr(fd, edges[:, e]) for e in range(edges.shape[1])]
    got = _read(out / "group" / f"atlas-{atlas}_desc-{desc}_qcfc.tsv")
    names = list(tables[0].columns)
    assert got["region_i"].tolist() == [names[i] for i in iu[0]]
    assert got["region_j"].tolist() == [names[j] for j in iu[1]]
    np.testing.assert_allclose(got["qcfc_r"], [e[0] for e in expected], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got["p_value"], [e[1] for e in expected], rtol=0, atol=1e-10)
    meta = json.loads((out / "group" / f"atlas-{atlas}_desc-{desc}_qcfc.json").read_text())
    assert meta["Runs"] == runs and meta["RegionsExcluded"] == [] and meta["Regions"] == names
    row = _read(out / "group" / "qcfc_summary.tsv").set_index(["atlas", "strategy"]).loc[(atlas, desc)]
    r = np.array([e[0] for e in expected])
    assert row["n_runs"] == 6 and row["n_runs_qcfc"] == 6 and row["n_edges"] == r.size
    assert row["median_abs_qcfc"] == pytest.approx(np.median(np.abs(r)), abs=1e-12)
    assert row["fraction_p_below_0.05"] == pytest.approx(np.mean(np.array([e[1] for e in expected]) < 0.05))
    assert row["distance_dependence"] == pytest.approx(stats.spearmanr(r, got["distance_mm"])[0], abs=1e-12)
    assert row["mean_fd"] == pytest.approx(fd.mean())
    assert row["mean_fraction_censored"] == pytest.approx(np.mean([qc[(x, desc)]["fraction_censored"] for x in runs]))
    sidecars = [json.loads(p.read_text()) for p in sorted(out.rglob(f"*_atlas-{atlas}_desc-{desc}_timeseries.json"))]
    lost = [s["NumberOfVolumes"] - s["DegreesOfFreedom"]["Left"] for s in sidecars]
    assert row["mean_dof_lost"] == pytest.approx(np.mean(lost))
    assert row["mean_fraction_dof_lost"] == pytest.approx(np.mean([x / 40 for x in lost]))


def test_edge_lengths_are_centroid_distances(batch, grouped):
    data, root, out, qc = batch
    img = nib.load(data["labels"])
    labels = np.asarray(img.dataobj)
    lut = pd.read_csv(data["lut"], sep="\t")
    centre = {name: nib.affines.apply_affine(img.affine, np.argwhere(labels == idx).mean(0))
              for idx, name in zip(lut["index"], lut["name"])}
    got = _read(out / "group" / f"atlas-sample_desc-{LABELS[0]}_qcfc.tsv")
    expected = [np.linalg.norm(centre[i] - centre[j]) for i, j in zip(got["region_i"], got["region_j"])]
    np.testing.assert_allclose(got["distance_mm"], expected, rtol=1e-12)
    maps = nib.load(data["maps"])
    w = np.abs(np.asarray(maps.dataobj, dtype=np.float64))
    grid = nib.affines.apply_affine(maps.affine, np.indices(w.shape[:3]).reshape(3, -1).T)
    cm = {f"map{n}": (w[..., k].reshape(-1) @ grid) / w[..., k].sum()
          for k, n in enumerate(pd.read_csv(data["lut"], sep="\t")["name"])}
    got = _read(out / "group" / f"atlas-sampleprob_desc-{LABELS[0]}_qcfc.tsv")
    np.testing.assert_allclose(got["distance_mm"], [np.linalg.norm(cm[i] - cm[j]) for i, j in
                                                    zip(got["region_i"], got["region_j"])], rtol=1e-10)
    seeds = pd.read_csv(data["spheres"], sep="\t").set_index("name")[["x", "y", "z"]]
    got = _read(out / "group" / f"atlas-spheres_desc-{LABELS[0]}_qcfc.tsv")
    np.testing.assert_allclose(got["distance_mm"], [np.linalg.norm(seeds.loc[i] - seeds.loc[j]) for i, j in
                                                    zip(got["region_i"], got["region_j"])], rtol=1e-12)


@pytest.mark.parametrize("desc", LABELS)
def test_tangent_equals_connectivity_measure_and_nilearn(batch, grouped, desc):
    from nilearn.connectome import ConnectivityMeasure as NilearnMeasure

    from nimask.connectome import ConnectivityMeasure

    data, root, out, qc = batch
    runs, tables = _series(out, "sample", desc)
    arrays = [t.to_numpy(dtype=np.float64) for t in tables]
    if desc == LABELS[1]:
        assert len({a.shape[0] for a in arrays}) > 1  # scrubbing: runs of different lengths
    measure = ConnectivityMeasure(kind="tangent")
    expected = measure.fit_transform(arrays)
    oracle = NilearnMeasure(kind="tangent")
    nil = oracle.fit_transform(arrays)
    names = list(tables[0].columns)
    for run, exp, ref in zip(runs, expected, nil):
        got = _read(out / "group" / f"{run}_atlas-sample_desc-{desc}_meas-Tangent_relmat.tsv")
        assert list(got.columns) == names
        np.testing.assert_array_equal(got.to_numpy(), exp)  # the text round-trips the float64 exactly
        np.testing.assert_allclose(got.to_numpy(), ref, rtol=1e-6, atol=1e-10)
        meta = json.loads((out / "group" / f"{run}_atlas-sample_desc-{desc}_meas-Tangent_relmat.json").read_text())
        assert meta["Regions"] == names and meta["RegionsExcluded"] == []
    mean = _read(out / "group" / f"atlas-sample_desc-{desc}_meas-Tangent_relmat.tsv").to_numpy()
    np.testing.assert_array_equal(mean, measure.mean_)
    np.testing.assert_allclose(mean, oracle.mean_, rtol=1e-6)
    assert json.loads((out / "group" / f"atlas-sample_desc-{desc}_meas-Tangent_relmat.json").read_text())["Runs"] \
        == runs


def test_group_qc_tables_and_summary(batch, grouped):
    data, root, out, qc = batch
    for desc in LABELS:
        table = _read(out / "group" / f"desc-{desc}_qc.tsv")
        assert list(table.columns) == ["run", *QC_COLUMNS]
        assert len(table) == 6
        for _, row in table.iterrows():
            assert [row[c] for c in QC_COLUMNS] == pytest.approx([qc[(row["run"], desc)][c] for c in QC_COLUMNS],
                                                                 rel=1e-15)
    assert len(grouped.runs) == 6 and grouped.atlases == ["sample", "sampleprob", "spheres"]
    assert grouped.strategies == list(LABELS) and grouped.warnings == []
    assert {"qcfc_summary.tsv", "qc.html", f"desc-{LABELS[0]}_qc.tsv"} <= set(grouped.files)
    assert all((out / "group" / f).is_file() for f in grouped.files)
    assert len(grouped.files) == 2 + 1 + 1 + 6 * 2 + 6 * 2 * (6 + 1)  # qc tables, summary, page, qcfc, tangent
    page = (out / "group" / "qc.html").read_text()
    assert page.count("data:image/png;base64,") == 1 + 2 * (1 + 3)  # comparison; per strategy: QC + 3 atlases
    assert "<script" not in page and "http" not in page


def test_regions_without_signal_and_too_few_qc_runs(batch, tmp_path):
    data, root, out, qc = batch
    copy = tmp_path / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("group"))
    ts = sorted(copy.rglob(f"*_atlas-sample_desc-{LABELS[0]}_timeseries.tsv"))[2]
    table = _read(ts)
    table["region03"] = np.nan  # a region the mask left empty in one run
    table.to_csv(ts, sep="\t", index=False, na_rep="n/a")
    for p in sorted(copy.rglob(f"*_desc-{LABELS[1]}_qc.tsv"))[2:]:
        p.unlink()  # 2 runs keep a QC table for the second strategy
    summary = group_outputs(copy, tangent=True, atlases=["sample"])
    meta = json.loads((copy / "group" / f"atlas-sample_desc-{LABELS[0]}_qcfc.json").read_text())
    [excluded] = meta["RegionsExcluded"]
    assert excluded["region"] == "region03" and "n/a values" in excluded["reason"] and "1 run" in excluded["reason"]
    got = _read(copy / "group" / f"atlas-sample_desc-{LABELS[0]}_qcfc.tsv")
    assert "region03" not in set(got["region_i"]) | set(got["region_j"]) and len(got) == 10
    tangent = _read(next((copy / "group").rglob(f"*_atlas-sample_desc-{LABELS[0]}_meas-Tangent_relmat.tsv")))
    assert "region03" not in tangent.columns and tangent.shape == (5, 5)
    assert not (copy / "group" / f"atlas-sample_desc-{LABELS[1]}_qcfc.tsv").exists()
    assert any(LABELS[1] in w and "QC-FC needs at least 3" in w for w in summary.warnings)
    assert any("region03" in w for w in summary.warnings)
    row = _read(copy / "group" / "qcfc_summary.tsv").set_index("strategy").loc[LABELS[1]]
    assert row["n_runs"] == 6 and row["n_runs_qcfc"] == 0 and np.isnan(row["median_abs_qcfc"])
    assert len(_read(copy / "group" / f"desc-{LABELS[1]}_qc.tsv")) == 2
    with pytest.raises(ParameterError, match="nope"):
        group_outputs(copy, atlases=["nope"])
    assert group_outputs(copy, strategies=[STRATEGIES[0]], atlases=["sample"]).strategies == [LABELS[0]]


def test_censored_rows_kept_as_zeros_are_left_out(batch, tmp_path):
    """With --censor zero the censored rows are dropped before the correlations: the same QC-FC as with drop."""
    data, root, out, qc = batch
    zero = tmp_path / "zero"
    spec = [parse_atlas(f"{data['labels']},lut={data['lut']}")]
    assert extract_batch(data["root"], zero, spec, [parse_strategy(STRATEGIES[1])], progress=False,
                         censor="zero").exit_code == 0
    for p in out.rglob(f"*_desc-{LABELS[1]}_qc.tsv"):  # the same QC tables as the batch with drop
        shutil.copy(p, zero / p.relative_to(out))
    n_rows = {len(_read(p)) for p in zero.rglob("*_timeseries.tsv")}
    assert n_rows == {40}
    group_outputs(zero, tangent=True)
    got = _read(zero / "group" / f"atlas-sample_desc-{LABELS[1]}_qcfc.tsv")
    ref = _read(out / "group" / f"atlas-sample_desc-{LABELS[1]}_qcfc.tsv")
    np.testing.assert_allclose(got["qcfc_r"], ref["qcfc_r"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(_read(zero / "group" / f"atlas-sample_desc-{LABELS[1]}_meas-Tangent_relmat.tsv"),
                               _read(out / "group" / f"atlas-sample_desc-{LABELS[1]}_meas-Tangent_relmat.tsv"),
                               rtol=1e-10, atol=1e-12)


def test_cli(batch, tmp_path, capsys):
    data, root, out, qc = batch
    copy = tmp_path / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns("group"))
    assert main(["group", str(copy), "--tangent"]) == 0
    printed = capsys.readouterr().out
    assert "6 runs, 3 atlases" in printed and "qc.html" in printed
    assert (copy / "group" / "qc.html").is_file() and (copy / "group" / "qcfc_summary.tsv").is_file()
    assert len(list((copy / "group").rglob("*_meas-Tangent_relmat.tsv"))) == 6 * 6 + 6
    assert main(["group", str(copy), "--atlas", "spheres", "--out", str(tmp_path / "g2"), "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert sorted(p.name for p in (tmp_path / "g2").glob("*_qcfc.tsv")) == [
        f"atlas-spheres_desc-{d}_qcfc.tsv" for d in LABELS]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["group", str(empty)]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and "no outputs" in err
    assert main(["group", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def _group_tables(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "qc.html"}


@pytest.mark.slow  # cluster start-up (~10 s on 2 busy cores)
def test_outputs_of_a_dask_batch_give_the_same_group_tables(batch, grouped, tmp_path):
    import distributed

    data, root, out, qc = batch
    dask_out = tmp_path / "dask"
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        summary = extract_batch(data["root"], dask_out, _atlases(data), [parse_strategy(s) for s in STRATEGIES],
                                client=client, progress=False)
    assert summary.exit_code == 0 and len(summary.done) == 6
    _write_qc(dask_out)
    group_outputs(dask_out, tangent=True)
    reference = _group_tables(out / "group")
    assert len(reference) == 99  # every group file but the page (which names the folder)
    assert _group_tables(dask_out / "group") == reference


def test_the_page_renders_in_chromium(batch, grouped):
    chromium = find_chromium()
    if chromium is None and not in_ci():
        pytest.skip(NO_CHROMIUM)
    data, root, out, qc = batch
    browser = Browser(require_chromium(chromium), width=1200, height=1600)
    try:
        result = browser.load(str(out / "group" / "qc.html"))
        images = browser.call("Runtime.evaluate", returnByValue=True, expression=(
            "Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])"))["result"]["value"]
    finally:
        browser.close()
    assert result["loaded"]
    assert result["errors"] == []
    assert external_requests(result) == []
    assert len(images) == 9
    assert all(complete and w > 100 and h > 100 for complete, w, h in images), images
    assert png_variance(result["png"]) > 200.0


def test_group_step_on_a_batch_with_real_qc_tables(tmp_path):
    """End to end: ``extract --qc`` then ``group``: the group QC table gathers the runs' QC rows, and QC-FC uses
    their mean framewise displacement."""
    data = write_bids_derivatives(tmp_path, subjects=("01", "02", "03", "04"), shape=(10, 12, 10), n_volumes=40)
    out = tmp_path / "out"
    summary = extract_batch(data["root"], out, [parse_atlas(f"{data['labels']},lut={data['lut']}")],
                            [parse_strategy("motion6+wm_csf")], progress=False, qc=True)
    assert summary.exit_code == 0
    group_outputs(out)
    per_run = sorted(out.rglob("sub-*_desc-motion6wmcsf_qc.tsv"))
    assert len(per_run) == 4
    rows = pd.concat([_read(p) for p in per_run], ignore_index=True)
    table = _read(out / "group" / "desc-motion6wmcsf_qc.tsv")
    assert len(table) == 4
    np.testing.assert_allclose(table[list(QC_COLUMNS)].to_numpy(float), rows[list(QC_COLUMNS)].to_numpy(float),
                               rtol=1e-12, equal_nan=True)
    runs, tables = _series(out, "sample", "motion6wmcsf")
    fd = rows["mean_fd"].to_numpy()
    n = tables[0].shape[1]
    iu = np.triu_indices(n, k=1)
    edges = np.array([np.corrcoef(t.to_numpy(), rowvar=False)[iu] for t in tables])
    expected = [stats.pearsonr(fd, edges[:, e])[0] for e in range(edges.shape[1])]
    got = _read(out / "group" / "atlas-sample_desc-motion6wmcsf_qcfc.tsv")
    np.testing.assert_allclose(got["qcfc_r"], expected, rtol=0, atol=1e-10)
