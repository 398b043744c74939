"""Every public function, and every public method of a public class, has type hints: each
parameter (``self``/``cls``, ``*args`` and ``**kwargs`` excepted) and the return (``__init__``:
its parameters only). Public = the names in the ``__all__`` of nimask's public modules."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator

import pytest

PUBLIC_MODULES = (
    "nimask",
    "nimask.image",
    "nimask.masking",
    "nimask.signal",
    "nimask.maskers",
    "nimask.datasets",
    "nimask.batch",
    "nimask.reporting",
    "nimask.plotting",
    "nimask.connectome",
    "nimask.interfaces",
    "nimask.interfaces.fmriprep",
    "nimask.exceptions",
    "nimask.input_data",
)


def _modules() -> list:
    found = []
    for name in PUBLIC_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a present module failing to import is a failure, an absent one is not
                raise
    return found


def _own(obj: object) -> bool:
    module = getattr(obj, "__module__", None) or ""
    return module == "nimask" or module.startswith("nimask.")


def _methods(klass: type) -> Iterator[tuple[str, Callable, bool]]:
    """(name, function, needs a return annotation) for the public methods nimask defines on ``klass``."""
    seen = set()
    for base in klass.__mro__:
        if not _own(base):
            continue
        for name, attr in vars(base).items():
            if name in seen or (name.startswith("_") and name != "__init__"):
                continue
            seen.add(name)
            if isinstance(attr, (staticmethod, classmethod)):
                attr = attr.__func__
            elif isinstance(attr, property):
                attr = attr.fget
            if inspect.isfunction(attr):
                yield name, attr, name != "__init__"


def _public_callables() -> list[tuple[str, Callable, bool]]:
    items, seen = [], set()
    for module in _modules():
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.ismodule(obj) or not _own(obj) or id(obj) in seen:
                continue
            seen.add(id(obj))
            where = f"{obj.__module__}.{obj.__qualname__}"
            if inspect.isclass(obj):
                items += [(f"{where}.{meth}", func, ret) for meth, func, ret in _methods(obj)]
            elif callable(obj):
                items.append((where, obj, True))
    return sorted(items, key=lambda item: item[0])


def missing_hints(func: Callable, needs_return: bool = True) -> list[str]:
    """The parameters (and 'return') of ``func`` without an annotation."""
    sig = inspect.signature(func)
    missing = []
    for i, p in enumerate(sig.parameters.values()):
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or (i == 0 and p.name in ("self", "cls")):
            continue
        if p.annotation is p.empty:
            missing.append(p.name)
    if needs_return and sig.return_annotation is sig.empty:
        missing.append("return")
    return missing


PUBLIC = _public_callables()


def test_the_walk_finds_the_public_api():
    names = {name for name, _, _ in PUBLIC}
    assert len(PUBLIC) > 100
    for expected in ("nimask.masking._apply.apply_mask", "nimask.maskers.nifti_masker.NiftiMasker.transform",
                     "nimask.maskers.nifti_masker.NiftiMasker.__init__", "nimask.batch.runner.extract_batch"):
        assert expected in names


def test_the_check_sees_missing_hints():
    def bare(a, b: int, *args, c=1, **kwargs):
        pass

    def typed(a: int, *args: int, **kwargs: str) -> None:
        pass

    assert missing_hints(bare) == ["a", "c", "return"]
    assert missing_hints(typed) == []


@pytest.mark.parametrize("name, func, needs_return", PUBLIC, ids=[name for name, _, _ in PUBLIC])
def test_public_callable_has_type_hints(name, func, needs_return):
    missing = missing_hints(func, needs_return)
    defined = f"{func.__module__}.{func.__qualname__}"
    where = "" if name.endswith(defined) else f" (defined as {defined})"
    assert not missing, f"{name}{where}: no type hint for {', '.join(missing)}"
