"""Background jobs: engine calls run in a QThreadPool and report back through Qt signals.

A job is a plain function `fn(progress, cancel) -> result` (the engine's progress callback
and cancel token), so the same code runs synchronously in core tests. Progress events are
throttled to ~20 per second (stage changes and the last event always pass). Nothing is ever
force-killed: `JobRunner.shutdown()` cancels every job and waits for it.
"""
from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from lookalike.core.progress import CancelToken, Cancelled

log = logging.getLogger(__name__)


class JobSignals(QObject):
    progress = Signal(object)      # lookalike.core.progress.Progress
    done = Signal(object)          # the function's result
    failed = Signal(str)           # a message for a person
    cancelled = Signal()
    finished = Signal()            # always, after one of the three above


def describe_error(exc: BaseException) -> str:
    from lookalike.core.bundle import BundleError
    from lookalike.core.decode import DecodeError
    from lookalike.core.library import LibraryError
    if isinstance(exc, (LibraryError, BundleError, DecodeError)):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
    return f"unexpected error: {type(exc).__name__}: {exc}"


class Job(QRunnable):
    MIN_INTERVAL = 0.05

    def __init__(self, fn, name: str = "job"):
        super().__init__()
        self.setAutoDelete(False)
        self.fn, self.name = fn, name
        self.cancel_token = CancelToken()
        self.signals = JobSignals()
        self._last = 0.0
        self._stage = None

    def cancel(self):
        self.cancel_token.cancel()

    def _progress(self, ev):
        now = time.monotonic()
        if ev.stage != self._stage or (ev.total and ev.done >= ev.total) or now - self._last >= self.MIN_INTERVAL:
            self._stage, self._last = ev.stage, now
            self.signals.progress.emit(ev)

    def run(self):
        try:
            self.cancel_token.check()
            result = self.fn(self._progress, self.cancel_token)
        except Cancelled:
            self.signals.cancelled.emit()
        except Exception as exc:   # reported to the window, never lost in a thread
            if not isinstance(exc, OSError):
                log.exception("%s failed", self.name)
            self.signals.failed.emit(describe_error(exc))
        else:
            self.signals.done.emit(result)
        finally:
            self.signals.finished.emit()


class JobRunner(QObject):
    """Starts jobs in its own pool and keeps each alive until its last signal was handled.

    Jobs that change the library (`writes=True`) run one at a time, in the order started, on
    a single writer thread: the window never has two writers, and a write queued behind a
    scan waits for it instead of failing on the library's lock."""
    idle = Signal()
    busy_changed = Signal(bool)

    def __init__(self, parent=None, threads: int = 2):
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(threads)
        self.write_pool = QThreadPool(self)
        self.write_pool.setMaxThreadCount(1)
        self._jobs: list[Job] = []
        self._closed = False

    def start(self, fn, *, name="job", done=None, failed=None, progress=None, cancelled=None,
              finished=None, writes: bool = False) -> Job:
        """Run fn(progress, cancel) on a pool thread. Every slot is connected before the job
        starts (a job can end before `start` returns); `finished` comes after `done`,
        `failed` or `cancelled`, once the pool has forgotten the job."""
        job = Job(fn, name)
        s = job.signals
        for sig, slot in ((s.progress, progress), (s.done, done), (s.failed, failed), (s.cancelled, cancelled)):
            if slot is not None:
                sig.connect(self._guard(slot))
        s.finished.connect(lambda j=job: self._finished(j))
        if finished is not None:
            s.finished.connect(finished)
        self._jobs.append(job)
        if len(self._jobs) == 1:
            self.busy_changed.emit(True)
        (self.write_pool if writes else self.pool).start(job)
        return job

    def _guard(self, slot):
        def call(*args):
            if not self._closed:       # after shutdown, late results are dropped
                slot(*args)
        return call

    def _finished(self, job):
        if job in self._jobs:
            self._jobs.remove(job)
        if not self._jobs:
            self.busy_changed.emit(False)
            self.idle.emit()

    def active(self, name=None) -> list[Job]:
        return [j for j in self._jobs if name is None or j.name == name]

    def is_busy(self) -> bool:
        return bool(self._jobs)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        self._closed = True
        for j in list(self._jobs):
            j.cancel()
        self.pool.clear()
        self.write_pool.clear()
        ok = self.pool.waitForDone(timeout_ms) & self.write_pool.waitForDone(timeout_ms)
        if ok:
            self._jobs.clear()       # all ran or were dropped; their late signals are ignored
        return ok
