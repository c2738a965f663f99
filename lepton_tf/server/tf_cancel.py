"""Stopping a running TF2 call when its request's deadline passes or its client leaves.

TensorFlow can abort a function call mid-run: a `CancellationManager` handed
to the call (`execute_with_cancellation`) stops its executor at the next op,
a `tf.while_loop` included ("Loop execution was cancelled"), within
milliseconds. Eager TensorFlow picks the manager up from
`tensorflow.python.eager.cancellation.context()`, which is one global for the
whole process (`CancellationManagerContext` sets it for every thread at
once), so concurrent requests could not each have their own. `install()`
replaces that lookup by a per-thread one (the thread's own manager, else the
global one); `cancellable()` gives the calling thread a manager and
registers it with one watchdog thread, which calls `start_cancel()` when the
deadline passes or the cancel flag is set. A chat decode of 128 tokens
(1.5 s a row here) then stops at its deadline instead of after its last
token, which no slicing by rows can do for a single row.

TF1 sessions need none of this: `Session::Run` takes the remaining time as
`RunOptions.timeout_in_ms` (`saved_model_servable._SessionRunner`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading
import time

log = logging.getLogger(__name__)

_POLL_S = 0.02  # how often cancel flags are looked at (deadlines wake the watchdog exactly)
_local = threading.local()
_install_lock = threading.Lock()
_installed: bool | None = None  # None: not tried yet


def install() -> bool:
    """Makes TensorFlow's cancellation lookup per-thread (once); True if it could.

    Returns False (and calls then run to their end) when this
    TensorFlow has no `cancellation.context` to hook.
    """
    global _installed
    if _installed is not None:
        return _installed
    with _install_lock:
        if _installed is None:
            try:
                from tensorflow.python.eager import cancellation
                original = cancellation.context

                def per_thread():
                    manager = getattr(_local, "manager", None)
                    return manager if manager is not None else original()
                cancellation.context = per_thread
                _installed = True
            except (ImportError, AttributeError) as e:  # pragma: no cover - another TF
                log.warning("TF calls cannot be cancelled at their deadline: %s", e)
                _installed = False
    return _installed


class _Watchdog:
    """One daemon thread cancelling registered managers at their deadline or flag."""

    def __init__(self):
        self._cond = threading.Condition()
        self._entries: dict[int, tuple] = {}  # token -> (at, cancelled event, manager)
        self._tokens = itertools.count()
        self._thread = None

    def add(self, at, cancelled, manager) -> int:
        with self._cond:
            token = next(self._tokens)
            self._entries[token] = (at, cancelled, manager)
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="tf-cancel",
                                                daemon=True)
                self._thread.start()
            self._cond.notify()
            return token

    def remove(self, token: int) -> None:
        with self._cond:
            self._entries.pop(token, None)

    def _loop(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token, (at, cancelled, manager) in list(self._entries.items()):
                    if (at is not None and now >= at) or (cancelled is not None
                                                          and cancelled.is_set()):
                        manager.start_cancel()
                        del self._entries[token]
                wake = [at - now for at, _, _ in self._entries.values() if at is not None]
                if any(c is not None for _, c, _ in self._entries.values()):
                    wake.append(_POLL_S)
                self._cond.wait(max(0.0, min(wake)) if wake else None)


_watchdog = _Watchdog()


@contextlib.contextmanager
def cancellable(at: float | None, cancelled: threading.Event | None = None):
    """TF2 calls made by this thread inside stop at `at` (`time.monotonic()`) or
    when `cancelled` is set; they then raise `tf.errors.CancelledError`.

    Yields:
        the `CancellationManager` (its `is_cancelled` tells a cancelled call from
        another error), or None when there is nothing to watch or no hook.
    """
    if (at is None and cancelled is None) or not install():
        yield None
        return
    from tensorflow.python.eager import cancellation
    manager = cancellation.CancellationManager()
    previous = getattr(_local, "manager", None)
    _local.manager = manager
    token = _watchdog.add(at, cancelled, manager)
    try:
        yield manager
    finally:
        _watchdog.remove(token)
        _local.manager = previous
