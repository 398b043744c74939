"""Reading NIfTI files: validated, with a fast gzip decoder, whole or in chunks of volumes.

(First version: whole-file loading through nibabel; the streamed reader lands next.)
"""
from __future__ import annotations

import os

import nibabel as nib

from .exceptions import ImageLoadError, ImageNotFoundError


def load_file(path: str):
    """Load an image file, raising nimask errors that name the file."""
    if not os.path.exists(path):
        raise ImageNotFoundError(f"File not found: {path!r}", path=path)
    try:
        return nib.load(path)
    except Exception as exc:  # pragma: no cover - refined by the streamed reader
        raise ImageLoadError(f"Could not load {path!r}: {exc}", path=path) from exc
