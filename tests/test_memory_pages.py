"""nimask's entry points allocate without numpy's transparent-huge-page advice (``_memory``)."""
from __future__ import annotations

import threading

import nibabel as nib
import numpy as np
import pytest

from nimask import _memory
from nimask.maskers import NiftiLabelsMasker, NiftiMasker


class _Switch:
    """Stands in for numpy's setter: records every call, returns the previous value."""

    def __init__(self, value: bool = True):
        self.value = value
        self.calls: list[bool] = []

    def __call__(self, enabled: bool) -> bool:
        self.calls.append(bool(enabled))
        old, self.value = self.value, bool(enabled)
        return old


@pytest.fixture
def switch(monkeypatch):
    fake = _Switch(True)
    monkeypatch.setattr(_memory, "_numpy_switch", lambda: fake)
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    return fake


def test_real_numpy_setting_is_restored():
    setter = _memory._numpy_switch()
    if setter is None:
        pytest.skip("this numpy has no huge-page switch")
    before = setter(True)
    try:
        with _memory.small_pages():
            inside = setter(False)  # returns the value set by small_pages
        after = setter(True)
        assert inside is False or ("NUMPY_MADVISE_HUGEPAGE" in __import__("os").environ)
        assert after is True
    finally:
        setter(before)


def test_context_turns_off_and_restores(switch):
    with _memory.small_pages():
        assert switch.value is False
        with _memory.small_pages():  # nested: no second switch
            assert switch.value is False
        assert switch.value is False
    assert switch.value is True
    assert switch.calls == [False, True]


def test_previous_false_stays_false(switch):
    switch.value = False
    with _memory.small_pages():
        pass
    assert switch.value is False


def test_restored_after_an_error(switch):
    with pytest.raises(RuntimeError), _memory.small_pages():
        raise RuntimeError("boom")
    assert switch.value is True


def test_user_environment_wins(switch, monkeypatch):
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    with _memory.small_pages():
        assert switch.value is True
    assert switch.calls == []


def test_concurrent_calls_restore_once(switch):
    inside = threading.Barrier(4)
    seen = []

    def work():
        with _memory.small_pages():
            inside.wait()
            seen.append(switch.value)
            inside.wait()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen == [False] * 4
    assert switch.value is True
    assert switch.calls == [False, True]


def _img(shape=(5, 6, 7, 12)):
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32) + 10
    return nib.Nifti1Image(data, np.eye(4))


@pytest.mark.parametrize("make", [
    lambda: NiftiMasker(),
    lambda: NiftiLabelsMasker(nib.Nifti1Image((np.arange(5 * 6 * 7).reshape(5, 6, 7) % 4).astype(np.int16), np.eye(4))),
])
def test_maskers_run_without_huge_pages(switch, monkeypatch, make):
    import nimask.pipeline as pipeline

    states = []
    original = pipeline._Streamer.__init__

    def spy(self, *args, **kwargs):
        states.append(switch.value)
        original(self, *args, **kwargs)

    monkeypatch.setattr(pipeline._Streamer, "__init__", spy)
    masker = make()
    out = masker.fit_transform(_img())
    assert out.shape[0] == 12
    assert states and all(s is False for s in states)
    assert switch.value is True


def test_inverse_transform_runs_without_huge_pages(switch, monkeypatch):
    import nimask.maskers._inverse as inverse

    states = []
    original = inverse.inverse_image

    def spy(*args, **kwargs):
        states.append(switch.value)
        return original(*args, **kwargs)

    monkeypatch.setattr(NiftiMasker, "_inverse_image", staticmethod(spy))
    masker = NiftiMasker().fit(_img())
    masker.inverse_transform(np.zeros((3, masker.n_elements_), np.float32))
    assert states == [False]
    assert switch.value is True
