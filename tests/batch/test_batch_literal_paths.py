"""Catalogue F12 in batch mode: paths are literal. A BIDS folder, atlas or sphere file given with
``*``, ``?`` or ``[`` that does not exist is "does not exist" naming it, even when the pattern would
match other files; an existing folder whose name holds such characters is used as it is; and an input
that disappears before its run is not replaced by a file the pattern matches."""
from __future__ import annotations

import shutil

import pytest

from nimask.__main__ import main
from nimask.batch import extract_batch, parse_atlas, parse_strategy
from nimask.datasets import write_bids_derivatives


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_bids_derivatives(tmp_path_factory.mktemp("literal"), subjects=("01", "02"), shape=(8, 9, 8),
                                  n_volumes=20, n_regions=4)


def _argv(root, out, *atlas):
    return ["extract", str(root), str(out), *atlas, "--strategy", "motion6", "-q"]


@pytest.mark.parametrize("which", ["bids_dir", "atlas", "spheres"])
def test_F12_a_pattern_is_not_expanded(tree, tmp_path, capsys, which):
    atlas = ["--atlas", str(tree["labels"])]
    root = tree["root"]
    if which == "bids_dir":
        root = missing = str(root.parent / "fmri*")  # would match .../fmriprep
    elif which == "atlas":
        missing = str(tree["labels"].parent / "atlas-sampl?_dseg.nii.gz")  # would match atlas-sample_dseg
        atlas = ["--atlas", missing]
    else:
        missing = str(tree["spheres"].parent / "sphere[s].tsv")  # would match spheres.tsv
        atlas = ["--spheres", missing]
    assert main(_argv(root, tmp_path / "out", *atlas)) == 2
    err = capsys.readouterr().err
    assert repr(missing) in err and "does not exist" in err
    assert not list((tmp_path / "out").rglob("*_timeseries.tsv"))


def test_F12_an_existing_folder_named_like_a_pattern_is_used_as_it_is(tree, tmp_path):
    odd = tmp_path / "study[1]*"
    shutil.copytree(tree["root"], odd / "fmriprep")
    out = tmp_path / "out[2]"
    assert main(_argv(odd / "fmriprep", out, "--atlas", str(tree["labels"]))) == 0
    assert len(list(out.rglob("*_timeseries.tsv"))) == 2


def test_F12_a_vanished_input_is_not_replaced_by_a_match_of_its_name(tree, tmp_path):
    literal = tmp_path / "atlas-x[12]_dseg.nii.gz"
    shutil.copy(tree["labels"], literal)
    spec = parse_atlas(f"{literal},lut={tree['lut']}")
    literal.unlink()  # gone before the runs; the pattern 'atlas-x[12]' now matches atlas-x1
    shutil.copy(tree["labels"], tmp_path / "atlas-x1_dseg.nii.gz")
    summary = extract_batch(tree["root"], tmp_path / "out", [spec], [parse_strategy("motion6")], progress=False)
    assert summary.exit_code == 1 and len(summary.failed) == 2 and not summary.done
    for rec in summary.failed:
        assert rec["error_type"] == "ImageNotFoundError"
        assert repr(str(literal)) in rec["error"] and "does not exist" in rec["error"]
    assert not list((tmp_path / "out").rglob("*_timeseries.tsv"))
