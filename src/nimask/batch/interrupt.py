"""Graceful SIGINT / SIGTERM for a batch (catalogue B5).

In the coordinating process, :class:`Interrupter` turns the first SIGINT or SIGTERM into a
:class:`~nimask.exceptions.BatchInterrupted` raised in the main thread, except inside
:meth:`Interrupter.hold` (the manifest bookkeeping of a finished run), where it is raised
when the section ends. A run cut short aborts its atomic write (the temporary file is
removed, see :mod:`~nimask.batch.atomic`); the outputs it had already renamed into place
are redone by the next run, which owns them through the manifest's ``started`` record.

Local pool workers (:func:`worker_init`) ignore SIGINT (a terminal's Ctrl-C reaches the
whole process group: the coordinator decides); on SIGTERM they remove the temporary file of
the write in progress and exit at once; the coordinator stops them with :func:`stop_processes`.
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

from ..exceptions import BatchInterrupted

__all__ = ["Interrupter", "worker_init", "run_in_worker", "stop_processes", "SIGNALS"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupter:
    """Context manager: SIGINT / SIGTERM raise :class:`BatchInterrupted` (once) meanwhile.

    Handlers are installed only in the main thread (Python allows no other); elsewhere
    this does nothing. Later signals are ignored while the batch stops.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._hold = 0
        self._pending = False
        self._old: dict = {}

    def __enter__(self) -> Interrupter:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)
        self._old.clear()

    def _handler(self, signum: int, frame) -> None:
        if self.signum is not None:  # already stopping
            return
        self.signum = signum
        if self._hold:
            self._pending = True
        else:
            raise BatchInterrupted(signum)

    def check(self) -> None:
        """Raise :class:`BatchInterrupted` if a signal arrived: the handler's own exception is
        lost when the signal lands in a ``__del__`` ("Exception ignored in ...")."""
        if self.signum is not None and not self._hold:
            raise BatchInterrupted(self.signum)

    @contextlib.contextmanager
    def hold(self):
        """A section a signal does not cut: it is raised when the section ends."""
        self._hold += 1
        try:
            yield
        finally:
            self._hold -= 1
        if self._pending and not self._hold:
            self._pending = False
            raise BatchInterrupted(self.signum)


def _worker_sigterm(signum: int, frame) -> None:
    # Remove the write in progress and exit at once. Raising here instead could be swallowed
    # when the signal lands in a __del__ ("Exception ignored in ...") and the worker would go on.
    from .atomic import remove_in_progress

    remove_in_progress()
    os._exit(128 + signum)


def worker_init() -> None:
    """Initializer of the local pool's workers: ignore SIGINT, abort and exit on SIGTERM."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_sigterm)


def run_in_worker(task) -> dict:
    """:func:`~nimask.batch.job.run_task` in a pool worker (which exits on SIGTERM, see :func:`worker_init`)."""
    from .job import run_task

    return run_task(task)


def stop_processes(processes, timeout: float = 10.0) -> None:
    """SIGTERM ``processes`` (``multiprocessing.Process``), wait up to ``timeout`` s, then SIGKILL."""
    for p in processes:
        p.terminate()
    deadline = time.monotonic() + timeout
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.is_alive():  # pragma: no cover - a worker stuck in C code
            p.kill()
            p.join()
