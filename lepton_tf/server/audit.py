"""The audit trail: who asked what (redacted), what came back, which permission applied.

Servables that answer from documents (`search`, the assistant) call `record`
for every request; the record goes to the sink of the server that received
the request (`ServerOptions.audit_log`: a JSONL file, `JsonlAuditLog`), set
for the request's thread by the gRPC and REST fronts next to its principal. A
conversation store implements the same `AuditSink` protocol (`write` and
`read`) to keep the trail in its database (`store.audit_log.StoreAuditLog`,
the default of a server whose assistant keeps a store; with `--audit_log`
too, `AuditSinks` writes each record to both). An assistant turn builds its
record with `entry` and hands it to the turn's write: a store sink on the
database the turn is written to gets it in that same write (one round trip),
the other sinks through `write(record, written_in=...)`.

Each record: `time`, `principal`, `groups`, `model`, `action`, `query`
(redacted: `text.redaction`), `decision` (`unrestricted`, or the readers the
answer was filtered to and how many passages they may read), `documents`
(the ids returned, per query), `not_found`, and for an assistant turn its
`turn_id`.

Reading is for admins: `read_for(sink, viewer)` returns the records of
principals sharing a group the viewer administers (`Principal.admin_of`;
`"*"` or an unrestricted viewer: all), and `GET /v1/audit` serves that view.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
from typing import Callable, Iterator, Protocol

from lepton_tf.server import identity
from lepton_tf.text.redaction import redact

_local = threading.local()


class AuditSink(Protocol):
    """Where audit records go (a file, or a conversation store)."""

    def write(self, record: dict) -> None:
        """Appends one record (already redacted)."""

    def read(self) -> Iterator[dict]:
        """Every record, oldest first."""


class JsonlAuditLog:
    """An append-only JSONL file of audit records (thread-safe, one line a record).

    Args:
        path: the file (created with its folder; existing records are kept).
    """

    def __init__(self, path: str):
        self.path = path
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock = threading.Lock()

    def write(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"
        with self._lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)

    def read(self) -> Iterator[dict]:
        if not os.path.exists(self.path):
            return
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)


@contextlib.contextmanager
def scope(sink: AuditSink | None):
    """Runs the block with `sink` as this thread's audit sink (the fronts set it)."""
    previous = getattr(_local, "sink", None)
    _local.sink = sink
    try:
        yield
    finally:
        _local.sink = previous


def current_sink() -> AuditSink | None:
    return getattr(_local, "sink", None)


def entry(model: str, action: str, queries: list[str], documents: list[list[str]],
          decision: str, not_found: list[bool] | None = None, turn_id: str = "") -> dict | None:
    """The audit record of the current request, built but not written (`write`).

    Args:
        model: the servable answering.
        action: what was asked (`search`, `assistant`, ...).
        queries: what the caller asked (redacted here).
        documents: the document ids returned, one list per query.
        decision: the permission decision (`unrestricted`, `readers=[...]`, ...).
        not_found: per query, whether the answer was "not found".
        turn_id: the assistant turn this answered (the report finds its caller by it).

    Returns:
        The record; None when the request's thread has no sink (nothing is audited).
    """
    if current_sink() is None:
        return None
    principal = identity.current()
    built = {"time": time.time(), "principal": principal.name,
             "groups": sorted(principal.groups), "model": model, "action": action,
             "query": [redact(q) for q in queries], "decision": decision,
             "documents": documents, "not_found": list(not_found or [])}
    if turn_id:
        built["turn_id"] = turn_id
    return built


def keeps_in(database: str) -> bool:
    """Whether one of the current sinks keeps its records in `database` (a store
    sink's `database`: its URL): a turn written there can carry its record."""
    return any(getattr(sink, "database", None) == database for sink in _sinks())


def write(record: dict | None, written_in: str | None = None) -> None:
    """Writes `record` (from `entry`) to the current sinks.

    Args:
        record: the record; None writes nothing.
        written_in: the database that already holds it (a turn's write carried it):
            a sink keeping its records there is skipped, the others get it.
    """
    if record is None:
        return
    for sink in _sinks():
        if written_in is None or getattr(sink, "database", None) != written_in:
            sink.write(record)


def _sinks() -> list:
    sink = current_sink()
    if sink is None:
        return []
    return list(sink.sinks) if isinstance(sink, AuditSinks) else [sink]


def record(model: str, action: str, queries: list[str], documents: list[list[str]],
           decision: str, not_found: list[bool] | None = None, turn_id: str = "") -> None:
    """Writes one audit record for the current request (nothing without a sink);
    the arguments are `entry`'s."""
    write(entry(model, action, queries, documents, decision, not_found, turn_id))


class AuditSinks:
    """Several sinks as one: each record goes to all, reading is from the first.

    Args:
        sinks: the sinks, the one read from first.
    """

    def __init__(self, sinks: list):
        self.sinks = list(sinks)

    def write(self, record: dict) -> None:
        for sink in self.sinks:
            sink.write(record)

    def read(self) -> Iterator[dict]:
        return self.sinks[0].read()


def read_for(sink: AuditSink, viewer: identity.Principal,
             documents_of_groups: Callable | None = None) -> list[dict]:
    """The records `viewer` may read: those of principals in a group it
    administers (all for `"*"` admins and unrestricted viewers).

    Args:
        sink: the trail.
        viewer: the caller.
        documents_of_groups: `(viewer, doc ids) -> the ids a member of the
            viewer's groups may read`; given, a restricted admin sees only
            those of each record's documents (a caller in two groups: the
            other group's documents stay hidden). None: all of them.

    Raises:
        PermissionError: the viewer administers no group.
    """
    if not viewer.unrestricted and not viewer.admin_of:
        raise PermissionError(f"{viewer.name} administers no group: the audit trail is "
                              "for admins (admin_of in the tokens file).")
    everything = viewer.unrestricted or identity.EVERYONE in viewer.admin_of
    records = [r for r in sink.read()
               if everything or set(r.get("groups", [])) & viewer.admin_of]
    if everything or documents_of_groups is None:
        return records
    shown = documents_of_groups(viewer, sorted({d for r in records
                                                for ids in r.get("documents") or []
                                                for d in ids}))
    return [dict(r, documents=[[d for d in ids if d in shown]
                               for ids in r.get("documents") or []]) for r in records]


@dataclasses.dataclass
class AuditRoute:
    """`GET /v1/audit`: the caller's admin view of the trail, as JSON (see
    `read_for` for `documents_of_groups`)."""

    sink: AuditSink
    documents_of_groups: Callable | None = None

    def __call__(self, reply, body: bytes) -> None:
        from lepton_tf.server.errors import ServingError

        try:
            records = read_for(self.sink, identity.current(), self.documents_of_groups)
        except PermissionError as e:
            reply.send_json(403, {"error": str(e)})
            return
        except ServingError as e:  # the permission check's `search` is not loaded
            reply.send_json(e.http_status, {"error": e.message})
            return
        reply.send_json(200, {"records": records})
