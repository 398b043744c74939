"""Where nimask's warnings point: the first frame outside nimask (the user's line)."""
from __future__ import annotations

import os
import sys

__all__ = ["find_stack_level"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_SKIPPED = (_PACKAGE + os.sep, os.path.join("sklearn", "utils", "_set_output.py"))


def find_stack_level() -> int:
    """``stacklevel`` for :func:`warnings.warn` that makes the warning point at the caller's code.

    Counts the frames from the caller of this function up to the first one whose file is
    not in the nimask package (nor scikit-learn's ``set_output`` wrapper), so a warning
    names the user's line however deep inside nimask it is raised.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None:
        name = os.path.abspath(frame.f_code.co_filename)
        if not (name.startswith(_SKIPPED[0]) or name.endswith(_SKIPPED[1])):
            return level
        frame = frame.f_back
        level += 1
    return level
