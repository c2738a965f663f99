"""The operator's report over a real conversation log: turns per day and route,
the not-found rate, unanswered questions grouped by the encoder with counts, the
worst-rated answer with its sources, latency percentiles, feedback per document;
as `lepton-tf report` (terminal and HTML) and at `GET /report` (token required)."""

import urllib.error
import urllib.request

import pytest
from stored_conversation import start

from lepton_tf.client.assistant import AssistantClient
from lepton_tf.cli import main
from lepton_tf.store import ConversationStore, sqlite_url

TOKEN = "report-secret"
UNANSWERED = ["How do I change my Gmail password?", "gmail password change",
              "How can I change the password of Gmail", "What is my Facebook password?"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A server with a store that has logged a rated conversation."""
    path = str(tmp_path_factory.mktemp("report") / "c.sqlite")
    server = start(sqlite_url(path), auth_token=TOKEN)
    client = AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id="rep", timeout_s=20,
                             token=TOKEN)
    answered = client.ask("How do I delete my Facebook account?")
    client.feedback(answered["turn_id"], "down", "it is about deactivating")
    other = AssistantClient(f"127.0.0.1:{server.grpc_port}", session_id="rep2",
                            timeout_s=20, token=TOKEN)
    liked = other.ask("How to turn off YouTube autoplay?")
    other.feedback(liked["turn_id"], "up")
    client.ask("Hi there!")
    for question in UNANSWERED:
        assert client.ask(question)["not_found"], question
    yield server, path
    server.stop(0)


def _get(port, path, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_report_page_needs_the_token_and_shows_every_section(logged):
    server, _ = logged
    assert _get(server.rest_port, "/report")[0] == 401
    status, page = _get(server.rest_port, "/report", TOKEN)
    assert status == 200
    assert page.count("<svg") == 2  # turns per day, latency
    assert "<b id='not-found-rate'>66.7% (4 of 6 searches)</b>" in page
    unanswered = page.split("<table id='unanswered'>")[1].split("</table>")[0]
    rows = unanswered.split("<tr>")[2:]
    # The encoder groups the three Gmail phrasings; the Facebook one stands alone.
    assert rows[0].startswith("<td class='n'>3</td>") and "Gmail" in rows[0]
    assert rows[1].startswith("<td class='n'>1</td>") and "Facebook password" in rows[1]
    worst = page.split("<table id='worst'>")[1].split("</table>")[0]
    assert "How do I delete my Facebook account?" in worst and "fb-1" in worst
    assert "it is about deactivating" in worst
    documents = page.split("<table id='documents'>")[1].split("</table>")[0]
    assert documents.index("fb-1") < documents.index("yt-1")  # most down first


def test_report_command_terminal_and_html(logged, tmp_path, capsys):
    server, path = logged
    html = tmp_path / "report.html"
    assert main(["report", "--conversation_store", path, "--html", str(html),
                 "--target", f"127.0.0.1:{server.grpc_port}", "--token", TOKEN]) == 0
    out = capsys.readouterr().out
    assert "7 turns in 2 sessions; ratings 1 up, 1 down" in out
    assert "Not found: 66.7% (4 of 6 searches)" in out
    assert "grouped by encoder" in out
    assert "     3  How do I change my Gmail password? (+ 2 phrasings)" in out
    assert "comment: it is about deactivating" in out
    assert "  fb-1                 +0 -1  How do I delete my Facebook account?" in out
    assert "search        p50" in out
    assert html.read_text().count("<svg") == 2
    # Without an encoder the groups are by text: the phrasings stay apart.
    assert main(["report", "--conversation_store", path]) == 0
    out = capsys.readouterr().out
    assert "grouped by text" in out and "     3  " not in out


def test_an_empty_store_reports_nothing_without_failing(tmp_path, capsys):
    path = str(tmp_path / "empty.sqlite")
    ConversationStore.open(sqlite_url(path)).close()
    assert main(["report", "--conversation_store", path, "--html",
                 str(tmp_path / "r.html")]) == 0
    assert "0 turns in 0 sessions" in capsys.readouterr().out
