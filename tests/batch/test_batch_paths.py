"""Catalogue B9: non-ASCII, space-containing and long paths through ``nimask extract``, and error
messages that quote such paths with ``repr``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nimask.__main__ import main
from nimask.batch.atomic import TMP_SUFFIX
from nimask.datasets import write_bids_derivatives

SRC = str(Path(__file__).resolve().parents[2] / "src")
# a non-ASCII subject label: BIDS wants [a-zA-Z0-9], nimask takes it as it is
SUBJECTS = ("01", "ü02")


def _argv(data, out, *extra):
    return ["extract", str(data["root"]), str(out), "--atlas", f"{data['labels']},lut={data['lut']}",
            "--strategy", "motion6+scrub0.5", "-q", *extra]


def _tsvs(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*.tsv"))}


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    root = tmp_path_factory.mktemp("paths")
    plain = write_bids_derivatives(root / "plain", subjects=SUBJECTS, shape=(8, 9, 8), n_volumes=20, n_regions=4)
    odd = write_bids_derivatives(root / "études ü 01" / "fmri prep d'été", subjects=SUBJECTS, shape=(8, 9, 8),
                                 n_volumes=20, n_regions=4)
    assert main(_argv(plain, root / "plain_out")) == 0
    return root, plain, odd, _tsvs(root / "plain_out")


@pytest.mark.slow  # one CLI process (~3 s of imports on 2 busy cores)
def test_non_ascii_and_space_paths_work_end_to_end_in_the_c_locale(trees):
    root, _, odd, reference = trees
    out = root / "sortie é" / ("long name " * 20).strip() / "nimask out"
    env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), LC_ALL="C", LANG="C")
    env.pop("PYTHONUTF8", None)
    proc = subprocess.run([sys.executable, "-m", "nimask", *_argv(odd, out)], env=env, capture_output=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    got = _tsvs(out)
    assert got == reference  # same files, same bytes as with plain paths
    assert any(k.startswith("sub-ü02/func/sub-ü02_") for k in got)
    side = json.loads(next((out / "sub-ü02").rglob("*_timeseries.json")).read_text(encoding="utf-8"))
    assert side["MaskFile"].startswith(str(odd["root"])) and Path(side["MaskFile"]).is_file()
    assert not list(out.parent.rglob(f"*{TMP_SUFFIX}"))


def test_non_ascii_participant_label_filter(trees, tmp_path):
    _, _, odd, _ = trees
    out = tmp_path / "ö ut"
    assert main([*_argv(odd, out), "--participant-label", "ü02"]) == 0
    assert {p.parts[len(out.parts)] for p in out.rglob("*_timeseries.tsv")} == {"sub-ü02"}


def test_errors_quote_non_ascii_paths_with_repr(trees, tmp_path, capsys):
    root, _, odd, reference = trees
    missing = tmp_path / "nulle part é" / "fmri prep"
    assert main(["extract", str(missing), str(tmp_path / "o"), "--atlas", str(odd["labels"]),
                 "--strategy", "motion6"]) == 2
    assert repr(str(missing)) in capsys.readouterr().err
    # a per-run failure (a foreign file where an output goes) names it with repr in the failures file
    out = tmp_path / "sortie ü"
    rel = next(k for k in reference if k.startswith("sub-ü02/") and k.endswith("_coverage.tsv"))
    (out / rel).parent.mkdir(parents=True)
    (out / rel).write_text("foreign\n")
    assert main(_argv(odd, out)) == 1
    failures = pd.read_csv(out / "nimask_failures.tsv", sep="\t", encoding="utf-8")
    assert failures["error_type"].tolist() == ["OutputExistsError"]
    assert repr(str(out / rel)) in failures["error"][0]
    assert "sub-ü02" in failures["run"][0]
