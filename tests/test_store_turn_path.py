"""What a turn costs the store: its read moves the session's state only when another
process changed it, and on a real PostgreSQL a turn is two prepared statements
in autocommit (no BEGIN/COMMIT round trips), each prepared from the first turn;
replicas that answer the same turn of a session converge on the stored one."""

import os
import re
import time

import pytest
from pg_cluster import postgres  # noqa: F401 - a fixture

from lepton_tf.assistant.sessions import Session
from lepton_tf.assistant.stored_sessions import StoredSessions
from lepton_tf.store import ConversationStore, TurnRecord, TurnWriter, new_turn_id, sqlite_url


def _turn(session="s1", message="How do I delete my account?"):
    return TurnRecord(new_turn_id(), session, message, "search", reply="Go here [1].",
                      sources=[{"n": 1, "doc_id": "fb-1", "title": "t", "score": 0.9}],
                      cited=[1])


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        opened = ConversationStore.open(sqlite_url(str(tmp_path / "c.sqlite")))
    else:
        cluster = request.getfixturevalue("postgres")
        opened = ConversationStore.open(cluster.url)
        with opened.engine.begin() as connection:  # one cluster for the module: start empty
            for table in ("feedback", "turns", "sessions"):
                connection.exec_driver_sql(f"DELETE FROM {table}")
    yield opened
    opened.close()


def test_a_turns_read_moves_the_state_only_when_it_changed(store):
    assert store.session_if_changed("s1", None) is None
    first = _turn()
    store.write_turn(first, {"n": 1}, 1)
    assert store.session_if_changed("s1", None) == ({"n": 1}, 1, first.created_at)
    # What this process wrote is still there: no state comes back.
    assert store.session_if_changed("s1", (1, first.created_at)) == (None, 1, first.created_at)
    # Another replica answered a turn since, or answered the same turn differently.
    later = _turn()
    later.created_at = first.created_at + 1
    store.write_turn(later, {"n": 2}, 2)
    assert store.session_if_changed("s1", (1, first.created_at)) == \
        ({"n": 2}, 2, later.created_at)
    assert store.session_if_changed("s1", (2, first.created_at))[0] == {"n": 2}


def test_replicas_answering_the_same_turn_converge_on_the_stored_one(store):
    """Two processes' caches of one session: the process whose write of turn 1 lost
    (the store keeps the first) takes the stored state at its next turn."""
    here, there = (StoredSessions(TurnWriter(store)) for _ in range(2))
    mine, theirs = Session("s1"), Session("s1")
    here.refresh(mine)
    there.refresh(theirs)  # both read before either wrote: they answer at once
    for sessions, session, text in ((here, mine, "here"), (there, theirs, "there")):
        session.add_turn("USER", text, 8)
        session.turn_count += 1
        record = _turn(message=text)
        record.created_at = time.time() + (text == "there")  # distinct marks
        sessions.log_turn(session, record)
    there.refresh(theirs)
    assert theirs.turns == [("USER", "here")] and theirs.turn_count == 1
    here.refresh(mine)
    assert mine.turns == [("USER", "here")]


def _statements(cluster, since: int) -> list[str]:
    with open(os.path.join(cluster.folder, "log")) as f:
        f.seek(since)
        return re.findall(r"LOG:  (?:statement|execute (\S+)):", f.read())


def test_on_postgresql_a_turn_is_two_prepared_statements(postgres):
    import psycopg

    with psycopg.connect(postgres.url, autocommit=True) as admin:
        admin.execute("ALTER SYSTEM SET log_statement = 'all'")
        admin.execute("SELECT pg_reload_conf()")
    try:
        store = ConversationStore.open(postgres.url)
        store.write_turn(_turn("warm-up"), {}, 1)  # connects (the driver's setup queries)
        time.sleep(0.3)
        log_size = os.path.getsize(os.path.join(postgres.folder, "log"))
        mark = None
        for number in (1, 2):
            store.session_if_changed("turns", mark)
            record = _turn("turns")
            store.write_turn(record, {"n": number}, number)
            mark = (number, record.created_at)
        time.sleep(0.3)  # the server's log is written after the reply
        names = _statements(postgres, log_size)
        store.close()
    finally:
        with psycopg.connect(postgres.url, autocommit=True) as admin:
            admin.execute("ALTER SYSTEM RESET log_statement")
            admin.execute("SELECT pg_reload_conf()")
    # Two turns, two statements each, every one a named (prepared) statement: no
    # BEGIN/COMMIT, no unnamed one-off statements, no ping.
    assert len(names) == 4, names
    assert all(name and name != "<unnamed>" for name in names), names
    assert len(set(names)) == 2, names
