"""Where nimask's ``load_confounds`` differs from nilearn 0.14.1 on purpose, and its API surface.

Each difference is an input for which nilearn returns numbers that cannot be right (or
fails by accident): nimask raises an error of its family naming the problem. nilearn's
behaviour is asserted too, so a change in the oracle shows up here.
"""
from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _fmriprep_fixtures import make_fmriprep_derivatives
from _lc_oracle import assert_same_confounds, assert_same_masks
from nilearn.interfaces import fmriprep as nl

from nimask.exceptions import (
    AllVolumesScrubbedWarning,
    ConfoundsColumnError,
    ConfoundsError,
    ConfoundsNotFoundError,
    ConfoundsTypeError,
    NimaskError,
    ParameterError,
    ParameterTypeError,
)
from nimask.interfaces import fmriprep as nm


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return make_fmriprep_derivatives(tmp_path_factory.mktemp("fmriprep"),
                                     runs=("full", "clean", "high_motion", "tedana"))


def _edited(tmp_path: Path, run, edit) -> str:
    import shutil

    folder = tmp_path / "func"
    shutil.copytree(run.folder, folder)
    tsv = folder / Path(run.confounds_tsv).name
    edit(pd.read_csv(tsv, sep="\t")).to_csv(tsv, sep="\t", index=False, na_rep="n/a")
    return str(folder / Path(run.img).name)


# ---------------------------------------------------------------- API surface

@pytest.mark.parametrize("name", ["load_confounds", "load_confounds_strategy"])
def test_signature_is_nilearns(name):
    mine, ref = inspect.signature(getattr(nm, name)), inspect.signature(getattr(nl, name))
    assert list(mine.parameters) == list(ref.parameters)
    for p in ref.parameters.values():
        assert mine.parameters[p.name].default == p.default, p.name
        assert mine.parameters[p.name].kind == p.kind, p.name


def test_module_paths_and_no_nilearn_at_runtime():
    code = ("import sys; from nimask.interfaces.fmriprep import load_confounds, load_confounds_strategy; "
            "import nimask; nimask.interfaces.fmriprep.load_confounds; "
            "assert 'nilearn' not in sys.modules, 'nilearn imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_errors_are_nilearns_builtins_too():
    assert issubclass(ConfoundsColumnError, KeyError) and issubclass(ConfoundsColumnError, ValueError)
    assert issubclass(ConfoundsNotFoundError, ValueError) and issubclass(ConfoundsNotFoundError, FileNotFoundError)
    assert issubclass(ConfoundsTypeError, TypeError) and issubclass(ParameterTypeError, TypeError)
    assert issubclass(AllVolumesScrubbedWarning, RuntimeWarning)
    err = ConfoundsColumnError("['csf'] not in index: wm_csf needs it", path="x.tsv", found=["csf"])
    assert str(err) == "['csf'] not in index: wm_csf needs it"  # not KeyError's quoted form
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is ConfoundsColumnError and back.path == "x.tsv" and str(back) == str(err)


def test_messages_name_the_file_and_parameter(runs, tmp_path):
    with pytest.raises(ConfoundsNotFoundError) as info:
        nm.load_confounds(str(tmp_path / "sub-01_task-rest_space-X_desc-preproc_bold.nii.gz"))
    assert "Could not find associated confound file" in str(info.value) and str(tmp_path) in str(info.value)
    img = _edited(tmp_path, runs["full"], lambda d: d.drop(columns=["trans_x"]))
    with pytest.raises(ConfoundsColumnError) as info:
        nm.load_confounds(img, strategy=("motion",), motion="basic")
    assert "The following keywords or parameters are missing" in str(info.value)
    assert "['trans_x']" in str(info.value) and "desc-confounds_timeseries.tsv" in str(info.value)
    assert info.value.path.endswith("desc-confounds_timeseries.tsv")
    with pytest.raises(ParameterError) as info:
        nm.load_confounds(runs["full"].img, strategy=("motion",), motion="everything")
    assert info.value.param == "motion" and "'motion' must be one of" in str(info.value)


def test_path_objects_are_accepted(runs):
    mine = nm.load_confounds(Path(runs["full"].img))
    ref = nl.load_confounds(runs["full"].img)
    assert_same_confounds(mine[0], ref[0])
    assert_same_masks(mine[1], ref[1])
    with pytest.raises(TypeError):  # nilearn takes str only
        nl.load_confounds(Path(runs["full"].img))
    mine = nm.load_confounds([Path(runs["full"].img), Path(runs["clean"].img)])
    assert len(mine[0]) == 2


def test_all_volumes_scrubbed_warns_as_nilearn(runs):
    with pytest.warns(AllVolumesScrubbedWarning, match="All volumes were marked as motion outliers"):
        conf, mask = nm.load_confounds(runs["high_motion"].img, strategy=("motion", "scrub"))
    assert mask.size == 0 and conf.isna().all().all()  # nilearn's result: demeaned over no volume


# ---------------------------------------------------------------- differences on purpose

def _nilearn_returns(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nl.load_confounds(*args, **kwargs)


@pytest.mark.parametrize("row", [10, 25])
def test_na_at_a_kept_volume_is_an_error(runs, tmp_path, row):
    img = _edited(tmp_path, runs["full"], lambda d: d.assign(trans_y=d.trans_y.where(d.index != row)))
    conf, _ = _nilearn_returns(img, strategy=("motion",), motion="basic")
    assert conf.trans_y.isna().sum() == 1  # nilearn: NaN returned, the regression fails later
    with pytest.raises(ConfoundsError, match=rf"trans_y.*\b{row}\b"):
        nm.load_confounds(img, strategy=("motion",), motion="basic")


def test_infinite_value_is_an_error(runs, tmp_path):
    img = _edited(tmp_path, runs["full"], lambda d: d.assign(csf=d.csf.where(d.index != 7, np.inf)))
    conf, _ = _nilearn_returns(img, strategy=("wm_csf",))
    assert not np.isfinite(conf.csf).any()  # demeaned by an infinite mean
    with pytest.raises(ConfoundsError, match="csf"):
        nm.load_confounds(img, strategy=("wm_csf",))


def test_na_at_censored_volumes_only_is_nilearns_result(runs, tmp_path):
    # rows 0 and 1 are non-steady-state: n/a there never reaches the regression
    img = _edited(tmp_path, runs["full"],
                  lambda d: d.assign(trans_x_derivative1=d.trans_x_derivative1.where(d.index != 1)))
    mine = nm.load_confounds(img, strategy=("motion",), motion="derivatives")
    ref = _nilearn_returns(img, strategy=("motion",), motion="derivatives")
    assert_same_confounds(mine[0], ref[0])
    assert_same_masks(mine[1], ref[1])
    assert mine[0].trans_x_derivative1.iloc[:2].isna().all()


@pytest.mark.parametrize("n_compcor, error", [(-1, ParameterError), (True, ParameterTypeError),
                                              (np.int64(-2), ParameterError)])
def test_n_compcor_must_be_a_count(runs, n_compcor, error):
    conf, _ = _nilearn_returns(runs["full"].img, strategy=("high_pass", "compcor"), n_compcor=n_compcor)
    assert conf.shape[1] > 3  # nilearn slices with it
    with pytest.raises(error, match="n_compcor"):
        nm.load_confounds(runs["full"].img, strategy=("high_pass", "compcor"), n_compcor=n_compcor)
    conf, _ = nm.load_confounds(runs["full"].img, strategy=("high_pass", "compcor"), n_compcor=np.int64(2))
    assert conf.shape[1] == 5


@pytest.mark.parametrize("kwargs, error", [
    ({"scrub": np.nan}, ParameterError), ({"fd_threshold": np.nan}, ParameterError),
    ({"std_dvars_threshold": float("nan")}, ParameterError), ({"scrub": True}, ParameterTypeError),
    ({"fd_threshold": False}, ParameterTypeError),
])
def test_scrub_parameters_must_be_numbers(runs, kwargs, error):
    _nilearn_returns(runs["full"].img, strategy=("scrub",), **kwargs)  # nilearn: compares and moves on
    with pytest.raises(error, match=next(iter(kwargs))):
        nm.load_confounds(runs["full"].img, strategy=("scrub",), **kwargs)


@pytest.mark.parametrize("demean", ["yes", None, 1])
def test_demean_must_be_a_bool(runs, demean):
    _nilearn_returns(runs["full"].img, demean=demean)
    with pytest.raises(ParameterTypeError, match="demean"):
        nm.load_confounds(runs["full"].img, demean=demean)
    nm.load_confounds(runs["full"].img, demean=np.bool_(False))


@pytest.mark.parametrize("run", ["full", "clean"])
def test_a_component_listed_twice_is_an_error(runs, run):
    try:  # nilearn: duplicated columns, or polars' DuplicateError when the table has no non-steady-state column
        conf, _ = _nilearn_returns(runs[run].img, strategy=("motion", "motion"), motion="basic")
        assert conf.shape[1] == 12
    except Exception as exc:  # noqa: BLE001
        assert "unique column names" in str(exc)
    with pytest.raises(ParameterError, match=r"\['motion'\] more than once"):
        nm.load_confounds(runs[run].img, strategy=("motion", "motion"), motion="basic")


def test_a_used_column_named_twice_is_an_error(runs, tmp_path):
    img = _edited(tmp_path, runs["full"], lambda d: d)
    tsv = Path(img).with_name("sub-01_task-rest_desc-confounds_timeseries.tsv")
    lines = tsv.read_text().split("\n")
    lines[0] = lines[0].replace("\tcsf_wm\t", "\tcsf\t")  # a second column named csf
    tsv.write_text("\n".join(lines))
    conf, _ = _nilearn_returns(img, strategy=("wm_csf",))
    assert list(conf.columns) == ["csf", "white_matter"]  # nilearn takes the first silently
    with pytest.raises(ConfoundsError, match=r"\['csf'\].*more than one column"):
        nm.load_confounds(img, strategy=("wm_csf",))
    mine = nm.load_confounds(img, strategy=("motion",))  # an unused duplicate does not matter
    ref = _nilearn_returns(img, strategy=("motion",))
    assert_same_confounds(mine[0], ref[0])


def test_text_in_a_used_column(runs, tmp_path):
    img = _edited(tmp_path, runs["full"], lambda d: d.assign(trans_x=["a"] * len(d)))
    with pytest.raises(TypeError):
        _nilearn_returns(img, strategy=("motion",), motion="basic")
    with pytest.raises(ConfoundsTypeError, match="trans_x"):
        nm.load_confounds(img, strategy=("motion",), motion="basic")


def test_tedana_component_missing_from_the_mixing_matrix(runs, tmp_path):
    import shutil

    run = runs["tedana"]
    folder = tmp_path / "func"
    shutil.copytree(run.folder, folder)
    mixing = folder / Path(run.confounds_tsv).name
    metrics = pd.read_csv(run.options["metrics"], sep="\t")
    rejected = metrics.Component[metrics.classification == "rejected"].iloc[0]
    pd.read_csv(mixing, sep="\t").drop(columns=[rejected]).to_csv(mixing, sep="\t", index=False)
    img = str(folder / Path(run.img).name)
    conf, _ = _nilearn_returns(img, strategy=("tedana",))
    assert f"rejected_{rejected}" not in conf.columns  # dropped silently
    with pytest.raises(ConfoundsColumnError, match=rejected):
        nm.load_confounds(img, strategy=("tedana",))


def test_every_error_is_a_nimask_error(runs, tmp_path):
    cases = [
        lambda: nm.load_confounds(None),
        lambda: nm.load_confounds([runs["full"].img, 3]),
        lambda: nm.load_confounds(runs["full"].img, strategy="motion"),
        lambda: nm.load_confounds(str(tmp_path / "x.txt")),
        lambda: nm.load_confounds_strategy(runs["full"].img, denoise_strategy=["simple"]),
    ]
    for case in cases:
        with pytest.raises(NimaskError):
            case()


@pytest.mark.parametrize("name", ["load_confounds", "load_confounds_strategy"])
def test_numpydoc_documents_every_parameter(name):
    from numpydoc.docscrape import FunctionDoc

    fn = getattr(nm, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpydoc warns about sections it cannot parse
        doc = FunctionDoc(fn)
    documented = [p.name.lstrip("*") for p in doc["Parameters"]]
    assert documented == [p for p in inspect.signature(fn).parameters]
    assert doc["Returns"] and doc["Summary"]
    for param in doc["Parameters"]:
        assert param.desc, param.name


def test_nilearns_own_tests_pass_with_nimask(tmp_path):
    """nilearn 0.14.1's tests of the public functions (its shipped fMRIPrep 1.2-21 tables, TEDANA,
    CIFTI and GIFTI names), run with nimask's functions in place of nilearn's."""
    import os

    import nilearn.interfaces.fmriprep as nl_fmriprep

    here = Path(__file__).parent
    tests = Path(nl_fmriprep.__file__).parent / "tests"
    files = [str(tests / f) for f in ("test_load_confounds.py", "test_load_confounds_strategy.py",
                                      "test_load_confounds_components.py")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(here), *sys.path])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "_nilearn_patch", "-p", "no:cacheprovider",
                           "-W", "ignore", f"--basetemp={tmp_path / 'nl'}", *files],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and "failed" not in proc.stdout
