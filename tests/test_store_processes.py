"""The store across real server processes: a server killed with SIGKILL right
after answering has logged every turn it answered, and the next server
continues the conversation; two servers on one PostgreSQL continue each
other's conversation turn by turn; PostgreSQL going down mid-conversation
leaves turns answered, the failure counted, and the queued turn written when
it is back."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, python_env
from pg_cluster import postgres  # noqa: F401 - a fixture
from stored_conversation import metric, post, start

from lepton_tf.client.assistant import AssistantClient
from lepton_tf.store import ConversationStore, sqlite_url

QUESTION = "How do I delete my Facebook account?"


@pytest.fixture
def child_server(tmp_path):
    """`spawn(store_url) -> (process, ports)`: a server in its own process."""
    children = []

    def spawn(store_url):
        log = open(tmp_path / f"child-{len(children)}.log", "w")
        process = subprocess.Popen(
            [sys.executable, os.path.join(REPO, "tests", "stored_conversation.py"), store_url],
            stdout=subprocess.PIPE, stderr=log, env=python_env(), text=True, cwd=REPO)
        children.append(process)
        line = process.stdout.readline()  # blocks until it serves (or dies)
        if not line:
            process.wait(timeout=10)
            raise AssertionError(f"child server died: {open(log.name).read()[-2000:]}")
        return process, json.loads(line)

    yield spawn
    for process in children:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def _stream(rest_port, session, message):
    status, events = post(rest_port, "/v1/assistant:stream",
                          {"session_id": session, "message": message})
    assert status == 200 and events[-1]["type"] == "final", events
    return events


def test_sigkill_right_after_answering_loses_no_turn(tmp_path, child_server):
    url = sqlite_url(str(tmp_path / "conversations.sqlite"))
    process, ports = child_server(url)
    answered = []
    messages = [QUESTION, "what about the second one?", "Create Gmail filters",
                "thanks!", "How to turn off YouTube autoplay?"]
    for message in messages:
        answered.append(_stream(ports["rest"], "killed", message)[-1]["turn_id"])
    os.kill(process.pid, signal.SIGKILL)  # no shutdown, no flush
    process.wait(timeout=10)
    store = ConversationStore.open(url)
    logged = {t["turn_id"]: t for t in store.turns()}
    assert all(turn_id in logged for turn_id in answered), (answered, list(logged))
    assert [logged[t]["message"] for t in answered] == messages
    store.close()
    # The next server continues the conversation the killed one left.
    server = start(url)
    try:
        final = list(AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id="killed",
                                     timeout_s=20).stream("the first one"))[-1]
        assert final["route"] == "search"
        assert [c["n"] for c in final["citations"]] == [1], final
    finally:
        server.stop(0)


def test_two_servers_on_one_postgresql_alternate_turns(postgres, child_server):
    here = start(postgres.url)
    try:
        _, there = child_server(postgres.url)
        grpc_here = AssistantClient(f"127.0.0.1:{here.grpc_port}", session_id="shared",
                                    timeout_s=20)
        first = list(grpc_here.stream(QUESTION))
        shown = [(s["n"], s["doc_id"]) for s in first[0]["sources"]]
        assert len(shown) == 2
        # The other process answers the follow-up from the search this one made.
        final = _stream(there["rest"], "shared", "what about the second one?")[-1]
        assert [(c["n"], c["doc_id"]) for c in final["citations"]] == [(2, shown[1][1])]
        # And back: this process sees the other's turn, then the other sees this one's.
        again = grpc_here.ask("the first")
        assert [(c["n"], c["doc_id"]) for c in again["citations"]] == [(1, "fb-1")]
        last = _stream(there["rest"], "shared", "#2")[-1]
        assert [c["n"] for c in last["citations"]] == [2]
        store = ConversationStore.open(postgres.url)
        assert [t["message"] for t in store.turns() if t["session_id"] == "shared"] == \
            [QUESTION, "what about the second one?", "the first", "#2"]
        assert store.load_session("shared")[1] == 4
        store.close()
    finally:
        here.stop(0)


def test_postgresql_down_the_turn_is_answered_counted_and_written_later(postgres):
    server = start(postgres.url)
    try:
        client = AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id="outage",
                                 timeout_s=30)
        list(client.stream(QUESTION))
        postgres.stop("immediate")
        try:
            start_s = time.monotonic()
            final = list(client.stream("what about the second one?"))[-1]
            took = time.monotonic() - start_s
            # Answered from the cached session, though the database is gone.
            assert [c["n"] for c in final["citations"]] == [2], final
            assert took < 15, took
            rest = server.rest_port
            assert metric(rest, ":lepton:store:failures_total", '{operation="write"}') >= 1
            assert metric(rest, ":lepton:store:turn_writes_total", '{outcome="queued"}') == 1
            assert metric(rest, ":lepton:store:queued_turns") == 1
        finally:
            postgres.start()
        deadline = time.monotonic() + 30
        while metric(server.rest_port, ":lepton:store:queued_turns") and \
                time.monotonic() < deadline:
            time.sleep(0.2)
        assert metric(server.rest_port, ":lepton:store:turn_writes_total",
                      '{outcome="retried"}') == 1
        store = ConversationStore.open(postgres.url)
        assert final["turn_id"] in {t["turn_id"] for t in store.turns()}
        store.close()
    finally:
        server.stop(0)
