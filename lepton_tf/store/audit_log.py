"""`StoreAuditLog`: the audit trail kept in the conversation store's `audit` table.

It is the `AuditSink` (`lepton_tf.server.audit`) a server with a conversation
store uses by default: every search and assistant turn leaves a row with who
asked (principal, groups), what (the redacted query), which documents came
back, the permission decision and whether it was a not-found answer. A turn
of the assistant carries its `turn_id`, which is how the operator's report
knows whose group a logged turn belongs to (`report_access`).

A failed write is logged and counted, never raised: the request has been
answered already, and an audit outage must not turn answers into errors.
"""

from __future__ import annotations

import logging
import time
from typing import Iterator

import sqlalchemy as sa

from lepton_tf.store import schema
from lepton_tf.store.conversation_store import ConversationStore

log = logging.getLogger(__name__)
_FIELDS = ("principal", "groups", "model", "action", "query", "decision", "documents",
           "not_found", "turn_id")


class StoreAuditLog:
    """An `AuditSink` over a conversation store.

    Args:
        store: the store (opened, so at the schema version with the `audit` table).
    """

    def __init__(self, store: ConversationStore):
        self.store = store
        self.failures = 0  # writes lost to a failing database (also logged)

    def write(self, record: dict) -> None:
        """Appends one record (already redacted); a database failure is logged."""
        row = {key: record.get(key) for key in _FIELDS}
        row.update(created_at=float(record.get("time") or time.time()),
                   principal=str(row["principal"] or "")[:200],
                   groups=list(row["groups"] or []), query=list(row["query"] or []),
                   documents=list(row["documents"] or []),
                   not_found=list(row["not_found"] or []),
                   decision=str(row["decision"] or ""), model=str(row["model"] or ""),
                   action=str(row["action"] or ""), turn_id=row["turn_id"] or None)
        try:
            with self.store.engine.begin() as connection:
                connection.execute(schema.audit.insert().values(**row))
        except Exception as e:  # noqa: BLE001 - the answer went out; say the record did not
            self.failures += 1
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
            record = {key: getattr(row, key) for key in _FIELDS}
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
