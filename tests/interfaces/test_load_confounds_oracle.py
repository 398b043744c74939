"""nimask.interfaces.fmriprep against nilearn 0.14.1 on fMRIPrep-format fixtures made at test time.

Every component and level, every preset with the overrides it accepts, lists of runs, the
file lookup by name, and the errors: same columns in the same order, values within 1e-10,
the same sample masks, and errors of nilearn's type (see ``_lc_oracle.compare``).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fmriprep_fixtures import make_fmriprep_derivatives
from _lc_oracle import compare

LC = "load_confounds"
LCS = "load_confounds_strategy"
NIFTI_RUNS = ("full", "clean", "legacy_compcor", "entities", "partial", "no_aroma", "no_compcor",
              "no_scrub_metrics", "high_motion")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_fmriprep_derivatives(tmp_path_factory.mktemp("fmriprep"))


def variant(tmp_path: Path, run, table=None, meta=None, drop_json: bool = False) -> str:
    """A copy of ``run``'s folder whose confounds table / sidecar went through ``table`` / ``meta``."""
    folder = tmp_path / "func"
    shutil.copytree(run.folder, folder)
    tsv = folder / Path(run.confounds_tsv).name
    if table is not None:
        frame = table(pd.read_csv(tsv, sep="\t"))
        frame.to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    js = tsv.with_suffix(".json")
    if meta is not None:
        js.write_text(json.dumps(meta(json.loads(js.read_text()))))
    if drop_json:
        js.unlink()
    return str(folder / Path(run.img).name)


# ---------------------------------------------------------------- components, level by level

LEVEL_CASES = [
    {"strategy": (component,), component: level}
    for component in ("motion", "wm_csf", "global_signal")
    for level in ("basic", "power2", "derivatives", "full")
]


@pytest.mark.parametrize("run", ("full", "clean", "legacy_compcor", "entities", "partial", "no_aroma"))
@pytest.mark.parametrize("kwargs", LEVEL_CASES, ids=lambda k: f"{k['strategy'][0]}-{k[k['strategy'][0]]}")
def test_expanded_components(runs, run, kwargs):
    compare(LC, runs[run].img, **kwargs)


@pytest.mark.parametrize("run", NIFTI_RUNS)
@pytest.mark.parametrize("kwargs", [
    {},
    {"strategy": ("high_pass",)},
    {"strategy": ("non_steady_state",)},
    {"strategy": ("non_steady_state", "motion"), "motion": "basic"},
    {"strategy": ("high_pass", "motion", "wm_csf", "global_signal"), "global_signal": "full", "demean": False},
    {"strategy": ("ica_aroma",), "ica_aroma": "basic"},
    {"strategy": ("ica_aroma", "motion", "high_pass"), "ica_aroma": "basic", "motion": "derivatives"},
    {"strategy": []},
], ids=str)
def test_other_components(runs, run, kwargs):
    compare(LC, runs[run].img, **kwargs)


COMPCOR = ("anat_combined", "anat_separated", "temporal", "temporal_anat_combined", "temporal_anat_separated")


@pytest.mark.parametrize("run", ("full", "legacy_compcor", "entities", "no_compcor"))
@pytest.mark.parametrize("compcor", COMPCOR)
@pytest.mark.parametrize("n_compcor", ["all", 0, 1, 3, 10])
def test_compcor(runs, run, compcor, n_compcor):
    compare(LC, runs[run].img, strategy=("high_pass", "compcor"), compcor=compcor, n_compcor=n_compcor)


def test_compcor_with_other_components(runs):
    compare(LC, runs["full"].img, strategy=("high_pass", "motion", "compcor", "global_signal", "scrub"),
            compcor="temporal_anat_separated", n_compcor=2, global_signal="power2")


@pytest.mark.parametrize("run", ("full", "clean", "entities", "high_motion", "partial", "no_scrub_metrics"))
@pytest.mark.parametrize("scrub", [0, 3, 5])
@pytest.mark.parametrize("thresholds", [(0.5, 1.5), (0.2, 3.0), (0.9, None), (None, 1.2), (None, None),
                                        (10.0, 10.0), (0.0, 1.5)], ids=str)
def test_scrub(runs, run, scrub, thresholds):
    fd, dvars = thresholds
    compare(LC, runs[run].img, strategy=("motion", "scrub"), motion="basic", scrub=scrub,
            fd_threshold=fd, std_dvars_threshold=dvars)


@pytest.mark.parametrize("run", ("full", "clean", "high_motion", "entities"))
@pytest.mark.parametrize("demean", [True, False])
def test_scrub_and_demean(runs, run, demean):
    compare(LC, runs[run].img, strategy=("high_pass", "motion", "wm_csf", "scrub"), wm_csf="full", demean=demean)


@pytest.mark.parametrize("run", ("full", "entities", "partial"))
def test_ica_aroma_full_on_the_aroma_image(runs, run):
    compare(LC, runs[run].aroma_img, strategy=("ica_aroma",))
    compare(LC, runs[run].aroma_img, strategy=("ica_aroma", "high_pass", "wm_csf", "scrub"))


@pytest.mark.parametrize("kwargs", [{"strategy": ("tedana",)}, {"strategy": ("tedana",), "tedana": "non-aggressive"},
                                    {"strategy": ("tedana",), "demean": False},
                                    {"strategy": ("tedana", "motion", "scrub", "non_steady_state")}], ids=str)
def test_tedana(runs, kwargs):
    compare(LC, runs["tedana"].img, **kwargs)


# ---------------------------------------------------------------- presets

PRESET_OVERRIDES = [
    {}, {"motion": "basic"}, {"wm_csf": "full"}, {"wm_csf": "derivatives"}, {"global_signal": "basic"},
    {"global_signal": "full"}, {"global_signal": None}, {"demean": False}, {"scrub": 0}, {"scrub": 3},
    {"fd_threshold": 0.3}, {"std_dvars_threshold": 2.0}, {"fd_threshold": 0.2, "std_dvars_threshold": 3},
    {"compcor": "temporal"}, {"compcor": "anat_separated", "n_compcor": 2}, {"n_compcor": 1},
    {"ica_aroma": "basic"}, {"strategy": ("motion",)}, {"tedana": "aggressive"}, {"high_pass": False},
    {"motion": "power2", "foo": 1, "ica_aroma": "full"},
]


@pytest.mark.parametrize("preset", ["simple", "scrubbing", "compcor", "ica_aroma"])
@pytest.mark.parametrize("overrides", PRESET_OVERRIDES, ids=str)
def test_presets(runs, preset, overrides):
    img = runs["full"].aroma_img if preset == "ica_aroma" else runs["full"].img
    compare(LCS, img, denoise_strategy=preset, **overrides)


@pytest.mark.parametrize("preset", ["simple", "scrubbing", "compcor", "ica_aroma"])
@pytest.mark.parametrize("run", ("clean", "legacy_compcor", "entities", "high_motion", "no_compcor", "partial"))
def test_presets_on_other_runs(runs, preset, run):
    img = runs[run].aroma_img if preset == "ica_aroma" else runs[run].img
    compare(LCS, img, denoise_strategy=preset)


def test_preset_default_and_unknown(runs):
    compare(LCS, runs["full"].img)
    for bad in ("blah", None, "Simple"):
        compare(LCS, runs["full"].img, denoise_strategy=bad)
    compare(LCS, runs["full"].aroma_img, denoise_strategy="ica_aroma", motion="basic")
    compare(LCS, runs["full"].img, denoise_strategy="ica_aroma")  # needs the AROMA image
    compare(LCS, runs["full"].img, denoise_strategy="simple", motion="foo")


# ---------------------------------------------------------------- several runs, surfaces

def test_lists_of_runs(runs):
    full, clean, ent = runs["full"].img, runs["clean"].img, runs["entities"].img
    for img_files in ([full], (full,), [full, clean], [full, clean, ent], [clean, clean], []):
        compare(LC, img_files)
        compare(LC, img_files, strategy=("motion", "scrub"), motion="basic")
        compare(LC, img_files, strategy=[])
        compare(LCS, img_files, denoise_strategy="scrubbing")
    compare(LC, [full, runs["no_compcor"].img], strategy=("high_pass", "compcor"))  # the second fails
    compare(LC, [runs["full"].aroma_img, runs["entities"].aroma_img], strategy=("ica_aroma",))


def test_surface_runs(runs):
    cifti, gifti = runs["cifti"], runs["gifti"]
    left, right = gifti.options["pair"]
    compare(LC, cifti.img)
    compare(LC, [cifti.img, cifti.img], strategy=("motion", "scrub"))
    compare(LC, [left, right])
    compare(LC, [[left, right]])
    compare(LC, [[left, right], [left, right]], strategy=("high_pass", "compcor"))
    compare(LC, left)
    compare(LC, [[left, right]], strategy=("ica_aroma",))  # nilearn does not check GIFTI names for AROMA
    compare(LCS, [left, right], denoise_strategy="compcor")
    compare(LC, [[runs["full"].img, runs["clean"].img]])  # a pair of NIfTI is not a surface run


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("kwargs", [
    {"strategy": "motion"}, {"strategy": None}, {"strategy": {"motion"}}, {"strategy": ["foo"]}, {"strategy": (0,)},
    {"strategy": ("compcor",)}, {"strategy": ("compcor", "motion")}, {"strategy": ("non_steady_state", "foo")},
    {"strategy": ("motion",), "motion": "foo"}, {"strategy": ("motion",), "motion": None},
    {"strategy": ("wm_csf",), "wm_csf": "BASIC"}, {"strategy": ("global_signal",), "global_signal": "x"},
    {"strategy": ("high_pass", "compcor"), "compcor": "foo"}, {"strategy": ("ica_aroma",), "ica_aroma": "foo"},
    {"strategy": ("tedana",), "tedana": "foo"}, {"strategy": ("wm_csf", "motion"), "motion": "x", "wm_csf": "y"},
    {"strategy": ("ica_aroma", "compcor", "high_pass"), "ica_aroma": "x", "compcor": "y"},
    {"strategy": ("motion",), "wm_csf": "unused", "compcor": "unused", "n_compcor": "unused"},
    {"strategy": ("high_pass", "compcor"), "n_compcor": "x"}, {"strategy": ("high_pass", "compcor"), "n_compcor": None},
    {"strategy": ("high_pass", "compcor"), "n_compcor": 2.5},
    {"strategy": ("high_pass", "compcor"), "n_compcor": "ALL"},
    {"strategy": ("scrub",), "scrub": "x"}, {"strategy": ("scrub",), "scrub": None},
    {"strategy": ("scrub",), "fd_threshold": "x"}, {"strategy": ("motion",), "scrub": "unused"},
    {"strategy": ("ica_aroma",)}, {"strategy": ("tedana",)}, {"strategy": ("tedana", "ica_aroma")},
], ids=str)
def test_bad_parameters(runs, kwargs):
    compare(LC, runs["full"].img, **kwargs)


@pytest.mark.parametrize("run, kwargs", [
    ("no_compcor", {"strategy": ("high_pass", "compcor")}),  # no JSON sidecar
    ("no_compcor", {"strategy": ("high_pass", "compcor", "motion"), "motion": "basic"}),
    ("no_aroma", {"strategy": ("ica_aroma",), "ica_aroma": "basic"}),
    ("no_aroma", {"strategy": ("ica_aroma", "motion", "global_signal"), "ica_aroma": "basic"}),
    ("no_scrub_metrics", {"strategy": ("scrub",)}),
    ("no_scrub_metrics", {"strategy": ("scrub", "motion"), "fd_threshold": None}),
    ("no_scrub_metrics", {"strategy": ("scrub",), "scrub": "x"}),
    ("no_scrub_metrics", {"strategy": ("scrub", "high_pass", "compcor"), "fd_threshold": "x", "n_compcor": "x"}),
    ("no_scrub_metrics", {"strategy": ("high_pass", "compcor", "scrub"), "scrub": None, "n_compcor": "x"}),
    ("partial", {"strategy": ("motion",), "motion": "derivatives"}),
    ("partial", {"strategy": ("motion",), "motion": "full"}),
    ("partial", {"strategy": ("global_signal",), "global_signal": "full"}),
    ("partial", {"strategy": ("global_signal",), "global_signal": "power2"}),
    ("partial", {"strategy": ("wm_csf",), "wm_csf": "full"}),
    ("partial", {"strategy": ("wm_csf", "global_signal", "motion"), "global_signal": "full", "wm_csf": "full"}),
    ("partial", {"strategy": ("motion", "global_signal"), "motion": "full", "global_signal": "full"}),
], ids=str)
def test_missing_families(runs, run, kwargs):
    compare(LC, runs[run].img, **kwargs)


TABLE_EDITS = {
    "no-global-signal": lambda d: d.drop(columns=[c for c in d if c.startswith("global_signal")]),
    "no-global-signal-base": lambda d: d.drop(columns=["global_signal"]),
    "no-csf": lambda d: d.drop(columns=[c for c in d if c.startswith("csf")]),
    "no-wm-csf": lambda d: d.drop(columns=[c for c in d if c.startswith(("csf", "white_matter"))]),
    "only-wm-power2": lambda d: d.drop(columns=[c for c in d if c.startswith(("csf", "white_matter"))
                                                and c != "white_matter_power2"]),
    "no-motion": lambda d: d.drop(columns=[c for c in d if c.startswith(("trans", "rot"))]),
    "no-motion-base": lambda d: d.drop(columns=["trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z"]),
    "no-trans-x": lambda d: d.drop(columns=[c for c in d if c.startswith("trans_x")]),
    "no-dvars": lambda d: d.drop(columns=["std_dvars"]),
    "no-fd": lambda d: d.drop(columns=["framewise_displacement"]),
    "no-nss-no-cosine": lambda d: d.drop(columns=[c for c in d if c.startswith(("non_steady", "cosine"))]),
    "nss-later": lambda d: d.assign(non_steady_state_outlier01=np.eye(len(d))[:, 10]),
    "nss-zeros": lambda d: d.assign(non_steady_state_outlier01=0),
    "nss-half": lambda d: d.assign(non_steady_state_outlier01=np.eye(len(d))[:, 5] * 0.5),
    "nss-cancel": lambda d: d.assign(non_steady_state_outlier01=-np.eye(len(d))[:, 0]),
    "nss-nan": lambda d: d.assign(non_steady_state_outlier01=np.where(np.arange(len(d)) == 5, np.nan, 0)),
    "nss-renamed": lambda d: d.rename(columns={"non_steady_state_outlier01": "xnon_steady_state_outlierXX"}),
    "fd-exact-threshold": lambda d: d.assign(framewise_displacement=d.framewise_displacement.where(
        d.index != 5, 0.5), std_dvars=d.std_dvars.where(d.index != 30, 1.5)),
    "fd-nan-middle": lambda d: d.assign(framewise_displacement=d.framewise_displacement.where(d.index != 12)),
    "fd-first-row-high": lambda d: d.assign(framewise_displacement=d.framewise_displacement.fillna(0.9)),
    "spike-near-start": lambda d: d.assign(framewise_displacement=d.framewise_displacement.where(d.index != 4, 0.9)),
    "spike-after-nss": lambda d: d.assign(framewise_displacement=d.framewise_displacement.where(d.index != 6, 0.9)),
    "file-motion-outliers-ignored": lambda d: d.assign(motion_outlier00=np.eye(len(d))[:, 30]),
    "aroma-odd-names": lambda d: d.rename(columns={"aroma_motion_02": "aroma_motion_x",
                                                   "aroma_motion_05": "x_aroma_05"}),
    "aroma-other": lambda d: d.drop(columns=[c for c in d if "aroma" in c]).assign(aroma_foo=1.0),
    "cosine-odd-names": lambda d: d.rename(columns={"cosine00": "xcosine00", "cosine01": "cosine_x"}),
    "int-column": lambda d: d.assign(trans_y=np.arange(len(d)) % 7),
    "extra-columns": lambda d: d.assign(trans_x_foo=1.0, rot_x_power2_derivative1=2.0, global_signal_x=3.0),
    "camel-case": lambda d: d.assign(FooBar=1.0),
    "camel-ab": lambda d: d.assign(Ab=1.0),
    "upper-ok": lambda d: d.assign(FOO=1.0, A_b=2.0, **{"12": 3.0}),
    "compcor-columns-gone": lambda d: d.drop(columns=[c for c in d if "comp_cor" in c]),
    "compcor-column-missing": lambda d: d.drop(columns=["a_comp_cor_03", "c_comp_cor_02"]),
    "text-column-unused": lambda d: d.assign(notes="a"),
    "text-column-used": lambda d: d.assign(trans_x="a", csf="b", cosine00="c"),
    "na-censored-rows-only": lambda d: d.assign(trans_x=d.trans_x.where(d.index > 1),
                                                csf_derivative1=d.csf_derivative1.where(d.index > 1)),
    "short-1": lambda d: d.iloc[:1],
    "short-2": lambda d: d.iloc[:2],
    "short-4": lambda d: d.iloc[:4],
    "header-only": lambda d: d.iloc[:0],
}


@pytest.mark.parametrize("edit", list(TABLE_EDITS))
@pytest.mark.parametrize("kwargs", [
    {}, {"strategy": ("motion",), "motion": "basic", "demean": False}, {"strategy": ("wm_csf", "global_signal")},
    {"strategy": ("global_signal",), "global_signal": "full"}, {"strategy": ("scrub",)},
    {"strategy": ("scrub", "high_pass"), "scrub": 0}, {"strategy": ("ica_aroma",), "ica_aroma": "basic"},
    {"strategy": ("high_pass", "compcor"), "compcor": "temporal_anat_separated"},
], ids=str)
def test_edited_tables(runs, tmp_path, edit, kwargs):
    compare(LC, variant(tmp_path, runs["full"], table=TABLE_EDITS[edit]), **kwargs)


def _set(name, key, value):
    def edit(meta):
        meta[name][key] = value
        return meta
    return edit


META_EDITS = {
    "shuffled": lambda m: dict(sorted(m.items(), key=lambda kv: hash(kv[0]) % 97)),
    "a02-is-wm": _set("a_comp_cor_02", "Mask", "WM"),
    "a02-is-csf": _set("a_comp_cor_02", "Mask", "CSF"),
    "c01-mask-wm": _set("c_comp_cor_01", "Mask", "WM"),
    "a01-not-retained": _set("a_comp_cor_01", "Retained", False),
    "t01-not-retained": _set("t_comp_cor_01", "Retained", False),
    "dropped-retained": _set("dropped_3", "Retained", True),
    "no-dropped": lambda m: {k: v for k, v in m.items() if not k.startswith("dropped")},
    "no-t": lambda m: {k: v for k, v in m.items() if "t_comp_cor" not in k},
    "no-c": lambda m: {k: v for k, v in m.items() if "c_comp_cor" not in k},
    "no-compcor": lambda m: {k: v for k, v in m.items() if "comp_cor" not in k},
    "extra-a09": lambda m: {**m, "a_comp_cor_09": dict(m["a_comp_cor_04"])},
    "extra-t09": lambda m: {**m, "t_comp_cor_09": dict(m["t_comp_cor_00"])},
    "missing-a02": lambda m: {k: v for k, v in m.items() if k != "a_comp_cor_02"},
    "missing-t01": lambda m: {k: v for k, v in m.items() if k != "t_comp_cor_01"},
    "lowercase-mask": _set("a_comp_cor_00", "Mask", "Combined"),
}


@pytest.mark.parametrize("edit", list(META_EDITS))
@pytest.mark.parametrize("compcor", ("anat_combined", "anat_separated", "temporal_anat_separated"))
@pytest.mark.parametrize("n_compcor", ["all", 2])
def test_edited_sidecars(runs, tmp_path, edit, compcor, n_compcor):
    img = variant(tmp_path, runs["full"], meta=META_EDITS[edit])
    compare(LC, img, strategy=("high_pass", "compcor"), compcor=compcor, n_compcor=n_compcor)


@pytest.mark.parametrize("run", ["full", "legacy_compcor"])
def test_legacy_sidecar_edits(runs, tmp_path, run):
    img = variant(tmp_path, runs[run], meta=_set("a_comp_cor_01", "Mask", "WM"))
    for compcor in COMPCOR:
        compare(LC, img, strategy=("high_pass", "compcor"), compcor=compcor, n_compcor=3)


def test_sidecar_read_whenever_it_exists(runs, tmp_path):
    img = variant(tmp_path, runs["full"])
    Path(img).with_name("sub-01_task-rest_desc-confounds_timeseries.json").write_text("")
    compare(LC, img, strategy=("motion",))  # an empty (invalid) JSON fails even unused
    compare(LC, variant(tmp_path / "b", runs["full"], drop_json=True), strategy=("motion",))


def test_header_problems(runs, tmp_path):
    img = variant(tmp_path, runs["full"])
    tsv = Path(img).with_name("sub-01_task-rest_desc-confounds_timeseries.tsv")
    rng = np.random.default_rng(0)
    np.savetxt(tsv, rng.random((40, 5)), delimiter="\t")
    compare(LC, img)
    for text in ("1\ttrans_x\n1\t2\n", "trans_x\t1\n1\t2\n", "1e3\tFooBar\n1\t2\n", "", "trans_x,trans_y\n1,2\n3,4\n",
                 "trans_x\ttrans_y\ttrans_z\trot_x\trot_y\trot_z\n1\t2\t3\t4\t5\t6\n"):
        tsv.write_text(text)
        compare(LC, img, strategy=("motion",), motion="basic")


# ---------------------------------------------------------------- file lookup by name

def T(entities: str) -> str:  # noqa: N802 - short names keep the table readable
    return f"{entities}_desc-confounds_timeseries.tsv"


def P(entities: str) -> str:  # noqa: N802
    return f"{entities}_desc-preproc_bold.nii.gz"


C = "sub-01_task-rest_desc-confounds_timeseries.tsv"
NAME_CASES = [
    (P("sub-01_task-rest_space-X"), [C]),
    (P("sub-01_task-rest_space-X"), ["sub-01_task-rest_desc-confounds_regressors.tsv"]),
    (P("sub-01_task-rest_space-X"), ["sub-01_task-rest_desc-confounds_regressors.tsv", C]),
    (P("sub-01_task-rest_run-1_space-X"),
     [T("sub-01_task-rest_run-2"), T("sub-01_task-rest_run-1")]),
    (P("sub-01_task-rest_run-1_space-X"), [C]),
    (P("sub-01_task-rest_run-1_space-X"), [C, T("sub-01_task-rest_run-1")]),
    (P("sub-01_task-rest_space-X"), [T("sub-01_task-rest_run-1")]),
    (P("sub-01_task-rest_space-X"), [C, T("sub-01_task-rest_run-2")]),
    (P("sub-01_task-rest_run-1_space-X"), [T("sub-01_run-1_task-rest")]),
    (P("sub-01_task-rest_run-1_space-X"), [T("sub-01_task-rest_space-Y")]),
    (P("sub-01_task-rest_run-1_space-X"), [T("sub-01_task-rest_run-01")]),
    (P("sub-01_task-rest_acq-x_space-X"), [C, T("sub-01_task-rest_acq-x")]),
    (P("sub-01_task-rest_acq-x_space-X"), [T("sub-01_task-rest_acq-y")]),
    (P("sub-01_task-rest_part-mag_space-X"), [T("sub-01_task-rest_part-mag")]),
    (P("sub-01_task-rest_echo-2_space-X"), [T("sub-01_task-rest_echo-1")]),
    (P("sub-01_ses-1_task-rest_space-X"), [C]),
    (P("sub-01_task-rest_space-X"), [T("sub-01_ses-1_task-rest")]),
    (P("sub-01_task-rest_space-X_res-2"), [T("sub-01_task-rest_space-X_res-2")]),
    (P("sub-01_task-rest_space-X_res-2"), [T("sub-01_task-rest_space-X_res-3")]),
    (P("sub-01_task-rest"), [C]),
    (P("sub-01_task-rest_space-X"), ["desc-confounds_timeseries.tsv"]),
    (P("sub-01_task-rest_space-X"), [T("task-rest")]),
    (P("sub-01_task-rest_space-X"), [T("sub-01_task-rest_desc-preproc")]),
    (P("sub-01_task-rest_space-X"), [T("sub-01_task-REST")]),
    (P("sub-01_task-rest_space-X"), ["sub-01_task-rest_desc-confounds_timeseries.tsv.gz"]),
    (P("sub-01_task-rest_space-X"), ["sub-01_task-rest_desc-confounds_timeseries.csv", C]),
    (P("sub-01_task-rest_space-X"), []),
    (P("sub-01_task-re.t_space-X"), [C]),
    (P("task-rest_sub-01_space-X"), [C]),
    (P("a"), [C]),
    ("desc-preproc_bold.nii.gz", ["desc-confounds_timeseries.tsv"]),
    ("sub-01_task-rest_space-X_bold.nii.gz", [C]),
    ("sub-01_task-rest_desc-preproc_space-X_bold.nii.gz", [C]),
    ("sub-01_task-rest_space-X_desc-preproc_bold.nii", [C]),
    ("sub-01_task-rest_space-X_desc-preproc_bold.NII.GZ", [C]),
    ("sub-01_task-rest_space-X_desc-preproc_bold.txt", [C]),
    (T("sub-01_task-rest"), [C]),
    ("sub-01_task-rest_space-X_desc-smoothAROMAnonaggr_bold.nii.gz", [C]),
    ("sub-01_task-rest_space-X_desc-optcom_bold.nii.gz", [C]),
    ("sub-01_task-rest_space-fsLR_den-91k_bold.dtseries.nii", [C]),
    ("sub-01_task-rest_space-X_desc-foo_bold.dtseries.nii", [C]),
    ("sub-01_task-rest_xbold.dtseries.nii", [C]),
    ("bold.dtseries.nii", [C]),
    ("sub-01_task-rest_bold.dtseries.nii.gz", [C]),
    ("sub-01_task-rest_hemi-L_space-fsaverage5_bold.func.gii", [C]),
    ("sub-01_task-rest_space-fsaverage5_hemi-R_bold.func.gii", [C]),
    ("sub-01_task-rest_hemi-L_space-X_desc-preproc_bold.func.gii", [C]),
    ("sub-01_task-rest_hemi-L_space-X_bold.func.gii", [T("sub-01_task-rest_hemi-L_space-X")]),
    ("sub-01_task-rest_space-X_bold.func.gii", [C]),
    ("sub-01_task-rest_hemi-X_space-X_bold.func.gii", [C]),
    ("sub-01_task-rest_hemi-L_x_bold.func.gii", [C]),
]


@pytest.mark.parametrize("image, tables", NAME_CASES, ids=lambda v: str(v)[:70])
def test_lookup_by_name(runs, tmp_path, image, tables):
    """The table nilearn picks (each candidate file has its own trans_x) or its error."""
    frame = pd.read_csv(runs["clean"].confounds_tsv, sep="\t")
    for i, name in enumerate(tables):
        frame.assign(trans_x=float(i)).to_csv(tmp_path / name, sep="\t", index=False, na_rep="n/a")
    (tmp_path / image).touch()
    compare(LC, str(tmp_path / image), strategy=("motion",), motion="basic", demean=False)


def test_missing_folder_and_non_paths(runs, tmp_path):
    compare(LC, str(tmp_path / "nowhere" / "sub-01_task-rest_space-X_desc-preproc_bold.nii.gz"))
    compare(LC, str(tmp_path / "nowhere" / "foo.txt"), strategy=("ica_aroma",))
    compare(LC, None)
    compare(LC, 1)
    compare(LC, [runs["full"].img, 1])
    compare(LC, [runs["full"].img, str(tmp_path / "a.nii.gz")])


@pytest.mark.parametrize("compcor", COMPCOR)
def test_compcor_without_sidecar(runs, tmp_path, compcor):
    """Only anatomical CompCor needs the sidecar; temporal CompCor without one finds nothing."""
    compare(LC, variant(tmp_path, runs["full"], drop_json=True), strategy=("high_pass", "compcor"), compcor=compcor)


# ---------------------------------------------------------------- nilearn's own test tables

def _nilearn_tables(tmp_path: Path, version: str) -> str:
    """nilearn's shipped fMRIPrep 1.4 / 21 tables (installed with the oracle), laid out as a run."""
    import nilearn.interfaces.fmriprep as nl_fmriprep

    data = Path(nl_fmriprep.__file__).parent / "data"
    stem = {"1.4": "test_desc-confounds_regressors", "21": "test-v21_desc-confounds_timeseries",
            "1.4-no-nss": "no_nonsteady_desc-confounds_regressors"}[version]
    json_stem = "test_desc-confounds_regressors" if version == "1.4-no-nss" else stem
    suffix = "timeseries" if version == "21" else "regressors"
    shutil.copy(data / f"{stem}.tsv", tmp_path / f"sub-01_task-rest_desc-confounds_{suffix}.tsv")
    shutil.copy(data / f"{json_stem}.json", tmp_path / f"sub-01_task-rest_desc-confounds_{suffix}.json")
    for desc in ("preproc", "smoothAROMAnonaggr"):
        (tmp_path / f"sub-01_task-rest_space-MNI152NLin2009cAsym_desc-{desc}_bold.nii.gz").touch()
    return str(tmp_path / "sub-01_task-rest_space-MNI152NLin2009cAsym_desc-preproc_bold.nii.gz")


@pytest.mark.parametrize("version", ["1.4", "21", "1.4-no-nss"])
def test_nilearn_shipped_tables(tmp_path, version):
    img = _nilearn_tables(tmp_path, version)
    aroma = img.replace("desc-preproc", "desc-smoothAROMAnonaggr")
    compare(LC, img)
    for component in ("motion", "wm_csf", "global_signal"):
        for level in ("basic", "power2", "derivatives", "full"):
            compare(LC, img, strategy=(component,), **{component: level})
    for compcor in COMPCOR:
        for n_compcor in ("all", 2, 5):
            compare(LC, img, strategy=("high_pass", "compcor"), compcor=compcor, n_compcor=n_compcor)
    for scrub, fd, dvars in ((5, 0.5, 1.5), (5, 0.15, 3.0), (0, 0.2, None), (0, 4, 10)):
        compare(LC, img, strategy=("motion", "scrub"), scrub=scrub, fd_threshold=fd, std_dvars_threshold=dvars)
    compare(LC, img, strategy=("ica_aroma",), ica_aroma="basic")
    for preset in ("simple", "scrubbing", "compcor"):
        compare(LCS, img, denoise_strategy=preset)
        compare(LCS, img, denoise_strategy=preset, global_signal="full", demean=False)
    compare(LCS, aroma, denoise_strategy="ica_aroma")


def test_empty_results_shapes(runs, tmp_path):
    """No column: nilearn's (T, 0) table when a non-steady-state or scrubbing step ran, (0, 0) otherwise."""
    def bare(d):
        return d.drop(columns=[c for c in d if c.startswith(("non_steady", "cosine"))])

    img = variant(tmp_path, runs["full"], table=bare)
    for kwargs in ({"strategy": ("high_pass",)}, {"strategy": ("scrub", "high_pass")},
                   {"strategy": ("scrub",), "fd_threshold": 10, "std_dvars_threshold": 10},
                   {"strategy": ("non_steady_state",)}):
        compare(LC, img, **kwargs)
    compare(LC, img.replace("desc-preproc", "desc-smoothAROMAnonaggr"), strategy=("ica_aroma", "high_pass"))
