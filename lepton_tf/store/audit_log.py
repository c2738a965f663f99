"""`StoreAuditLog`: the audit trail kept in the conversation store's `audit` table.

It is the `AuditSink` (`lepton_tf.server.audit`) a server with a conversation
store uses by default: every search and assistant turn leaves a row with who
asked (principal, groups), what (the redacted query), which documents came
back, the permission decision and whether it was a not-found answer. A turn
of the assistant carries its `turn_id`, which is how the operator's report
knows whose group a logged turn belongs to (`report_access`).

A failed write is logged and counted (`failures_total{operation="audit"}`
in the store's Prometheus series), never raised: the request has been
answered already, and an audit outage must not turn answers into errors. An
assistant turn's record does not come here when the turn is written to the
same database: it goes in the turn's own write, and waits in the writer's
retry queue with the turn while the database fails.
"""

from __future__ import annotations

import logging
from typing import Iterator

import sqlalchemy as sa

from lepton_tf.store import schema
from lepton_tf.store.conversation_store import ConversationStore
from lepton_tf.store.metrics import StoreMetrics
from lepton_tf.store.records import AUDIT_FIELDS, audit_row

log = logging.getLogger(__name__)


class StoreAuditLog:
    """An `AuditSink` over a conversation store.

    Args:
        store: the store (opened, so at the schema version with the `audit` table).
        metrics: the store's Prometheus series (the server's); None: its own.
    """

    def __init__(self, store: ConversationStore, metrics: StoreMetrics | None = None):
        self.store = store
        self.metrics = metrics or StoreMetrics()
        # An assistant turn on this database writes its record with the turn
        # (`server.audit.keeps_in`), in the turn's one statement.
        self.database = store.database
        self.failures = 0  # writes lost to a failing database (also logged)

    def write(self, record: dict) -> None:
        """Appends one record (already redacted); a database failure is logged."""
        row = audit_row(record)
        try:
            with self.store.engine.begin() as connection:
                connection.execute(schema.audit.insert().values(**row))
        except Exception as e:  # noqa: BLE001 - the answer went out; say the record did not
            self.failures += 1
            self.metrics.failures.labels("audit").inc()
            log.error("audit trail: record of %s not written (%s)", row["principal"],
                      str(e).splitlines()[0][:200])

    def read(self, since: float = 0.0) -> Iterator[dict]:
        """Every record since `since` (Unix seconds), oldest first, shaped as the
        JSONL file's records (`time` for `created_at`)."""
        a = schema.audit
        with self.store.engine.connect() as connection:
            rows = connection.execute(sa.select(a).where(a.c.created_at >= since)
                                      .order_by(a.c.created_at, a.c.audit_id)).all()
        for row in rows:
            record = {key: getattr(row, key) for key in AUDIT_FIELDS}
            record["time"] = row.created_at
            if record["turn_id"] is None:
                del record["turn_id"]
            yield record

    def turn_owners(self) -> dict[str, tuple[str, frozenset]]:
        """`turn_id -> (principal, groups)` of the assistant turns audited."""
        a = schema.audit
        with self.store.engine.connect() as connection:
            return {row.turn_id: (row.principal, frozenset(row.groups or ()))
                    for row in connection.execute(sa.select(
                        a.c.turn_id, a.c.principal, a.c.groups).where(
                            a.c.turn_id.is_not(None)))}

    def close(self) -> None:
        self.store.close()
