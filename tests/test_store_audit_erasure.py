"""Forgetting a session and the retention purge reach the audit trail kept in the
store: a forgotten session's audit records (its redacted words, its caller)
go with its turns, through the REST API and the CLI, and `conversations purge`
deletes audit records past their own retention, on real SQLite and PostgreSQL.
The operator's views (`/v1/audit`, the report) still read what is left."""

import time

import pytest
import requests
from pg_cluster import postgres  # noqa: F401 - a fixture
from stored_conversation import post, start

from lepton_tf.cli import main
from lepton_tf.server import audit
from lepton_tf.server.identity import Principal
from lepton_tf.store import ConversationStore, TurnRecord, new_turn_id, sqlite_url
from lepton_tf.store.audit_log import StoreAuditLog
from lepton_tf.store.report import build_report

DAY = 86400.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return sqlite_url(str(tmp_path / "c.sqlite"))
    cluster = request.getfixturevalue("postgres")
    store = ConversationStore.open(cluster.url)
    with store.engine.begin() as connection:  # one cluster for the module: start empty
        for table in ("feedback", "audit", "turns", "sessions"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
    store.close()
    return cluster.url


def _audit_rows(url: str) -> list[tuple]:
    store = ConversationStore.open(url)
    try:
        with store.engine.connect() as connection:
            return [tuple(r) for r in connection.exec_driver_sql(
                "SELECT turn_id, principal, query FROM audit ORDER BY audit_id")]
    finally:
        store.close()


def _ask(server, session_id: str, message: str) -> str:
    status, events = post(server.rest_port, "/v1/assistant:stream",
                          {"session_id": session_id, "message": message})
    assert status == 200 and events[-1]["type"] == "final", events
    return events[-1]["turn_id"]


def test_forgetting_a_session_through_rest_deletes_its_audit_records(store_url):
    server = start(store_url)
    try:
        mine = [_ask(server, "mine", "How do I delete my Facebook account?"),
                _ask(server, "mine", "what about the second one?")]
        theirs = _ask(server, "theirs", "How do I reset my password?")
        assert {r[0] for r in _audit_rows(store_url)} == {*mine, theirs}
        status, body = post(server.rest_port, "/v1/assistant:forget", {"session_id": "mine"})
        assert status == 200 and body["deleted_rows"] == 2 + 2 + 1  # turns, audit, session
        rows = _audit_rows(store_url)
        assert [r[0] for r in rows] == [theirs]
        assert "Facebook" not in repr(rows)
        # The admins' view still reads the trail, without the forgotten session.
        trail = requests.get(f"http://127.0.0.1:{server.rest_port}/v1/audit", timeout=10)
        assert trail.status_code == 200, trail.text
        assert [r.get("turn_id") for r in trail.json()["records"]] == [theirs]
        # The session starts over and is audited again as new.
        assert _ask(server, "mine", "How do I delete my Facebook account?") not in mine
    finally:
        server.stop(0)


def _record(turn_id: str | None, at: float, query: str, principal: str = "alice") -> dict:
    record = {"time": at, "principal": principal, "groups": ["support"],
              "model": "assistant", "action": "assistant" if turn_id else "search",
              "query": [query], "decision": "unrestricted", "documents": [["fb-1"]],
              "not_found": [False]}
    if turn_id:
        record["turn_id"] = turn_id
    return record


def _write_turn(store, session: str, message: str, at: float) -> str:
    turn = TurnRecord(new_turn_id(), session, message, "search", reply="Go here [1].",
                      sources=[{"n": 1, "doc_id": "fb-1", "title": "t", "score": 0.9}],
                      cited=[1])
    turn.created_at = at
    turn.audit = _record(turn.turn_id, at, message)
    store.write_turn(turn, {}, 1)
    return turn.turn_id


def test_purge_deletes_audit_records_past_their_own_retention(store_url, capsys):
    now = time.time()
    store = ConversationStore.open(store_url)
    trail = StoreAuditLog(store)
    try:
        _write_turn(store, "old", "my card 40 days ago", now - 40 * DAY)
        middle = _write_turn(store, "middle", "my loan 20 days ago", now - 20 * DAY)
        recent = _write_turn(store, "recent", "my account today", now)
        trail.write(_record(None, now - 20 * DAY, "a search 20 days ago"))
        trail.write(_record(None, now - 5 * DAY, "a search 5 days ago"))

        assert main(["conversations", "purge", "--days", "30", "--audit_retention_days",
                     "10", "--conversation_store", store_url]) == 0
        assert "audit records older than 10 days" in capsys.readouterr().out
        # Turns younger than 30 days stay; audit records older than 10 days go, and a
        # turn's record never outlives its turn (forget finds it through the turn).
        assert [t["turn_id"] for t in store.turns()] == [middle, recent]
        assert [(r.get("turn_id"), r["query"]) for r in trail.read()] == [
            (None, ["a search 5 days ago"]), (recent, ["my account today"])]

        # The operator's report still works: a group's admin sees the turns whose
        # audit record (their group) is kept; the file's owner sees all of them.
        admin = Principal("ops", admin_of=frozenset({"support"}))
        assert build_report(store, viewer=admin)["turns"] == 1
        assert build_report(store)["turns"] == 2
        assert len(audit.read_for(trail, admin)) == 2

        # Without --audit_retention_days the trail keeps the turns' days.
        assert main(["conversations", "purge", "--days", "3",
                     "--conversation_store", store_url]) == 0
        assert [r["query"] for r in trail.read()] == [["my account today"]]
    finally:
        store.close()


def test_forget_on_the_file_deletes_the_audit_records_of_that_session(tmp_path, capsys):
    url = sqlite_url(str(tmp_path / "c.sqlite"))
    store = ConversationStore.open(url)
    _write_turn(store, "gone", "my diagnosis is private", time.time())
    kept = _write_turn(store, "kept", "opening hours", time.time())
    store.close()
    assert main(["conversations", "forget", "gone", "--conversation_store", url]) == 0
    assert "deleted 3 rows" in capsys.readouterr().out  # the turn, its record, the session
    rows = _audit_rows(url)
    assert [r[0] for r in rows] == [kept] and "diagnosis" not in repr(rows)


@pytest.mark.parametrize("flags, error", [
    (["--audit_retention_days", "0"], "must be > 0"),
    (["--audit_retention_days", "5", "--conversation_retention_days", "0"], "needs"),
])
def test_serve_refuses_an_audit_retention_it_would_not_apply(flags, error, capsys):
    assert main(["serve", "--assistant", "--port", "0", "--rest_api_port", "0",
                 "--conversation_store", "none", *flags]) == 2
    assert error in capsys.readouterr().err
