"""The conversation store on a real SQLite file: schema versions and migrations,
refusing a corrupt or foreign file, idempotent turn writes, feedback, deletion,
retention, and the writer's retry queue while the file is locked."""

import json
import sqlite3
import time

import pytest
import sqlalchemy as sa

from lepton_tf.store import (ConversationStore, StoreSchemaError, TurnRecord, TurnWriter,
                             UnknownTurnError, new_turn_id, sqlite_url)
from lepton_tf.store import schema
from lepton_tf.store.conversation_store import make_engine
from lepton_tf.store.metrics import StoreMetrics


def _turn(session="s1", message="How do I delete my account?", created_at=None):
    record = TurnRecord(new_turn_id(), session, message, "search", reply="Go here [1].",
                        sources=[{"n": 1, "doc_id": "fb-1", "title": "t", "score": 0.9}],
                        cited=[1])
    if created_at is not None:
        record.created_at = created_at
    return record


def test_a_new_store_is_created_at_the_current_version_in_wal_mode(tmp_path):
    path = tmp_path / "c.sqlite"
    store = ConversationStore.open(sqlite_url(str(path)))
    assert store.version() == schema.SCHEMA_VERSION == 3
    store.write_turn(_turn(), {"turns": [["USER", "hi"]]}, 1)
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_an_older_store_is_upgraded_and_keeps_its_data(tmp_path):
    url = sqlite_url(str(tmp_path / "old.sqlite"))
    engine = make_engine(url)
    assert schema.migrate(engine, target=1) == (None, 1)  # a store as version 1 wrote it
    old = ConversationStore(engine)
    turn = _turn()
    old.write_turn(turn, {"last_query": "delete account"}, 1)
    assert "feedback" not in sa.inspect(engine).get_table_names()
    engine.dispose()

    store = ConversationStore.open(url)
    assert store.version() == schema.SCHEMA_VERSION
    assert store.load_session("s1") == ({"last_query": "delete account"}, 1)
    store.add_feedback("s1", turn.turn_id, "up", "right answer")
    assert [f["rating"] for f in store.feedback()] == ["up"]


@pytest.mark.parametrize("content, words", [
    (b"this is not a database at all" * 100, "corrupt or not a SQLite database"),
])
def test_a_corrupt_file_is_a_clear_error(tmp_path, content, words):
    path = tmp_path / "c.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreSchemaError, match=words):
        ConversationStore.open(sqlite_url(str(path)))
    assert path.read_bytes() == content  # nothing overwritten


def test_a_foreign_database_and_a_newer_store_are_refused(tmp_path):
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE users (id INTEGER)")
    with pytest.raises(StoreSchemaError, match="not a lepton-tf conversation store"):
        ConversationStore.open(sqlite_url(str(foreign)))

    newer = tmp_path / "newer.sqlite"
    ConversationStore.open(sqlite_url(str(newer))).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE store_schema SET version = 99")
    with pytest.raises(StoreSchemaError, match="schema version 99, newer"):
        ConversationStore.open(sqlite_url(str(newer)))


def test_turn_writes_are_idempotent_and_never_roll_a_session_back(tmp_path):
    store = ConversationStore.open(sqlite_url(str(tmp_path / "c.sqlite")))
    first, second = _turn(), _turn(message="and on mobile?")
    store.write_turn(first, {"n": 1}, 1)
    store.write_turn(second, {"n": 2}, 2)
    store.write_turn(first, {"n": 1}, 1)  # a late retry of turn 1
    assert store.load_session("s1") == ({"n": 2}, 2)
    assert [t["message"] for t in store.turns()] == [first.message, second.message]


def test_feedback_needs_a_known_turn_of_that_session(tmp_path):
    store = ConversationStore.open(sqlite_url(str(tmp_path / "c.sqlite")))
    turn = _turn()
    store.write_turn(turn, {}, 1)
    with pytest.raises(UnknownTurnError):
        store.add_feedback("s1", "0" * 32, "up")
    with pytest.raises(UnknownTurnError):
        store.add_feedback("another-session", turn.turn_id, "up")
    with pytest.raises(ValueError, match="rating"):
        store.add_feedback("s1", turn.turn_id, "meh")
    store.add_feedback("s1", turn.turn_id, "down", "  wrong document ")
    assert [(f["rating"], f["comment"]) for f in store.feedback()] == [("down",
                                                                        "wrong document")]


def test_delete_one_session_and_retention(tmp_path):
    store = ConversationStore.open(sqlite_url(str(tmp_path / "c.sqlite")))
    now = time.time()
    kept, gone, old = _turn("kept"), _turn("gone"), _turn("old", created_at=now - 40 * 86400)
    for n, record in enumerate((kept, gone, old), 1):
        store.write_turn(record, {}, 1)
    store.add_feedback("gone", gone.turn_id, "up")
    assert store.delete_session("gone") == 3  # the turn, its feedback, the session
    with pytest.raises(UnknownTurnError):
        store.delete_session("gone")
    assert store.purge(30) == 2  # the old turn and its session
    assert [t["session_id"] for t in store.turns()] == ["kept"]
    assert store.load_session("old") is None and store.load_session("kept") is not None


def test_a_locked_database_queues_the_turn_counts_it_and_writes_it_later(tmp_path):
    path = tmp_path / "c.sqlite"
    metrics = StoreMetrics()
    writer = TurnWriter(ConversationStore.open(sqlite_url(str(path))), metrics)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
    turns = [_turn(message=f"question {i}") for i in range(3)]
    start = time.perf_counter()
    assert writer.write(turns[0], {"n": 1}, 1) is False  # not lost: queued
    assert time.perf_counter() - start < 1.0  # the turn is answered, not stuck
    assert writer.write(turns[1], {"n": 2}, 2) is False  # behind it, in order
    assert writer.pending("s1") and writer.queued() == 2
    sample = metrics.registry.get_sample_value
    assert sample(":lepton:store:failures_total", {"operation": "write"}) == 1
    assert sample(":lepton:store:turn_writes_total", {"outcome": "queued"}) == 2
    blocker.execute("ROLLBACK")
    blocker.close()
    assert writer.flush(10)
    assert writer.write(turns[2], {"n": 3}, 3) is True
    store = writer.store
    assert [t["message"] for t in store.turns()] == [t.message for t in turns]
    assert store.load_session("s1") == ({"n": 3}, 3)
    assert sample(":lepton:store:turn_writes_total", {"outcome": "retried"}) == 2
    assert not writer.pending("s1")
    writer.close()


def test_a_full_queue_drops_counted_never_silently(tmp_path):
    path = tmp_path / "c.sqlite"
    metrics = StoreMetrics()
    writer = TurnWriter(ConversationStore.open(sqlite_url(str(path))), metrics, max_queued=1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    writer.write(_turn(), {}, 1)
    writer.write(_turn(), {}, 2)
    assert metrics.registry.get_sample_value(":lepton:store:turn_writes_total",
                                             {"outcome": "dropped"}) == 1
    blocker.execute("ROLLBACK")
    blocker.close()
    writer.close()


def test_redaction_runs_before_the_write(tmp_path):
    def redact(record, state):
        record.message = record.message.replace("555-0100", "[phone]")
        return record, {**state, "turns": [["USER", "[redacted]"]]}

    writer = TurnWriter(ConversationStore.open(sqlite_url(str(tmp_path / "c.sqlite"))),
                        redact=redact)
    writer.write(_turn(message="call me on 555-0100"), {"turns": [["USER", "555-0100"]]}, 1)
    assert [t["message"] for t in writer.store.turns()] == ["call me on [phone]"]
    assert writer.store.load_session("s1")[0]["turns"] == [["USER", "[redacted]"]]
    writer.close()


def test_a_session_with_a_task_in_progress_round_trips_through_the_store(tmp_path):
    """Every field of the task memory (tracked state, offers, pending confirmation, the
    idempotency nonce) comes back equal from the store's JSON."""
    from lepton_tf.assistant.sessions import Session
    from lepton_tf.dialogue.state import DialogueState, ServiceState
    from lepton_tf.dialogue.task_memory import TaskMemory

    memory = TaskMemory(
        DialogueState({"Restaurants_2": ServiceState(
            "ReserveRestaurant", ("phone_number",),
            {"city": ("San Jose", "SJ"), "party_size": ("2",)})}),
        service="Restaurants_2", intent="ReserveRestaurant", pending="confirm",
        requested="time", confirm_key="s~ab12cd34:3", confirmed={"time": "19:00"},
        selected={"restaurant_name": "Bella"}, offers=[{"restaurant_name": "Bella"}],
        offer_index=1, searched={"city": "San Jose"}, turn=3, time_zone="Pacific/Kiritimati")
    session = Session("s1", last_route="task", task_memory=memory, turn_count=3)
    store = ConversationStore.open(sqlite_url(str(tmp_path / "c.sqlite")))
    store.write_turn(_turn(), session.to_state(), session.turn_count)
    state, turns = store.load_session("s1")
    restored = Session("s1")
    restored.restore(state)
    assert restored.task_memory == memory and restored.task_memory.conversation == \
        memory.conversation
    assert turns == 3 and restored.last_route == "task"
    restored.restore({})  # a store of a version without tasks: no task in progress
    assert restored.task_memory is None


def test_the_default_redaction_keeps_personal_data_out_of_the_store(tmp_path):
    """What `lepton-tf serve --assistant` writes: typed placeholders, not the data."""
    from lepton_tf.store.writer import redacting

    redact, redact_text = redacting()
    writer = TurnWriter(ConversationStore.open(sqlite_url(str(tmp_path / "c.sqlite"))),
                        redact=redact, redact_text=redact_text)
    secret = "mail jane.doe@example.com or call +1 415 555 0132, card 4111 1111 1111 1111"
    record = _turn(message=secret)
    record.reply = f"Booked for {secret}"
    record.state = {"Restaurants_2": {"phone_number": ["+1 415 555 0132"]}}
    writer.write(record, {"turns": [["USER", secret]]}, 1)
    stored = json.dumps([list(writer.store.turns()), writer.store.load_session("s1")[0]])
    for value in ("jane.doe@example.com", "555 0132", "4111 1111 1111 1111"):
        assert value not in stored
    assert "[EMAIL]" in stored and "[PHONE]" in stored and "[CARD]" in stored
    writer.close()
