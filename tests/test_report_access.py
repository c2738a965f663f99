"""The operator's report, the audit trail and forgetting, per caller, on a real server
with a real SQLite conversation store.

Two groups with their own members and admins: alice (support) and erin (sales)
ask questions, some answered from their group's documents, some unanswered,
and rate answers; carol administers support, dave sales, bob is a plain user.
Each admin sees its own group's turns, unanswered questions, documents,
feedback and audit records and nothing of the other group's, through REST
(`GET /v1/report`, `GET /report`, `GET /v1/audit`) and the CLI (`lepton-tf
report [--audit] --server`, and on the database file with `--tokens_file`);
bob and the members themselves are refused. A restricted caller's session is
its own: another caller with the same session id can neither rate nor forget
it, and its owner can forget it through the API and the CLI.
"""

import json
import sqlite3

import pytest
import requests
import sqlalchemy as sa
from conftest import free_port

import permission_fixtures as pf
from lepton_tf import cli
from lepton_tf.index import Document
from lepton_tf.server.authenticators import token_sha256
from lepton_tf.store import ConversationStore, sqlite_url
from lepton_tf.store import schema
from lepton_tf.store.conversation_store import make_engine

ERIN, DAVE = "erin-93b0aa", "dave-admin-41c7d2"
TOKENS = {"alice": pf.ALICE, "bob": pf.BOB, "carol": pf.CAROL, "erin": ERIN, "dave": DAVE}
SALES = [Document("sales-quota", "Sales reps get the lynxdeal discount quota of twelve "
                  "percent each quarter.", "Lynxdeal quota", {"source": "sales/quota.md"},
                  ("what is the lynxdeal discount quota",), ("sales",))]
# What only one group's members asked or were shown: seen by the other group's
# admin, it is a leak.
SUPPORT_ONLY = ("velvetpony", "refund override", "sup-refund", "alice", "[EMAIL]")
SALES_ONLY = ("quokkatrain", "lynxdeal", "sales-quota", "erin")


def _tokens_yaml() -> str:
    entries = {"alice": (["support"], []), "erin": (["sales"], []), "bob": ([], []),
               "carol": ([], ["support"]), "dave": ([], ["sales"])}
    return "".join(f"{name}:\n  token_sha256: {token_sha256(TOKENS[name])}\n"
                   f"  groups: {groups}\n  admin_of: {admin_of}\n"
                   for name, (groups, admin_of) in entries.items())


def _server(index_dir, tokens_path, store_url):
    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.assistant.routing import Router
    from lepton_tf.search.servable import SearchServable
    from lepton_tf.server.app import ModelServer, ServerOptions

    srv = ModelServer(ServerOptions(port=0, rest_api_port=free_port(),
                                    tokens_file=str(tokens_path)),
                      python_servables={"encoder": pf.HashEncoder(),
                                        "search": SearchServable(index_dir, pf.embed,
                                                                not_found_threshold=0.3)})
    mount_assistant(srv, router=Router(search_threshold=0.15, not_found_threshold=0.15),
                    dialogue_turns=["book a table for two tonight"], domain_turns=[],
                    search_k=5, warm_up=False, store_url=store_url)
    return srv.start()


def _headers(user):
    return {"Authorization": f"Bearer {TOKENS[user]}"}


def _ask(server, user, session, message):
    r = requests.post(f"http://127.0.0.1:{server.rest_port}/v1/assistant:stream",
                      json={"session_id": session, "message": message},
                      headers=_headers(user), timeout=30)
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line.strip()][-1]


def _post(server, user, path, doc):
    r = requests.post(f"http://127.0.0.1:{server.rest_port}{path}", json=doc,
                      headers=_headers(user), timeout=30)
    return r.status_code, r.json()


def _get(server, user, path):
    return requests.get(f"http://127.0.0.1:{server.rest_port}{path}", headers=_headers(user),
                        timeout=30)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("report_access")
    tokens = root / "tokens.yaml"
    tokens.write_text(_tokens_yaml())
    db = root / "conversations.sqlite"
    server = _server(pf.build(str(root / "index"), pf.ALL + SALES), tokens,
                     sqlite_url(str(db)))
    turns = {"alice": _ask(server, "alice", "shared", "how do I override a refund"),
             "erin": _ask(server, "erin", "shared", "what is the lynxdeal discount quota")}
    assert turns["alice"]["citations"][0]["doc_id"] == "sup-refund"
    assert turns["erin"]["citations"][0]["doc_id"] == "sales-quota"
    for user in ("alice", "erin"):
        status, _ = _post(server, user, "/v1/assistant:feedback",
                          {"session_id": "shared", "turn_id": turns[user]["turn_id"],
                           "rating": "down", "comment": f"wrong for {user}"})
        assert status == 200
    assert _ask(server, "alice", "a2", "velvetpony warehouse for jo@example.com")["not_found"]
    assert _ask(server, "erin", "e2", "quokkatrain depot timetable")["not_found"]
    yield {"server": server, "tokens": tokens, "db": db, "turns": turns}
    server.stop(0)


def _leaks(text: str, words) -> list[str]:
    return [w for w in words if w.lower() in text.lower()]


@pytest.mark.parametrize("admin, own, other", [("carol", SUPPORT_ONLY, SALES_ONLY),
                                               ("dave", SALES_ONLY, SUPPORT_ONLY)])
def test_each_admin_sees_only_its_groups_report_over_rest(world, admin, own, other):
    r = _get(world["server"], admin, "/v1/report")
    assert r.status_code == 200, r.text
    report = r.json()
    member = "alice" if admin == "carol" else "erin"
    assert report["turns"] == 2 and report["ratings"] == {"up": 0, "down": 1}
    assert report["unanswered_total"] == 1
    assert [d["doc_id"] for d in report["documents"]] == [
        world["turns"][member]["citations"][0]["doc_id"]]
    assert _leaks(json.dumps(report), other) == []
    assert own[0] in json.dumps(report)  # the group's own unanswered question is there
    page = _get(world["server"], admin, "/report")
    assert page.status_code == 200 and _leaks(page.text, other) == []


@pytest.mark.parametrize("user", ["bob", "alice", "erin"])
def test_a_caller_who_administers_no_group_is_refused_the_report_and_the_trail(world, user):
    for path in ("/v1/report", "/report", "/v1/audit"):
        r = _get(world["server"], user, path)
        assert r.status_code == 403, (path, r.status_code)
        assert _leaks(r.text, SALES_ONLY[:3] + SUPPORT_ONLY[:3]) == []


def test_the_audit_trail_is_in_the_store_redacted_and_scoped(world):
    from lepton_tf.store.audit_log import StoreAuditLog

    trail = list(StoreAuditLog(ConversationStore.open(sqlite_url(str(world["db"])))).read())
    alice = [r for r in trail if r["principal"] == "alice" and r["model"] == "assistant"]
    assert {r["turn_id"] for r in alice} >= {world["turns"]["alice"]["turn_id"]}
    assert all(r["groups"] == ["support"] for r in alice)
    asked = [r for r in alice if "velvetpony" in r["query"][0]]
    assert asked and "[EMAIL]" in asked[0]["query"][0] and asked[0]["not_found"] == [True]
    assert "jo@example.com" not in json.dumps(trail)
    searches = [r for r in trail if r["principal"] == "erin" and r["model"] == "search"]
    # the decision counts what the filter kept, never names what it dropped
    assert searches and "4 of 7 passages permitted" in searches[0]["decision"]
    seen = _get(world["server"], "carol", "/v1/audit").json()["records"]
    assert seen and {r["principal"] for r in seen} == {"alice"}


def _cli(capsys, monkeypatch, token, *argv):
    monkeypatch.setenv("LEPTON_TOKEN", token)
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("audit", [False, True])
def test_report_command_through_the_server_is_scoped_to_the_token(world, capsys, monkeypatch,
                                                                  audit):
    url = f"http://127.0.0.1:{world['server'].rest_port}"
    flags = ["report", "--server", url] + (["--audit"] if audit else [])
    code, out, _ = _cli(capsys, monkeypatch, DAVE, *flags)
    assert code == 0 and "quokkatrain" in out and _leaks(out, SUPPORT_ONLY) == []
    code, out, _ = _cli(capsys, monkeypatch, pf.CAROL, *flags)
    assert code == 0 and "velvetpony" in out and _leaks(out, SALES_ONLY) == []
    code, out, err = _cli(capsys, monkeypatch, pf.BOB, *flags)
    assert code == 2 and out == "" and "403" in err and len(err.strip().splitlines()) == 1


def test_report_command_on_the_file_as_a_tokens_principal(world, capsys, monkeypatch):
    store = ["--conversation_store", str(world["db"]), "--tokens_file", str(world["tokens"])]
    code, out, _ = _cli(capsys, monkeypatch, pf.CAROL, "report", "--audit", *store)
    assert code == 0 and "velvetpony" in out and _leaks(out, SALES_ONLY) == []
    code, out, _ = _cli(capsys, monkeypatch, DAVE, "report", *store)
    assert code == 0 and "quokkatrain" in out and _leaks(out, SUPPORT_ONLY) == []
    code, out, err = _cli(capsys, monkeypatch, pf.BOB, "report", *store)
    assert code == 2 and "administers no group" in err


def _stored_sessions(db) -> set[str]:
    with sqlite3.connect(db) as connection:
        return {row[0] for row in connection.execute("SELECT session_id FROM turns")}


def test_a_session_is_its_callers_own_to_rate_and_forget(world, capsys, monkeypatch):
    server, db = world["server"], world["db"]
    _ask(server, "bob", "shared", "when does the office open")
    assert {"alice\x1fshared", "erin\x1fshared", "bob\x1fshared"} <= _stored_sessions(db)
    alice_turn = world["turns"]["alice"]["turn_id"]
    status, doc = _post(server, "bob", "/v1/assistant:feedback",
                        {"session_id": "shared", "turn_id": alice_turn, "rating": "up"})
    assert status == 404  # bob cannot rate alice's turn by naming her session id
    status, doc = _post(server, "bob", "/v1/assistant:forget", {"session_id": "shared"})
    assert status == 200 and doc["deleted_rows"] >= 2
    left = _stored_sessions(db)
    assert "bob\x1fshared" not in left and {"alice\x1fshared", "erin\x1fshared"} <= left
    code, out, _ = _cli(capsys, monkeypatch, pf.ALICE, "conversations", "forget", "shared",
                        "--target", f"127.0.0.1:{server.grpc_port}")
    assert code == 0 and "deleted" in out
    left = _stored_sessions(db)
    assert "alice\x1fshared" not in left and "erin\x1fshared" in left
    code, _, err = _cli(capsys, monkeypatch, pf.ALICE, "conversations", "forget", "shared",
                        "--target", f"127.0.0.1:{server.grpc_port}")
    assert code == 2 and "NOT_FOUND" in err


def test_a_restricted_callers_conversation_goes_on_with_the_store(world):
    server = world["server"]
    first = _ask(server, "alice", "ordinal", "refund override code zebra42")
    assert first["citations"][0]["doc_id"] == "sup-refund"
    # the stored state (under alice's key) is what the next turn continues from
    second = _ask(server, "alice", "ordinal", "the first one")
    assert [c["doc_id"] for c in second["citations"]] == ["sup-refund"], second


def test_an_older_store_gets_the_audit_table_and_keeps_its_turns(tmp_path):
    from lepton_tf.store.audit_log import StoreAuditLog
    from lepton_tf.store.records import TurnRecord, new_turn_id

    url = sqlite_url(str(tmp_path / "v2.sqlite"))
    engine = make_engine(url)
    assert schema.migrate(engine, target=2) == (None, 2)
    old = ConversationStore(engine)
    old.write_turn(TurnRecord(new_turn_id(), "s1", "hello", "chat", reply="hi"), {}, 1)
    assert "audit" not in sa.inspect(engine).get_table_names()
    engine.dispose()
    store = ConversationStore.open(url)
    assert store.version() == schema.SCHEMA_VERSION >= 3
    assert [t["message"] for t in store.turns()] == ["hello"]
    trail = StoreAuditLog(store)
    trail.write({"time": 5.0, "principal": "alice", "groups": ["support"], "model": "search",
                 "action": "search", "query": ["q"], "decision": "readers=['*']",
                 "documents": [["d1"]], "not_found": [False]})
    assert list(trail.read()) == [{"time": 5.0, "principal": "alice", "groups": ["support"],
                                   "model": "search", "action": "search", "query": ["q"],
                                   "decision": "readers=['*']", "documents": [["d1"]],
                                   "not_found": [False]}]
    store.close()


def test_the_audit_table_on_postgresql_upgrades_an_older_store():
    """The same audit trail on PostgreSQL: an older (version 2) store gets the table
    at open, records read back as written, turns map to their callers' groups."""
    from pg_cluster import missing, temporary_cluster

    from lepton_tf.store.audit_log import StoreAuditLog

    why = missing()
    if why:
        pytest.skip(why)
    with temporary_cluster() as cluster:
        engine = make_engine(cluster.url)
        assert schema.migrate(engine, target=2) == (None, 2)
        engine.dispose()
        store = ConversationStore.open(cluster.url)
        assert store.version() == schema.SCHEMA_VERSION
        trail = StoreAuditLog(store)
        record = {"time": 7.5, "principal": "erin", "groups": ["sales"], "model": "assistant",
                  "action": "search", "query": ["[EMAIL] quota"], "decision": "readers=['*']",
                  "documents": [["sales-quota"]], "not_found": [False], "turn_id": "t1"}
        trail.write(record)
        assert list(trail.read()) == [record]
        assert trail.turn_owners() == {"t1": ("erin", frozenset({"sales"}))}
        store.close()


def test_a_long_session_key_fits_the_store_and_stays_the_callers():
    from lepton_tf.server.identity import Principal, owned_session

    alice, bob = Principal("a" * 120), Principal("b" * 120)
    keys = {owned_session(p, s) for p in (alice, bob) for s in ("x" * 200, "y" * 200)}
    assert len(keys) == 4 and all(len(k) <= 200 for k in keys)
    assert owned_session(alice, "x" * 200) == owned_session(alice, "x" * 200)
    assert owned_session(Principal("alice"), "s1") == "alice\x1fs1"


def test_a_member_of_two_groups_shows_each_admin_only_that_groups_documents(tmp_path):
    """frank is in support and sales: both admins see his turn, each only with the
    documents a member of its own group may read (the report's sources and
    documents, the trail's documents)."""
    tokens = tmp_path / "tokens.yaml"
    frank = "frank-0c55e1"
    TOKENS["frank"] = frank
    tokens.write_text(_tokens_yaml() + f"frank:\n  token_sha256: {token_sha256(frank)}\n"
                                       "  groups: [support, sales]\n")
    server = _server(pf.build(str(tmp_path / "index"), pf.ALL + SALES), tokens,
                     sqlite_url(str(tmp_path / "c.sqlite")))
    try:
        turn = _ask(server, "frank", "f1", "what is the lynxdeal discount quota")
        assert turn["citations"][0]["doc_id"] == "sales-quota"
        assert _post(server, "frank", "/v1/assistant:feedback",
                     {"session_id": "f1", "turn_id": turn["turn_id"], "rating": "down"})[0] == 200
        seen = {}
        for admin in ("carol", "dave"):
            report = _get(server, admin, "/v1/report").json()
            assert report["turns"] == 1 and len(report["worst_rated"]) == 1
            trail = _get(server, admin, "/v1/audit").json()["records"]
            assert {r["principal"] for r in trail} == {"frank"}
            seen[admin] = ({s["doc_id"] for t in report["worst_rated"] for s in t["sources"]}
                           | {d["doc_id"] for d in report["documents"]},
                           {d for r in trail for ids in r["documents"] for d in ids})
        assert "sales-quota" in seen["dave"][0] and "sales-quota" in seen["dave"][1]
        assert "sales-quota" not in seen["carol"][0] | seen["carol"][1]
    finally:
        TOKENS.pop("frank")
        server.stop(0)
