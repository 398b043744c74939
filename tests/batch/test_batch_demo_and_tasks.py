"""``nimask demo`` (base install: no dask, no nilearn) and the size of what goes to workers."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from nimask.batch import find_runs, parse_atlas, parse_strategy
from nimask.batch.job import run_task
from nimask.batch.runner import plan_tasks
from nimask.datasets import write_bids_derivatives

SRC = str(Path(__file__).resolve().parents[2] / "src")


@pytest.mark.slow  # one CLI process running the whole demo (~6 s)
def test_demo_runs_without_dask_or_nilearn(tmp_path):
    code = ("import sys; from nimask.__main__ import main; rc = main(['demo', '--out-dir', sys.argv[1]]); "
            "assert 'distributed' not in sys.modules and 'nilearn' not in sys.modules, 'optional import'; "
            "sys.exit(rc)")
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "4 runs x 3 atlases x 2 strategies: 124 files" in proc.stdout
    assert "rerun: 4 runs already done, 0 redone" in proc.stdout
    assert len(list((tmp_path / "nimask").rglob("*_timeseries.tsv"))) == 24
    # --qc --connectome correlation, then the group step and its page
    assert len(list((tmp_path / "nimask").rglob("sub-*_qc.tsv"))) == 8
    assert len(list((tmp_path / "nimask").rglob("*_meas-PearsonCorrelation_relmat.tsv"))) == 24
    assert f"strategies compared in {tmp_path / 'nimask' / 'group' / 'qc.html'}" in proc.stdout
    assert (tmp_path / "nimask" / "group" / "qcfc_summary.tsv").is_file()
    report = tmp_path / "report.html"  # matplotlib is a test dependency: the report is written
    assert "wrote an HTML report of the regions, coverage and signals" in proc.stdout and str(report) in proc.stdout
    html = report.read_text(encoding="utf-8")
    assert "NiftiLabelsMasker" in html and "data:image/png;base64," in html


@pytest.mark.slow
def test_demo_without_matplotlib_says_how_to_get_the_report(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from nimask.__main__ import main; "
            "sys.exit(main(['demo', '--out-dir', sys.argv[1]]))")
    env = dict(os.environ, PYTHONPATH=SRC)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "install nimask[plotting]" in proc.stdout
    assert not (tmp_path / "report.html").exists()


def test_tasks_and_records_are_small(tmp_path):
    """Workers get paths, not arrays, and send back a small record."""
    data = write_bids_derivatives(tmp_path, subjects=("01",), shape=(10, 12, 10), n_volumes=40)
    runs = find_runs(data["root"])
    task = plan_tasks(runs, [parse_atlas(str(data["labels"]))], [parse_strategy("motion24+wm_csf")],
                      str(tmp_path / "out"))[0]
    assert len(pickle.dumps(task)) < 4000
    assert b"numpy" not in pickle.dumps(task)  # no array inside
    record = run_task(task)
    assert record["status"] == "done"
    assert len(pickle.dumps(record)) < 4000
    assert b"numpy" not in pickle.dumps(record)
