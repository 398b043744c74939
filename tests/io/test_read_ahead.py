"""Read-ahead (``nimask._read_ahead``): decoding a run while the masker fits gives the same
signals, the same errors, bounded memory, and never serves a changed file."""
from __future__ import annotations

import gzip
import threading
import time

import nibabel as nib
import numpy as np
import pytest

import nimask._read_ahead as read_ahead_mod
from nimask._nifti_io import iter_volume_chunks
from nimask._read_ahead import read_ahead
from nimask.exceptions import NimaskError
from nimask.maskers import NiftiLabelsMasker, NiftiMapsMasker, NiftiSpheresMasker

SHAPE = (12, 13, 14, 40)


@pytest.fixture
def run_file(tmp_path):
    rng = np.random.default_rng(0)
    data = (rng.standard_normal(SHAPE) * 50 + 1000).astype(np.int16)
    path = tmp_path / "bold.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([3.0, 3.0, 3.0, 1.0])), path)
    return str(path), data


@pytest.fixture
def small_chunks(monkeypatch):
    """A few volumes per chunk, so a run has many chunks."""
    import nimask._nifti_io as nifti_io

    monkeypatch.setattr(nifti_io, "_DEFAULT_CHUNK_BYTES", 3 * int(np.prod(SHAPE[:3])) * 2)


@pytest.fixture
def claims(monkeypatch):
    """Record what each ``claim`` returned (True: read-ahead chunks were served)."""
    import nimask._nifti_io as nifti_io

    served = []
    original = nifti_io.claim

    def spy(src, step):
        result = original(src, step)
        served.append(result is not None)
        return result

    monkeypatch.setattr(nifti_io, "claim", spy)
    return served


def _maskers():
    labels = (np.arange(np.prod(SHAPE[:3])).reshape(SHAPE[:3]) % 5).astype(np.int16)
    maps = np.random.default_rng(1).random(SHAPE[:3] + (4,)).astype(np.float32)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    return [
        lambda: NiftiLabelsMasker(nib.Nifti1Image(labels, affine), standardize="zscore_sample", detrend=True),
        lambda: NiftiMapsMasker(nib.Nifti1Image(maps, affine)),
        lambda: NiftiSpheresMasker([(10.0, 12.0, 14.0), (20.0, 20.0, 20.0)], radius=5.0),
    ]


@pytest.mark.parametrize("make", _maskers(), ids=["labels", "maps", "spheres"])
def test_fit_transform_takes_the_read_ahead_and_gives_the_same_signals(run_file, small_chunks, claims, make,
                                                                       monkeypatch):
    path, _ = run_file
    with_ahead = make().fit_transform(path)
    assert True in claims
    monkeypatch.setattr(read_ahead_mod, "READ_AHEAD_BYTES", 0)  # off
    claims.clear()
    without = make().fit_transform(path)
    assert True not in claims
    np.testing.assert_array_equal(with_ahead, without)
    assert not read_ahead_mod._registry  # nothing left behind


def test_chunks_equal_a_plain_read_and_memory_is_bounded(run_file, small_chunks, monkeypatch):
    path, data = run_file
    plain = list(iter_volume_chunks(path))
    peaks = []
    original = read_ahead_mod._ReadAhead._produce

    def watched(self):
        def watch():
            while not self.done:
                peaks.append(self.buffered)
                time.sleep(0.001)

        threading.Thread(target=watch, daemon=True).start()
        original(self)

    monkeypatch.setattr(read_ahead_mod._ReadAhead, "_produce", watched)
    chunk_bytes = plain[0][1].nbytes
    with read_ahead(path, max_bytes=2 * chunk_bytes):
        time.sleep(0.2)  # the decoder fills the bound and waits
        ahead = list(iter_volume_chunks(path))
    assert len(ahead) == len(plain) > 5
    for (t0, a), (t1, b) in zip(ahead, plain, strict=True):
        assert t0 == t1
        np.testing.assert_array_equal(a, b)
    assert peaks and max(peaks) <= 2 * chunk_bytes
    np.testing.assert_array_equal(np.concatenate([c for _, c in ahead], axis=3), data)


def test_chunks_are_served_once(run_file, small_chunks, claims):
    path, _ = run_file
    with read_ahead(path):
        first = list(iter_volume_chunks(path))
        second = list(iter_volume_chunks(path))
    assert claims == [True, False]
    for (_, a), (_, b) in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_unused_read_ahead_stops(run_file, small_chunks):
    path, _ = run_file
    before = threading.active_count()
    with read_ahead(path, max_bytes=1):
        pass
    assert not read_ahead_mod._registry
    assert threading.active_count() == before


def test_other_chunking_or_changed_file_decodes_itself(run_file, small_chunks, claims):
    path, data = run_file
    with read_ahead(path):
        list(iter_volume_chunks(path, chunk_size=7))  # another chunking
        assert claims == [False]
        new = data.copy()
        new[..., 0] += 1
        time.sleep(0.01)
        nib.save(nib.Nifti1Image(new, np.diag([3.0, 3.0, 3.0, 1.0])), path)  # the file changes
        chunks = list(iter_volume_chunks(path))
    assert claims == [False, False]
    np.testing.assert_array_equal(chunks[0][1][..., 0], new[..., 0])


def test_decoder_error_is_raised_where_the_read_would_raise(run_file, small_chunks, tmp_path):
    path, _ = run_file
    raw = gzip.decompress(open(path, "rb").read())
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(gzip.compress(raw[: len(raw) * 2 // 3]))
    with pytest.raises(NimaskError) as plain:
        NiftiLabelsMasker(_label_img()).fit_transform(str(cut))
    with pytest.raises(NimaskError) as ahead, read_ahead(str(cut)):
        list(iter_volume_chunks(str(cut)))
    assert type(ahead.value) is type(plain.value)
    assert str(ahead.value) == str(plain.value)


def _label_img():
    labels = (np.arange(np.prod(SHAPE[:3])).reshape(SHAPE[:3]) % 5).astype(np.int16)
    return nib.Nifti1Image(labels, np.diag([3.0, 3.0, 3.0, 1.0]))


def test_not_for_in_memory_or_3d_images(run_file):
    path, data = run_file
    with read_ahead(nib.Nifti1Image(data, np.eye(4))):
        assert not read_ahead_mod._registry
    with read_ahead([path, path]):
        assert not read_ahead_mod._registry
    with read_ahead(None):
        assert not read_ahead_mod._registry


def test_a_reader_in_another_thread_gets_every_chunk_after_the_context_ends(run_file, small_chunks):
    """The context that started the read-ahead ends while another thread is reading its chunks: that reader
    still gets the whole run (nothing truncated), and the decoder stops when it is done."""
    path, data = run_file
    started, got = threading.Event(), []

    def reader():
        chunks = iter_volume_chunks(path)
        got.append(next(chunks))
        started.set()
        time.sleep(0.1)  # the context ends meanwhile
        got.extend(chunks)

    with read_ahead(path, max_bytes=1):
        worker = threading.Thread(target=reader)
        worker.start()
        assert started.wait(10)
    worker.join(10)
    assert not worker.is_alive()
    np.testing.assert_array_equal(np.concatenate([c for _, c in got], axis=3), data)


def test_a_reader_that_stops_early_stops_the_decoder(run_file, small_chunks):
    path, _ = run_file
    with read_ahead(path, max_bytes=1):
        ahead = read_ahead_mod._registry[next(iter(read_ahead_mod._registry))]
        chunks = iter_volume_chunks(path)
        next(chunks)
        chunks.close()  # the reader gives up (an error in the stream, say)
        ahead.thread.join(10)
        assert not ahead.thread.is_alive() and not ahead.items
