"""The `assistant` servable over fake intent/search/chat/encoder servables: routing,
sessions, citations, related questions, bad input, streaming over gRPC and REST."""

import json
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest

from assistant_fakes import fake_models
from conftest import free_port
from lepton_tf.assistant import grounding
from lepton_tf.client.assistant import AssistantClient
from lepton_tf.assistant.engine import REFUSAL, Assistant
from lepton_tf.assistant.grounding import RetrievedPassage
from lepton_tf.assistant.knowledge_base import KnowledgeBase
from lepton_tf.assistant.mount import mount_assistant
from lepton_tf.assistant.routing import IntentResult, Router
from lepton_tf.assistant.sessions import SessionStore
from lepton_tf.server.app import ModelServer, ServerOptions

# Fake scores: "password" questions find d1 at 1.0; keyword-free turns look like the
# one dialogue reference turn (score 1.0) and find nothing (< 0.9).
ROUTER = Router(search_threshold=0.9, dialogue_threshold=0.9, service_threshold=0.99)


@pytest.fixture(scope="module")
def server():
    s = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                    python_servables=fake_models())
    # No small-talk score: these tests talk to the (fake) chat model with "hello".
    mount_assistant(s, router=ROUTER, dialogue_turns=["hello there"], search_k=3,
                    max_sessions=3, ttl_s=600, smalltalk_turns=([], []))
    s.start()
    yield s
    s.stop(0)


def client(server, session="s1"):
    return AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id=session, timeout_s=10)


def test_search_route_cites_retrieved_passage_and_relates_others(server):
    answer = client(server, "search-1").ask("how do I reset my password")
    # The intent model is not in scope for a search turn: no intent shown.
    assert answer["route"] == "search" and answer["intent"] == ""
    # The answer is the best sentence of the passages, ended and cited.
    assert answer["cited_by"] == "extractive" and not answer["not_found"]
    assert answer["reply"] == "How to reset your password. [1]"
    assert [c["doc_id"] for c in answer["citations"]] == ["d1"]
    assert answer["citations"][0]["title"] == "Reset a password"
    assert answer["citations"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert answer["related_questions"] == ["Close an account", "Card lost"]
    assert set(answer["timings_ms"]) == {"intent", "dialogue", "search", "chat", "total"}


def test_search_turns_do_not_ask_the_chat_model(server):
    with server.manager.servable("chat") as chat:
        before = len(chat.seen)
    answer = client(server, "search-2").ask("password reset, cite please")
    assert answer["route"] == "search" and answer["reply"].endswith("[1]")
    with server.manager.servable("chat") as chat:
        assert len(chat.seen) == before


class StubBackends:
    """Search finds the Gmail passage only for queries naming Gmail."""

    def __init__(self):
        self.queries = []

    def search(self, query, k):
        self.queries.append(query)
        score = 0.8 if "gmail" in query.lower() else 0.1
        return [RetrievedPassage("g1", "Change a Gmail password", "Open Settings, Accounts.",
                                 score)]

    def intent(self, text):
        return IntentResult("x", 0.1, True)

    def dialogue_score(self, text):
        return 0.1

    def chat(self, context):
        return "Open Settings, then Accounts."


def test_short_follow_up_is_searched_with_the_previous_question():
    backends = StubBackends()
    assistant = Assistant(backends, Router(0.5, 0.5))
    assert assistant.answer("f", "How do I change my Gmail password?").route == "search"
    follow = assistant.answer("f", "and on my phone?")
    assert follow.route == "search" and backends.queries[-1] == \
        "How do I change my Gmail password? and on my phone?"
    assert follow.cited_by == "extractive" and follow.citations[0][1].doc_id == "g1"
    assert follow.reply == "Open Settings, Accounts. [1]"
    assert assistant.answer("other", "and on my phone?").route == "out_of_scope"
    backends.intent = lambda text: IntentResult("card_arrival", 0.9, False)
    assert assistant.answer("f", "and my card PIN?").route == "out_of_scope"
    assert backends.queries[-1] == "and my card PIN?"  # no follow-up search
    assistant.close()


def test_chat_and_out_of_scope_routes(server):
    c = client(server, "routes")
    chat = c.ask("hello")
    assert chat["route"] == "chat" and chat["citations"] == []
    assert chat["reply"] == "you said: hello (turn 1)" and chat["related_questions"] == []
    banking = c.ask("card account")  # a confident intent, nothing found: refuse
    # The intent is shown where the intent model decided the turn: a refusal.
    assert banking["route"] == "out_of_scope" and banking["intent"] == "card_arrival"
    assert banking["reply"] == REFUSAL
    other = client(server, "routes-2").ask("password account in general")
    assert other["route"] == "out_of_scope" and other["intent"] == ""
    # Nothing matched and no intent claimed it: not found, with the closest matches.
    assert other["not_found"] and other["reply"] == KnowledgeBase().text("not_found")
    assert other["citations"] == [] and other["related_questions"]


def test_session_memory_carries_turns_and_is_per_session(server):
    a, b = client(server, "mem-a"), client(server, "mem-b")
    assert a.ask("hello")["reply"].endswith("(turn 1)")
    assert a.ask("hello again")["reply"].endswith("(turn 3)")  # user, system, user
    assert b.ask("hello")["reply"].endswith("(turn 1)")
    with server.manager.servable("assistant") as servable:
        session = servable.assistant.sessions.peek("mem-a")
    assert session.last_route == "chat" and len(session.turns) == 4


def test_session_store_is_bounded_lru_and_expires():
    now = [0.0]
    store = SessionStore(max_sessions=2, ttl_s=10, max_turns=4, clock=lambda: now[0])
    store.get("a").add_turn("USER", "x", store.max_turns)
    store.get("b")
    store.get("a")  # a is now the most recent
    store.get("c")  # evicts b, the least recently used
    assert store.peek("b") is None and store.peek("a").turns == [("USER", "x")]
    assert len(store) == 2 and store.evicted == 1
    now[0] = 11.0
    assert len(store) == 0 and store.expired == 2
    assert store.get("a").turns == []  # expired: a fresh session
    session = store.get("t")
    for i in range(6):
        session.add_turn("USER", str(i), store.max_turns)
    assert [t for _, t in session.turns] == ["2", "3", "4", "5"]


def test_server_sessions_stay_within_bound(server):
    for i in range(6):
        client(server, f"bound-{i}").ask("hello")
    with server.manager.servable("assistant") as servable:
        assert len(servable.assistant.sessions) <= 3


def _predict(server, **inputs):
    return client(server).predict("assistant", inputs)


@pytest.mark.parametrize("inputs, text", [
    ({"session_id": np.array([b"s"], object), "message": np.array([b"  "], object)},
     "message must not be empty"),
    ({"session_id": np.array([b""], object), "message": np.array([b"hi"], object)},
     "session_id must not be empty"),
    ({"message": np.array([b"hi"], object)}, "Missing but required: {session_id}"),
    ({"session_id": np.array([b"s"], object), "message": np.array([b"\xff\xfe"], object)},
     "message is not valid UTF-8"),
    ({"session_id": np.array([b"s", b"t"], object), "message": np.array([b"a", b"b"], object)},
     "must be a scalar or hold one string"),
    ({"session_id": np.array([b"s"], object), "message": np.array([1.0], np.float32)},
     "Expects arg[0] to be string"),
])
def test_bad_input_is_invalid_argument(server, inputs, text):
    with pytest.raises(grpc.RpcError) as info:
        _predict(server, **inputs)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert text in info.value.details()
    assert client(server).ask("hello")["route"] == "chat"  # still serving


def test_scalar_inputs_are_accepted(server):
    out = _predict(server, session_id=np.array(b"scalar", object),
                   message=np.array(b"reset my password", object))
    assert out["route"].tolist() == [b"search"]


def test_grpc_stream_sends_sources_then_reply_chunks_then_final(server):
    events = list(client(server, "stream-1").stream("how do I reset my password"))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "sources" and kinds[-1] == "final"
    assert set(kinds[1:-1]) == {"delta"} and len(kinds) > 3
    assert [s["doc_id"] for s in events[0]["sources"]] == ["d1", "d2"]
    final = events[-1]
    assert "".join(e["text"] for e in events[1:-1]) == final["reply"]
    assert [c["doc_id"] for c in final["citations"]] == ["d1"]
    with pytest.raises(grpc.RpcError) as info:
        list(client(server, "stream-1").stream(""))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _post(server, path, body: bytes):
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}", data=body,
                                     headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(request, timeout=10)


def test_rest_stream_is_ndjson_and_page_is_served(server):
    with _post(server, "/v1/assistant:stream",
               json.dumps({"session_id": "rest", "message": "reset password"}).encode()) as r:
        assert r.headers["Content-Type"].startswith("application/x-ndjson")
        events = [json.loads(line) for line in r.read().decode().splitlines() if line]
    assert events[0]["type"] == "sources" and events[-1]["type"] == "final"
    assert events[-1]["citations"][0]["doc_id"] == "d1"
    for body, text in ((b"{not json", "Malformed JSON"),
                       (json.dumps({"session_id": "r", "message": " "}).encode(),
                        "message must not be empty"),
                       (json.dumps({"message": "hi"}).encode(), "session_id")):
        with pytest.raises(urllib.error.HTTPError) as info:
            _post(server, "/v1/assistant:stream", body)
        assert info.value.code == 400 and text in json.loads(info.value.read())["error"]
    with urllib.request.urlopen(f"http://127.0.0.1:{server.rest_port}/", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/html")
        assert b"/v1/assistant:stream" in r.read()
    # The standard REST Predict reaches the same servable.
    with _post(server, "/v1/models/assistant:predict", json.dumps(
            {"inputs": {"session_id": ["rest"], "message": ["hello"]}}).encode()) as r:
        assert json.loads(r.read())["outputs"]["route"] == ["chat"]


def test_router_rule_and_grounding_helpers():
    banking = IntentResult("card_arrival", 0.9, False)
    unknown = IntentResult("x", 0.2, None)
    r = Router(0.5, 0.5, service_threshold=0.95)
    assert r.route(0.6, 0.9, banking) == "search"
    assert r.route(0.4, 0.9, banking) == "out_of_scope"
    assert r.route(0.4, 0.9, unknown) == "chat"
    assert r.route(0.4, 0.1, None) == "out_of_scope"
    assert r.route(0.4, 0.1, None, "Fresno.", last_route="chat") == "chat"
    assert r.route(None, None, None) == "chat"
    # Chit-chat is answered even when a banking-only intent model claims it.
    assert r.route(0.1, 0.3, banking, "Hi there!", chitchat_score=0.81) == "smalltalk"
    # A request very like the chat model's SGD turns is chat even when claimed.
    assert r.route(0.1, 0.95, banking, "I need a rental car") == "chat"
    assert r.route(0.1, 0.3, banking, "my card?", chitchat_score=0.3) == "out_of_scope"
    assert r.route(0.9, 0.3, banking, "Hi, delete my account", chitchat_score=0.6) == "search"
    # With the intent domain's score (similarity to the intent model's training requests),
    # the margin over it decides between chat and a refusal, whatever the intent says:
    # an SGD request like "How much does the sedan cost per day?" that a banking model
    # claims, and a banking request phrased like a task turn.
    m = Router(0.5, 0.5, service_threshold=0.95, margin_threshold=0.0, dialogue_floor=0.35)
    assert m.route(0.1, 0.52, banking, "the sedan per day?", domain_score=0.45) == "chat"
    assert m.route(0.1, 0.45, unknown, "I like Toy Story 4", domain_score=0.40) == "chat"
    assert m.route(0.1, 0.60, unknown, "pay Wilson from my balance", domain_score=0.75) \
        == "out_of_scope"
    assert m.route(0.1, 0.30, unknown, "quantum field theory", domain_score=0.20) \
        == "out_of_scope"  # like nothing at all: below the floor
    assert m.route(0.1, 0.30, unknown, "Fresno.", "chat", domain_score=0.20) == "chat"
    assert m.route(0.6, 0.9, banking, domain_score=0.1) == "search"
    assert m.route(0.1, 0.3, banking, "Hi there!", chitchat_score=0.81,
                   domain_score=0.6) == "smalltalk"
    passages = [RetrievedPassage("a", "Delete [USER] account", "Settings then delete.", 0.8),
                RetrievedPassage("b", "Block people", "Open the profile and block.", 0.6)]
    context = grounding.build_context(passages, [("USER", "how to block?")])
    assert context.startswith("[DOC] [1] Delete (USER) account: Settings then delete.")
    assert context.endswith("[DOC] [2] Block people: Open the profile and block. "
                            "[USER] how to block?")
    assert grounding.cite("Open the profile and block [2] and [7].", passages) == ([2], "model")
    # A citation the passage does not support does not stand.
    assert grounding.cite("open the profile, then block them [1]", passages) == \
        ([2], "retrieval")
    assert grounding.grounded_reply("open the profile, then block them [1]", passages)[0] == \
        "open the profile, then block them [2]"
    assert grounding.cite("open the profile, then block them", passages) == ([2], "retrieval")
    assert grounding.cite("open the profile", passages, "how to open a profile?") == \
        ([1], "extractive")  # echoing the question is not drawing on a passage
    assert grounding.grounded_reply("no idea", passages) == (
        'From "Delete [USER] account": Settings then delete. [1]', [1], "extractive")
    assert grounding.related_questions(passages + [passages[1]], exclude=1) == ["Block people"]


def test_serve_flag_mounts_the_assistant(tmp_path):
    from lepton_tf.cli import build_parser
    from lepton_tf.commands.serve import build_server

    args = build_parser().parse_args(["serve", "--model_base_path", str(tmp_path),
                                      "--model_name", "chat", "--assistant",
                                      "--conversation_store", str(tmp_path / "c.sqlite")])
    server = build_server(args)
    assert "assistant" in server._pending_python
    assert {("GET", "/"), ("GET", "/assistant"), ("POST", "/v1/assistant:stream"),
            ("POST", "/v1/assistant:feedback"), ("POST", "/v1/assistant:forget"),
            ("GET", "/report")} <= set(server.rest_routes)
    assert len(server._grpc_handlers) == 2  # Stream; Feedback and Forget


def test_scripted_conversation_prints_turns_and_citations(server, capsys):
    from lepton_tf.assistant.demo import run_scripted_conversation

    run_scripted_conversation(f"127.0.0.1:{server.grpc_port}",
                              ["hello", "how do I reset my password"])
    out = capsys.readouterr().out
    assert "user:      hello\nassistant: you said: hello (turn 1)" in out
    assert "[1] Reset a password (d1, score 1.000)" in out
    assert "related: Close an account | Card lost" in out
    run_scripted_conversation(f"127.0.0.1:{server.grpc_port}", [" "], stream=False)
    assert "[failed: INVALID_ARGUMENT: message must not be empty.]" in capsys.readouterr().out


def test_side_signals_run_under_the_turns_deadline():
    """Intent and dialogue scores run in the engine's pool: they carry the turn's
    deadline and cancel flag, so a TF call there stops with the turn."""
    import threading

    from lepton_tf.server import deadline

    seen = []
    backends = StubBackends()
    intent = backends.intent

    def watched(text):
        seen.append((deadline.current(), deadline.current_cancel()))
        return intent(text)
    backends.intent = watched
    assistant = Assistant(backends, Router(0.5, 0.5))
    flag = threading.Event()
    with deadline.scope(30.0, flag):
        at = deadline.current()
        assistant.answer("d", "How do I change my Gmail password?")
    assert seen == [(at, flag)]
