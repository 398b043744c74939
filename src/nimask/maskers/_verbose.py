"""Progress messages of the maskers (their ``verbose`` parameter), printed on stdout.

``verbose=1`` (or True): one line per step, ``[ClassName.step] message``; ``verbose=2``
adds details (sizes, durations) to those lines. Messages never change the masker.
"""
from __future__ import annotations

import os
from typing import Any

__all__ = ["describe", "level", "say"]


def level(masker: Any) -> int:
    """The masker's verbosity as an int (``True`` is 1; anything unusable is 0)."""
    value = getattr(masker, "verbose", 0)
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def say(masker: Any, step: str, message: str, at: int = 1, detail: str | None = None) -> None:
    """Print ``message`` when the masker's verbosity is at least ``at``; ``detail`` is added
    from ``at + 1`` on."""
    verbosity = level(masker)
    if verbosity < at:
        return
    if detail and verbosity > at:
        message = f"{message}: {detail}"
    print(f"[{type(masker).__name__}.{step}] {message}", flush=True)


def describe(imgs: Any) -> str:
    """A short description of an image input (a generator is described, never consumed)."""
    if isinstance(imgs, (str, os.PathLike)):
        return repr(os.fspath(imgs))
    shape = getattr(imgs, "shape", None)
    if shape is not None and hasattr(imgs, "affine"):
        name = imgs.get_filename() if hasattr(imgs, "get_filename") else None
        return f"{type(imgs).__name__} of shape {tuple(shape)}" + (f" ({name})" if name else "")
    if isinstance(imgs, (list, tuple)):
        if not imgs:
            return "an empty list"
        more = f", the first: {describe(imgs[0])}"
        return f"a list of {len(imgs)} image{'s' if len(imgs) != 1 else ''}{more}"
    return f"a {type(imgs).__name__}"
