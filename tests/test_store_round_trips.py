"""What one served turn sends to its database, counted where the database sees it
(PostgreSQL's statement log, SQLite's statement trace): on PostgreSQL the
session's read and one write statement that logs the turn, saves the session
and appends the turn's audit record; on SQLite one commit. With
`?prepared_statements=off` (PgBouncer in transaction mode) nothing is
prepared on the server. Turns go through the REST stream, as a user's would."""

import os
import re
import time

import pytest
import sqlalchemy as sa
from pg_cluster import postgres  # noqa: F401 - a fixture
from stored_conversation import post, start

from lepton_tf.store import ConversationStore, TurnRecord, new_turn_id, sqlite_url

MESSAGES = ["How do I delete my Facebook account?", "what about the second one?",
            "Hi there!"]


def _ask(server, session_id: str, message: str) -> str:
    status, events = post(server.rest_port, "/v1/assistant:stream",
                          {"session_id": session_id, "message": message})
    assert status == 200 and events[-1]["type"] == "final", events
    return events[-1]["turn_id"]


class _StatementLog:
    """PostgreSQL logging every statement while it is open."""

    def __init__(self, cluster):
        self.cluster, self.path = cluster, os.path.join(cluster.folder, "log")

    def _set(self, command: str) -> None:
        import psycopg

        with psycopg.connect(self.cluster.url, autocommit=True) as admin:
            admin.execute(command)
            admin.execute("SELECT pg_reload_conf()")

    def __enter__(self):
        self._set("ALTER SYSTEM SET log_statement = 'all'")
        time.sleep(0.3)
        return self

    def mark(self) -> None:
        time.sleep(0.3)  # the server's log is written after the reply
        self.since = os.path.getsize(self.path)

    def statements(self) -> list[tuple[str, str]]:
        """`(name, text)` of each statement since `mark`; name "" for a simple query."""
        time.sleep(0.3)
        with open(self.path) as f:
            f.seek(self.since)
            return re.findall(r"LOG:  (?:statement|execute ([^:]+)): (\w+)", f.read())

    def __exit__(self, *exc):
        self._set("ALTER SYSTEM RESET log_statement")


def _empty(url: str) -> None:
    store = ConversationStore.open(url)
    with store.engine.begin() as connection:  # one cluster for the module: start empty
        for table in ("feedback", "audit", "turns", "sessions"):
            connection.exec_driver_sql(f"DELETE FROM {table}")
    store.close()


def _audited_turns(url: str) -> list[str]:
    store = ConversationStore.open(url)
    with store.engine.connect() as connection:
        found = [r[0] for r in connection.exec_driver_sql(
            "SELECT turn_id FROM audit ORDER BY created_at")]
    store.close()
    return found


def test_a_served_turn_is_one_read_and_one_write_on_postgresql(postgres):
    _empty(postgres.url)
    server = start(postgres.url)
    try:
        with _StatementLog(postgres) as log:
            _ask(server, "trips", "Hello")  # connects and prepares
            log.mark()
            turn_ids = [_ask(server, "trips", message) for message in MESSAGES]
            statements = log.statements()
    finally:
        server.stop(0)
    # Per turn: the changed-only read (SELECT) and the write (WITH ... INSERT),
    # both prepared; no BEGIN/COMMIT, no separate audit insert.
    assert len(statements) == 2 * len(MESSAGES), statements
    assert [text for _, text in statements] == ["SELECT", "WITH"] * len(MESSAGES)
    assert all(name and name != "<unnamed>" for name, _ in statements), statements
    # The audit trail still has every turn, written by that one statement.
    assert _audited_turns(postgres.url)[-3:] == turn_ids


def test_a_served_turn_commits_once_on_sqlite(tmp_path):
    url = sqlite_url(str(tmp_path / "c.sqlite"))
    server = start(url)
    traced: list[str] = []

    def trace(dbapi_connection, _record) -> None:
        dbapi_connection.set_trace_callback(traced.append)
    sa.event.listen(sa.engine.Engine, "connect", trace)
    try:
        # The server's connections were opened before the listener: reopen them.
        for engine in _store_engines(server):
            engine.dispose()
        _ask(server, "trips", "Hello")
        traced.clear()
        turn_ids = [_ask(server, "trips", message) for message in MESSAGES]
        commits = [s for s in traced if s.strip().upper() == "COMMIT"]
    finally:
        sa.event.remove(sa.engine.Engine, "connect", trace)
        server.stop(0)
    assert len(commits) == len(MESSAGES), traced
    assert _audited_turns(url)[-3:] == turn_ids


def _store_engines(server) -> list:
    """The engines of the server's conversation store (sessions and audit trail)."""
    with server.manager.servable("assistant") as servable:
        engines = [servable.assistant.sessions.store.engine]
    engines.append(server.audit.store.engine)
    return engines


def test_a_retried_write_adds_no_second_audit_record(postgres, tmp_path):
    for url in (sqlite_url(str(tmp_path / "c.sqlite")), postgres.url):
        _empty(url)
        store = ConversationStore.open(url)
        record = TurnRecord(new_turn_id(), "s1", "hi", "smalltalk", reply="Hello!")
        record.audit = {"time": record.created_at, "principal": "alice", "groups": [],
                        "model": "assistant", "action": "smalltalk", "query": ["hi"],
                        "decision": "unrestricted", "documents": [[]], "not_found": [False],
                        "turn_id": record.turn_id}
        store.write_turn(record, {}, 1)
        store.write_turn(record, {}, 1)  # the writer's retry of a write that committed
        store.close()
        assert _audited_turns(url) == [record.turn_id], url


def test_prepared_statements_off_prepares_nothing_on_the_server(postgres):
    """PgBouncer in transaction mode: `?prepared_statements=off` on the store URL."""
    _empty(postgres.url)
    url = postgres.url + "?prepared_statements=off"
    server = start(url)
    try:
        with _StatementLog(postgres) as log:
            log.mark()
            turn_ids = [_ask(server, "bouncer", m) for m in MESSAGES * 2]
            for turn_id in turn_ids:  # the feedback path runs through SQLAlchemy's pool
                status, _ = post(server.rest_port, "/v1/assistant:feedback",
                                 {"session_id": "bouncer", "turn_id": turn_id,
                                  "rating": "up"})
                assert status == 200
            statements = log.statements()
    finally:
        server.stop(0)
    assert statements and all(name in ("", "<unnamed>") for name, _ in statements), \
        [s for s in statements if s[0] not in ("", "<unnamed>")]
    assert _audited_turns(postgres.url)[-6:] == turn_ids


@pytest.mark.parametrize("url, error", [
    ("postgresql://db/x?prepared_statements=maybe", "must be on or off"),
    ("sqlite:///c.sqlite?prepared_statements=off", "PostgreSQL stores only"),
])
def test_a_bad_prepared_statements_option_is_a_clear_error(url, error):
    from lepton_tf.store.conversation_store import store_options

    with pytest.raises(ValueError, match=error):
        store_options(url)


def test_with_an_audit_file_too_a_turn_is_in_the_file_and_the_store_once(tmp_path):
    import json

    from conversation_fakes import DIALOGUE_TURNS, DOMAIN_TURNS, conversation_models
    from stored_conversation import ROUTER

    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.server.app import ModelServer, ServerOptions
    from conftest import free_port

    url, trail = sqlite_url(str(tmp_path / "c.sqlite")), tmp_path / "audit.jsonl"
    server = ModelServer(ServerOptions(port=0, rest_api_port=free_port(),
                                       audit_log=str(trail)),
                         python_servables=conversation_models())
    mount_assistant(server, router=ROUTER, dialogue_turns=DIALOGUE_TURNS, search_k=3,
                    domain_turns=DOMAIN_TURNS, store_url=url)
    server.start()
    try:
        turn_ids = [_ask(server, "both", message) for message in MESSAGES]
    finally:
        server.stop(0)
    in_file = [json.loads(line).get("turn_id") for line in trail.read_text().splitlines()]
    assert in_file == turn_ids
    assert _audited_turns(url) == turn_ids
