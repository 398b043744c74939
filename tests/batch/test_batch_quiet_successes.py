"""Issue #14, round 2: ``nimask extract`` cases that used to succeed quietly with wrong or doubtful
numbers, or failed with a message the user could not act on (docs/reliability.md, section 2.15).

* Q1 a run without a brain mask is refused (naming the run and the file looked for) unless
  ``--allow-no-mask`` (then a warning and ``MaskMissing`` in its sidecars);
* Q2 a 3D float image with non-integer values given as ``--atlas`` is not a labels atlas;
* Q3 every warning of a run reaches the console (a summary per kind, ``-v`` lists them), and
  ``--strict`` makes a run with warnings a failed run;
* Q4 an unusable repetition time names the file it came from; ``--t-r`` overrides it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from nimask.__main__ import main
from nimask.batch import extract_batch, find_runs, parse_atlas, parse_strategy
from nimask.datasets import write_bids_derivatives


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A 3-subject tree (t_r = 2 s), copied by each test before it damages it."""
    return write_bids_derivatives(tmp_path_factory.mktemp("pristine"), subjects=("01", "02", "03"), shape=(8, 9, 8),
                                  n_volumes=30, n_regions=4, t_r=2.0)


@pytest.fixture
def tree(pristine, tmp_path):
    """A private copy of the tree: ``root``, ``labels``, ``lut``, ``runs`` (BoldRun, sorted by subject)."""
    base = Path(pristine["root"]).parent
    shutil.copytree(base, tmp_path / "data", symlinks=False)
    root = tmp_path / "data" / "fmriprep"
    return {"root": root, "labels": tmp_path / "data" / "atlases" / pristine["labels"].name,
            "lut": tmp_path / "data" / "atlases" / pristine["lut"].name, "runs": find_runs(root)}


def _extract(tree, out, *options, atlas=None):
    return main(["extract", str(tree["root"]), str(out), "--atlas", str(atlas or tree["labels"]),
                 "--strategy", "motion6", "--no-progress", *options])


def _manifest_status(out: Path) -> dict[str, str]:
    """run (bold path) -> status of its latest manifest record."""
    status = {}
    path = out / ".nimask" / "manifest.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        rec = json.loads(line)
        status[rec["run"]] = rec["status"]
    return status


def _outputs_of(out: Path, run) -> list[Path]:
    return sorted(p for p in out.rglob(f"{run.stem}_*") if p.is_file())


def _failures(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "nimask_failures.tsv", sep="\t")


# ---- Q1: a run without a brain mask ------------------------------------------------------------

def _remove_mask(run, how: str) -> str:
    """Take sub-XX's mask away; return the path the batch looks for."""
    mask = Path(run.mask)
    looked_for = mask.with_name(f"{run.stem}_desc-brain_mask.nii.gz")
    if how == "deleted":
        mask.unlink()
    elif how == "misnamed":  # a typo in the desc entity
        mask.rename(mask.with_name(mask.name.replace("desc-brain_mask", "desc-brainmask")))
    elif how == "other-space":  # only the mask of another output space is there
        mask.rename(mask.with_name(mask.name.replace("space-MNI152NLin2009cAsym", "space-T1w")))
    return str(looked_for)


@pytest.mark.parametrize("how", ["deleted", "misnamed", "other-space"])
def test_Q1_a_run_without_a_brain_mask_is_refused_unless_allowed(tree, tmp_path, capsys, how):
    run = tree["runs"][1]
    looked_for = _remove_mask(run, how)
    out = tmp_path / "out"
    assert _extract(tree, out) == 1
    err = capsys.readouterr().err
    failures = _failures(out)
    assert list(failures["error_type"]) == ["MaskError"]  # a NimaskError, also a ValueError
    message = failures["error"][0]
    assert repr(run.bold) in message and repr(looked_for) in message and "--allow-no-mask" in message
    assert run.bold in err
    assert _outputs_of(out, run) == []  # nothing written for that run, not marked finished
    status = _manifest_status(out)
    assert status[run.bold] == "failed"
    assert [status[r.bold] for r in tree["runs"] if r is not run] == ["done", "done"]

    # the Python API refuses it the same way
    summary = extract_batch(tree["root"], tmp_path / "api", [parse_atlas(str(tree["labels"]))],
                            [parse_strategy("motion6")], progress=False)
    assert [r["error_type"] for r in summary.failed] == ["MaskError"] and len(summary.done) == 2

    # --allow-no-mask: extracted without a mask, recorded in its sidecars, warned on the console
    assert _extract(tree, out, "--allow-no-mask") == 0
    err = capsys.readouterr().err
    assert "1 x MaskWarning (1 run)" in err
    sidecar = json.loads(next(p for p in _outputs_of(out, run) if p.suffix == ".json").read_text())
    assert sidecar["MaskFile"] is None
    assert sidecar["MaskMissing"]["LookedFor"][0] == looked_for
    assert any("No brain mask" in w for w in sidecar["Warnings"])
    assert _manifest_status(out)[run.bold] == "done"


# ---- Q2: a float image with non-integer values is not a labels atlas ---------------------------

def _atlas_variant(tree, kind: str) -> Path:
    ref = nib.load(tree["labels"])
    labels = np.asarray(ref.dataobj).astype(np.int16)
    rng = np.random.default_rng(0)
    path = tree["labels"].parent / f"atlas-{kind.replace('-', '')}_dseg.nii.gz"
    if kind == "t1-like":  # intensities of an anatomical image
        img = nib.Nifti1Image((rng.random(labels.shape) * 900 + 100).astype(np.float32), ref.affine)
    elif kind == "few-fractional":  # a labels atlas resampled with linear interpolation at 3 voxels
        data = labels.astype(np.float32)
        data.flat[[5, 50, 100]] = [1.5, 2.25, 0.5]
        img = nib.Nifti1Image(data, ref.affine)
    elif kind == "probability-3d":  # one probability map
        img = nib.Nifti1Image((labels == 1) * rng.uniform(0.2, 1.0, labels.shape).astype(np.float32), ref.affine)
    elif kind == "scaled-int":  # int16 on disk, scl_slope 0.5: non-integer values once scaled
        img = nib.Nifti1Image(labels * 3, ref.affine, dtype=np.int16)
        img.header.set_slope_inter(0.5, 0)
    elif kind == "integer-float":  # accepted: float32 holding integer labels
        img = nib.Nifti1Image(labels.astype(np.float32), ref.affine)
    elif kind == "int":  # accepted
        img = nib.Nifti1Image(labels.astype(np.int32), ref.affine)
    elif kind == "t1-int16":  # an anatomical image stored as integers (as the MNI152 T1 template)
        img = nib.Nifti1Image((rng.random(labels.shape) * 9000 + 100).astype(np.int16), ref.affine)
    elif kind == "t1-int16-in-brain":  # the same, zero outside a brain-shaped region
        img = nib.Nifti1Image(((labels > 0) * (rng.random(labels.shape) * 9000 + 100)).astype(np.int16), ref.affine)
    elif kind == "fine-parcellation":  # accepted: many small regions (2 x 2 x 1 voxel patches)
        i, j, k = np.indices(labels.shape)
        img = nib.Nifti1Image(((labels > 0) * (1 + i // 2 + 100 * (j // 2) + 10000 * k)).astype(np.int32), ref.affine)
    nib.save(img, path)
    shutil.copy(tree["lut"], path.with_name(path.name.replace(".nii.gz", ".tsv")))
    return path


@pytest.mark.parametrize("kind, refused", [("t1-like", True), ("few-fractional", True), ("probability-3d", True),
                                           ("scaled-int", True), ("t1-int16", True), ("t1-int16-in-brain", True),
                                           ("integer-float", False), ("int", False), ("fine-parcellation", False)])
def test_Q2_a_float_image_with_non_integer_values_is_not_a_labels_atlas(tree, tmp_path, capsys, kind, refused):
    """The rules: float data (after the header's scaling) with any finite non-integer value, and
    integer data whose values do not form patches of neighbouring voxels (an int16 T1), are refused
    before any run (exit 2); labels atlases, fine parcellations included, are accepted."""
    atlas = _atlas_variant(tree, kind)
    out = tmp_path / "out"
    rc = _extract(tree, out, atlas=atlas)
    err = capsys.readouterr().err
    if not refused:
        assert rc == 0, err
        assert len(list(out.rglob("*_timeseries.tsv"))) == 3
        return
    assert rc == 2
    assert repr(str(atlas)) in err and "is not a labels atlas" in err
    assert ("non-integer values" in err) if kind.startswith(("t1-like", "few", "prob", "scaled")) else \
        ("share their value with a neighbouring voxel" in err)
    assert "4D image with one probability map per region" in err and "kind=maps" in err
    assert not out.exists()  # nothing written, no manifest

    from nimask.batch.atlases import check_labels_atlas
    from nimask.exceptions import AtlasError

    with pytest.raises(AtlasError) as info:
        check_labels_atlas(str(atlas), str(atlas))
    assert isinstance(info.value, ValueError) and info.value.path == str(atlas) and info.value.param == "atlas"


# ---- Q3: every warning reaches the console; --strict fails such runs ----------------------------

def _rewrite_bold(bold: str, data=None, pixdim4: float = 2.0, unit: str = "sec") -> None:
    """Save the run again (new data and/or repetition time in the header)."""
    img = nib.load(bold)
    out = nib.Nifti1Image(np.asanyarray(img.dataobj) if data is None else data, img.affine)
    out.header.set_zooms(img.header.get_zooms()[:3] + (pixdim4,))
    out.header.set_xyzt_units("mm", unit)
    nib.save(out, bold)


def _add_nan(run) -> None:
    data = np.asarray(nib.load(run.bold).dataobj).astype(np.float32)
    inside = np.argwhere(np.asarray(nib.load(run.mask).dataobj) > 0)[0]
    data[tuple(inside)] = np.nan
    _rewrite_bold(run.bold, data)


@pytest.mark.parametrize("cause", ["sphere-outside", "no-mask-allowed", "nan-in-run"])
def test_Q3_every_warning_reaches_the_console_and_strict_fails_the_run(tree, tmp_path, capsys, cause):
    run = tree["runs"][0]
    options = ["--allow-no-mask"]
    spheres = tmp_path / "spheres.tsv"
    spheres.write_text("name\tx\ty\tz\ncentre\t0\t0\t0\n")
    category = {"sphere-outside": "NimaskDataWarning", "no-mask-allowed": "MaskWarning",
                "nan-in-run": "NimaskNonFiniteWarning"}[cause]
    n_warned = 1
    if cause == "sphere-outside":  # every run: an n/a column
        spheres.write_text("name\tx\ty\tz\ncentre\t0\t0\t0\nfar\t500\t500\t500\n")
        n_warned = 3
    elif cause == "no-mask-allowed":
        Path(run.mask).unlink()
    else:
        _add_nan(run)
    options += ["--spheres", str(spheres)]

    out = tmp_path / "out"
    assert _extract(tree, out, *options) == 0
    err = capsys.readouterr().err
    assert f"x {category} ({n_warned} run" in err  # the summary: counted per kind
    assert "-v lists every warning" in err

    assert _extract(tree, tmp_path / "verbose", "-v", *options) == 0  # -v: each warning with its run
    err = capsys.readouterr().err
    listed = [line for line in err.splitlines() if f": {category}: " in line]
    assert len(listed) == n_warned and run.stem in listed[0]

    assert _extract(tree, tmp_path / "quiet", "-q", *options) == 0  # -q keeps the warnings summary
    assert f"x {category}" in capsys.readouterr().err

    strict = tmp_path / "strict"
    assert _extract(tree, strict, "--strict", *options) == 1
    failures = _failures(strict)
    assert set(failures["error_type"]) == {"StrictModeError"} and len(failures) == n_warned
    assert "--strict" in failures["error"][0] and category in failures["error"][0]
    status = _manifest_status(strict)
    failed_names = {Path(rel).name for rel in failures["run"]}
    for r in tree["runs"]:
        failed = status[r.bold] == "failed"
        assert failed == (Path(r.bold).name in failed_names)
        assert (_outputs_of(strict, r) == []) == failed  # a failed run leaves no output, others are done
    assert status[run.bold] == "failed"

    # --strict on the folder of the first batch: the runs done with warnings are failed, not skipped
    assert _extract(tree, out, "--strict", *options) == 1
    status = _manifest_status(out)
    assert status[run.bold] == "failed" and "earlier batch" in _failures(out)["error"][0]
    assert _extract(tree, out, *options) == 0  # without --strict they are done again
    assert _manifest_status(out)[run.bold] == "done"


# ---- Q4: a repetition time that is not seconds names its file; --t-r overrides it ---------------

@pytest.mark.parametrize("case", ["sidecar-ms", "sidecar-zero", "sidecar-string", "header-ms-as-sec",
                                  "header-zero"])
def test_Q4_an_unusable_repetition_time_names_its_file_and_t_r_overrides_it(tree, tmp_path, capsys, case):
    run = tree["runs"][2]
    sidecar = Path(run.sidecar)
    if case.startswith("sidecar"):
        value = {"sidecar-ms": 2000, "sidecar-zero": 0, "sidecar-string": "2s"}[case]
        sidecar.write_text(json.dumps({"RepetitionTime": value}))
        named = str(sidecar)
    else:
        sidecar.unlink()
        _rewrite_bold(run.bold, pixdim4=2000.0 if case == "header-ms-as-sec" else 0.0, unit="sec")
        named = run.bold
    out = tmp_path / "out"
    assert _extract(tree, out) == 1
    failures = _failures(out)
    assert list(failures["error_type"]) == ["ParameterError"]
    message = failures["error"][0]
    assert repr(named) in message and "--t-r" in message and "t_r=2" not in message
    if case.endswith("ms") or case.endswith("as-sec"):
        assert "milliseconds" in message and "--t-r 2 " in message
    assert _outputs_of(out, run) == [] and _manifest_status(out)[run.bold] == "failed"
    capsys.readouterr()

    # --t-r gives the repetition time of every run; the sidecars say where it came from
    assert _extract(tree, out, "--t-r", "2", "--overwrite") == 0
    side = json.loads(next(p for p in _outputs_of(out, run) if p.suffix == ".json").read_text())
    assert side["RepetitionTime"] == 2.0 and side["RepetitionTimeSource"] == "--t-r option"


def test_Q4_a_header_repetition_time_in_milliseconds_is_read_with_its_unit(tree, tmp_path):
    run = tree["runs"][0]
    Path(run.sidecar).unlink()
    _rewrite_bold(run.bold, pixdim4=2000.0, unit="msec")
    out = tmp_path / "out"
    assert _extract(tree, out) == 0
    side = json.loads(next(p for p in _outputs_of(out, run) if p.suffix == ".json").read_text())
    assert side["RepetitionTime"] == 2.0 and side["RepetitionTimeSource"] == "NIfTI header pixdim[4]"


@pytest.mark.parametrize("value", ["2000", "0", "-1", "nan"])
def test_Q4_a_bad_t_r_option_is_a_usage_error(tree, tmp_path, capsys, value):
    out = tmp_path / "out"
    assert _extract(tree, out, "--t-r", value) == 2
    err = capsys.readouterr().err
    assert "--t-r" in err and "seconds" in err
    assert not list(out.rglob("*_timeseries.tsv"))
