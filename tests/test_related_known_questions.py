"""Related questions from an index's known questions, through the served REST API.

A real index whose FAQ entries have topic titles ("Parking") and known
questions ("Where can visitors park?"), served by the real `search`
servable beside the assistant: the search output carries each hit's known
questions, and the assistant's related questions are those, not the titles.
A folder's passages have none: their heading paths are asked about.
"""

import json
import urllib.request

import pytest
from conftest import free_port

import permission_fixtures as pf
from lepton_tf.index import Document

FAQ = [
    Document("hours", "The office opens at nine and closes at five on weekdays.",
             "Opening hours", {}, ("When does the office open?", "office hours")),
    Document("parking", "Visitors park in the north garage of the office; the fee is two "
             "euros.", "Parking", {}, ("Where can visitors park at the office?",)),
    Document("wifi", "The office guest wifi password is on the card at the desk.",
             "Guest wifi", {}, ("What is the office wifi password?",)),
    Document("guide", "Visitors of the office sign in at the front desk on arrival.",
             "Visitor guide > Arrival", {"source": "guide.md", "start": 0}, ()),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.assistant.routing import Router
    from lepton_tf.search.servable import SearchServable
    from lepton_tf.server.app import ModelServer, ServerOptions

    index_dir = pf.build(str(tmp_path_factory.mktemp("faq") / "index"), FAQ)
    srv = ModelServer(ServerOptions(port=0, rest_api_port=free_port()),
                      python_servables={"encoder": pf.HashEncoder(),
                                        "search": SearchServable(index_dir, pf.embed,
                                                                 not_found_threshold=-1.0)})
    mount_assistant(srv, router=Router(search_threshold=0.0, not_found_threshold=-1.0),
                    dialogue_turns=["book a table for two tonight"], domain_turns=[],
                    search_k=4, warm_up=False)
    srv.start()
    yield srv
    srv.stop(0)


def _post(server, path, body: dict) -> bytes:
    request = urllib.request.Request(f"http://127.0.0.1:{server.rest_port}{path}",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def test_the_search_output_carries_each_hits_known_questions(server):
    out = json.loads(_post(server, "/v1/models/search/versions/1:predict",
                           {"signature_name": "search",
                            "inputs": {"query": ["when does the office open"], "k": 4}}))
    outputs = out["outputs"]
    metadata = {d: json.loads(m) for d, m in zip(outputs["doc_ids"][0], outputs["metadata"][0])}
    assert metadata["hours"]["questions"] == ["When does the office open?", "office hours"]
    assert "questions" not in metadata["guide"]


def test_related_questions_are_the_known_questions_on_the_page_stream(server):
    lines = _post(server, "/v1/assistant:stream",
                  {"session_id": "faq-1", "message": "when does the office open"})
    final = [json.loads(line) for line in lines.decode().splitlines() if line][-1]
    assert final["type"] == "final" and final["citations"][0]["doc_id"] == "hours", final
    related = final["related_questions"]
    assert "Where can visitors park at the office?" in related, related
    assert "What is the office wifi password?" in related, related
    # Titles of FAQ entries are not offered, nor the cited entry's own phrasings.
    assert not {"Parking", "Guest wifi", "When does the office open?", "office hours"} & \
        set(related), related
    # A folder section has no known questions: its heading path is asked about.
    assert "What about Arrival, in Visitor guide?" in related, related
