"""``--strategy`` by name: nilearn's ``load_confounds_strategy`` presets (with options), giga_connectome's
(``giga:``) and xcp_d's (``xcpd:``) names. The time series of ``nimask extract`` equal nilearn's
``load_confounds_strategy`` + ``NiftiLabelsMasker``; each giga/xcp_d name selects what that tool's own
definition selects (tables written here from the tools' files)."""
from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interfaces"))
from _fmriprep_fixtures import make_fmriprep_derivatives, write_run  # noqa: E402

from _helpers import assert_oracle, float64_copy  # noqa: E402
from nimask.__main__ import main  # noqa: E402
from nimask.batch import parse_strategy  # noqa: E402
from nimask.batch.strategies import preset_confounds, unique_strategies  # noqa: E402
from nimask.exceptions import ParameterError  # noqa: E402

RUNS = ("full", "clean", "entities")
# nilearn preset spellings -> the load_confounds_strategy call they stand for
NILEARN = {
    "simple": {"denoise_strategy": "simple"},
    "scrubbing": {"denoise_strategy": "scrubbing"},
    "scrubbing,fd_threshold=0.2": {"denoise_strategy": "scrubbing", "fd_threshold": 0.2},
    # fewer columns: the scrubbed fixture runs (33 volumes kept of 40) keep more volumes than confounds
    "scrubbing,motion=basic,wm_csf=basic": {"denoise_strategy": "scrubbing", "motion": "basic", "wm_csf": "basic"},
    # 24 motion + CompCor + cosines leave a (numerically) zero residual on the 40-volume fixtures
    "compcor,motion=basic": {"denoise_strategy": "compcor", "motion": "basic"},
    "compcor,motion=basic,n_compcor=5": {"denoise_strategy": "compcor", "motion": "basic", "n_compcor": 5},
    "simple,global_signal=basic": {"denoise_strategy": "simple", "global_signal": "basic"},
}
# giga_connectome (bids-apps/giga_connectome @ 76f1bd5, giga_connectome/data/denoise_strategy/<name>.json):
# the "parameters" passed to nilearn's load_confounds_strategy
GIGA_JSON = {
    "simple": {"denoise_strategy": "simple"},
    "simple+gsr": {"denoise_strategy": "simple", "global_signal": "basic"},
    "scrubbing.2": {"denoise_strategy": "scrubbing", "fd_threshold": 0.2, "std_dvars_threshold": None},
    "scrubbing.2+gsr": {"denoise_strategy": "scrubbing", "global_signal": "basic", "fd_threshold": 0.2,
                        "std_dvars_threshold": None},
    "scrubbing.5": {"denoise_strategy": "scrubbing", "fd_threshold": 0.5, "std_dvars_threshold": None},
    "scrubbing.5+gsr": {"denoise_strategy": "scrubbing", "global_signal": "basic", "fd_threshold": 0.5,
                        "std_dvars_threshold": None},
    "acompcor50": {"denoise_strategy": "compcor"},
}
_M6 = ["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]
_M12 = [c + s for c in _M6 for s in ("", "_derivative1")]
_M24 = [c + s for c in _M6 for s in ("", "_derivative1", "_power2", "_derivative1_power2")]
_T36 = [c + s for c in ("global_signal", "csf", "white_matter")
        for s in ("", "_derivative1", "_power2", "_derivative1_power2")]
# xcp_d (PennLINC/xcp_d @ f4cb652, xcp_d/data/nuisance/<name>.yml, confounds.preproc_confounds.columns;
# entries between ^ and $ are regular expressions)
XCPD_YML = {
    "24P": _M24,
    "27P": _M24 + ["global_signal", "csf", "white_matter"],
    "36P": _M24 + _T36,
    "gsr_only": ["global_signal"],
    "acompcor": _M12 + [r"^w_comp_cor_0[0-4]$", r"^c_comp_cor_0[0-4]$", r"^cosine\d+$"],
    "acompcor_gsr": _M12 + ["global_signal", r"^w_comp_cor_0[0-4]$", r"^c_comp_cor_0[0-4]$", r"^cosine\d+$"],
}


def _xcpd_columns(name: str, header: list[str]) -> set[str]:
    out = set()
    for entry in XCPD_YML[name]:
        if entry.startswith("^") and entry.endswith("$"):
            out |= {c for c in header if re.match(entry, c)}
        else:
            out.add(entry)
    return out


@pytest.fixture(scope="module")
def fmriprep(tmp_path_factory):
    root = tmp_path_factory.mktemp("named")
    runs = make_fmriprep_derivatives(root / "derivatives", runs=RUNS)
    ref = nib.load(runs["full"].mask_img)
    labels = np.zeros(ref.shape, dtype=np.int16)
    labels[1:3, 1:3, 0], labels[1:3, 1:3, 1], labels[1:3, 1:3, 2] = 1, 2, 3
    atlas = root / "atlas.nii.gz"
    nib.save(nib.Nifti1Image(labels, ref.affine), str(atlas))
    return root, runs, atlas


@pytest.fixture(scope="module")
def extracted(fmriprep):
    root, runs, atlas = fmriprep
    out = root / "out"
    argv = ["extract", str(root / "derivatives"), str(out), "--atlas", f"{atlas},name=toy", "-q",
            "--log-file", str(root / "log.txt")]
    for spec in NILEARN:
        argv += ["--strategy", spec]
    rc = main(argv)
    return out, rc


@pytest.mark.parametrize("spec", list(NILEARN))
def test_nilearn_presets_equal_load_confounds_strategy_and_the_labels_masker(fmriprep, extracted, spec):
    from nilearn.interfaces.fmriprep import load_confounds_strategy as nl_lcs
    from nilearn.maskers import NiftiLabelsMasker as NlLabels

    root, runs, atlas = fmriprep
    out, rc = extracted
    assert rc in (0, 1)
    compared = 0
    strategy = parse_strategy(spec)
    assert dict(strategy.preset) == NILEARN[spec]
    assert (strategy.detrend, strategy.standardize, strategy.low_pass, strategy.high_pass) == \
        (False, "zscore_sample", None, None)
    for name in RUNS:
        run = runs[name]
        found = list(out.rglob(f"{Path(run.img).name.split('_space-')[0]}_*atlas-toy_desc-{strategy.label}"
                               f"_timeseries.tsv"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conf, mask = nl_lcs(run.img, **NILEARN[spec])
        if conf.shape[1] >= (run.n_volumes if mask is None else len(mask)):
            # more confounds than kept volumes: the batch fails this output (nilearn would regress anyway)
            assert found == [], (name, spec)
            continue
        assert len(found) == 1, (name, spec, found)
        got = pd.read_csv(found[0], sep="\t").to_numpy()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # nimask cleans region signals in float64 (catalogue D12): nilearn on the run's float64 copy
            ref = NlLabels(labels_img=str(atlas), mask_img=run.mask_img, t_r=2.0, standardize="zscore_sample") \
                .fit_transform(float64_copy(run.img), confounds=conf, sample_mask=mask)
        assert got.shape == ref.shape, (name, spec)
        assert_oracle(got, ref, rtol=1e-6)
        side = pd.read_json(found[0].with_suffix(".json"), typ="series")
        assert side["ConfoundsColumns"] == [str(c) for c in conf.columns]
        assert side["Strategy"]["preset"] == NILEARN[spec]
        assert side["NumberOfVolumesKept"] == (run.n_volumes if mask is None else len(mask))
        compared += 1
    assert compared >= 1
    if spec in ("simple", "compcor,motion=basic", "scrubbing,motion=basic,wm_csf=basic"):
        assert compared == len(RUNS)


@pytest.mark.parametrize("name", list(GIGA_JSON))
def test_giga_names_select_what_giga_connectome_selects(fmriprep, name):
    from nilearn.interfaces.fmriprep import load_confounds_strategy as nl_lcs

    _, runs, _ = fmriprep
    strategy = parse_strategy(f"giga:{name}")
    assert strategy.spec == f"giga:{name}"
    for run_name in RUNS:
        run = runs[run_name]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conf, mask = nl_lcs(run.img, **GIGA_JSON[name])
            values, ours_mask, columns = preset_confounds(run.img, strategy, run.n_volumes)
        assert columns == [str(c) for c in conf.columns]
        np.testing.assert_allclose(values, conf.to_numpy(dtype=float), rtol=0, atol=1e-10)
        if mask is None:
            assert ours_mask is None
        else:
            np.testing.assert_array_equal(ours_mask, mask)


@pytest.mark.parametrize("name", list(XCPD_YML))
def test_xcpd_names_select_the_columns_of_xcpd_models(fmriprep, name):
    _, runs, _ = fmriprep
    strategy = parse_strategy(f"xcpd:{name}")
    for run_name in RUNS:
        run = runs[run_name]
        header = list(pd.read_csv(run.confounds_tsv, sep="\t", nrows=0).columns)
        if strategy.preset is None:
            columns, mask = list(strategy.confounds), None
            assert strategy.fd_threshold is None
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, mask, columns = preset_confounds(run.img, strategy, run.n_volumes)
            # load_confounds drops the non-steady-state volumes; xcp_d removes them too (dummy scans)
            steady = [c for c in header if c.startswith("non_steady_state")]
            assert (mask is None) == (not steady)
        assert len(columns) == len(set(columns))
        assert set(columns) == _xcpd_columns(name, header), (name, run_name)


@pytest.mark.parametrize("a, b", [
    ("scrubbing,fd_threshold=0.2,std_dvars_threshold=1.5", "scrubbing,std_dvars_threshold=1.50,fd_threshold=0.20"),
    ("scrubbing", "scrubbing,fd_threshold=0.5,scrub=5"),
    ("simple", "simple,demean=true,standardize=zscore_sample"),
    ("giga:scrubbing.2", "scrubbing,fd_threshold=.2"),
    ("giga:acompcor50", "compcor,n_compcor=all"),
    ("xcpd:36P", "motion24+wm_csf4+gsr4"),
    ("xcpd:gsr_only", "gsr"),
])
def test_two_spellings_one_label(a, b):
    sa, sb = parse_strategy(a), parse_strategy(b)
    assert sa == sb and sa.label == sb.label and sa.name == sb.name
    assert len(unique_strategies([sa, sb])) == 1


def test_different_strategies_different_labels():
    specs = ["simple", "scrubbing", "compcor", "scrubbing,fd_threshold=0.2", "scrubbing,fd_threshold=0.5,scrub=0",
             "scrubbing,fd_threshold=0.25", "scrubbing,fd_threshold=2.5", "scrubbing,fd_threshold=0.2,"
             "std_dvars_threshold=2", "compcor,n_compcor=5", "compcor,n_compcor=50", "simple,global_signal=basic",
             "simple,detrend=true", "simple,high_pass=0.01", "simple,low_pass=0.1", "simple,standardize=psc",
             *[f"giga:{n}" for n in GIGA_JSON], *[f"xcpd:{n}" for n in XCPD_YML], "motion24+wm_csf+scrub0.2",
             "scrub0.2", "gsr"]
    strategies = {s: parse_strategy(s) for s in specs}
    distinct = {}
    for s in strategies.values():
        distinct.setdefault(s.name, s)
    labels = {s.label for s in distinct.values()}
    assert len(labels) == len(distinct)
    assert all(re.fullmatch(r"[A-Za-z0-9]+", label) for label in labels)
    assert parse_strategy("scrubbing,fd_threshold=0.2").label == "scrubbingfdthreshold0p2"
    unique_strategies(distinct.values())


def test_token_strategies_dict_is_unchanged():
    assert "preset" not in parse_strategy("motion24+wm_csf+scrub0.5").to_dict()
    assert "preset" not in parse_strategy("xcpd:27P").to_dict()
    assert parse_strategy("compcor,n_compcor=5").to_dict()["preset"] == {"denoise_strategy": "compcor",
                                                                          "n_compcor": 5}


@pytest.mark.parametrize("spec, match", [
    ("ica_aroma,motion=full", "unknown option 'motion'"),
    ("xcpd:aroma", "fMRIPost-AROMA"),
    ("xcpd:aroma_gsr", "fMRIPost-AROMA"),
    ("giga:nope", "Unknown giga"),
    ("xcpd:nope", "Unknown xcpd"),
    ("simple,scrub=5", "unknown option 'scrub'"),
    ("simple,motion", "key=value"),
    ("scrubbing,fd_threshold=0", "fd_threshold must be > 0"),
    ("scrubbing,fd_threshold=x", "must be a number"),
    ("compcor,n_compcor=0", "integer >= 1"),
    ("simple,motion=basic,motion=full", "given twice"),
])
def test_bad_named_strategies_are_refused(spec, match):
    with pytest.raises(ParameterError, match=match):
        parse_strategy(spec)


def test_cli_refuses_xcpd_aroma_with_exit_2(fmriprep, tmp_path, capsys):
    root, _, atlas = fmriprep
    rc = main(["extract", str(root / "derivatives"), str(tmp_path / "o"), "--atlas", str(atlas), "-q",
               "--strategy", "xcpd:aroma"])
    assert rc == 2


AROMA_RUNS = ("full", "clean", "entities")


@pytest.fixture(scope="module")
def aroma_batch(tmp_path_factory):
    """ica_aroma next to simple: runs with their AROMA image, and one without (sub-20)."""
    root = tmp_path_factory.mktemp("aroma")
    runs = make_fmriprep_derivatives(root / "derivatives", runs=AROMA_RUNS)
    runs["missing"] = write_run(root / "derivatives" / "sub-20" / "func", "sub-20_task-rest", seed=20,
                                aroma_img=False, name="missing")
    ref = nib.load(runs["full"].mask_img)
    labels = np.zeros(ref.shape, dtype=np.int16)
    labels[1:3, 1:3, 0], labels[1:3, 1:3, 1], labels[1:3, 1:3, 2] = 1, 2, 3
    atlas = root / "atlas.nii.gz"
    nib.save(nib.Nifti1Image(labels, ref.affine), str(atlas))
    out = root / "out"
    rc = main(["extract", str(root / "derivatives"), str(out), "--atlas", f"{atlas},name=toy", "-q",
               "--log-file", str(root / "log.txt"), "--strategy", "ica_aroma", "--strategy", "simple"])
    return root, runs, atlas, out, rc


def _series(out: Path, run, label: str) -> list[Path]:
    return list(out.rglob(f"{Path(run.img).name.split('_space-')[0]}_*atlas-toy_desc-{label}_timeseries.tsv"))


def test_ica_aroma_equals_nilearn_on_the_aroma_image(aroma_batch):
    from nilearn.interfaces.fmriprep import load_confounds_strategy as nl_lcs
    from nilearn.maskers import NiftiLabelsMasker as NlLabels

    root, runs, atlas, out, rc = aroma_batch
    assert rc == 1  # the run without an AROMA image fails its ica_aroma output only
    strategy = parse_strategy("ica_aroma")
    assert strategy.label == "icaaroma" and dict(strategy.preset) == {"denoise_strategy": "ica_aroma"}
    for name in AROMA_RUNS:
        run = runs[name]
        found = _series(out, run, "icaaroma")
        assert len(found) == 1, (name, found)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conf, mask = nl_lcs(run.aroma_img, "ica_aroma")
            ref = NlLabels(labels_img=str(atlas), mask_img=run.mask_img, t_r=2.0, standardize="zscore_sample") \
                .fit_transform(float64_copy(run.aroma_img), confounds=conf, sample_mask=mask)  # float64 (D12)
            # not the preproc image's series
            other = NlLabels(labels_img=str(atlas), mask_img=run.mask_img, t_r=2.0, standardize="zscore_sample") \
                .fit_transform(run.img, confounds=conf, sample_mask=mask)
        got = pd.read_csv(found[0], sep="\t").to_numpy()
        assert_oracle(got, ref, rtol=1e-6)
        assert not np.allclose(got, other)
        side = pd.read_json(found[0].with_suffix(".json"), typ="series")
        assert side["ConfoundsColumns"] == [str(c) for c in conf.columns]
        assert side["NumberOfVolumesKept"] == (run.n_volumes if mask is None else len(mask))
        assert any(src.endswith(Path(run.aroma_img).name) for src in side["Sources"])
        assert side["InputChecksums"]["aroma"].startswith("sha256:")
        # the preproc image's strategies are still written for the same run
        assert len(_series(out, run, "simple")) == 1


def test_missing_aroma_image_fails_only_ica_aroma(aroma_batch):
    root, runs, _, out, _ = aroma_batch
    run = runs["missing"]
    assert _series(out, run, "icaaroma") == []
    assert len(_series(out, run, "simple")) == 1
    log = (root / "log.txt").read_text()
    looked_for = Path(run.img).name.replace("desc-preproc_bold", "desc-smoothAROMAnonaggr_bold")
    assert looked_for in log and "ImageNotFoundError" in log


def test_manifest_inputs_of_ica_aroma_outputs_include_the_aroma_image(aroma_batch):
    import json

    _, runs, _, out, _ = aroma_batch
    records = [json.loads(line) for line in (out / ".nimask" / "manifest.jsonl").read_text().splitlines()]
    run = runs["full"]
    done = [r for r in records if r.get("status") == "done" and r.get("run") == run.img]
    assert done
    outputs = {rel: o for r in done for rel, o in r["outputs"].items()}
    aroma_outs = [o for rel, o in outputs.items() if "desc-icaaroma" in rel]
    simple_outs = [o for rel, o in outputs.items() if "desc-simple" in rel]
    assert aroma_outs and simple_outs
    assert all("aroma" in o["inputs"] for o in aroma_outs)
    assert all("aroma" not in o["inputs"] for o in simple_outs)
    rec = next(r for r in done if any("desc-icaaroma" in rel for rel in r["outputs"]))
    size, _, sha = rec["inputs"]["aroma"]
    assert size == Path(run.aroma_img).stat().st_size and sha.startswith("sha256:")


def test_ica_aroma_second_batch_finds_everything_finished(aroma_batch, tmp_path):
    root, runs, atlas, out, _ = aroma_batch
    from nimask.batch import extract_batch, parse_atlas

    summary = extract_batch(root / "derivatives", out, [parse_atlas(f"{atlas},name=toy")],
                            [parse_strategy("ica_aroma"), parse_strategy("simple")], progress=False,
                            participant_label=["01", "02"])
    assert summary.exit_code == 0 and not summary.done and not summary.failed


def test_giga_icaaroma_is_ica_aroma(aroma_batch):
    from nilearn.interfaces.fmriprep import load_confounds_strategy as nl_lcs

    from nimask.batch.job import strategy_confounds

    root, runs, _, _, _ = aroma_batch
    giga, nl = parse_strategy("giga:icaaroma"), parse_strategy("ica_aroma")
    assert giga == nl and giga.label == nl.label == "icaaroma"
    assert giga.spec == "giga:icaaroma"
    # giga_connectome's icaaroma.json: {"denoise_strategy": "ica_aroma"}
    assert dict(giga.preset) == {"denoise_strategy": "ica_aroma"}
    from nimask.batch import find_runs

    run = next(r for r in find_runs(root / "derivatives") if r.bold == runs["full"].img)
    assert run.aroma == runs["full"].aroma_img
    columns: list = []
    values, mask = strategy_confounds(run, giga, run_n := runs["full"].n_volumes, None, columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conf, ref_mask = nl_lcs(runs["full"].aroma_img, "ica_aroma")
    assert columns == [str(c) for c in conf.columns] and values.shape[0] == run_n
    np.testing.assert_allclose(values, conf.to_numpy(dtype=float), rtol=0, atol=1e-10)
    np.testing.assert_array_equal(mask, ref_mask)


@pytest.mark.parametrize("spec", ["scrubbing,std_dvars_threshold=none", "scrubbing,fd_threshold=none",
                                  "scrubbing,fd_threshold=0.2,std_dvars_threshold=none"])
def test_none_for_an_option_a_preset_sets_is_refused(spec):
    """nilearn's load_confounds_strategy keeps the preset's value for a None: the batch refuses the spelling."""
    from nimask.exceptions import ParameterError

    with pytest.raises(ParameterError, match="does not turn the option off") as info:
        parse_strategy(spec)
    assert spec in str(info.value)


def test_library_none_override_keeps_the_preset_value_as_nilearn_and_warns(fmriprep):
    from nilearn.interfaces.fmriprep import load_confounds_strategy as nl_lcs

    from nimask.exceptions import NimaskWarning
    from nimask.interfaces.fmriprep import load_confounds_strategy

    _, runs, _ = fmriprep
    img = runs["full"].img
    kept = r"std_dvars_threshold=None keeps the preset's value \(std_dvars_threshold=1.5"
    with pytest.warns(NimaskWarning, match=kept):
        conf, mask = load_confounds_strategy(img, "scrubbing", std_dvars_threshold=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref_conf, ref_mask = nl_lcs(img, "scrubbing", std_dvars_threshold=None)
        default_conf, default_mask = nl_lcs(img, "scrubbing")
    np.testing.assert_array_equal(mask, ref_mask)
    np.testing.assert_array_equal(mask, default_mask)
    assert list(conf.columns) == list(ref_conf.columns)
    np.testing.assert_allclose(conf.to_numpy(), ref_conf.to_numpy(), atol=1e-10)


def test_adding_ica_aroma_to_a_finished_batch_writes_only_its_outputs(tmp_path):
    from nilearn.interfaces.fmriprep import load_confounds_strategy as nl_lcs
    from nilearn.maskers import NiftiLabelsMasker as NlLabels

    from nimask.batch import extract_batch, parse_atlas

    runs = make_fmriprep_derivatives(tmp_path / "derivatives", runs=("clean",))
    run = runs["clean"]
    ref = nib.load(run.mask_img)
    labels = np.zeros(ref.shape, dtype=np.int16)
    labels[1:3, 1:3, 0], labels[1:3, 1:3, 1] = 1, 2
    atlas = tmp_path / "atlas.nii.gz"
    nib.save(nib.Nifti1Image(labels, ref.affine), str(atlas))
    atlases = [parse_atlas(f"{atlas},name=toy")]
    out = tmp_path / "out"
    first = extract_batch(tmp_path / "derivatives", out, atlases, [parse_strategy("simple")], progress=False)
    assert first.exit_code == 0
    simple = _series(out, run, "simple")[0]
    stamp = simple.stat().st_mtime_ns
    second = extract_batch(tmp_path / "derivatives", out, atlases,
                           [parse_strategy("simple"), parse_strategy("giga:icaaroma")], progress=False)
    assert second.exit_code == 0
    assert simple.stat().st_mtime_ns == stamp
    (rec,) = second.done
    assert all("desc-icaaroma" in rel for rel in rec["outputs"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conf, mask = nl_lcs(run.aroma_img, "ica_aroma")
        expected = NlLabels(labels_img=str(atlas), mask_img=run.mask_img, t_r=2.0, standardize="zscore_sample") \
            .fit_transform(run.aroma_img, confounds=conf, sample_mask=mask)
    assert_oracle(pd.read_csv(_series(out, run, "icaaroma")[0], sep="\t").to_numpy(), expected, rtol=1e-6)


def test_a_changed_confounds_json_invalidates_the_named_presets_outputs_only(tmp_path):
    """CompCor's components come from the confounds table's JSON sidecar: it is an input of the named
    presets' outputs (and not of the token strategies')."""
    import json

    from nimask.batch import extract_batch, parse_atlas
    from nimask.exceptions import OutputExistsError

    runs = make_fmriprep_derivatives(tmp_path / "derivatives", runs=("full",))
    ref = nib.load(runs["full"].mask_img)
    labels = np.zeros(ref.shape, dtype=np.int16)
    labels[1:3, 1:3, 0], labels[1:3, 1:3, 1] = 1, 2
    atlas = tmp_path / "atlas.nii.gz"
    nib.save(nib.Nifti1Image(labels, ref.affine), str(atlas))
    out = tmp_path / "out"
    strategies = [parse_strategy("compcor,motion=basic,n_compcor=5"), parse_strategy("motion6")]

    def batch(overwrite=False):
        return extract_batch(tmp_path / "derivatives", out, [parse_atlas(f"{atlas},name=toy")], strategies,
                             progress=False, overwrite=overwrite)

    assert batch().exit_code == 0
    records = [json.loads(line) for line in (out / ".nimask" / "manifest.jsonl").read_text().splitlines()]
    outputs = {rel: o for r in records if r.get("status") == "done" for rel, o in r["outputs"].items()}
    assert all(("confounds_json" in o["inputs"]) == ("compcor" in rel) for rel, o in outputs.items()
               if rel.endswith("_timeseries.tsv"))
    assert batch().exit_code == 0  # nothing changed: everything finished
    sidecar = Path(runs["full"].confounds_json)
    meta = json.loads(sidecar.read_text())
    first = next(k for k in meta if k.startswith("a_comp_cor"))
    meta[first]["CumulativeVarianceExplained"] = 0.123  # new content, same components
    sidecar.write_text(json.dumps(meta))
    summary = batch()
    assert summary.exit_code == 1  # the compcor outputs are no longer finished and exist: --overwrite needed
    assert [f["error_type"] for f in summary.failed] == [OutputExistsError.__name__]
    assert "desc-compcor" in summary.failed[0]["error"]
    assert batch(overwrite=True).exit_code == 0


def test_qc_of_ica_aroma_is_that_of_the_aroma_image(aroma_batch):
    """--qc added to the finished folder: the ica_aroma QC tables describe the AROMA image, simple's the preproc
    image; the run without an AROMA image has no ica_aroma QC table."""
    root, runs, atlas, out, _ = aroma_batch
    rc = main(["extract", str(root / "derivatives"), str(out), "--atlas", f"{atlas},name=toy", "-q", "--qc",
               "--strategy", "ica_aroma", "--strategy", "simple"])
    assert rc == 1  # the run without its AROMA image, again
    for name in AROMA_RUNS:
        run = runs[name]
        mask = np.asarray(nib.load(run.mask_img).dataobj) != 0
        for label, img in (("icaaroma", run.aroma_img), ("simple", run.img)):
            tables = list(out.rglob(f"{Path(run.img).name.split('_space-')[0]}_*desc-{label}_qc.tsv"))
            assert len(tables) == 1, (name, label)
            x = np.asarray(nib.load(img).dataobj, dtype=np.float64)[mask].T
            dvars = np.sqrt(np.mean(np.diff(x, axis=0) ** 2, axis=1)).mean()
            row = pd.read_csv(tables[0], sep="\t", na_values="n/a").iloc[0]
            np.testing.assert_allclose(row["mean_dvars_before"], dvars, rtol=1e-8)
    assert not list(out.rglob("sub-20_*desc-icaaroma_qc.tsv"))
    assert len(list(out.rglob("sub-20_*desc-simple_qc.tsv"))) == 1
