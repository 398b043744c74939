"""Makes the reliability helpers importable (``_rel``) from the test modules of this folder."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
