"""Alias of :mod:`nimask.maskers` for old scripts (``nilearn.input_data`` was removed in 0.14).

``from nimask import input_data; input_data.NiftiMasker(...)`` keeps working; new code
should import from :mod:`nimask.maskers`.
"""
from .maskers import *  # noqa: F401,F403
from .maskers import __all__  # noqa: F401
