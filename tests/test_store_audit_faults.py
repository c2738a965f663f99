"""The audit trail kept in the conversation store while its database refuses
writes (a real SQLite file locked by another connection): an assistant turn is
answered, and its audit record waits in the retry queue with the turn and is
in the trail once the lock is gone; a record the trail cannot write (a search
request's) is counted in the server's Prometheus series, not only logged."""

import sqlite3
import time

from stored_conversation import metric, post, start

from lepton_tf.store import ConversationStore, sqlite_url
from lepton_tf.store.audit_log import StoreAuditLog
from lepton_tf.store.metrics import StoreMetrics

FAILURES = ":lepton:store:failures_total"


def _audited(url: str) -> list[str]:
    store = ConversationStore.open(url)
    found = [r["turn_id"] for r in StoreAuditLog(store).read()]
    store.close()
    return found


def test_a_turn_answered_while_the_file_is_locked_keeps_its_audit_record(tmp_path):
    path = tmp_path / "c.sqlite"
    url = sqlite_url(str(path))
    server = start(url)
    try:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        status, events = post(server.rest_port, "/v1/assistant:stream",
                              {"session_id": "locked", "message": "Hi there!"})
        assert status == 200 and events[-1]["type"] == "final"
        turn_id = events[-1]["turn_id"]
        assert metric(server.rest_port, FAILURES, '{operation="write"}') >= 1
        blocker.execute("ROLLBACK")
        blocker.close()
        with server.manager.servable("assistant") as servable:
            assert servable.assistant.sessions.writer.flush(10.0)
    finally:
        server.stop(0)
    assert _audited(url) == [turn_id]


def test_an_audit_record_the_database_refuses_is_counted(tmp_path):
    path = tmp_path / "c.sqlite"
    store = ConversationStore.open(sqlite_url(str(path)))
    metrics = StoreMetrics()
    trail = StoreAuditLog(store, metrics)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    trail.write({"time": time.time(), "principal": "alice", "groups": [], "model": "search",
                 "action": "search", "query": ["q"], "decision": "unrestricted",
                 "documents": [["d1"]], "not_found": [False]})
    blocker.execute("ROLLBACK")
    blocker.close()
    trail.close()
    assert metrics.registry.get_sample_value(FAILURES, {"operation": "audit"}) == 1


def test_the_servers_audit_trail_counts_in_the_servers_series(tmp_path):
    url = sqlite_url(str(tmp_path / "c.sqlite"))
    server = start(url)
    try:
        path = str(tmp_path / "c.sqlite")
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN EXCLUSIVE")
        server.audit.write({"time": time.time(), "principal": "bob", "groups": [],
                            "model": "search", "action": "search", "query": ["q"],
                            "decision": "unrestricted", "documents": [["d1"]],
                            "not_found": [False]})
        blocker.execute("ROLLBACK")
        blocker.close()
        assert metric(server.rest_port, FAILURES, '{operation="audit"}') == 1
    finally:
        server.stop(0)
