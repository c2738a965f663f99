"""A mixed conversation, driven the way a user does: a search, then a
greeting, a booking, thanks, another search and its follow-up, an unanswerable
question, a rental car and goodbye; through the `assistant` servable (gRPC
Predict), the gRPC stream and REST's NDJSON stream. The models are fakes that
behave like the shipped ones (see `conversation_fakes`)."""

import json
import re
import urllib.request

import pytest
from conftest import free_port
from conversation_fakes import (
    DIALOGUE_TURNS,
    DOMAIN_TURNS,
    SCRIPT,
    check_conversation,
    conversation_models,
)

from lepton_tf.assistant.mount import mount_assistant
from lepton_tf.assistant.routing import Router
from lepton_tf.server.app import ModelServer, ServerOptions

ROUTER = Router(search_threshold=0.3, dialogue_threshold=0.6)


def conversation_server():
    server = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                         python_servables=conversation_models())
    mount_assistant(server, router=ROUTER, dialogue_turns=DIALOGUE_TURNS, search_k=3,
                    domain_turns=DOMAIN_TURNS)
    server.start()
    return server


@pytest.fixture(scope="module")
def server():
    s = conversation_server()
    yield s
    s.stop(0)


def _client(server, session):
    from lepton_tf.client.assistant import AssistantClient

    return AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id=session, timeout_s=10)


def test_mixed_conversation_through_the_servable(server):
    client, turns = _client(server, "mixed-predict"), []
    for message, kind in SCRIPT:
        answer = client.ask(message)
        turns.append({"message": message, "kind": kind, "reply": answer["reply"],
                      "route": answer["route"], "intent": answer["intent"],
                      "not_found": answer.get("not_found", False),
                      "shown": [(c["title"], c["snippet"]) for c in answer["citations"]]})
    check_conversation(turns)


def _stream_turns(events_of):
    turns = []
    for message, kind in SCRIPT:
        events = events_of(message)
        sources, final = events[0], events[-1]
        assert sources["type"] == "sources" and final["type"] == "final"
        assert "".join(e["text"] for e in events[1:-1]) == final["reply"]
        # The stream shows the intent only where the intent model is in scope.
        assert sources["intent"] == final["intent"]
        turns.append({"message": message, "kind": kind, "reply": final["reply"],
                      "route": final["route"], "intent": final["intent"],
                      "not_found": final.get("not_found", False),
                      "shown": [(s["title"], s["snippet"]) for s in sources["sources"]]})
    return turns


def test_mixed_conversation_over_the_grpc_stream(server):
    client = _client(server, "mixed-grpc-stream")
    check_conversation(_stream_turns(lambda m: list(client.stream(m))))


def test_mixed_conversation_over_rest(server):
    def events_of(message):
        body = json.dumps({"session_id": "mixed-rest", "message": message}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.rest_port}/v1/assistant:stream", data=body,
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line]

    check_conversation(_stream_turns(events_of))


def test_chat_turns_never_see_search_turns(server):
    """What makes the chat model loop: passages and [n] of a search turn read back."""
    client = _client(server, "mixed-contexts")
    for message, _ in SCRIPT:
        client.ask(message)
    with server.manager.servable("chat") as chat:
        contexts = list(chat.seen)
    assert contexts, "the chat model was never asked"
    for context in contexts:
        assert "[DOC]" not in context and "[1]" not in context, context
        assert "Facebook" not in context and "YouTube" not in context, context


@pytest.fixture(scope="module")
def kb_dir(tmp_path_factory):
    from lepton_tf.assistant import knowledge_base

    folder = tmp_path_factory.mktemp("index")
    path = knowledge_base.write_default(str(folder), "corpora/recipes")
    doc = json.load(open(path))
    assert doc["name"] == "recipes" and "Facebook" not in json.dumps(doc)
    doc.update(greeting="Welcome to the {name} desk.", refusal="Not here, sorry.")
    json.dump(doc, open(path, "w"))
    assert knowledge_base.write_default(str(folder)) == path  # an edited file stays
    assert json.load(open(path))["greeting"] == "Welcome to the {name} desk."
    return str(folder)


@pytest.fixture(scope="module")
def kb_server(kb_dir):
    server = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                         python_servables=conversation_models())
    mount_assistant(server, router=ROUTER, dialogue_turns=DIALOGUE_TURNS, search_k=3,
                    domain_turns=DOMAIN_TURNS,
                    knowledge_base=kb_dir)
    server.start()
    yield server
    server.stop(0)


def test_texts_come_from_the_knowledge_base_config(kb_server, tmp_path):
    from lepton_tf.assistant import knowledge_base

    client = _client(kb_server, "kb")
    assert client.ask("Hi there!")["reply"] == "Welcome to the recipes desk."
    refused = client.ask("What's my card PIN?")
    assert refused["route"] == "out_of_scope" and refused["reply"] == "Not here, sorry."
    assert refused["intent"] == "card_arrival"  # the intent model decided this turn
    (tmp_path / knowledge_base.FILE_NAME).write_text('{"greting": "typo"}')
    with pytest.raises(ValueError, match="keys among"):
        knowledge_base.load(str(tmp_path))


def test_ask_command_streams_sources_related_and_resets(kb_server, capsys):
    from lepton_tf.cli import build_parser
    from lepton_tf.commands.ask import run

    args = build_parser().parse_args(["ask", "--target", f"127.0.0.1:{kb_server.grpc_port}"])
    typed = iter(["How do I turn off YouTube autoplay?", "and on my phone?", "/reset",
                  "and on my phone?", "How do I change my Gmail password?", "/quit"])
    assert run(args, input_fn=lambda prompt: next(typed)) == 0
    out = capsys.readouterr().out
    answers = out.split("bot> ")[1:]
    assert "[1] How to turn off YouTube autoplay? (yt-1, score" in answers[0]
    assert "related: " in answers[0]
    assert "On a phone, open the YouTube app" in answers[1].splitlines()[0]
    assert "(new conversation)" in answers[1]
    # After /reset the follow-up has no question before it: nothing answers it.
    assert answers[2].startswith("I found nothing in recipes")
    assert "closest matches: How to turn off YouTube autoplay?" in answers[2]
    assert answers[3].startswith("I found nothing in recipes")


def _kb_text(doc_id):
    from conversation_fakes import KB

    return next(text for i, _, text in KB if i == doc_id)


def test_an_ordinal_follow_up_answers_from_that_numbered_source(server):
    """"what about the second one?" after a search answers from source [2] of that
    answer, through the stream and the servable, and keeps the sources' numbers."""
    client = _client(server, "ordinal")
    events = list(client.stream("How do I delete my Facebook account?"))
    shown = [(s["n"], s["doc_id"]) for s in events[0]["sources"]]
    assert len(shown) == 2 and shown[0] == (1, "fb-1"), shown
    second = shown[1][1]
    for message in ("what about the second one?", "#2", "And the 2nd?", "the last one"):
        events = list(client.stream(message))
        final = events[-1]
        assert final["route"] == "search", (message, final)
        assert [(s["n"], s["doc_id"]) for s in events[0]["sources"]] == shown
        assert [(c["n"], c["doc_id"]) for c in final["citations"]] == [(2, second)], message
        assert "[2]" in final["reply"] and "[1]" not in final["reply"], final["reply"]
        said = re.sub(r"\s*\[2\]", "", final["reply"]).split()
        assert all(w in _kb_text(second).split() for w in said), final["reply"]
    first = client.ask("the first")  # the servable (Predict), same session
    assert [(c["n"], c["doc_id"]) for c in first["citations"]] == [(1, "fb-1")]
    assert "Facebook" in first["reply"] and "[1]" in first["reply"]


def test_ordinal_words_inside_a_question_are_not_a_reference(server):
    client = _client(server, "ordinal-question")
    client.ask("How do I delete my Facebook account?")
    own = client.ask("How do I create the first Gmail filter?")
    assert own["route"] == "search" and own["citations"][0]["doc_id"] == "gm-1", own
    client.ask("Book a table for two at an Italian place in San Jose tonight at 7")
    # After a task turn "the second one" is the dialogue's, never a passage.
    assert client.ask("the second one")["citations"] == []
