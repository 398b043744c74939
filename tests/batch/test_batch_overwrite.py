"""Catalogue B8: an existing output that no run of the same inputs wrote is refused unless --overwrite."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from nimask.__main__ import main
from nimask.batch import extract_batch, parse_atlas, parse_strategy
from nimask.batch.atomic import TMP_SUFFIX
from nimask.datasets import write_bids_derivatives


def _outputs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and ".nimask" not in p.parts}


def _argv(data, out, *extra):
    return ["extract", str(data["root"]), str(out), "--atlas", f"{data['labels']},lut={data['lut']}",
            "--strategy", "motion6", "-q", *extra]


def _mtimes(out: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in out.rglob("*.tsv") if p.name != "nimask_failures.tsv"}


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("overwrite")
    data = write_bids_derivatives(root, subjects=("01", "02", "03"), shape=(8, 9, 8), n_volumes=20, n_regions=4)
    assert main(_argv(data, root / "reference")) == 0
    return data, _outputs(root / "reference")


def test_foreign_output_is_refused_and_named_then_replaced_with_overwrite(tree, tmp_path):
    data, reference = tree
    out = tmp_path / "o"
    rel = next(k for k in reference if k.startswith("sub-02/") and k.endswith("_coverage.tsv"))
    foreign = out / rel
    foreign.parent.mkdir(parents=True)
    foreign.write_text("not nimask's\n")
    assert main(_argv(data, out)) == 1
    failures = pd.read_csv(out / "nimask_failures.tsv", sep="\t")
    assert len(failures) == 1 and "/sub-02/" in failures["run"][0]
    assert failures["error_type"][0] == "OutputExistsError"
    assert repr(str(foreign)) in failures["error"][0] and "--overwrite" in failures["error"][0]
    assert foreign.read_text() == "not nimask's\n"  # untouched
    assert not [k for k in _outputs(out) if k.startswith("sub-02/") and k != rel]  # the run did not start
    assert len([k for k in _outputs(out) if k.endswith("_timeseries.tsv")]) == 2  # the others went on
    # a refusal is not a claim: the next run without --overwrite refuses it again
    assert main(_argv(data, out)) == 1
    assert foreign.read_text() == "not nimask's\n"
    assert main(_argv(data, out, "--overwrite")) == 0
    assert _outputs(out) == reference
    assert not list(out.rglob(f"*{TMP_SUFFIX}"))


def test_finished_runs_are_skipped_with_or_without_overwrite(tree, tmp_path, capsys):
    data, reference = tree
    out = tmp_path / "o"
    assert main(_argv(data, out)) == 0
    first = _mtimes(out)
    assert main([*_argv(data, out)[:-1], "--overwrite"]) == 0  # without -q: the summary line
    assert "3 runs: 0 done, 3 already done, 0 failed" in capsys.readouterr().out
    assert main(_argv(data, out)) == 0
    assert _mtimes(out) == first  # nothing rewritten
    assert _outputs(out) == reference


def test_changed_input_with_existing_outputs_is_refused_without_overwrite(tree, tmp_path):
    data, reference = tree
    out = tmp_path / "o"
    atlas, strategy = [parse_atlas(f"{data['labels']},lut={data['lut']}")], [parse_strategy("motion6")]
    assert extract_batch(data["root"], out, atlas, strategy, progress=False).exit_code == 0
    first = _mtimes(out)
    conf = next(Path(data["root"]).rglob("sub-01_*confounds_timeseries.tsv"))
    original = conf.read_bytes()
    table = pd.read_csv(conf, sep="\t")
    table["trans_x"] += 0.01  # a used column changes: new content
    table.to_csv(conf, sep="\t", index=False, na_rep="n/a")
    try:
        summary = extract_batch(data["root"], out, atlas, strategy, progress=False)
        assert summary.exit_code == 1 and len(summary.skipped) == 2 and not summary.done
        (rec,) = summary.failed
        assert rec["error_type"] == "OutputExistsError" and "sub-01" in rec["path"]
        assert rec["path"].endswith("_timeseries.tsv")  # the coverage table does not depend on the confounds
        assert Path(rec["path"]).is_file() and rec["path"] in rec["error"]
        assert _mtimes(out) == first  # the old outputs of sub-01 are kept
        summary = extract_batch(data["root"], out, atlas, strategy, progress=False, overwrite=True)
        assert summary.exit_code == 0 and [Path(r["run"]).name[:6] for r in summary.done] == ["sub-01"]
        assert summary.done[0]["outputs"] == sorted(rel for rel in reference if rel.startswith("sub-01/")
                                                    and "_timeseries." in rel)
        again = _mtimes(out)
        assert sorted(p.name for p in again if again[p] != first[p]) == [
            p.name for p in sorted(first) if p.name.startswith("sub-01") and p.name.endswith("_timeseries.tsv")]
        assert not (out / "nimask_failures.tsv").exists()
        new = _outputs(out)
        assert {k: v for k, v in new.items() if "sub-01" not in k or "_coverage" in k} == \
            {k: v for k, v in reference.items() if "sub-01" not in k or "_coverage" in k}
        assert new != reference
    finally:
        conf.write_bytes(original)
