"""``verbose``: nothing printed at 0; one line per step of fit / transform / inverse_transform
at 1 (True the same); details added at 2; a Multi masker's list gives one line per step at 1."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

from nimask.maskers import (
    MultiNiftiLabelsMasker,
    MultiNiftiMapsMasker,
    MultiNiftiMasker,
    NiftiLabelsMasker,
    NiftiMapsMasker,
    NiftiMasker,
    NiftiSpheresMasker,
)
from nimask.maskers._verbose import describe

SHAPE = (9, 10, 11)


def _run(n: int = 6, seed: int = 0) -> nib.Nifti1Image:
    data = np.zeros(SHAPE + (n,), np.float32)
    data[2:7, 2:8, 2:9] = np.random.default_rng(seed).random((5, 6, 7, n), dtype=np.float32) + 10
    return nib.Nifti1Image(data, np.eye(4))


def _mask() -> nib.Nifti1Image:
    mask = np.zeros(SHAPE, np.uint8)
    mask[2:7, 2:8, 2:9] = 1
    return nib.Nifti1Image(mask, np.eye(4))


def _labels() -> nib.Nifti1Image:
    labels = np.zeros(SHAPE, np.int16)
    labels[2:5, 2:8, 2:9], labels[5:7, 2:8, 2:9] = 1, 2
    return nib.Nifti1Image(labels, np.eye(4))


def _maps() -> nib.Nifti1Image:
    maps = np.zeros(SHAPE + (2,), np.float32)
    maps[2:5, 2:8, 2:9, 0], maps[4:7, 2:8, 2:9, 1] = 1.0, 0.5
    return nib.Nifti1Image(maps, np.eye(4))


MAKERS = {
    "NiftiMasker": lambda **kw: NiftiMasker(**kw),
    "MultiNiftiMasker": lambda **kw: MultiNiftiMasker(**kw),
    "NiftiLabelsMasker": lambda **kw: NiftiLabelsMasker(_labels(), **kw),
    "MultiNiftiLabelsMasker": lambda **kw: MultiNiftiLabelsMasker(_labels(), **kw),
    "NiftiMapsMasker": lambda **kw: NiftiMapsMasker(_maps(), **kw),
    "MultiNiftiMapsMasker": lambda **kw: MultiNiftiMapsMasker(_maps(), **kw),
    "NiftiSpheresMasker": lambda **kw: NiftiSpheresMasker([(4.0, 5.0, 5.0)], radius=2.0, mask_img=_mask(), **kw),
}


def _output(capsys, name: str, verbose) -> tuple[str, str, str]:
    """What fit, transform and inverse_transform print."""
    masker = MAKERS[name](verbose=verbose)
    run = _run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker.fit(run)
        fit = capsys.readouterr().out
        signals = masker.transform(run)
        transform = capsys.readouterr().out
        masker.inverse_transform(signals)
        inverse = capsys.readouterr().out
    return fit, transform, inverse


@pytest.mark.parametrize("name", MAKERS)
def test_quiet_by_default(capsys, name):
    assert _output(capsys, name, 0) == ("", "", "")
    assert _output(capsys, name, False) == ("", "", "")


@pytest.mark.parametrize("name", MAKERS)
def test_one_line_per_step(capsys, name):
    fit, transform, inverse = _output(capsys, name, 1)
    assert fit.splitlines()[-1] == f"[{name}.fit] Finished fit"
    assert fit.count("Loading data from Nifti1Image of shape (9, 10, 11, 6)") == 1  # spheres: checked, not read
    if name == "NiftiSpheresMasker":
        assert "Loading mask from" in fit
    if "Labels" in name or "Maps" in name:
        assert fit.count("Loading regions from") == 1
    if name in ("NiftiMasker", "MultiNiftiMasker"):
        assert fit.count("Computing mask") == 1
    assert "Loading mask from" not in fit or name == "NiftiSpheresMasker"
    for step in ("Loading data from", "Extracting region signals", "Cleaning extracted signals"):
        assert transform.count(step) == 1, transform
    assert all(line.startswith(f"[{name}.transform] ") for line in transform.splitlines())
    assert inverse == f"[{name}.inverse_transform] Computing image from signals\n"
    assert _output(capsys, name, True) == (fit, transform, inverse)


@pytest.mark.parametrize("name", MAKERS)
def test_level_two_adds_details(capsys, name):
    fit1, transform1, _ = _output(capsys, name, 1)
    fit2, transform2, _ = _output(capsys, name, 2)
    assert len(fit2) > len(fit1) and "output column" in fit2
    assert len(transform2) > len(transform1) and "Extracted 6 volumes x" in transform2


def test_given_mask_is_announced(capsys):
    NiftiMasker(_mask(), verbose=1).fit()
    out = capsys.readouterr().out
    assert "Loading mask from Nifti1Image of shape (9, 10, 11)" in out and "Computing mask" not in out


def test_multi_list_one_line_per_step_then_each_image_at_two(capsys):
    runs = [_run(seed=s) for s in range(3)]
    masker = MultiNiftiMasker(_mask(), standardize=None, verbose=1).fit()
    capsys.readouterr()
    masker.transform(runs)
    out = capsys.readouterr().out
    assert out.count("Loading data from a list of 3 images") == 1
    assert out.count("Extracting region signals") == 1 and out.count("Cleaning extracted signals") == 1
    masker.verbose = 2
    masker.transform(runs)
    out = capsys.readouterr().out
    assert out.count("Loading data from Nifti1Image") == 3 and out.count("Extracting region signals") == 4


def test_describe_never_consumes_an_iterator():
    items = iter([_run(), _run()])
    assert describe(items) == "a list_iterator"
    assert len(list(items)) == 2
    assert describe("/data/run.nii.gz") == "'/data/run.nii.gz'"


@pytest.mark.parametrize("cls", [NiftiLabelsMasker, NiftiMapsMasker])
def test_resampling_at_fit_is_announced_once_and_not_at_transform(capsys, cls):
    atlas = _labels() if cls is NiftiLabelsMasker else _maps()
    big = np.zeros((12, 12, 13), np.uint8)
    big[1:10, 1:10, 1:10] = 1
    masker = cls(atlas, mask_img=nib.Nifti1Image(big, np.eye(4)), verbose=1)
    data = nib.Nifti1Image(np.asanyarray(_run().dataobj)[:8, :9, :10], np.eye(4))  # another grid than the atlas
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker.fit(data)
        fit = capsys.readouterr().out
        masker.transform(data)
    assert fit.count("Resampling regions") == 1 and fit.count("Resampling mask") == 1
    assert "Resampling" not in capsys.readouterr().out
