"""A cache opened with ``joblib.Memory(mmap_mode="r")`` (results reloaded memory-mapped) is not
mistaken for a damaged one: images and arrays are checksummed by content, not by their pickle."""
from __future__ import annotations

import warnings

import joblib
import nibabel as nib
import numpy as np

from nimask.exceptions import NimaskCacheWarning
from nimask.maskers import NiftiLabelsMasker, NiftiMasker


def test_mmap_cache_hits_without_checksum_warnings(tmp_path):
    rng = np.random.default_rng(0)
    img = nib.Nifti1Image(rng.random((7, 8, 9, 6)).astype(np.float32), np.eye(4))
    labels = np.zeros((7, 8, 9), np.int16)
    labels[1:4, 1:4, 1:4], labels[4:6, 4:7, 4:8] = 1, 2
    for make in (lambda m: NiftiMasker(memory=m, memory_level=2, detrend=True),
                 lambda m: NiftiLabelsMasker(nib.Nifti1Image(labels, np.eye(4)), memory=m, detrend=True)):
        memory = joblib.Memory(location=tmp_path / type(make(None)).__name__, mmap_mode="r", verbose=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error", NimaskCacheWarning)
            first = make(memory).fit_transform(img)
            second = make(memory).fit_transform(img)  # mask and signals served memory-mapped
        np.testing.assert_array_equal(first, second)
