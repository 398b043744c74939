"""Catalogue §2.14 in the batch command: fMRIPrep confounds TSVs go through the library's reader.

``read_confounds_tsv`` is ``nimask.signal._confounds_file.parse_confounds_file`` and
``select_confounds`` checks each column it uses with the same column rules, so a run whose
confounds file has a bad column the strategy uses (or a bad layout) fails with a
``ConfoundsError`` naming the file and the column, and writes nothing.
"""
from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from nimask.batch import find_runs, parse_atlas, parse_strategy, select_confounds
from nimask.batch.job import run_task
from nimask.batch.runner import plan_tasks
from nimask.batch.strategies import read_confounds_tsv
from nimask.datasets import write_bids_derivatives
from nimask.exceptions import ConfoundsError

STRATEGY = "motion6+wm_csf+scrub0.5"


@pytest.fixture
def data(tmp_path):
    data = write_bids_derivatives(tmp_path / "bids", subjects=("01",), shape=(8, 9, 8), n_volumes=40)
    run = find_runs(data["root"])[0]
    return data, run, pd.read_csv(run.confounds, sep="\t", na_values="n/a")


def _rewrite(path, text):
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _duplicated(path, table):
    t = table.copy()
    t.insert(3, "csf_dup", t["csf"] * 2)
    t.to_csv(path, sep="\t", index=False, na_rep="n/a")
    _rewrite(path, open(path).read().replace("csf_dup", "csf", 1))


def _strings(path, table):
    t = table.copy()
    t["white_matter"] = ["wm"] * len(t)
    t.to_csv(path, sep="\t", index=False, na_rep="n/a")


def _mixed(path, table):
    lines = open(path).read().splitlines()
    lines[5] = lines[5].replace("\t", ",")
    _rewrite(path, "\n".join(lines) + "\n")


def _headerless(path, table):
    _rewrite(path, "".join(line + "\n" for line in open(path).read().splitlines()[1:]))


def _trailing(path, table):
    _rewrite(path, "".join(line + "\t\n" for line in open(path).read().splitlines()))


BAD = [
    ("duplicated-selected-name", _duplicated, "column 'csf' is the name of 2 columns"),
    ("non-numeric-selected-column", _strings, "column 'white_matter' is not numeric"),
    ("mixed-separators", _mixed, "mixes separators"),
    ("headerless", _headerless, "has no header row"),
]


@pytest.mark.parametrize("damage, needle", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_bad_confounds_file_fails_the_strategy_naming_file_and_column(data, tmp_path, damage, needle):
    data, run, table = data
    damage(run.confounds, table)
    with pytest.raises(ConfoundsError) as info:
        select_confounds(read_confounds_tsv(run.confounds), parse_strategy(STRATEGY), 40, source=run.confounds)
    assert repr(run.confounds) in str(info.value) and needle in str(info.value)
    out = tmp_path / "out"
    atlas = parse_atlas(str(data["labels"]))
    task = plan_tasks([run], [atlas], [parse_strategy(STRATEGY)], str(out))[0]
    record = run_task(task)
    # the strategy's failure is its own: its outputs are not written, the run's coverage table is
    assert record["status"] == "done"
    assert record["outputs"] == [f"{run.relpath}/{run.stem}_atlas-{atlas.name}_coverage.tsv"]
    (failure,) = record["failures"]
    assert failure["error_type"] == "ConfoundsError" and failure["strategy"] == parse_strategy(STRATEGY).label
    assert repr(run.confounds) in failure["error"] and needle in failure["error"]
    assert not list(out.rglob("*_timeseries.tsv"))


def test_a_trailing_separator_leaves_unused_columns_alone(data):
    """The batch uses only the strategy's columns: an empty unnamed last column is not one of them."""
    data, run, table = data
    _trailing(run.confounds, table)
    conf, keep = select_confounds(read_confounds_tsv(run.confounds), parse_strategy(STRATEGY), 40)
    conf_ref, keep_ref = select_confounds(table, parse_strategy(STRATEGY), 40)
    np.testing.assert_array_equal(conf, conf_ref)
    np.testing.assert_array_equal(keep, keep_ref)


@pytest.mark.parametrize("kwargs", [dict(encoding="utf-8-sig"), dict(quoting=csv.QUOTE_NONNUMERIC),
                                    dict(index=True)],
                         ids=["byte-order-mark", "quoted-names", "pandas-index-column"])
def test_legitimate_layouts_select_the_same_confounds(data, kwargs):
    data, run, table = data
    table.to_csv(run.confounds, sep="\t", na_rep="n/a", **{"index": False, **kwargs})
    parsed = read_confounds_tsv(run.confounds)
    assert parsed.names[0] == "trans_x"
    for spec in ("motion24+wm_csf+scrub0.5", "motion6+gsr4"):
        conf, keep = select_confounds(parsed, parse_strategy(spec), 40)
        conf_ref, keep_ref = select_confounds(table, parse_strategy(spec), 40)
        np.testing.assert_allclose(conf, conf_ref, rtol=0, atol=1e-12 * np.abs(conf_ref).max())
        np.testing.assert_array_equal(keep, keep_ref)


def test_a_duplicated_name_in_a_dataframe_is_refused(data):
    _, _, table = data
    twice = pd.concat([table, table[["csf"]] * 2], axis=1)
    with pytest.raises(ConfoundsError, match="c.tsv: column 'csf' is the name of 2 columns"):
        select_confounds(twice, parse_strategy("wm_csf"), 40, source="c.tsv")
