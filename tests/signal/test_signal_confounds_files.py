"""Confounds files as pandas writes them by default: header read as one, the row index never a regressor."""
from __future__ import annotations

import numpy as np
import pandas as pd

from nimask.signal._confounds import read_confounds_file


def test_pandas_default_csv_of_an_unnamed_frame(tmp_path):
    values = np.random.default_rng(0).random((10, 3))
    pd.DataFrame(values).to_csv(tmp_path / "c.csv")  # header ",0,1,2" and an index column 0..9
    array, names = read_confounds_file(tmp_path / "c.csv")
    np.testing.assert_allclose(array, values)
    assert names == ["0", "1", "2"]


def test_named_columns_with_an_index_column(tmp_path):
    values = np.random.default_rng(1).random((6, 2))
    pd.DataFrame(values, columns=["trans_x", "rot_z"]).to_csv(tmp_path / "c.csv")
    array, names = read_confounds_file(tmp_path / "c.csv")
    np.testing.assert_allclose(array, values)
    assert names == ["trans_x", "rot_z"]
