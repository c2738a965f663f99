"""A restarted server continues its conversations from the store (SQLite): a search,
a restart, then "the second one" over REST and gRPC; each turn's final event
carries a turn_id that feedback rates (REST and gRPC; unknown turns are 404 /
NOT_FOUND); a session's data can be deleted."""

import sqlite3

import grpc
import pytest
from conversation_fakes import conversation_models
from stored_conversation import post, start

from lepton_tf.client.assistant import AssistantClient
from lepton_tf.dialogue import example_db
from lepton_tf.store import ConversationStore, sqlite_url

QUESTION = "How do I delete my Facebook account?"


def _client(server, session):
    return AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id=session, timeout_s=20)


@pytest.fixture
def store_url(tmp_path):
    return sqlite_url(str(tmp_path / "conversations.sqlite"))


def _ask_then_restart(store_url, session):
    server = start(store_url)
    try:
        events = list(_client(server, session).stream(QUESTION))
    finally:
        server.stop(0)
    shown = [(s["n"], s["doc_id"]) for s in events[0]["sources"]]
    assert len(shown) == 2 and shown[0] == (1, "fb-1"), shown
    assert len(events[-1]["turn_id"]) == 32
    return shown, start(store_url)  # a new server: nothing of the old one in memory


def test_a_follow_up_after_a_restart_continues_over_grpc(store_url):
    shown, server = _ask_then_restart(store_url, "restart-grpc")
    try:
        client = _client(server, "restart-grpc")
        final = list(client.stream("what about the second one?"))[-1]
        assert final["route"] == "search", final
        assert [(c["n"], c["doc_id"]) for c in final["citations"]] == [(2, shown[1][1])]
        first = client.ask("the first")  # Predict: the same stored session
        assert [(c["n"], c["doc_id"]) for c in first["citations"]] == [(1, "fb-1")]
        assert len(first["turn_id"]) == 32
    finally:
        server.stop(0)
    store = ConversationStore.open(store_url)
    logged = [t for t in store.turns() if t["session_id"] == "restart-grpc"]
    assert [t["message"] for t in logged] == [QUESTION, "what about the second one?",
                                              "the first"]
    assert logged[0]["sources"][0]["doc_id"] == "fb-1" and logged[1]["cited"] == [2]
    assert logged[0]["model_versions"]["search"] == 1 and logged[0]["index_version"] == "1"
    assert all(t["latency_ms"] > 0 for t in logged)


def test_a_follow_up_after_a_restart_continues_over_rest(store_url):
    shown, server = _ask_then_restart(store_url, "restart-rest")
    try:
        status, events = post(server.rest_port, "/v1/assistant:stream",
                              {"session_id": "restart-rest",
                               "message": "what about the second one?"})
        assert status == 200
        final = events[-1]
        assert final["type"] == "final" and final["route"] == "search", final
        assert [(c["n"], c["doc_id"]) for c in final["citations"]] == [(2, shown[1][1])]
    finally:
        server.stop(0)


def test_without_a_store_a_restart_forgets(tmp_path):
    """The baseline the store fixes: in memory, the follow-up has nothing to follow."""
    server = start(None)
    try:
        list(_client(server, "memory").stream(QUESTION))
    finally:
        server.stop(0)
    server = start(None)
    try:
        final = list(_client(server, "memory").stream("what about the second one?"))[-1]
        assert [c["n"] for c in final["citations"]] != [2]
    finally:
        server.stop(0)


def test_feedback_and_forget_over_rest_and_grpc(store_url):
    server = start(store_url)
    try:
        client = _client(server, "rated")
        turn_id = list(client.stream(QUESTION))[-1]["turn_id"]
        rest = server.rest_port
        assert post(rest, "/v1/assistant:feedback", {"session_id": "rated", "turn_id": turn_id,
                                                     "rating": "up"}) == \
            (200, {"status": "recorded"})
        assert client.feedback(turn_id, "down", "the second source was right") == \
            {"status": "recorded"}
        status, body = post(rest, "/v1/assistant:feedback",
                            {"session_id": "rated", "turn_id": "f" * 32, "rating": "up"})
        assert status == 404 and "No turn" in body["error"]
        status, body = post(rest, "/v1/assistant:feedback",
                            {"session_id": "someone-else", "turn_id": turn_id, "rating": "up"})
        assert status == 404
        status, body = post(rest, "/v1/assistant:feedback",
                            {"session_id": "rated", "turn_id": turn_id, "rating": 5})
        assert status == 400 and "rating" in body["error"]
        with pytest.raises(grpc.RpcError) as e:
            client.feedback("0" * 32, "up")
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.RpcError) as e:
            client.feedback(turn_id, "sideways")
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        store = ConversationStore.open(store_url)
        assert [(f["rating"], f["comment"]) for f in store.feedback()] == [
            ("up", ""), ("down", "the second source was right")]
        status, body = post(rest, "/v1/assistant:forget", {"session_id": "rated"})
        assert status == 200 and body["deleted_rows"] == 5  # turn, its audit record, 2 ratings, session
        assert store.feedback() == [] and store.load_session("rated") is None
        assert post(rest, "/v1/assistant:forget", {"session_id": "rated"})[0] == 404
        # The forgotten conversation starts over: "the second one" has nothing before it.
        final = list(client.stream("what about the second one?"))[-1]
        assert [c["n"] for c in final["citations"]] != [2]
    finally:
        server.stop(0)


def test_a_corrupt_store_stops_the_start_with_a_clear_error(tmp_path):
    path = tmp_path / "conversations.sqlite"
    path.write_bytes(b"garbage" * 1000)
    with pytest.raises(Exception, match="corrupt or not a SQLite database"):
        start(sqlite_url(str(path)))


def test_without_tasks_the_chat_dialogue_continues_after_a_restart(store_url):
    """Task dialogues off: the chat route's dialogue (what the chat model reads) is
    restored: after the restart the chat model still reads the request made before."""
    booking = "Book a table for two at an Italian place in San Jose tonight at 7"
    server = start(store_url)
    try:
        first = _client(server, "booking").ask(booking)
        assert first["route"] == "chat", first
    finally:
        server.stop(0)
    models = conversation_models()
    server = start(store_url, models=models)
    try:
        again = _client(server, "booking").ask("Make the restaurant dinner at 8 pm instead")
        assert again["route"] == "chat", again
        context = models["chat"].seen[-1]  # what the chat model read for this turn
        assert booking in context and first["reply"] in context, context
    finally:
        server.stop(0)


def test_a_task_booking_continues_across_restarts(store_url, tmp_path):
    """Task dialogues on: the offer, the pending confirmation and the booking each
    happen in a fresh server, which takes the task state (dialogue state, offered
    restaurant, pending confirmation, idempotency keys) from the store; the booking
    is made once, and each final event carries both its turn_id and the task."""
    db = tmp_path / "example.sqlite"
    example_db.build_example_db(db)

    def turn(message):
        server = start(store_url, task_db=str(db))  # nothing of the last server in memory
        try:
            events = list(_client(server, "task-restart").stream(message))
        finally:
            server.stop(0)
        final = events[-1]
        assert final["type"] == "final" and final["route"] == "task", final
        assert len(final["turn_id"]) == 32
        return final

    offer = turn("Book a table for two at an Italian place in San Jose tonight at 7")
    assert offer["task"]["pending"] == "offer"
    name = offer["task"]["offered"]["restaurant_name"]
    confirm = turn("Yes please")
    assert confirm["task"]["pending"] == "confirm", confirm
    assert name in confirm["reply"] and "7 pm" in confirm["reply"]
    booked = turn("Yes")
    assert booked["task"]["call"]["error"] == "" and booked["task"]["pending"] == ""
    (row,) = booked["task"]["results"]
    assert row["restaurant_name"] == name and row["time"] == "19:00"
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM reservations").fetchone()[0] == 1
    store = ConversationStore.open(store_url)
    logged = [t for t in store.turns() if t["session_id"] == "task-restart"]
    assert [t["turn_id"] for t in logged] == [offer["turn_id"], confirm["turn_id"],
                                              booked["turn_id"]]
    task_state = logged[1]["state"]["task"]
    assert task_state["pending"] == "confirm" and task_state["service"] == confirm["task"][
        "service"]
    assert task_state["state"][task_state["service"]]["slot_values"]["party_size"] == ["2"]
