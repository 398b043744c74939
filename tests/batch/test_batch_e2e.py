"""End to end: ``nimask extract`` on a small fMRIPrep-like tree, every output checked against
the maskers called directly (nimask's, and nilearn's as the oracle)."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _helpers import assert_oracle
from nimask.__main__ import main
from nimask.batch import find_runs, parse_atlas, parse_spheres, parse_strategy, select_confounds
from nimask.batch.atlases import make_masker, read_seeds
from nimask.datasets import write_bids_derivatives

STRATEGIES = ["motion24+wm_csf", "motion6+gsr+scrub0.5"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("bids")
    data = write_bids_derivatives(root, subjects=("01", "02"), sessions=("1", "2"), runs=(1, 2), shape=(10, 12, 10),
                                  n_volumes=40, n_regions=6)
    out = root / "out"
    argv = [str(data["root"]), str(out), "--atlas", f"{data['labels']},lut={data['lut']}",
            "--atlas", f"{data['maps']},lut={data['maps_lut']}", "--spheres", f"{data['spheres']},radius=5",
            "-q", "--log-file", str(root / "log.txt")]
    for s in STRATEGIES:
        argv += ["--strategy", s]
    rc = main(["extract", *argv])
    return data, out, rc, root


def _expected_confounds(tsv: str, strategy: str):
    """The test's own reading of the strategies (independent of nimask.batch.strategies)."""
    table = pd.read_csv(tsv, sep="\t", na_values="n/a")
    motion = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
    if strategy == "motion24+wm_csf":
        cols = motion + [m + "_derivative1" for m in motion] + [m + "_power2" for m in motion] + \
            [m + "_derivative1_power2" for m in motion] + ["white_matter", "csf"]
        keep = None
    else:
        cols = motion + ["global_signal"]
        fd = table["framewise_displacement"].fillna(0).to_numpy()
        good = fd <= 0.5
        # drop kept segments shorter than 5 volumes
        idx = np.flatnonzero(good)
        segs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        keep = np.concatenate([s for s in segs if s.size >= 5])
    conf = table[cols].copy()
    conf.iloc[0] = conf.iloc[0].fillna(conf.iloc[1])
    values = conf.to_numpy()
    values = values - (values if keep is None else values[keep]).mean(0)
    return values, keep


def test_exit_code_and_layout(tree):
    data, out, rc, root = tree
    assert rc == 0
    runs = find_runs(data["root"])
    assert len(runs) == 8  # 2 subjects x 2 sessions x 2 runs
    tsvs = sorted(out.rglob("*_timeseries.tsv"))
    assert len(tsvs) == 8 * 3 * 2
    assert len(sorted(out.rglob("*_coverage.tsv"))) == 8 * 3
    assert len(sorted(out.rglob("*_timeseries.json"))) == 8 * 3 * 2
    assert (out / "dataset_description.json").is_file()
    assert not (out / "nimask_failures.tsv").exists()
    assert not list(out.rglob("*.nimask-tmp"))
    log = (root / "log.txt").read_text()
    assert "finished: 8 done, 0 skipped, 0 failed" in log


def test_every_output_matches_the_maskers(tree):
    from nilearn.maskers import NiftiLabelsMasker as NlLabels
    from nilearn.maskers import NiftiMapsMasker as NlMaps
    from nilearn.maskers import NiftiSpheresMasker as NlSpheres

    data, out, rc, _ = tree
    atlases = [parse_atlas(f"{data['labels']},lut={data['lut']}"),
               parse_atlas(f"{data['maps']},lut={data['maps_lut']}"),
               parse_spheres(f"{data['spheres']},radius=5")]
    dtypes = set()
    checked = 0
    for run in find_runs(data["root"]):
        import nibabel as nib

        dtypes.add(str(nib.load(run.bold).get_data_dtype()))
        for s in STRATEGIES:
            strategy = parse_strategy(s)
            conf, keep = _expected_confounds(run.confounds, s)
            conf_b, keep_b = select_confounds(pd.read_csv(run.confounds, sep="\t", na_values="n/a"), strategy, 40)
            np.testing.assert_allclose(conf_b, conf, rtol=0, atol=1e-12 * np.abs(conf).max())
            np.testing.assert_array_equal(keep_b, keep)
            clean = strategy.clean_params()
            for spec in atlases:
                stem = f"{run.relpath}/{run.stem}_atlas-{spec.name}_desc-{strategy.label}_timeseries"
                got = pd.read_csv(out / f"{stem}.tsv", sep="\t", na_values="n/a")
                side = json.loads((out / f"{stem}.json").read_text())
                assert side["RepetitionTime"] == 2.0
                assert side["NumberOfVolumesKept"] == (40 if keep is None else keep.size) == len(got)
                assert side["InputChecksums"]["bold"].startswith("sha256:")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ours = make_masker(spec, run.mask, 2.0, **clean).fit_transform(run.bold, confounds=conf_b,
                                                                                   sample_mask=keep_b)
                assert list(got.columns) == side["Columns"]
                assert_oracle(got.to_numpy(), ours)  # float32 results: within a few float32 ulps
                kw = dict(mask_img=run.mask, t_r=2.0, **clean)
                bold = nib.load(run.bold)
                # nimask computes region signals in float64 (catalogue D12; nilearn solves the maps and cleans
                # in float32 for float32 runs, and truncates the sphere means of int16 runs): the oracle is
                # nilearn on the float64 copy of the run
                bold64 = nib.Nifti1Image(bold.get_fdata(), bold.affine)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    if spec.kind == "labels":
                        nl = NlLabels(labels_img=spec.path, lut=spec.lut, **kw)
                        ref = nl.fit_transform(bold64, confounds=conf, sample_mask=keep)
                        names = list(nl.region_names_.values())
                    elif spec.kind == "maps":
                        ref = NlMaps(maps_img=spec.path, **kw).fit_transform(bold64, confounds=conf, sample_mask=keep)
                        names = list(got.columns)
                    else:
                        nl = NlSpheres(seeds=read_seeds(spec.path)[0], radius=5, **kw)
                        ref = nl.fit_transform(bold64, confounds=conf, sample_mask=keep)
                        names = list(got.columns)
                assert_oracle(got[names].to_numpy(), ref, rtol=1e-6)
                # regions absent from nilearn's output (removed by the mask) are n/a columns
                assert got.drop(columns=names).isna().all().all()
                checked += 1
    assert checked == 8 * 2 * 3
    assert dtypes == {"int16", "float32"}


def test_coverage_tables(tree):
    data, out, _, _ = tree
    run = find_runs(data["root"])[0]
    cov = pd.read_csv(out / run.relpath / f"{run.stem}_atlas-sample_coverage.tsv", sep="\t")
    assert list(cov["name"]) == pd.read_csv(data["lut"], sep="\t")["name"].tolist()
    assert (cov["voxels_kept"] <= cov["voxels_in_atlas"]).all()
    assert cov["fraction"].between(0, 1).all()
    sph = pd.read_csv(out / run.relpath / f"{run.stem}_atlas-spheres_coverage.tsv", sep="\t")
    assert (sph["voxels_kept"] > 0).all()


def test_filters(tree):
    data, _, _, _ = tree
    assert len(find_runs(data["root"], participant_label=["sub-02"])) == 4
    assert len(find_runs(data["root"], participant_label=["01"], task="rest")) == 4
    assert find_runs(data["root"], space="MNI152NLin6Asym") == []
    assert len(find_runs(data["root"], space="MNI152NLin2009cAsym")) == 8


def test_filter_on_the_command_line(tree, tmp_path):
    data, _, _, _ = tree
    rc = main(["extract", str(data["root"]), str(tmp_path / "o"), "--atlas", str(data["labels"]),
               "--strategy", "motion6", "--participant-label", "02", "-q"])
    assert rc == 0
    assert {p.parts[len(tmp_path.parts) + 1] for p in (tmp_path / "o").rglob("*_timeseries.tsv")} == {"sub-02"}


def test_usage_errors_exit_2(tree, tmp_path, capsys):
    data, _, _, _ = tree
    base = ["extract", str(data["root"]), str(tmp_path / "o"), "--atlas", str(data["labels"])]
    assert main([*base, "--strategy", "motion7"]) == 2
    assert "motion7" in capsys.readouterr().err
    assert main([*base]) == 2  # no strategy
    assert main([*base, "--strategy", "motion6", "--space", "nowhere"]) == 2
    assert "No preprocessed BOLD run" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["extract", "--bogus"])
    assert exc.value.code == 2


def test_one_bad_run_is_recorded_and_does_not_stop_the_others(tmp_path):
    data = write_bids_derivatives(tmp_path, subjects=("01", "02", "03"), shape=(8, 9, 8), n_volumes=20, n_regions=4)
    bad = Path(data["runs"][1])
    good_bytes = bad.read_bytes()
    bad.write_bytes(good_bytes[: len(good_bytes) // 2])  # truncated gzip
    out = tmp_path / "out"
    argv = ["extract", str(data["root"]), str(out), "--atlas", str(data["labels"]), "--strategy", "motion6", "-q"]
    assert main(argv) == 1
    failures = pd.read_csv(out / "nimask_failures.tsv", sep="\t")
    assert len(failures) == 1 and "sub-02" in failures["run"][0]
    assert failures["error_type"][0] == "CorruptImageError"
    assert bad.name in failures["error"][0]  # F14: the failing file is named
    assert len(list(out.rglob("*_timeseries.tsv"))) == 2
    bad.write_bytes(good_bytes)  # repaired: the rerun does only that run
    assert main(argv) == 0
    assert not (out / "nimask_failures.tsv").exists()
    assert len(list(out.rglob("*_timeseries.tsv"))) == 3


def test_unreachable_dask_scheduler_is_a_parameter_error(tree, tmp_path):
    import distributed  # noqa: F401 - a test extra: dask[distributed]

    from nimask.batch import extract_batch
    from nimask.exceptions import ParameterError

    data, _, _, _ = tree
    with pytest.raises(ParameterError, match="Cannot connect to the Dask scheduler 'tcp://127.0.0.1:1'"):
        extract_batch(data["root"], tmp_path / "o", [parse_atlas(str(data["labels"]))], [parse_strategy("motion6")],
                      dask_scheduler="tcp://127.0.0.1:1", dask_timeout=1, progress=False)


def test_progress_bar_and_quiet_mode(tree, tmp_path, capsys):
    data, _, _, _ = tree
    base = ["extract", str(data["root"]), str(tmp_path / "o"), "--atlas", str(data["labels"]), "--strategy",
            "motion6", "--participant-label", "01"]
    assert main([*base, "-v"]) == 0
    captured = capsys.readouterr()
    assert "4/4" in captured.err  # runs done
    assert "run/s" in captured.err or "s/run" in captured.err  # throughput (tqdm shows the ETA beside it)
    assert "4 runs found, 0 already done, 4 to do" in captured.err
    assert "4 runs: 4 done, 0 already done, 0 failed" in captured.out
    assert main([*base, "-q"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tsv_values_read_back_to_the_same_bits(dtype):
    """Catalogue B10: the time-series TSV round-trips exactly (shortest repr per dtype), NaN as n/a."""
    import io

    from nimask.batch.atomic import tsv_text as _tsv

    values = np.random.default_rng(0).standard_normal((30, 4)).astype(dtype) * dtype(1e3)
    values[3, 1] = np.nan
    values[4, 2] = dtype(1e-30)
    text = _tsv(pd.DataFrame(values, columns=["a", "b c", "d", "e"]))
    assert "\tn/a\t" in text.splitlines()[4]
    back = pd.read_csv(io.StringIO(text), sep="\t", na_values="n/a")
    assert list(back.columns) == ["a", "b c", "d", "e"]
    np.testing.assert_array_equal(back.to_numpy().astype(dtype), values)


def test_matrix_text_is_the_tsv_text_of_its_data_frame():
    """The connectome writer gives the same bytes as ``tsv_text`` of the DataFrame (NaN, tiny and round values)."""
    from nimask.batch.atomic import matrix_tsv_text, tsv_text

    m = np.random.default_rng(1).normal(size=(12, 12))
    m[2], m[:, 5], m[7, 7], m[8, 9] = np.nan, np.nan, 1e-300, 3.0
    names = [f"region {i}" for i in range(12)]
    assert matrix_tsv_text(m, names) == tsv_text(pd.DataFrame(m, columns=names))


def test_matrix_text_quotes_names_and_writes_time_series_as_pandas_does():
    """Time series (T x n, float64) and names needing quotes: the same bytes as ``tsv_text`` of the DataFrame."""
    from nimask.batch.atomic import matrix_tsv_text, tsv_text

    rng = np.random.default_rng(2)
    m = rng.standard_normal((30, 9)) * 10.0 ** rng.integers(-30, 30, (30, 9))
    m[0, 0], m[1, 1], m[2, 2], m[3, 3], m[4, 4], m[5, 5] = np.nan, np.inf, -np.inf, -0.0, 5e-324, 1e16
    names = ['a"b', "tab\there", "sp ace", "comma,x", "new\nline", "plain", "ü", "'q'", ""]
    assert matrix_tsv_text(m, names) == tsv_text(pd.DataFrame(m, columns=names))
