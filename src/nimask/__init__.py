"""nimask: fast, memory-lean, numerically faithful NIfTI maskers.

A drop-in reimplementation of nilearn's volumetric maskers and the ``image``,
``masking`` and ``signal`` functions under them. Change
``from nilearn.maskers import NiftiMasker`` to ``from nimask.maskers import NiftiMasker``
and get the same numbers.
"""
from __future__ import annotations

import importlib

from .exceptions import NimaskError

__version__ = "0.1.0"

_SUBMODULES = {"image", "masking", "signal", "maskers", "connectome", "input_data", "datasets", "exceptions",
               "interfaces"}

__all__ = ["NimaskError", "__version__", *sorted(_SUBMODULES)]


def __getattr__(name: str):
    # Submodules load on first use so that ``import nimask`` stays cheap.
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'nimask' has no attribute {name!r}")
