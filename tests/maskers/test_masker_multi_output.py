"""The three Multi maskers share one output rule: with ``set_output(transform="pandas")`` a single
image gives a DataFrame named by ``get_feature_names_out``, a list gives a list of arrays."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from test_masker_transform_state import _labels, _maps, _mask, _run

from nimask.maskers import MultiNiftiLabelsMasker, MultiNiftiMapsMasker, MultiNiftiMasker


@pytest.mark.parametrize("make", [lambda: MultiNiftiMasker(_mask()), lambda: MultiNiftiLabelsMasker(_labels()),
                                  lambda: MultiNiftiMapsMasker(_maps())], ids=["voxels", "labels", "maps"])
def test_single_image_is_wrapped_and_lists_are_not(make):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masker = make().fit(_run(0))
        plain = masker.transform(_run(1))
        masker.set_output(transform="pandas")
        frame = masker.transform(_run(1))
        items = masker.transform([_run(1), _run(2)])
    assert isinstance(frame, pd.DataFrame)
    assert [str(c) for c in frame.columns] == [str(n) for n in masker.get_feature_names_out()]
    np.testing.assert_array_equal(frame.to_numpy(), plain)
    assert isinstance(items, list) and all(isinstance(x, np.ndarray) for x in items)
    np.testing.assert_array_equal(items[0], plain)
