"""`TurnWriter`: the one place a turn reaches the store, with redaction and retries.

`write` commits the turn and the session's state synchronously (the caller
sends the turn's final event only after it returns), so a process killed
after answering has logged what it answered. When the database fails (down,
locked past its busy timeout) the turn is still answered: the write goes to
a bounded queue that a background thread retries, in order, with backoff;
every failure and every turn dropped from a full queue is counted in the
metrics and logged, never silent.

Redaction: `redact(record, state) -> (record, state)` runs on every turn before
it is written (and `redact_text` on feedback comments), so whatever it removes
never reaches the database.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import logging
import threading
import time
from typing import Callable

from lepton_tf.store.conversation_store import ConversationStore
from lepton_tf.store.metrics import StoreMetrics
from lepton_tf.store.records import TurnRecord
from lepton_tf.text.redaction import DEFAULT_POLICY, RedactionPolicy, redact, redact_value

log = logging.getLogger(__name__)
DEFAULT_MAX_QUEUED = 10_000
REDACTED_TEXTS_CACHED = 4096  # strings, each with its redaction
Redact = Callable[[TurnRecord, dict], tuple[TurnRecord, dict]]
# Session fields stored as they are: an open task needs its values to go on.
KEPT_SESSION_FIELDS = frozenset({"task_memory"})


def keep_all(record: TurnRecord, state: dict) -> tuple[TurnRecord, dict]:
    """The default redaction: nothing removed."""
    return record, state


def redacting(policy: RedactionPolicy = DEFAULT_POLICY) -> tuple[Redact, Callable[[str], str]]:
    """The store's redaction hooks for a knowledge base's policy: emails, phone
    numbers, card numbers and IBANs in the message, the reply, the tracked state
    and the stored session become typed placeholders (`text.redaction`).

    The live session in memory keeps the real values. So does the stored
    session's open task (`task_memory`: the tracked slot values, the offered
    backend rows, the pending confirmation), so that a booking goes on after a
    restart; everything else of the stored session (the turns' texts) and the
    whole turn log get the placeholders.

    Returns:
        `(redact, redact_text)` for `TurnWriter`.
    """
    # A session's state repeats the texts of its earlier turns and the passages shown,
    # redacted again at every turn: memoized, only the new texts are searched.
    cached = functools.lru_cache(maxsize=REDACTED_TEXTS_CACHED)(
        lambda text: redact(text, policy))

    def turn(record: TurnRecord, state: dict) -> tuple[TurnRecord, dict]:
        return dataclasses.replace(
            record, message=cached(record.message), reply=cached(record.reply),
            state=redact_value(record.state, policy, cached)), {
                key: value if key in KEPT_SESSION_FIELDS else redact_value(value, policy, cached)
                for key, value in state.items()}

    return turn, lambda text: redact(text, policy)


class TurnWriter:
    """Writes turns to a `ConversationStore`, queueing them while it fails.

    Args:
        store: the database.
        metrics: the store's Prometheus series.
        redact: applied to each turn and session state before writing.
        redact_text: applied to each feedback comment before writing.
        max_queued: turns kept for retry while the database fails; past it a
            turn is dropped (counted, logged).
        max_backoff_s: the longest wait between retries.
    """

    def __init__(self, store: ConversationStore, metrics: StoreMetrics | None = None,
                 redact: Redact = keep_all, redact_text: Callable[[str], str] = lambda t: t,
                 max_queued: int = DEFAULT_MAX_QUEUED, max_backoff_s: float = 2.0):
        self.store, self.metrics = store, metrics or StoreMetrics()
        self.redact, self.redact_text = redact, redact_text
        self.max_queued, self.max_backoff_s = max_queued, max_backoff_s
        self._queue: collections.deque = collections.deque()
        self._pending: collections.Counter = collections.Counter()  # session -> queued turns
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._retry_loop, daemon=True,
                                        name="store-retry")
        self._thread.start()

    def write(self, record: TurnRecord, state: dict, turn_number: int) -> bool:
        """Logs one turn; True if it is in the database now, False if queued or dropped."""
        record, state = self.redact(record, state)
        with self._lock:
            # Behind queued turns: write in order, or a retry could land after a newer turn.
            if self._queue:
                self._enqueue(record, state, turn_number)
                return False
        start = time.perf_counter()
        try:
            self.store.write_turn(record, state, turn_number)
        except Exception as e:  # noqa: BLE001 - any database failure: queue, answer anyway
            self.metrics.failures.labels("write").inc()
            log.warning("conversation store: turn %s not written (%s); queued for retry",
                        record.turn_id, str(e).splitlines()[0][:200])
            with self._lock:
                self._enqueue(record, state, turn_number)
            return False
        self.metrics.write_seconds.observe(time.perf_counter() - start)
        self.metrics.writes.labels("written").inc()
        return True

    def _enqueue(self, record: TurnRecord, state: dict, turn_number: int) -> None:
        if len(self._queue) >= self.max_queued:
            self.metrics.writes.labels("dropped").inc()
            log.error("conversation store: retry queue full (%d turns): turn %s of session "
                      "%s dropped from the log", self.max_queued, record.turn_id,
                      record.session_id[:40])
            return
        self._queue.append((record, state, turn_number))
        self._pending[record.session_id] += 1
        self.metrics.writes.labels("queued").inc()
        self.metrics.queued.set(len(self._queue))
        self._wake.set()

    def pending(self, session_id: str) -> bool:
        """Whether turns of this session wait in the queue (its stored state is stale)."""
        with self._lock:
            return self._pending[session_id] > 0

    def queued(self) -> int:
        with self._lock:
            return len(self._queue)

    def _retry_loop(self) -> None:
        backoff = 0.05
        while True:
            self._wake.wait(timeout=backoff if self._queue else None)
            self._wake.clear()
            if self._closed and not self._queue:
                return
            while True:
                with self._lock:
                    if not self._queue:
                        break
                    record, state, turn_number = self._queue[0]
                try:
                    self.store.write_turn(record, state, turn_number)
                except Exception:  # noqa: BLE001 - still failing: wait longer
                    self.metrics.failures.labels("retry").inc()
                    backoff = min(self.max_backoff_s, backoff * 2)
                    if self._closed:
                        return
                    break
                backoff = 0.05
                with self._lock:
                    self._queue.popleft()
                    self._pending[record.session_id] -= 1
                    if self._pending[record.session_id] <= 0:
                        del self._pending[record.session_id]
                    self.metrics.queued.set(len(self._queue))
                self.metrics.writes.labels("retried").inc()

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Waits for the queue to drain; True if it did."""
        end = time.monotonic() + timeout_s
        while self.queued() and time.monotonic() < end:
            self._wake.set()
            time.sleep(0.02)
        return not self.queued()

    def close(self, timeout_s: float = 5.0) -> None:
        """Tries to write what is queued, then stops (what is left is logged)."""
        self.flush(timeout_s)
        left = self.queued()
        if left:
            log.error("conversation store: %d queued turns not written at shutdown", left)
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=1.0)
        self.store.close()
