"""Catalogue T3 in batch mode: a strategy whose ``low_pass`` is at or above the Nyquist frequency
``1 / (2 t_r)`` of a run fails that run, naming the strategy, the value and the limit (the library
lowers it to Nyquist with a warning: ``rel/test_reliability_filters.py``)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from nimask.__main__ import main
from nimask.batch import find_runs
from nimask.datasets import write_bids_derivatives


@pytest.fixture(scope="module")
def tree(tmp_path_factory):  # t_r = 2 s: Nyquist 0.25 Hz
    return write_bids_derivatives(tmp_path_factory.mktemp("lowpass"), subjects=("01", "02"), shape=(8, 9, 8),
                                  n_volumes=30, n_regions=4, t_r=2.0)


def _run(tree, tmp_path, low_pass, name="lp"):
    strategy = tmp_path / f"{name}.json"
    strategy.write_text(json.dumps({"name": name, "confounds": ["trans_x"], "low_pass": low_pass}))
    out = tmp_path / "out"
    rc = main(["extract", str(tree["root"]), str(out), "--atlas", str(tree["labels"]), "--strategy", str(strategy),
               "-q"])
    return rc, out


@pytest.mark.parametrize("low_pass", [0.3, 0.25])  # above, and at, Nyquist
def test_T3_low_pass_at_or_above_nyquist_fails_the_runs(tree, tmp_path, low_pass):
    rc, out = _run(tree, tmp_path, low_pass)
    assert rc == 1
    failures = pd.read_csv(out / "nimask_failures.tsv", sep="\t")
    assert len(failures) == 2 and set(failures["error_type"]) == {"ParameterError"}
    msg = failures["error"][0]
    assert f"Strategy 'lp': low_pass={low_pass} Hz is at or above the Nyquist frequency 0.25 Hz" in msg
    assert "t_r=2 s, from sidecar RepetitionTime" in msg
    assert not list(out.rglob("*_timeseries.tsv"))


def test_T3_low_pass_below_nyquist_is_applied(tree, tmp_path):
    rc, out = _run(tree, tmp_path, 0.2)
    assert rc == 0
    assert len(list(out.rglob("*desc-lp_timeseries.tsv"))) == 2


def test_T3_the_header_repetition_time_is_checked_without_a_sidecar(tree, tmp_path):
    data = write_bids_derivatives(tmp_path / "tree", subjects=("01",), shape=(8, 9, 8), n_volumes=30, n_regions=4,
                                  t_r=2.0)
    Path(find_runs(data["root"])[0].sidecar).unlink()
    rc, out = _run(data, tmp_path, 0.3)
    assert rc == 1
    msg = pd.read_csv(out / "nimask_failures.tsv", sep="\t")["error"][0]
    assert "low_pass=0.3 Hz" in msg and "0.25 Hz" in msg and "NIfTI header pixdim[4]" in msg
