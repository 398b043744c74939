"""Incremental batches (issue #15): only the outputs not finished are computed, each run read once for
them; a touched input keeps the outputs valid, a changed one is detected; one strategy's failure fails
that strategy's outputs only, and the rerun after the fix computes those only."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import nimask.batch.runner as runner
import nimask.pipeline
from nimask.__main__ import main
from nimask.batch import extract_batch, find_runs, parse_atlas, parse_strategy
from nimask.batch.job import RunTask, unit_paths
from nimask.batch.manifest import legacy_task_key
from nimask.batch.runner import FAILURES_FILE, plan_tasks
from nimask.datasets import write_bids_derivatives

M6, GSR = "motion6", "motion6+gsr"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("incr")
    write_bids_derivatives(root, subjects=("01", "02", "03"), shape=(8, 9, 8), n_volumes=30, n_regions=4)
    return root


@pytest.fixture
def tree(pristine, tmp_path):
    """A copy of the derivatives tree and atlases (each test may change its inputs)."""
    shutil.copytree(pristine, tmp_path / "data")
    root = tmp_path / "data"
    atlases = root / "atlases"
    return {"root": root / "fmriprep", "labels": atlases / "atlas-sample_dseg.nii.gz",
            "lut": atlases / "atlas-sample_dseg.tsv", "maps": atlases / "atlas-sampleprob_probseg.nii.gz",
            "runs": find_runs(root / "fmriprep"), "tmp": tmp_path}


@pytest.fixture
def reads(monkeypatch):
    """Each read of a run: the number of atlases streamed through it (the job calls pipeline.stream once per run)."""
    calls: list[int] = []
    real = nimask.pipeline.stream

    def counting(img, operators, **kwargs):
        calls.append(len(operators))
        return real(img, operators, **kwargs)

    monkeypatch.setattr(nimask.pipeline, "stream", counting)
    return calls


@pytest.fixture
def hashes(monkeypatch):
    """The files the coordinator hashes to compare an input whose size or mtime changed."""
    calls: list[str] = []
    real = runner.sha256_file

    def counting(path):
        calls.append(path)
        return real(path)

    monkeypatch.setattr(runner, "sha256_file", counting)
    return calls


def _atlases(tree, *kinds):
    specs = {"labels": f"{tree['labels']},lut={tree['lut']}", "maps": str(tree["maps"])}
    return [parse_atlas(specs[k]) for k in kinds]


def _batch(tree, out, atlases=("labels",), strategies=(M6,), **kw):
    return extract_batch(tree["root"], out, _atlases(tree, *atlases), [parse_strategy(s) for s in strategies],
                         progress=False, **kw)


def _files(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every output file: (bytes, mtime_ns); the bookkeeping (.nimask, failures) left out."""
    return {p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(out.rglob("*"))
            if p.is_file() and ".nimask" not in p.parts and p.name != FAILURES_FILE}


def _bytes(out: Path) -> dict[str, bytes]:
    return {rel: b for rel, (b, _) in _files(out).items()}


def _records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / ".nimask" / "manifest.jsonl").read_text().splitlines()]


def _same_files_kept(before: dict, after: dict) -> None:
    """Every file of ``before`` is still there with the same bytes and mtime."""
    assert {rel: after.get(rel) for rel in before} == before


def test_adding_an_atlas_computes_only_its_outputs_reading_each_run_once(tree, reads):
    out = tree["tmp"] / "out"
    assert _batch(tree, out, ("labels",), (M6, GSR)).exit_code == 0
    assert reads == [1, 1, 1]
    before = _files(out)
    reads.clear()
    summary = _batch(tree, out, ("labels", "maps"), (M6, GSR))
    assert summary.exit_code == 0 and len(summary.done) == 3 and not summary.skipped
    assert reads == [1, 1, 1]  # each run read once, through the new atlas only
    _same_files_kept(before, _files(out))
    new = sorted(set(_files(out)) - set(before))
    assert sorted(rel for rec in summary.done for rel in rec["outputs"]) == new
    assert len(new) == 3 * 5 and all("_atlas-sampleprob_" in rel for rel in new)  # coverage + 2 x (tsv + json)
    # the same as one batch of both atlases from scratch
    assert _batch(tree, tree["tmp"] / "ref", ("labels", "maps"), (M6, GSR)).exit_code == 0
    assert _bytes(out) == _bytes(tree["tmp"] / "ref")
    # nothing left to do: nothing read, nothing written
    reads.clear()
    summary = _batch(tree, out, ("labels", "maps"), (M6, GSR))
    assert len(summary.skipped) == 3 and not summary.done and reads == []
    # a subset of what is finished is finished too (an atlas dropped from the command)
    summary = _batch(tree, out, ("maps",), (GSR,))
    assert len(summary.skipped) == 3 and reads == []


def test_adding_a_strategy_computes_only_its_outputs_reading_each_run_once(tree, reads):
    out = tree["tmp"] / "out"
    assert _batch(tree, out, ("labels", "maps"), (M6,)).exit_code == 0
    before = _files(out)
    reads.clear()
    summary = _batch(tree, out, ("labels", "maps"), (M6, GSR))
    assert summary.exit_code == 0 and len(summary.done) == 3
    assert reads == [2, 2, 2]  # one read per run, through both atlases
    _same_files_kept(before, _files(out))
    new = sorted(set(_files(out)) - set(before))
    assert len(new) == 3 * 2 * 2 and all("_desc-motion6gsr_timeseries." in rel for rel in new)
    assert _batch(tree, tree["tmp"] / "ref", ("labels", "maps"), (M6, GSR)).exit_code == 0
    assert _bytes(out) == _bytes(tree["tmp"] / "ref")
    # the manifest names each finished output with its options and inputs
    done = [r for r in _records(out) if r["status"] == "done"][-1]
    rel = next(r for r in done["outputs"] if r.endswith("_timeseries.tsv"))
    entry = done["outputs"][rel]
    atlas = rel.split("_atlas-")[1].split("_")[0]
    assert done["options"][entry["key"]]["strategy"]["name"] == GSR
    assert done["options"][entry["key"]]["atlas"]["name"] == atlas
    assert set(entry["inputs"]) == {"bold", "mask", "confounds", "sidecar", f"atlas:{atlas}", f"lut:{atlas}"}
    assert all(len(done["inputs"][n]) == 3 and done["inputs"][n][2].startswith("sha256:")
               for n in entry["inputs"] if done["inputs"][n] is not None)


def test_a_touched_input_keeps_the_outputs_and_is_hashed_once(tree, reads, hashes):
    out = tree["tmp"] / "out"
    assert _batch(tree, out, ("labels",), (M6,)).exit_code == 0
    before = _files(out)
    touched = [tree["runs"][0].bold, tree["runs"][1].confounds, str(tree["labels"])]
    for path in touched:
        st = os.stat(path)
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
    reads.clear()
    summary = _batch(tree, out, ("labels",), (M6,))
    assert summary.exit_code == 0 and len(summary.skipped) == 3 and not summary.done
    assert reads == [] and sorted(hashes) == sorted(touched)  # compared by content, each file once
    assert _files(out) == before
    # the new fingerprints are recorded: the next batch hashes nothing
    hashes.clear()
    summary = _batch(tree, out, ("labels",), (M6,))
    assert len(summary.skipped) == 3 and hashes == [] and reads == []
    # through the command line too (no --overwrite), with the summary line
    assert main(["extract", str(tree["root"]), str(out), "--atlas", f"{tree['labels']},lut={tree['lut']}",
                 "--strategy", M6, "-q"]) == 0
    assert _files(out) == before


def _rewrite_bold(path: str) -> None:
    img = nib.load(path)
    data = np.asarray(img.dataobj).copy()
    data[..., 3] = data[..., 3] + 1  # one volume changes
    nib.save(nib.Nifti1Image(data.astype(img.get_data_dtype()), img.affine, img.header), path)


def test_a_changed_input_is_detected(tree, reads):
    out = tree["tmp"] / "out"
    assert _batch(tree, out, ("labels", "maps"), (M6,)).exit_code == 0
    before = _files(out)
    run = tree["runs"][1]
    st = os.stat(run.bold)
    _rewrite_bold(run.bold)
    os.utime(run.bold, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    reads.clear()
    summary = _batch(tree, out, ("labels", "maps"), (M6,))  # refused: the outputs of other inputs are kept
    assert summary.exit_code == 1 and len(summary.skipped) == 2 and reads == []
    (rec,) = summary.failed
    assert rec["run"] == run.bold and rec["error_type"] == "OutputExistsError" and "--overwrite" in rec["error"]
    assert _files(out) == before
    summary = _batch(tree, out, ("labels", "maps"), (M6,), overwrite=True)
    assert summary.exit_code == 0 and [r["run"] for r in summary.done] == [run.bold] and reads == [2]
    after = _files(out)
    changed = sorted(rel for rel in after if after[rel] != before[rel])
    assert changed and all(rel.startswith(f"{run.relpath}/{run.stem}_") for rel in changed)
    assert any(after[rel][0] != before[rel][0] for rel in changed if rel.endswith("_timeseries.tsv"))


def test_a_new_confounds_column_keeps_the_time_series_a_changed_used_one_does_not(tree, reads):
    out = tree["tmp"] / "out"
    assert _batch(tree, out, ("labels",), (M6, GSR)).exit_code == 0
    before = _files(out)
    conf = Path(tree["runs"][0].confounds)
    table = pd.read_csv(conf, sep="\t", keep_default_na=False, dtype=str)
    table["my_new_regressor"] = "0.5"
    table.to_csv(conf, sep="\t", index=False)
    reads.clear()
    summary = _batch(tree, out, ("labels",), (M6, GSR))
    assert summary.exit_code == 0 and len(summary.skipped) == 3 and reads == []
    assert _files(out) == before
    table["global_signal"] = [v if v == "n/a" else str(float(v) + 1e-3 * i) for i, v in
                              enumerate(table["global_signal"])]
    table.to_csv(conf, sep="\t", index=False)
    summary = _batch(tree, out, ("labels",), (M6, GSR))  # gsr's time series changed: refused, motion6's kept
    assert summary.exit_code == 1 and [r["error_type"] for r in summary.failed] == ["OutputExistsError"]
    assert "_desc-motion6gsr_timeseries" in summary.failed[0]["path"]
    summary = _batch(tree, out, ("labels",), (M6, GSR), overwrite=True)
    assert summary.exit_code == 0 and reads == [1]
    assert summary.done[0]["outputs"] == sorted(unit_paths(tree["runs"][0], "sample", "motion6gsr"))


def _drop_column(path: str, column: str) -> bytes:
    original = Path(path).read_bytes()
    table = pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)
    table.drop(columns=[column]).to_csv(path, sep="\t", index=False)
    return original


def test_one_strategy_failing_leaves_the_others_written_and_the_fix_computes_only_it(tree, reads, capsys):
    out = tree["tmp"] / "out"
    run = tree["runs"][1]
    original = _drop_column(run.confounds, "global_signal")
    argv = ["extract", str(tree["root"]), str(out), "--atlas", f"{tree['labels']},lut={tree['lut']}",
            "--atlas", str(tree["maps"]), "--strategy", M6, "--strategy", GSR, "--no-progress"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    rel_run = os.path.relpath(run.bold, tree["root"])
    assert f"FAILED {rel_run}: strategy 'motion6gsr' (only its outputs): ConfoundsError" in captured.out
    assert "3 runs: 2 done, 0 already done, 1 failed" in captured.out
    assert "motion6gsr" in captured.err and "FAILED" in captured.err  # the log line, also shown with -q
    failures = pd.read_csv(out / FAILURES_FILE, sep="\t")
    assert len(failures) == 1
    row = failures.iloc[0]
    assert row["strategy"] == "motion6gsr" and pd.isna(row["atlas"]) and row["error_type"] == "ConfoundsError"
    assert rel_run in row["run"] and "global_signal" in row["error"]
    files = _files(out)
    mine = {rel for rel in files if rel.startswith(f"{run.relpath}/{run.stem}_")}
    assert mine == {rel for a in ("sample", "sampleprob") for s in (None, "motion6") for rel in unit_paths(run, a, s)}
    assert len([rel for rel in files if rel.startswith("sub-")]) == 3 * 2 * 5 - 4
    status = {rel: r["status"] for r in _records(out) for rel in r.get("outputs") or ()}
    assert all(status[rel] == "failed" for a in ("sample", "sampleprob") for rel in unit_paths(run, a, "motion6gsr"))

    # the fix (the column is back): only the failed outputs are computed, one read of that run
    Path(run.confounds).write_bytes(original)
    reads.clear()
    assert main([*argv, "-q"]) == 0
    assert reads == [2]
    after = _files(out)
    _same_files_kept(files, after)
    assert sorted(set(after) - set(files)) == sorted(rel for a in ("sample", "sampleprob")
                                                     for rel in unit_paths(run, a, "motion6gsr"))
    assert not (out / FAILURES_FILE).exists()
    assert main([*argv[:2], str(tree["tmp"] / "ref"), *argv[3:], "-q"]) == 0
    got, ref = _bytes(out), _bytes(tree["tmp"] / "ref")
    assert got.keys() == ref.keys()
    differ = sorted(rel for rel in got if got[rel] != ref[rel])
    # the sidecars of the outputs kept name the confounds file they were computed from (without the column)
    assert differ == sorted(rel for rel in mine if rel.endswith("_desc-motion6_timeseries.json"))
    for rel in differ:
        a, b = json.loads(got[rel]), json.loads(ref[rel])
        assert a["InputChecksums"].pop("confounds") != b["InputChecksums"].pop("confounds") and a == b


def test_a_strategy_censoring_too_many_volumes_fails_alone(tree):
    strict = tree["tmp"] / "strict.json"
    strict.write_text(json.dumps({"name": "strictscrub", "confounds": ["trans_x"], "fd_threshold": 0.2,
                                  "min_volumes": 29}))
    out = tree["tmp"] / "out"
    summary = extract_batch(tree["root"], out, _atlases(tree, "labels"),
                            [parse_strategy(M6), parse_strategy(str(strict))], progress=False)
    assert summary.exit_code == 1 and not summary.done and len(summary.partial) == 3
    assert {(r["strategy"], r["error_type"]) for r in summary.failed} == {("strictscrub", "SampleMaskError")}
    assert len(summary.failed_runs) == 3
    assert len(list(out.rglob("*_desc-motion6_timeseries.tsv"))) == 3 and not list(out.rglob("*strictscrub*"))
    failures = pd.read_csv(out / FAILURES_FILE, sep="\t")
    assert list(failures.columns) == ["run", "atlas", "strategy", "error_type", "error"]
    assert len(failures) == 3 and set(failures["strategy"]) == {"strictscrub"}


def test_a_manifest_of_the_earlier_format_is_read(tree, reads):
    """Folders written before this manifest format: one record per run, its key hashing the whole batch."""
    out = tree["tmp"] / "out"
    atlases, strategies = _atlases(tree, "labels"), [parse_strategy(M6)]
    assert _batch(tree, out, ("labels",), (M6,)).exit_code == 0
    lines = []
    for task in plan_tasks(tree["runs"], atlases, strategies, str(out)):
        assert isinstance(task, RunTask)
        assert task.key == legacy_task_key(atlases, strategies, None, task.run.relpath, task.run.stem)
        outputs = sorted(rel for a in atlases for s in (None, "motion6") for rel in unit_paths(task.run, a.name, s))
        for status in ("started", "done"):
            rec = {"status": status, "run": task.run.bold, "key": task.key, "fingerprint": task.fingerprint}
            if status == "done":
                rec.update(outputs=outputs, n_volumes=30, warnings=[], timings={}, peak_rss_mb=1.0, pid=1)
            lines.append(json.dumps(rec, sort_keys=True) + "\n")
    (out / ".nimask" / "manifest.jsonl").write_text("".join(lines))
    before = _files(out)
    reads.clear()
    summary = _batch(tree, out, ("labels",), (M6,))
    assert len(summary.skipped) == 3 and reads == []
    summary = _batch(tree, out, ("labels", "maps"), (M6, GSR))  # new atlas and strategy: those only
    assert summary.exit_code == 0 and reads == [2, 2, 2]
    _same_files_kept(before, _files(out))
    assert _batch(tree, tree["tmp"] / "ref", ("labels", "maps"), (M6, GSR)).exit_code == 0
    assert _bytes(out) == _bytes(tree["tmp"] / "ref")
    # other options than those the old record hashed (here --t-r): its time series are not finished, nor
    # owned; its coverage tables (which --t-r does not change) are
    summary = _batch(tree, out, ("labels",), (M6,), t_r=2.0)
    assert summary.exit_code == 1 and {r["error_type"] for r in summary.failed} == {"OutputExistsError"}
    assert all(r["path"].endswith("_atlas-sample_desc-motion6_timeseries.tsv") for r in summary.failed)
    assert all("(and 1 more outputs of this run)" in r["error"] for r in summary.failed)
