"""Graceful SIGINT / SIGTERM for a batch (catalogue B5).

A signal handler here only *records* the signal; it never raises. An exception raised from
a handler lands wherever the main thread happens to be (inside ``threading.Condition.wait``,
a ``__del__``, a ``finally`` clause...), where it can corrupt a lock, be swallowed, or escape
the cleanup meant to catch it. Instead the code polls at known safe points:

* The coordinating process enters an :class:`Interrupter`: the first SIGINT or SIGTERM sets
  :attr:`Interrupter.signum`. The coordinator waits for results with timeouts
  (:data:`POLL_S`) and calls :meth:`Interrupter.check` between them; the per-run job calls
  :func:`raise_if_stopping` between chunks of its read loop and before its writes (in the
  single-process path the run executes in the coordinator's main thread). Both raise
  :class:`~nimask.exceptions.BatchInterrupted`, synchronously. A run cut short removes the
  outputs it had already renamed into place, and its atomic write in progress removes its
  temporary file (:mod:`~nimask.batch.atomic`): a run leaves all its outputs or none.
* Local pool workers (:func:`worker_init`) ignore SIGINT (a terminal's Ctrl-C reaches the
  whole process group: the coordinator decides). On SIGTERM (sent by :func:`stop_processes`)
  an idle worker exits at once; a busy one records the signal, its run stops at the next
  :func:`raise_if_stopping` as above, and :func:`run_in_worker` exits the process. If the run
  does not get there within :data:`WORKER_GRACE_S` (stuck in a long C call), a timer removes
  the temporary file of the write in progress and exits the process from its handler (not an
  exception: ``os._exit``).
"""
from __future__ import annotations

import os
import signal
import threading
import time

from ..exceptions import BatchInterrupted

__all__ = ["Interrupter", "raise_if_stopping", "worker_init", "run_in_worker", "stop_processes", "SIGNALS",
           "POLL_S", "WORKER_GRACE_S"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)
POLL_S = 0.05  # how long a coordinator's wait lasts before it looks at the recorded signal again
WORKER_GRACE_S = 5.0  # a busy pool worker's time to reach a check point after SIGTERM (< stop_processes' 10 s)

_active: Interrupter | None = None  # the Interrupter of this process's main thread, while entered
_worker_signum: int | None = None  # a pool worker's recorded SIGTERM
_worker_busy = False  # a pool worker is running a task


class Interrupter:
    """Context manager recording the first SIGINT / SIGTERM that arrives meanwhile.

    The handler only sets :attr:`signum` (later signals are ignored while the batch stops);
    :meth:`check` and :func:`raise_if_stopping` turn it into
    :class:`~nimask.exceptions.BatchInterrupted` where they are called. Handlers are installed
    only in the main thread (Python allows no other); elsewhere this does nothing.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._old: dict = {}
        self._previous: Interrupter | None = None

    def __enter__(self) -> Interrupter:
        global _active
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
            self._previous, _active = _active, self
        return self

    def __exit__(self, *exc) -> None:
        global _active
        if self._old:
            for sig, handler in self._old.items():
                signal.signal(sig, handler)
            self._old.clear()
            _active, self._previous = self._previous, None

    def _handler(self, signum: int, frame) -> None:
        # Record only: no exception, no lock (the main thread may hold any lock right now).
        if self.signum is None:
            self.signum = signum

    @property
    def stopping(self) -> bool:
        """Whether a signal arrived."""
        return self.signum is not None

    def check(self) -> None:
        """Raise :class:`~nimask.exceptions.BatchInterrupted` if a signal arrived (a safe point)."""
        if self.signum is not None:
            raise BatchInterrupted(self.signum)


def raise_if_stopping() -> None:
    """Raise :class:`~nimask.exceptions.BatchInterrupted` if this process was asked to stop.

    A check point for the per-run job (:func:`~nimask.batch.job.extract_run`): it stops a run
    in the main thread of a coordinator inside an :class:`Interrupter` (the single-process
    path) or of a local pool worker after SIGTERM; elsewhere (e.g. a Dask worker's threads,
    whose running task finishes) it does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    signum = _worker_signum
    if signum is None and _active is not None:
        signum = _active.signum
    if signum is not None:
        raise BatchInterrupted(signum)


def _worker_sigterm(signum: int, frame) -> None:
    global _worker_signum
    if _worker_signum is not None:
        return
    _worker_signum = signum
    if not _worker_busy:  # between tasks: nothing to clean up
        os._exit(128 + signum)
    # the run stops at its next check point (run_in_worker then exits); this timer is the fallback
    signal.setitimer(signal.ITIMER_REAL, WORKER_GRACE_S)


def _worker_deadline(signum: int, frame) -> None:
    from .atomic import remove_in_progress

    remove_in_progress()
    os._exit(128 + (_worker_signum or signal.SIGTERM))


def worker_init() -> None:
    """Initializer of the local pool's workers: ignore SIGINT, stop on SIGTERM (see the module)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _worker_deadline)
    signal.signal(signal.SIGTERM, _worker_sigterm)


def run_in_worker(task) -> dict:
    """:func:`~nimask.batch.job.run_task` in a pool worker; the worker exits once it was sent SIGTERM.

    A run stopped by SIGTERM has removed its outputs; a run that finished meanwhile keeps
    them but is not recorded (the next batch redoes it). Either way the process exits rather
    than take the next task.
    """
    global _worker_busy
    from .job import run_task

    _worker_busy = True
    try:
        rec = run_task(task)
    except BatchInterrupted:
        rec = None
    finally:
        _worker_busy = False
    if _worker_signum is not None:
        os._exit(128 + _worker_signum)
    if rec is None:  # pragma: no cover - BatchInterrupted only comes from a recorded signal
        raise BatchInterrupted(signal.SIGTERM)
    return rec


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
