"""The class docstrings: every constructor parameter documented in numpydoc form, in the
signature's order, with the signature's default; every fitted attribute documented (and
nothing else); the shared entries filled in (``maskers/_docs.py``)."""
from __future__ import annotations

import ast
import inspect
import re
import warnings

import nibabel as nib
import numpy as np
import pytest
from numpydoc.docscrape import NumpyDocString

from nimask.maskers import (
    MultiNiftiLabelsMasker,
    MultiNiftiMapsMasker,
    MultiNiftiMasker,
    NiftiLabelsMasker,
    NiftiMapsMasker,
    NiftiMasker,
    NiftiSpheresMasker,
)
from nimask.maskers._docs import fill_doc

CLASSES = [NiftiMasker, MultiNiftiMasker, NiftiLabelsMasker, MultiNiftiLabelsMasker, NiftiMapsMasker,
           MultiNiftiMapsMasker, NiftiSpheresMasker]
SHAPE = (9, 10, 11)


def _img() -> nib.Nifti1Image:
    rng = np.random.default_rng(0)
    data = np.zeros(SHAPE + (6,), np.float32)
    data[2:7, 2:8, 2:9] = rng.random((5, 6, 7, 6), dtype=np.float32) + 10
    return nib.Nifti1Image(data, np.eye(4))


def _fitted(cls):
    labels = np.zeros(SHAPE, np.int16)
    labels[2:5, 2:8, 2:9], labels[5:7, 2:8, 2:9] = 1, 2
    maps = np.zeros(SHAPE + (2,), np.float32)
    maps[2:5, 2:8, 2:9, 0], maps[4:7, 2:8, 2:9, 1] = 1.0, 0.5
    args = {NiftiLabelsMasker: (nib.Nifti1Image(labels, np.eye(4)),),
            NiftiMapsMasker: (nib.Nifti1Image(maps, np.eye(4)),),
            NiftiSpheresMasker: ([(4.0, 5.0, 5.0)],)}
    base = next(c for c in (NiftiLabelsMasker, NiftiMapsMasker, NiftiSpheresMasker, NiftiMasker) if issubclass(cls, c))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(*args.get(base, ())).fit(_img())


def _doc(cls) -> NumpyDocString:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpydoc warns about sections it cannot parse
        return NumpyDocString(cls.__doc__)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_parameter_is_documented_in_order(cls):
    doc = _doc(cls)
    signature = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name != "self"]
    assert [p.name for p in doc["Parameters"]] == [p.name for p in signature]
    for entry in doc["Parameters"]:
        assert entry.type and " ".join(entry.desc).strip(), f"{cls.__name__}.{entry.name} has no description"
        assert "as nilearn." not in " ".join(entry.desc).lower()


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_documented_defaults_are_the_signature_defaults(cls):
    documented = {p.name: p.type for p in _doc(cls)["Parameters"]}
    for param in inspect.signature(cls.__init__).parameters.values():
        if param.default is inspect.Parameter.empty:
            continue
        match = re.search(r"default=(.+)$", documented[param.name])
        assert match, f"{cls.__name__}.{param.name}: no default in {documented[param.name]!r}"
        assert ast.literal_eval(match.group(1)) == param.default, (cls.__name__, param.name)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_fitted_attribute_is_documented(cls):
    masker = _fitted(cls)
    fitted = {k for k in vars(masker) if k.endswith("_") and not k.startswith("_")}
    documented = [a.name for a in _doc(cls)["Attributes"]]
    assert set(documented) == fitted
    assert documented == sorted(documented)
    for entry in _doc(cls)["Attributes"]:
        assert entry.type and " ".join(entry.desc).strip()


def test_fill_doc_replaces_every_placeholder_and_refuses_unknown_keys():
    for cls in CLASSES:
        assert "%(" not in cls.__doc__

    class Documented:
        """Title.

        Parameters
        ----------
        %(memory_level=7)s
        """

    text = fill_doc(Documented).__doc__
    assert "        memory_level : int, default=7\n            0: no cache" in text

    class Unknown:
        """%(no_such_entry)s"""

    with pytest.raises(KeyError):
        fill_doc(Unknown)
