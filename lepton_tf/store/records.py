"""What the store keeps of a turn and of a rating, as plain values.

The store knows nothing of the assistant's objects: the assistant hands it
a `TurnRecord` and the session's state as JSON-ready dicts.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

RATINGS = ("up", "down")


def new_turn_id() -> str:
    """A random, unguessable turn id (32 hex digits): feedback names a turn by it."""
    return uuid.uuid4().hex


@dataclasses.dataclass
class TurnRecord:
    """One answered turn, as logged.

    Attributes:
        turn_id: the id the turn's final event carries.
        session_id: the conversation.
        message: what the user wrote (after redaction, see `writer.Redact`).
        route: search, chat, smalltalk, out_of_scope, ...
        intent: the intent shown ("" where none).
        state: the tracked dialogue state after the turn (JSON-ready).
        sources: the passages shown, `{n, doc_id, title, score}` each.
        cited: the numbers of the sources the reply cites.
        not_found: the knowledge base holds no answer to this search turn.
        reply: the assistant's reply.
        latency_ms: the turn's compute time, ms.
        timings_ms: per stage (intent, dialogue, search, chat, total).
        model_versions: model name -> version that served the turn.
        index_version: the `search` version (the index) that served it ("" if none).
        created_at: Unix seconds.
        audit: the turn's audit record (`server.audit.entry`) when the store keeps
            the audit trail: written with the turn, in the same statement; None
            when the trail is elsewhere or off.
    """

    turn_id: str
    session_id: str
    message: str
    route: str
    intent: str = ""
    state: dict = dataclasses.field(default_factory=dict)
    sources: list = dataclasses.field(default_factory=list)
    cited: list = dataclasses.field(default_factory=list)
    not_found: bool = False
    reply: str = ""
    latency_ms: float = 0.0
    timings_ms: dict = dataclasses.field(default_factory=dict)
    model_versions: dict = dataclasses.field(default_factory=dict)
    index_version: str = ""
    created_at: float = dataclasses.field(default_factory=time.time)
    audit: dict | None = None

    def row(self) -> dict:
        """The `turns` table's row."""
        row = dataclasses.asdict(self)
        del row["audit"]
        return row


AUDIT_FIELDS = ("principal", "groups", "model", "action", "query", "decision", "documents",
                "not_found", "turn_id")


def audit_row(record: dict) -> dict:
    """The `audit` table's row of an audit record (`server.audit.entry`'s shape)."""
    row = {key: record.get(key) for key in AUDIT_FIELDS}
    row.update(created_at=float(record.get("time") or time.time()),
               principal=str(row["principal"] or "")[:200],
               groups=list(row["groups"] or []), query=list(row["query"] or []),
               documents=list(row["documents"] or []),
               not_found=list(row["not_found"] or []),
               decision=str(row["decision"] or ""), model=str(row["model"] or ""),
               action=str(row["action"] or ""), turn_id=row["turn_id"] or None)
    return row


def check_rating(rating, comment) -> tuple[str, str]:
    """`(rating, comment)` checked.

    Raises:
        ValueError: a rating other than up/down, a comment not a string or too long.
    """
    if rating not in RATINGS:
        raise ValueError(f'rating must be "up" or "down", got {str(rating)[:20]!r}.')
    comment = "" if comment is None else comment
    if not isinstance(comment, str):
        raise ValueError("comment must be a string.")
    if len(comment) > 2000:
        raise ValueError("comment is longer than 2000 characters.")
    return rating, comment.strip()
