"""matplotlib is optional: nimask, its maskers, plotting and reporting import without it."""
from __future__ import annotations

import os
import subprocess
import sys

_SCRIPT = r"""
import sys
sys.modules["matplotlib"] = None  # any "import matplotlib..." now raises ImportError
import numpy as np, nibabel as nib
import nimask, nimask.maskers, nimask.plotting, nimask.reporting
from nimask.maskers import NiftiMasker
mask = np.zeros((5, 6, 7), np.uint8); mask[1:4, 1:5, 2:6] = 1
img = nib.Nifti1Image(np.random.default_rng(0).random((5, 6, 7, 4)).astype(np.float32), np.eye(4))
masker = NiftiMasker(nib.Nifti1Image(mask, np.eye(4)))
print("shape", masker.fit_transform(img).shape)
assert not any(name == "matplotlib" or name.startswith("matplotlib.") for name, mod in sys.modules.items()
               if mod is not None)
try:
    nimask.plotting.plot_roi(nib.Nifti1Image(mask, np.eye(4)))
except ImportError as exc:
    print("plot:", exc)
try:
    masker.generate_report()
except ImportError as exc:
    print("report:", exc)
"""


def test_import_and_masking_without_matplotlib():
    src = os.path.join(os.path.dirname(__file__), "..", "..", "src")
    env = {**os.environ, "PYTHONPATH": os.path.abspath(src) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "shape (4, 48)" in proc.stdout
    assert "plot: nimask.plotting needs matplotlib" in proc.stdout
    assert "report: nimask.plotting needs matplotlib" in proc.stdout
