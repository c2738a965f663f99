"""`StoredSessions`: the session store backed by a conversation store (SQL).

The in-memory LRU stays as a cache of `Session` objects (their locks order a
session's turns in this process), but before each turn the state is read
from the database, so a restarted server, or another replica on the same
PostgreSQL, continues where the last turn left it. Each turn is written
(state, turn log and, when the trail is kept in the same database, its audit
record: one transaction, on PostgreSQL one statement) before its final event.

When the database fails the conversation goes on from the cached state: a
failed read keeps it (counted), and while turns wait in the writer's retry
queue nothing is read (the stored state may be older than the cache, and each
read would wait for the failure again).
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from lepton_tf.assistant.sessions import (DEFAULT_MAX_SESSIONS, DEFAULT_MAX_TURNS, DEFAULT_TTL_S,
                                          Session, SessionStore)
from lepton_tf.server import audit
from lepton_tf.store.records import TurnRecord
from lepton_tf.store.writer import TurnWriter

log = logging.getLogger(__name__)
RETENTION_CHECK_S = 3600.0  # how often old turns are purged while serving


class StoredSessions(SessionStore):
    """Sessions kept in a conversation store.

    Args:
        writer: the store's writer (holds the store, the metrics and redaction).
        retention_days: turns, feedback and sessions older than this are deleted
            (at start, then hourly); None keeps everything, the audit trail included.
        max_sessions, ttl_s, max_turns, clock: as `SessionStore` (the cache).
        audit_retention_days: audit records older than this are deleted in the same
            purge (None: as `retention_days`; see `ConversationStore.purge`).
    """

    def __init__(self, writer: TurnWriter, retention_days: float | None = None,
                 max_sessions: int = DEFAULT_MAX_SESSIONS, ttl_s: float = DEFAULT_TTL_S,
                 max_turns: int = DEFAULT_MAX_TURNS, clock: Callable[[], float] = time.monotonic,
                 audit_retention_days: float | None = None):
        super().__init__(max_sessions, ttl_s, max_turns, clock)
        self.writer, self.store = writer, writer.store
        self.retention_days, self.audit_retention_days = retention_days, audit_retention_days
        self._next_purge = 0.0
        self.purge_if_due()

    def purge_if_due(self) -> None:
        """Deletes what is older than the retention period, at most hourly."""
        if self.retention_days is None or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + RETENTION_CHECK_S
        try:
            deleted = self.store.purge(self.retention_days,
                                       audit_retention_days=self.audit_retention_days)
            if deleted:
                log.info("conversation store: %d rows older than %g days deleted", deleted,
                         self.retention_days)
        except Exception as e:  # noqa: BLE001 - retention runs again next hour
            self.writer.metrics.failures.labels("purge").inc()
            log.warning("conversation store: retention purge failed: %s",
                        str(e).splitlines()[0][:200])

    def refresh(self, session: Session) -> None:
        start = time.perf_counter()
        try:
            self._refresh(session)
        finally:
            session.store_read_s = time.perf_counter() - start

    def _refresh(self, session: Session) -> None:
        if self.writer.queued():
            # Writes are failing (or just recovering): reading would wait for the same
            # failure on every turn, and this session's stored state may be behind.
            return
        try:
            stored = self.store.session_if_changed(session.session_id, session.stored_mark)
        except Exception as e:  # noqa: BLE001 - the database is down: go on from the cache
            self.writer.metrics.failures.labels("read").inc()
            log.warning("conversation store: session not read (%s); continuing from memory",
                        str(e).splitlines()[0][:200])
            return
        if stored is None:
            session.stored_mark = None
            if session.turn_count:  # deleted in the store (forget): start over
                session.restore({})
            return
        state, turns, updated_at = stored
        if state is None:  # still what this process wrote or read last: the cache is it
            return
        session.restore(state)
        session.turn_count = turns
        session.stored_mark = (turns, updated_at)

    def log_turn(self, session: Session, record: TurnRecord,
                 audited: dict | None = None) -> None:
        start = time.perf_counter()
        self.purge_if_due()
        # The audit trail kept in this database takes the turn's record in the turn's
        # own write (one round trip); the other sinks (a file) get it as before.
        carried = audited is not None and audit.keeps_in(self.store.database)
        if carried:
            record.audit = audited
        self.writer.write(record, session.to_state(), session.turn_count)
        audit.write(audited, written_in=self.store.database if carried else None)
        self.writer.metrics.turn_seconds.observe(
            session.store_read_s + time.perf_counter() - start)
        session.store_read_s = 0.0
        # Queued or dropped, the mark is still what the store will hold (or, if the
        # turn was dropped, differs from it, and the next read restores the stored state).
        session.stored_mark = (session.turn_count, record.created_at)

    def forget(self, session_id: str) -> int:
        """Deletes a session's stored data and its cached state.

        Raises:
            UnknownTurnError: nothing is stored for it.
        """
        deleted = self.store.delete_session(session_id)
        cached = self.peek(session_id)
        if cached is not None:
            with cached.lock:
                cached.restore({})
        return deleted

    def close(self) -> None:
        self.writer.close()
