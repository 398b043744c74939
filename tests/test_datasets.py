"""The built-in sample-data generator: deterministic, well-formed, fMRIPrep-like files."""
import nibabel as nib
import numpy as np

from nimask.datasets import make_sample_data, write_sample_data


def test_same_seed_same_data_and_other_seed_differs():
    a = make_sample_data(shape=(10, 12, 9), n_volumes=8, n_regions=3, seed=1)
    b = make_sample_data(shape=(10, 12, 9), n_volumes=8, n_regions=3, seed=1)
    c = make_sample_data(shape=(10, 12, 9), n_volumes=8, n_regions=3, seed=2)
    np.testing.assert_array_equal(np.asarray(a["func"].dataobj), np.asarray(b["func"].dataobj))
    assert not np.array_equal(np.asarray(a["func"].dataobj), np.asarray(c["func"].dataobj))


def test_shapes_regions_and_mask_agree():
    d = make_sample_data(shape=(14, 16, 12), n_volumes=9, n_regions=5, t_r=1.5)
    assert d["func"].shape == (14, 16, 12, 9)
    assert d["func"].header.get_zooms()[3] == 1.5
    labels = np.asarray(d["labels"].dataobj)
    mask = np.asarray(d["mask"].dataobj).astype(bool)
    assert set(np.unique(labels)) == set(range(6))
    assert np.array_equal(labels > 0, mask)  # every brain voxel is in one region
    maps = np.asarray(d["maps"].dataobj)
    assert maps.shape == (14, 16, 12, 5) and maps.min() >= 0 and np.all(maps.max(axis=(0, 1, 2)) > 0)
    assert not np.any(maps[~mask])
    assert d["region_signals"].shape == (9, 5)
    conf = d["confounds"]
    assert conf.shape == (9, 12) and conf.iloc[0, 6:].isna().all() and not conf.iloc[1:].isna().any().any()


def test_region_signal_is_recoverable_from_the_run():
    d = make_sample_data(shape=(14, 16, 12), n_volumes=30, n_regions=4, dtype=np.float32)
    data = np.asarray(d["func"].dataobj)
    labels = np.asarray(d["labels"].dataobj)
    mean_r1 = data[labels == 1].mean(0)
    r = np.corrcoef(mean_r1, d["region_signals"][:, 0])[0, 1]
    assert r > 0.9


def test_written_files_are_fmriprep_like(tmp_path):
    paths = write_sample_data(tmp_path, shape=(10, 12, 9), n_volumes=6, n_regions=3)
    img = nib.load(paths["func"])
    assert img.shape == (10, 12, 9, 6) and img.get_data_dtype() == np.int16
    lines = paths["confounds"].read_text().splitlines()
    assert lines[0].split("\t")[0] == "trans_x"
    assert lines[1].split("\t")[6] == "n/a" and "n/a" not in lines[2]
    lut = paths["lut"].read_text().splitlines()
    assert lut[0] == "index\tname" and len(lut) == 4
