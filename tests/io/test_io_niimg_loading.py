"""load_niimg / check_niimg against nilearn's check_niimg."""

import nibabel as nib
import numpy as np
import pytest

from _helpers import random_img
from nimask._nifti_io import iter_volume_chunks
from nimask._niimg import load_niimg
from nimask.exceptions import DimensionError, ImageNotFoundError
from nimask.image import check_niimg, check_niimg_3d, check_niimg_4d

I3 = random_img((7, 8, 9), dtype=np.int16, seed=1)
I4 = random_img((7, 8, 9, 2), dtype=np.float32, seed=2)
I41 = random_img((7, 8, 9, 1), dtype=np.float32, seed=3)
I5 = nib.Nifti1Image(np.zeros((7, 8, 9, 1, 2), np.float32), np.eye(4))

CASES = [
    (([I4, I4],), dict(ensure_ndim=4)),
    (([[I3, I3]],), dict(ensure_ndim=4)),
    (([[I3, I3]],), {}),
    (([I3, I3],), dict(ensure_ndim=3)),
    (([I3, I3],), dict(ensure_ndim=4)),
    (([I41, I41],), dict(ensure_ndim=3)),
    ((I4,), dict(ensure_ndim=3)),
    ((I41,), dict(ensure_ndim=3)),
    ((I3,), dict(ensure_ndim=4)),
    ((I3,), dict(atleast_4d=True)),
    ((I3,), dict(ensure_ndim=4, atleast_4d=True)),
    ((I5,), {}),
    ((I5,), dict(ensure_ndim=4)),
    ((nib.Nifti1Image(np.zeros((7, 8, 0), np.int16), np.eye(4)),), {}),
    (([],), {}),
    ((I3,), dict(dtype="auto")),
    ((I4,), dict(dtype="auto")),
    ((I3,), dict(dtype=np.float64)),
    ((np.zeros((3, 3, 3)),), {}),
    ((5,), {}),
]


def _outcome(func, args, kwargs):
    try:
        img = func(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - compared with nilearn's outcome
        return type(exc).__mro__[-4].__name__, str(exc).split(" See https")[0]
    data = np.asanyarray(img.dataobj)
    return "ok", img.shape, data.dtype, data.tobytes()


@pytest.mark.parametrize("args,kwargs", CASES)
def test_check_niimg_oracle(args, kwargs):
    from nilearn.image import check_niimg as nl_check_niimg

    assert _outcome(check_niimg, args, kwargs) == _outcome(nl_check_niimg, args, kwargs)


def test_paths_tilde_glob_and_lists(tmp_path, monkeypatch):
    for i in range(3):
        random_img((7, 8, 9), seed=i).to_filename(str(tmp_path / f"v{i}.nii.gz"))
    monkeypatch.setenv("HOME", str(tmp_path))
    one = check_niimg("~/v1.nii.gz")
    np.testing.assert_array_equal(one.get_fdata(), random_img((7, 8, 9), seed=1).get_fdata())
    from nilearn.image import check_niimg as nl_check_niimg

    pattern = str(tmp_path / "v*.nii.gz")
    ours, theirs = check_niimg(pattern), nl_check_niimg(pattern)
    assert ours.shape == theirs.shape == (7, 8, 9, 3)
    np.testing.assert_array_equal(ours.get_fdata(), theirs.get_fdata())
    from pathlib import Path

    assert check_niimg(Path(tmp_path / "v0.nii.gz")).shape == (7, 8, 9)
    listed = check_niimg([tmp_path / "v0.nii.gz", str(tmp_path / "v2.nii.gz")])
    assert listed.shape == (7, 8, 9, 2)


def test_missing_and_unmatched_paths(tmp_path):
    with pytest.raises(ImageNotFoundError, match="File not found"):
        check_niimg(str(tmp_path / "absent.nii"))
    with pytest.raises(FileNotFoundError, match="No files matching"):
        check_niimg(str(tmp_path / "absent*.nii"))
    with pytest.raises(ImageNotFoundError, match="File not found"):
        check_niimg(str(tmp_path / "absent*.nii"), wildcards=False)


def test_dimension_error_names_file(tmp_path):
    p = str(tmp_path / "four.nii.gz")
    I4.to_filename(p)
    with pytest.raises(DimensionError, match="Expected dimension is 3D and you provided a 4D image.*four.nii.gz"):
        check_niimg_3d(p)
    with pytest.raises(TypeError):
        check_niimg_4d(I3)


def test_reshaped_file_images_stay_lazy_and_streamable(tmp_path):
    p = str(tmp_path / "one.nii.gz")
    I41.to_filename(p)
    img3 = check_niimg_3d(p)
    assert img3.shape == (7, 8, 9)
    assert hasattr(img3.dataobj, "file_like")  # still a proxy on the file
    np.testing.assert_array_equal(np.asanyarray(img3.dataobj), np.asanyarray(I41.dataobj)[..., 0])
    p3 = str(tmp_path / "three.nii")
    I3.to_filename(p3)
    img4 = load_niimg(p3, atleast_4d=True)
    assert img4.shape == (7, 8, 9, 1)
    (t0, chunk), = list(iter_volume_chunks(img4))
    np.testing.assert_array_equal(chunk[..., 0], np.asanyarray(I3.dataobj))


def test_return_iterator_and_empty_rejection():
    vols = list(check_niimg_4d(I4, return_iterator=True))
    assert len(vols) == 2 and vols[1].shape == (7, 8, 9)
    np.testing.assert_array_equal(np.asanyarray(vols[1].dataobj), np.asanyarray(I4.dataobj)[..., 1])
    with pytest.raises(ValueError, match="The image is empty"):
        load_niimg(nib.Nifti1Image(np.zeros((7, 8, 9, 0)), np.eye(4)))


def test_list_fov_mismatch_names_index():
    other = random_img((7, 8, 9), seed=5, affine=np.eye(4))
    with pytest.raises(ValueError, match="image #1"):
        check_niimg([I3, other])


def test_nifti2_class_kept_on_squeeze():
    n2 = nib.Nifti2Image(np.ones((7, 8, 9, 1), np.float32), np.eye(4))
    assert type(check_niimg_3d(n2)) is nib.Nifti2Image
