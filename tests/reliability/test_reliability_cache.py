"""Catalogue §2.11 (cache, L1-L10) and F9/E7: content-keyed, checksummed masker cache.

The maskers' ``memory=`` cache (``nimask.maskers._cache.cached_call``) keys each entry on a
content fingerprint of the inputs (size, mtime and a blake2b checksum of each file), the
nimask version and a cache format number, and stores a CRC32 of the result that is checked
on every hit.
"""
from __future__ import annotations

import glob
import json
import os
import warnings

import nibabel as nib
import numpy as np
import pytest

from _rel import labels_img, mask_img, raises, run_img
from nimask.exceptions import CacheError, NimaskCacheWarning, ParameterError
from nimask.maskers import MultiNiftiMasker, NiftiLabelsMasker, NiftiMasker


def _rewrite_same_size(path: str, img) -> None:
    """Rewrite ``path`` in place with another image of the same size, keeping its mtime."""
    st = os.stat(path)
    raw = img.to_bytes()
    if path.endswith(".gz"):
        import gzip

        raw = gzip.compress(raw, mtime=0)
    with open(path, "r+b") as fh:  # same inode, in place
        fh.truncate(0)
        fh.write(raw)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _entries(cache_dir) -> list[str]:
    return glob.glob(os.path.join(str(cache_dir), "**", "output.pkl"), recursive=True)


def _fit(masker_cls, path, cache, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        if masker_cls is NiftiLabelsMasker:
            return masker_cls(labels_img(), memory=cache, **kw).fit_transform(path)
        if masker_cls is MultiNiftiMasker:
            return masker_cls(mask_img(), memory=cache, **kw).fit_transform([path])[0]
        return masker_cls(mask_img(), memory=cache, **kw).fit_transform(path)


MASKERS = [NiftiMasker, MultiNiftiMasker, NiftiLabelsMasker]


@pytest.mark.parametrize("masker_cls", MASKERS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_L1_rewritten_input_is_never_served_stale(tmp_path, masker_cls, ext):
    """L1/F9: same path, same size, same mtime, new data: the cache recomputes."""
    path = str(tmp_path / f"bold{ext}")
    nib.save(run_img(t=5), path)
    cache = str(tmp_path / "cache")
    first = _fit(masker_cls, path, cache)
    _rewrite_same_size(path, run_img(t=5, seed=3))
    second = _fit(masker_cls, path, cache)
    fresh = _fit(masker_cls, path, None)
    np.testing.assert_array_equal(second, fresh)
    assert not np.array_equal(first, second)


def _damage(path: str, how: str) -> None:
    raw = bytearray(open(path, "rb").read())
    if how == "truncated":
        raw = raw[: len(raw) // 2]
    elif how == "empty":
        raw = bytearray()
    elif how == "garbage":
        raw = bytearray(b"not a pickle at all" * 10)
    elif how == "bitflip":
        raw[len(raw) - 64] ^= 0x04  # inside the float payload
    with open(path, "wb") as fh:
        fh.write(raw)


@pytest.mark.parametrize("how", ["truncated", "empty", "garbage", "bitflip"],
                         ids=["L2-truncated", "L2-empty", "L2-garbage", "L3-bitflip"])
def test_L2_L3_damaged_entry_is_recomputed_not_returned(tmp_path, how):
    path = str(tmp_path / "bold.nii.gz")
    nib.save(run_img(t=6), path)
    cache = str(tmp_path / "cache")
    expected = _fit(NiftiMasker, path, cache)
    (entry,) = _entries(cache)
    _damage(entry, how)
    with pytest.warns(NimaskCacheWarning, match="recomputed"):
        got = _fit(NiftiMasker, path, cache)
    np.testing.assert_array_equal(got, expected)
    with warnings.catch_warnings():  # healed: the next hit is clean
        warnings.simplefilter("error", NimaskCacheWarning)
        np.testing.assert_array_equal(_fit(NiftiMasker, path, cache), expected)


def test_L3_bitflip_goes_undetected_without_the_checksum(tmp_path):
    """Documents why the checksum is needed: joblib alone returns the flipped numbers."""
    import joblib

    mem = joblib.Memory(str(tmp_path / "plain"), verbose=0)
    func = mem.cache(lambda x: np.full(64, x, dtype=np.float64))
    expected = func(1.5)
    (entry,) = _entries(tmp_path / "plain")
    _damage(entry, "bitflip")
    assert not np.array_equal(func(1.5), expected)


def test_L6_processes_computing_the_same_entry(tmp_path):
    """L6: several processes on a cold cache all get the right numbers."""
    import multiprocessing as mp

    path = str(tmp_path / "bold.nii.gz")
    nib.save(run_img(t=5), path)
    cache = str(tmp_path / "cache")
    expected = _fit(NiftiMasker, path, None)
    ctx = mp.get_context("fork")
    with ctx.Pool(3) as pool:
        results = pool.starmap(_fit, [(NiftiMasker, path, cache)] * 3)
    for got in results:
        np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(_fit(NiftiMasker, path, cache), expected)


def test_L8_location_is_a_file(tmp_path):
    location = tmp_path / "a_file"
    location.write_text("x")
    with raises(CacheError, OSError, "memory", str(location)):
        NiftiMasker(mask_img(), memory=str(location)).fit()


def test_L8_read_only_location(tmp_path):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root can write to a read-only folder")
    location = tmp_path / "ro"
    location.mkdir()
    os.chmod(location, 0o500)
    try:
        with raises(CacheError, OSError, "memory", str(location)):
            NiftiMasker(mask_img(), memory=str(location)).fit()
    finally:
        os.chmod(location, 0o700)


@pytest.mark.parametrize("location", ["/proc/nope", "/proc/self/nope/cache"])
def test_E7_uncreatable_cache_location_fails_at_fit(location):
    """E7: nilearn fails on the first cached call with a bare FileNotFoundError."""
    with pytest.raises((CacheError, ParameterError)) as info:
        NiftiMasker(mask_img(), memory=location).fit()
    assert "memory" in str(info.value)


def test_L9_version_is_part_of_the_key(tmp_path, monkeypatch):
    """L9: a new nimask version never reuses an entry written by another version."""
    import nimask

    path = str(tmp_path / "bold.nii.gz")
    nib.save(run_img(t=5), path)
    cache = str(tmp_path / "cache")
    _fit(NiftiMasker, path, cache)
    assert len(_entries(cache)) == 1
    monkeypatch.setattr(nimask, "__version__", "99.0")
    _fit(NiftiMasker, path, cache)
    assert len(_entries(cache)) == 2


_DISK_FULL_SCRIPT = r"""
import json, resource, signal, sys, warnings
import numpy as np, nibabel as nib
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
from nimask.maskers import NiftiMasker
img_path, cache, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
mask = nib.Nifti1Image(np.ones((7, 8, 9), np.uint8), np.diag([2.0, 2.0, 2.0, 1.0]))
expected = NiftiMasker(mask).fit_transform(img_path)
hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))  # soft limit: lifted again below
with warnings.catch_warnings(record=True) as rec:
    warnings.simplefilter("always")
    got = NiftiMasker(mask, memory=cache).fit_transform(img_path)
resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
assert np.array_equal(got, expected)
print("OK" + json.dumps([[w.category.__name__, str(w.message)] for w in rec]))
"""


@pytest.mark.slow
def test_L4_disk_full_while_writing_an_entry_still_returns_the_result(tmp_path):
    """L4: with writes failing (RLIMIT_FSIZE) the result is returned, the warning says why, no temp files stay."""
    import subprocess
    import sys

    resource = pytest.importorskip("resource")
    del resource
    path = str(tmp_path / "bold.nii")
    nib.save(run_img(t=40), path)
    script = tmp_path / "full.py"
    script.write_text(_DISK_FULL_SCRIPT)
    proc = subprocess.run([sys.executable, str(script), path, str(tmp_path / "cache"), "2048"],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(__import__("sys").path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("OK")
    caught = json.loads(proc.stdout[2:])
    cache_warnings = [text for cat, text in caught if "cache" in cat.lower()]
    # one accurate warning (the OS error, not joblib's "race condition"), no half-written files
    assert len(cache_warnings) == 1, caught
    assert cache_warnings[0].startswith("The result could not be written to the cache")
    assert "File too large" in cache_warnings[0] and "race condition" not in cache_warnings[0]
    assert [cat for cat, text in caught if text == cache_warnings[0]] == ["NimaskCacheWarning"]
    leftovers = [f for _, _, files in os.walk(tmp_path / "cache") for f in files
                 if f.startswith(("output.pkl.", "metadata.json."))]
    assert leftovers == []


def test_L4_warnings_of_a_cached_computation_are_given_again_on_a_hit_and_strict_filters_refuse(tmp_path):
    """A cache hit gives the warnings of the computation it stores; "error" filters refuse every time."""
    from nimask.exceptions import NimaskNonFiniteWarning

    data = np.asarray(run_img(t=6).dataobj, dtype=np.float32).copy()
    data[3, 3, 3, :] = np.nan
    path = str(tmp_path / "nan.nii")
    nib.save(nib.Nifti1Image(data, run_img(t=6).affine), path)
    cache = str(tmp_path / "cache")
    for call in ("computed", "cache hit"):  # the cached answer warns as the computed one did
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            warnings.simplefilter("ignore", FutureWarning)
            _fit(NiftiMasker, path, cache)
        assert [w.category for w in rec] == [NimaskNonFiniteWarning], (call, [str(w.message) for w in rec])
        assert "6 NaN/inf values" in str(rec[0].message)
    assert len(_entries(cache)) >= 1
    strict = str(tmp_path / "strict")
    for _ in range(2):  # the refused signals are not stored: the second call is refused too
        with warnings.catch_warnings():
            warnings.simplefilter("error", NimaskNonFiniteWarning)
            with pytest.raises(NimaskNonFiniteWarning):
                _fit(NiftiMasker, path, strict)


def test_L5_stale_temporary_files_of_killed_writers_are_swept(tmp_path):
    """L5: half-written entry files older than an hour are removed when the cache is first used."""
    import time

    from nimask.maskers import _cache as _base

    path = str(tmp_path / "bold.nii")
    nib.save(run_img(t=5), path)
    cache = tmp_path / "cache"
    folder = cache / "joblib" / "nimask" / "maskers" / "_base" / "_run" / "0123abcd"
    folder.mkdir(parents=True)
    stale = folder / "output.pkl.5d9b4c0e1f2a4b6c8d7e9f0a1b2c3d4e-4242-139871234567"
    stale_meta = folder / "metadata.json.0e1f2a4b6c8d7e9f0a1b2c3d4e5d9b4c-4242-139871234567"
    fresh = folder / "output.pkl.aa9b4c0e1f2a4b6c8d7e9f0a1b2c3d4e-4243-139871234567"
    keep = folder / "output.pkl"  # a finished entry is never touched, however old
    for f in (stale, stale_meta, fresh, keep):
        f.write_bytes(b"partial")
    old = time.time() - 2 * _base.STALE_TEMP_SECONDS
    for f in (stale, stale_meta, keep):
        os.utime(f, (old, old))
    _base._SWEPT.discard(str(cache))
    _fit(NiftiMasker, path, str(cache))
    assert not stale.exists() and not stale_meta.exists()
    assert fresh.exists() and keep.exists()
    assert _base.sweep_stale_temps(str(cache), older_than=-1) == 1  # the fresh one, when asked
