"""Progress reports and cancellation for long engine calls.

Every long call takes `progress` (a callable receiving a `Progress`) and `cancel` (a
`CancelToken`); both default to no-ops. Cancellation is raised as `Cancelled` at the next
progress tick, so tests run the same code synchronously.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Protocol


class Cancelled(Exception):
    """The user asked to stop; work committed so far is kept."""


@dataclass(frozen=True)
class Progress:
    stage: str          # "discover", "hash", "embed", "index", "group"
    done: int
    total: int          # 0 when unknown
    rate: float = 0.0   # items per second in this stage


class ProgressCallback(Protocol):
    def __call__(self, event: Progress) -> None: ...


def null_progress(event: Progress) -> None:
    return None


class CancelToken:
    """Thread-safe flag; `check()` raises `Cancelled` once `cancel()` was called."""

    def __init__(self):
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled()


class Reporter:
    """Wraps a callback for one stage: computes the rate and checks cancellation."""

    def __init__(self, stage: str, total: int, progress: Callable | None, cancel: CancelToken | None):
        self.stage, self.total = stage, total
        self._progress = progress or null_progress
        self._cancel = cancel
        self._t0 = time.monotonic()
        self.done = 0

    def tick(self, n: int = 1) -> None:
        self.done += n
        if self._cancel is not None:
            self._cancel.check()
        elapsed = time.monotonic() - self._t0
        self._progress(Progress(self.stage, self.done, self.total, self.done / elapsed if elapsed > 0 else 0.0))
        if self._cancel is not None:
            self._cancel.check()

    def start(self) -> None:
        if self._cancel is not None:
            self._cancel.check()
        self._progress(Progress(self.stage, 0, self.total, 0.0))
