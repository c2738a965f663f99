"""The current request's deadline, visible to code that runs it (batching, servables).

The gRPC front sets it from the client's deadline (and marks it cancelled
when the client goes away) and the REST front from `--rest_api_timeout_in_ms`
(counted from the request's arrival, so time spent queued counts); a request
whose deadline passes or that is cancelled while it waits (in a thread pool,
a batching queue, behind a lock, between chunks of work) is answered
DEADLINE_EXCEEDED / CANCELLED instead of being run for nobody.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent import futures

import grpc

from lepton_tf.server.errors import ServingError, deadline_exceeded

_local = threading.local()


@contextlib.contextmanager
def scope(seconds: float | None, cancelled: threading.Event | None = None):
    """Sets the deadline `seconds` from now (None: no deadline) for this thread."""
    with until(None if seconds is None else time.monotonic() + seconds, cancelled):
        yield


@contextlib.contextmanager
def until(at: float | None, cancelled: threading.Event | None = None):
    """Sets the `time.monotonic()` deadline `at` (None: none) and a cancel flag."""
    previous = getattr(_local, "at", None), getattr(_local, "cancelled", None)
    _local.at, _local.cancelled = at, cancelled
    try:
        yield
    finally:
        _local.at, _local.cancelled = previous


def current() -> float | None:
    """The `time.monotonic()` deadline of this thread's request, or None."""
    return getattr(_local, "at", None)


def current_cancel() -> threading.Event | None:
    """The cancel flag of this thread's request (set when its client left), or None."""
    return getattr(_local, "cancelled", None)


def check(at: float | None = None, cancelled: threading.Event | None = None) -> None:
    """Raises CANCELLED if the request was cancelled, DEADLINE_EXCEEDED if its
    deadline (`at`, default this thread's) passed."""
    cancelled = current_cancel() if cancelled is None else cancelled
    if cancelled is not None and cancelled.is_set():
        raise ServingError(grpc.StatusCode.CANCELLED, "Request cancelled by the client.")
    at = current() if at is None else at
    if at is not None and time.monotonic() >= at:
        raise deadline_exceeded()


def remaining() -> float | None:
    """Seconds left to this thread's deadline (at least 0), or None without one."""
    at = current()
    return None if at is None else max(at - time.monotonic(), 0.0)


@contextlib.contextmanager
def holding(lock: threading.Lock):
    """Holds `lock`, waiting for it at most until this thread's deadline.

    Raises:
        ServingError: DEADLINE_EXCEEDED if the deadline passes first (a request
            queued behind another is answered then, not when the lock frees).
    """
    left = remaining()
    if not lock.acquire(timeout=-1 if left is None else left):
        raise deadline_exceeded()
    try:
        yield
    finally:
        lock.release()


def result(future):
    """`future.result()`, waiting at most until this thread's deadline.

    Raises:
        ServingError: DEADLINE_EXCEEDED if the deadline passes first (the future
            is cancelled if it has not started; a started one stops at its own
            deadline checks).
    """
    try:
        return future.result(timeout=remaining())
    except futures.TimeoutError:
        future.cancel()
        raise deadline_exceeded() from None
