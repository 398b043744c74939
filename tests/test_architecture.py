"""Layering rules of the package that a refactor must not break.

* Code outside ``nimask/maskers/`` uses the maskers through their public methods and
  attributes only: no ``masker._name`` access (attribute syntax or a string given to
  ``getattr``/``hasattr``/``setattr``) of a private name that a masker class defines or
  that a fitted masker holds. The one exception is ``_report_log``, which belongs to the
  reporting package: its decorator (``nimask.reporting._record``) writes it.
* Every masker module stays short (at most 350 lines).
"""
from __future__ import annotations

import ast
import inspect
import pathlib
import warnings

import nibabel as nib
import numpy as np
import pytest

import nimask
from nimask import maskers

SRC = pathlib.Path(nimask.__file__).parent
OWNED_BY_REPORTING = {"_report_log"}


def _private_masker_names() -> set[str]:
    """Private (single underscore) names of the masker classes and of fitted maskers."""
    names: set[str] = set()
    classes = [getattr(maskers, n) for n in maskers.__all__]
    for cls in classes:
        for klass in inspect.getmro(cls):
            if klass.__module__.startswith("nimask."):
                names.update(n for n in vars(klass) if n.startswith("_") and not n.startswith("__"))
    img = nib.Nifti1Image(np.random.default_rng(0).random((6, 7, 8, 5)).astype(np.float32), np.eye(4))
    labels = np.zeros((6, 7, 8), np.int16)
    labels[1:3, 1:3, 1:3], labels[3:5, 3:6, 3:7] = 1, 2
    fitted = [
        maskers.NiftiMasker().fit(img),
        maskers.NiftiLabelsMasker(nib.Nifti1Image(labels, np.eye(4))).fit(img),
        maskers.NiftiMapsMasker(nib.Nifti1Image(np.stack([labels == 1, labels == 2], 3).astype(np.float32),
                                                np.eye(4))).fit(img),
        maskers.NiftiSpheresMasker([(2.0, 2.0, 2.0)], radius=2.0).fit(img),
    ]
    for m in fitted:
        names.update(n for n in vars(m) if n.startswith("_") and not n.startswith("__"))
    return names - OWNED_BY_REPORTING


def _accesses(tree: ast.AST, private: set[str]) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in private:
            base = node.value
            if not (isinstance(base, ast.Name) and base.id in ("self", "cls")):
                found.append((node.lineno, node.attr))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in ("getattr", "hasattr", "setattr") and len(node.args) >= 2
              and isinstance(node.args[1], ast.Constant) and node.args[1].value in private):
            found.append((node.lineno, node.args[1].value))
    return found


def test_no_private_masker_access_outside_maskers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        private = _private_masker_names()
    assert {"_operator", "_fit", "_validate", "_cleaned"} <= private  # the scan knows what to look for
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if "maskers" in path.relative_to(SRC).parts:
            continue
        for line, name in _accesses(ast.parse(path.read_text(), str(path)), private):
            offenders.append(f"{path.relative_to(SRC)}:{line}: {name}")
    assert offenders == []


def test_the_scan_finds_a_private_access():
    tree = ast.parse("def f(masker):\n    return masker._operator, getattr(masker, '_cleaned')\n")
    assert _accesses(tree, {"_operator", "_cleaned"}) == [(2, "_operator"), (2, "_cleaned")]


@pytest.mark.parametrize("path", sorted((SRC / "maskers").glob("*.py")), ids=lambda p: p.name)
def test_masker_modules_are_short(path):
    assert len(path.read_text().splitlines()) <= 350
