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
