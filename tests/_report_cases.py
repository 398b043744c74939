"""Small fitted maskers of every kind, for the report tests (tiny synthetic data)."""
from __future__ import annotations

import warnings

import nibabel as nib
import numpy as np

from nimask.datasets import make_sample_data
from nimask.maskers import (
    MultiNiftiLabelsMasker,
    MultiNiftiMapsMasker,
    MultiNiftiMasker,
    NiftiLabelsMasker,
    NiftiMapsMasker,
    NiftiMasker,
    NiftiSpheresMasker,
)

MASKERS = ["NiftiMasker", "NiftiLabelsMasker", "NiftiMapsMasker", "NiftiSpheresMasker",
           "MultiNiftiMasker", "MultiNiftiLabelsMasker", "MultiNiftiMapsMasker"]


def sample(n_volumes: int = 20, seed: int = 0) -> dict:
    return make_sample_data(shape=(20, 24, 18), n_volumes=n_volumes, n_regions=6, voxel_size=4.0, seed=seed)


def second_run(data: dict, n_volumes: int = 15):
    func = data["func"]
    return nib.Nifti1Image(np.asanyarray(func.dataobj)[..., :n_volumes], func.affine)


def fitted(name: str, data: dict | None = None):
    """(masker fitted and transformed, the images it transformed)."""
    data = sample() if data is None else data
    func = data["func"]
    confounds = data["confounds"].fillna(0.0).to_numpy()
    imgs = [func, second_run(data)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "NiftiMasker":
            masker = NiftiMasker(mask_strategy="epi", detrend=True, standardize="zscore_sample", t_r=2.0, low_pass=0.1)
            masker.fit(func).transform(func, confounds=confounds)
            return masker, [func]
        if name == "NiftiLabelsMasker":
            masker = NiftiLabelsMasker(data["labels"], labels=data["label_names"], mask_img=data["mask"],
                                       standardize="zscore_sample")
            masker.fit_transform(func)
            return masker, [func]
        if name == "NiftiMapsMasker":
            masker = NiftiMapsMasker(data["maps"], mask_img=data["mask"], standardize=None)
            masker.fit_transform(func)
            return masker, [func]
        if name == "NiftiSpheresMasker":
            masker = NiftiSpheresMasker([(0, 0, 0), (16, 8, 4), (-20, 0, -8)], radius=6, detrend=True, standardize=None)
            masker.fit_transform(func)
            return masker, [func]
        if name == "MultiNiftiMasker":
            masker = MultiNiftiMasker(data["mask"], standardize=None)
            masker.fit_transform(imgs)
            return masker, imgs
        if name == "MultiNiftiLabelsMasker":
            masker = MultiNiftiLabelsMasker(data["labels"], standardize=None)
            masker.fit_transform(imgs)
            return masker, imgs
        if name == "MultiNiftiMapsMasker":
            masker = MultiNiftiMapsMasker(data["maps"], standardize=None)
            masker.fit_transform(imgs)
            return masker, imgs
    raise KeyError(name)
