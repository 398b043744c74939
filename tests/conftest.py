"""Shared test set-up: makes ``tests/`` importable so that ``_helpers`` can be shared."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
