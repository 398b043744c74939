"""clean_by_columns (the blocked, threaded clean; in nimask.signal._columns, still importable from
nimask.signal._columns) == one nimask.signal.clean call == nilearn."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np
import pytest

import nimask.signal._columns as base
import nimask.signal._columns as columns
from _helpers import assert_oracle
from nimask.maskers import NiftiMasker
from nimask.signal import clean

T = 40
RNG = np.random.default_rng(0)
X = (RNG.standard_normal((T, 1300)) * 10 + 50).astype(np.float32)
CONF = RNG.standard_normal((T, 3))
KEEP = np.ones(T, bool)
KEEP[[3, 4, 20]] = False

GRID = [
    {"detrend": True, "standardize": "zscore_sample"},
    {"detrend": True, "standardize": "zscore_sample", "low_pass": 0.1, "high_pass": 0.01, "t_r": 2.0,
     "confounds": CONF},
    {"standardize": "psc", "confounds": CONF},
    {"low_pass": 0.2, "t_r": 2.0, "sample_mask": KEEP, "confounds": CONF},
    {"detrend": True, "sample_mask": np.flatnonzero(KEEP)},
    {"runs": np.repeat([1, 0], T // 2), "detrend": True, "confounds": CONF, "standardize": None},
    {"filter": "cosine", "high_pass": 0.02, "t_r": 2.0, "detrend": False, "standardize": None},
]


@pytest.mark.parametrize("kwargs", GRID, ids=range(len(GRID)))
@pytest.mark.parametrize("n_threads", [1, 2])
def test_blocks_equal_one_clean_call(kwargs, n_threads, monkeypatch):
    monkeypatch.setattr(columns, "_CLEAN_BLOCK_ELEMENTS", 256 * T)  # 256-column blocks: 6 blocks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = clean(X, **kwargs)
        got = base.clean_by_columns(X.copy(), n_threads=n_threads, **kwargs)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert_oracle(got, expected)


def test_confounds_file_read_once_and_errors_surface(tmp_path, monkeypatch):
    monkeypatch.setattr(columns, "_CLEAN_BLOCK_ELEMENTS", 256 * T)
    path = tmp_path / "conf.tsv"
    np.savetxt(path, CONF, delimiter="\t", header="a\tb\tc", comments="")
    kwargs = {"detrend": True, "standardize": "zscore_sample", "confounds": str(path)}
    assert_oracle(base.clean_by_columns(X.copy(), **kwargs), clean(X, **kwargs))
    with pytest.raises(ValueError, match="incorrect length"):
        base.clean_by_columns(X.copy(), confounds=CONF[:-1])


def test_warning_emitted_once(monkeypatch):
    monkeypatch.setattr(columns, "_CLEAN_BLOCK_ELEMENTS", 256 * T)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        base.clean_by_columns(X.copy(), filter="cosine", high_pass=0.02, low_pass=0.1, t_r=2.0)
    assert sum("low_pass" in str(w.message) for w in record) == 1


def test_masker_with_blocks_matches_nilearn(monkeypatch):
    import nilearn.maskers as nl_maskers
    monkeypatch.setattr(columns, "_CLEAN_BLOCK_ELEMENTS", 256 * T)
    rng = np.random.default_rng(5)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    img = nib.Nifti1Image((rng.standard_normal((12, 13, 14, T)) * 5 + 100).astype(np.float32), affine)
    mask = np.zeros((12, 13, 14), np.uint8)
    mask[1:11, 1:12, 1:13] = 1
    params = {"mask_img": nib.Nifti1Image(mask, affine), "detrend": True, "standardize": "zscore_sample",
              "low_pass": 0.1, "high_pass": 0.01, "t_r": 2.0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = NiftiMasker(**params).fit_transform(img, confounds=CONF, sample_mask=KEEP)
        b = nl_maskers.NiftiMasker(**params).fit_transform(img, confounds=CONF, sample_mask=KEEP)
    assert a.shape == b.shape == (KEEP.sum(), int(mask.sum()))
    assert_oracle(a, b)
