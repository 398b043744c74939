"""Read-ahead: decode a run's first volumes while the estimator is still fitting.

``fit_transform`` of a region masker first fits (load the atlas, resample it, factor the
maps: up to a second for a 1 mm probabilistic atlas) and only then reads the run. The fit
needs nothing but the run's header, so the two can overlap: :func:`read_ahead` starts
decoding the run in a background thread (isal releases the GIL) while the fit runs, and the
transform's :func:`nimask._nifti_io.iter_volume_chunks` takes those chunks instead of
decoding them again. The chunks waiting for the transform are bounded by ``max_bytes``
(default :data:`READ_AHEAD_BYTES`); the decoder waits when the bound is reached.

Only a read of the same file, unchanged (size, mtime, inode), with the same chunking takes
the decoded chunks, once; any other read decodes the file itself, as without read-ahead.
An error of the decoder (a truncated file, say) is raised in the reader that takes the
chunks, where the same read would have raised it. Leaving the context stops the decoder.
"""
from __future__ import annotations

import collections
import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["READ_AHEAD_BYTES", "read_ahead", "claim"]

READ_AHEAD_BYTES = 256 << 20  # decoded bytes waiting for the transform, at most

_registry: dict[tuple, _ReadAhead] = {}
_registry_lock = threading.Lock()


def _file_key(path: str, layout: tuple) -> tuple | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino) + layout


class _ReadAhead:
    """One background decoder of one file, its chunks handed over at most once."""

    def __init__(self, img: Any, step: int, max_bytes: int) -> None:
        self.img, self.step, self.max_bytes = img, step, int(max_bytes)
        self.items: collections.deque = collections.deque()
        self.buffered = 0
        self.done = False
        self.stopped = False
        self.error: BaseException | None = None
        self.taken = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._produce, name="nimask-read-ahead", daemon=True)
        self.thread.start()

    def _produce(self) -> None:
        from ._nifti_io import _file_chunks

        try:
            for item in _file_chunks(self.img, self.step):
                nbytes = item[1].nbytes
                with self.cond:
                    while self.items and self.buffered + nbytes > self.max_bytes and not self.stopped:
                        self.cond.wait()
                    if self.stopped:
                        return
                    self.items.append(item)
                    self.buffered += nbytes
                    self.cond.notify_all()
        except BaseException as exc:  # handed to the reader that takes the chunks
            with self.cond:
                self.error = exc
        finally:
            with self.cond:
                self.done = True
                self.cond.notify_all()

    def chunks(self) -> Iterator[tuple[int, Any]]:
        """The decoded chunks in order (waiting for the decoder), then its error if it had one.

        The reader owns the decoder from here: when it stops reading (done, an error, or the
        generator closed), the decoder stops."""
        try:
            while True:
                with self.cond:
                    while not self.items and not self.done:
                        self.cond.wait()
                    if self.items:
                        item = self.items.popleft()
                        self.buffered -= item[1].nbytes
                        self.cond.notify_all()
                    elif self.error is not None:
                        raise self.error
                    else:
                        return
                yield item
        finally:
            self.halt()

    def halt(self) -> None:
        """Stop the decoder and drop the chunks it decoded (returns at once)."""
        with self.cond:
            self.stopped = True
            self.items.clear()
            self.buffered = 0
            self.cond.notify_all()


def _layout(src: tuple, step: int) -> tuple:
    _, compressed, offset, shape, dtype, slope, inter = src
    return (bool(compressed), int(offset), tuple(shape), dtype.str, repr(slope), repr(inter), int(step))


@contextlib.contextmanager
def read_ahead(imgs: Any, max_bytes: int | None = None) -> Iterator[None]:
    """Decode ``imgs`` (a 4D NIfTI file or a nibabel image backed by one) in the background
    for a later :func:`~nimask._nifti_io.iter_volume_chunks` of it in this context.

    Anything else (a list, an in-memory image, a 3D image, ``None``) makes the context a no-op.
    """
    from ._nifti_io import _as_image, _file_source, chunk_step

    max_bytes = READ_AHEAD_BYTES if max_bytes is None else int(max_bytes)
    try:
        img = _as_image(imgs)  # a path or a nibabel image; anything else is refused
    except Exception:  # not one image, or an unreadable file (the fit reports it)
        img = None
    src = None if img is None or len(img.shape) != 4 else _file_source(img)
    if src is None or max_bytes < 1:
        yield
        return
    step = chunk_step(img, src)  # the chunking of a transform's read
    key = _file_key(src[0], _layout(src, step))
    with _registry_lock:
        if key is None or key in _registry:  # another read-ahead of this file runs: leave it alone
            mine = None
        else:
            mine = _registry[key] = _ReadAhead(img, step, max_bytes)
    try:
        yield
    finally:
        if mine is not None:
            with _registry_lock:  # no claim after this: claims look the file up under the same lock
                _registry.pop(key, None)
                taken = mine.taken
            if not taken:  # taken: the reader (maybe in another thread) finishes it and stops the decoder
                mine.halt()
                mine.thread.join()


def claim(src: tuple, step: int) -> Iterator[tuple[int, Any]] | None:
    """The read-ahead chunks of the file ``src`` (``_file_source``) read by ``step`` volumes,
    or None when no read-ahead of it runs (or its chunks were taken already)."""
    if not _registry:
        return None
    key = _file_key(src[0], _layout(src, step))
    with _registry_lock:
        ahead = _registry.get(key)
        if ahead is None or ahead.taken:
            return None
        ahead.taken = True
    return ahead.chunks()
