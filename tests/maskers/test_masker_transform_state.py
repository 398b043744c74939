"""``transform`` never changes a fitted masker: no attribute added or removed, every fitted
attribute (name ending in ``_``) equal before and after, for the seven maskers, including a
transform on another grid where the transform-time mask and resampling empty a region."""
from __future__ import annotations

import copy
import warnings

import joblib
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from nimask.maskers import (
    MultiNiftiLabelsMasker,
    MultiNiftiMapsMasker,
    MultiNiftiMasker,
    NiftiLabelsMasker,
    NiftiMapsMasker,
    NiftiMasker,
    NiftiSpheresMasker,
)

SHAPE = (12, 13, 14)
AFFINE = np.diag([2.0, 2.0, 2.0, 1.0])
T = 15


def _run(seed: int = 0, affine: np.ndarray = AFFINE, shape: tuple = SHAPE) -> nib.Nifti1Image:
    rng = np.random.default_rng(seed)
    return nib.Nifti1Image((rng.standard_normal(shape + (T,)) * 3 + 50).astype(np.float32), affine)


def _labels() -> nib.Nifti1Image:
    data = np.zeros(SHAPE, np.int16)
    data[1:6, 1:6, 1:6] = 1
    data[6:11, 2:10, 3:12] = 2
    data[2:5, 8:12, 8:12] = 3
    data[9, 11, 1] = 4  # a single voxel: emptied by the mask below
    return nib.Nifti1Image(data, AFFINE)


def _mask() -> nib.Nifti1Image:
    data = np.ones(SHAPE, np.uint8)
    data[9, 11, 1] = 0
    return nib.Nifti1Image(data, AFFINE)


def _maps() -> nib.Nifti1Image:
    labels = np.asarray(_labels().dataobj)
    maps = np.stack([(labels == k).astype(np.float32) * (1 + k / 10) for k in (1, 2, 3)], axis=3)
    return nib.Nifti1Image(maps, AFFINE)


def _same(a, b) -> bool:
    if isinstance(a, nib.spatialimages.SpatialImage):
        return (isinstance(b, nib.spatialimages.SpatialImage) and np.array_equal(a.affine, b.affine)
                and np.array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj), equal_nan=True))
    if isinstance(a, pd.DataFrame):
        return isinstance(b, pd.DataFrame) and a.equals(b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, joblib.Memory):
        return isinstance(b, joblib.Memory) and a.location == b.location
    return a == b


CASES = {
    "NiftiMasker": lambda: NiftiMasker(_mask(), standardize="zscore_sample"),
    "MultiNiftiMasker": lambda: MultiNiftiMasker(_mask(), detrend=True, n_jobs=2),
    "NiftiLabelsMasker": lambda: NiftiLabelsMasker(_labels(), mask_img=_mask(), standardize="zscore_sample"),
    "MultiNiftiLabelsMasker": lambda: MultiNiftiLabelsMasker(_labels(), mask_img=_mask(), n_jobs=2),
    "NiftiMapsMasker": lambda: NiftiMapsMasker(_maps(), mask_img=_mask(), allow_overlap=False, detrend=True),
    "MultiNiftiMapsMasker": lambda: MultiNiftiMapsMasker(_maps(), mask_img=_mask(), n_jobs=2),
    "NiftiSpheresMasker": lambda: NiftiSpheresMasker([(6.0, 6.0, 6.0), (16.0, 14.0, 20.0)], radius=3.0,
                                                     mask_img=_mask(), detrend=True),
}


@pytest.mark.parametrize("reports", [True, False])
@pytest.mark.parametrize("name", sorted(CASES))
def test_transform_changes_no_attribute(name, reports):
    masker = CASES[name]().set_params(reports=reports)
    other_grid = _run(3, affine=np.diag([4.0, 4.0, 4.0, 1.0]), shape=(6, 7, 7))  # region 4 vanishes there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker.fit(_run(0))
        keys = set(vars(masker))
        fitted = {k: copy.deepcopy(v) for k, v in vars(masker).items() if k.endswith("_")}
        assert fitted, "the masker has fitted attributes"
        outputs = [masker.transform(_run(1)), masker.transform(other_grid)]
        if name.startswith("Multi"):
            outputs.append(masker.transform([_run(1), _run(2)]))
    assert all(o is not None for o in outputs)
    assert set(vars(masker)) == keys
    for key, before in fitted.items():
        assert _same(before, getattr(masker, key)), f"{name}.{key} changed during transform"


def test_labels_transform_time_mask_emptying_a_region_is_reported_by_the_operator():
    masker = NiftiLabelsMasker(_labels()).fit()  # fitted on the atlas grid: region 4 is there
    assert masker.n_elements_ == 4
    masker = NiftiLabelsMasker(_labels(), mask_img=_mask()).fit()
    attrs = {k: copy.deepcopy(v) for k, v in vars(masker).items() if k.endswith("_")}
    assert masker.n_elements_ == 3  # the mask empties region 4 on the fit grid
    img = _run(2, affine=np.diag([4.0, 4.0, 4.0, 1.0]), shape=(6, 7, 7))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        op = masker.operator_for(img)
        signals = masker.transform(img)
    assert signals.shape == (T, len(op.names))  # the columns of that grid come from its operator
    assert list(op.coverage["index"]) == list(op.region_ids)
    for key, before in attrs.items():
        assert _same(before, getattr(masker, key)), key
