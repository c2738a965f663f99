"""The current request's deadline, visible to code that runs it (batching, servables).

The gRPC front sets it from the client's deadline and the REST front from
`--rest_api_timeout_in_ms`; a request whose deadline passes while it waits
(in a batching queue, behind a lock) is answered DEADLINE_EXCEEDED instead
of being run for nobody.
"""

from __future__ import annotations

import contextlib
import threading
import time

from lepton_tf.server.errors import deadline_exceeded

_local = threading.local()


@contextlib.contextmanager
def scope(seconds: float | None):
    """Sets the deadline `seconds` from now (None: no deadline) for this thread."""
    previous = getattr(_local, "at", None)
    _local.at = None if seconds is None else time.monotonic() + seconds
    try:
        yield
    finally:
        _local.at = previous


def current() -> float | None:
    """The `time.monotonic()` deadline of this thread's request, or None."""
    return getattr(_local, "at", None)


def check(at: float | None = None) -> None:
    """Raises DEADLINE_EXCEEDED if the deadline (`at`, default this thread's) passed."""
    at = current() if at is None else at
    if at is not None and time.monotonic() >= at:
        raise deadline_exceeded()
