"""No trace of a document a caller may not read, over every path a caller has.

Two users (alice in `support`, bob in no group) and documents at three levels
(public, support, board; `permission_fixtures`) on a real server: gRPC and
REST search in every mode, filters used as probes, scores and the not-found
flag (equal to those of an index holding only the permitted documents), known
questions, the assistant's sources, citations, related questions and ordinal
follow-ups (also after a permission is revoked mid-session, and from another
caller's session), over one index (shards: `test_permission_shards`).
"""

import json
import os
import time

import grpc
import numpy as np
import pytest
import requests
from conftest import free_port
from google.protobuf import json_format, struct_pb2

import permission_fixtures as pf
from lepton_tf.client.base import PredictClient

MODES = ("dense", "bm25", "hybrid")


def _server(index_dir, tokens_path, **extra):
    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.assistant.routing import Router
    from lepton_tf.search.servable import SearchServable
    from lepton_tf.server.app import ModelServer, ServerOptions

    srv = ModelServer(ServerOptions(port=0, rest_api_port=free_port(),
                                    tokens_file=str(tokens_path), **extra),
                      python_servables={"encoder": pf.HashEncoder(),
                                        "search": SearchServable(index_dir, pf.embed,
                                                                not_found_threshold=0.3)})
    mount_assistant(srv, router=Router(search_threshold=0.15, not_found_threshold=0.15),
                    dialogue_turns=["book a table for two tonight"], domain_turns=[],
                    search_k=5, warm_up=False)
    return srv.start()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaks")
    tokens = root / "tokens.yaml"
    tokens.write_text(pf.tokens_yaml())
    full = pf.build(str(root / "full"), pf.ALL)
    views = {"bob": pf.build(str(root / "bob"), pf.PUBLIC, with_readers=False),
             "alice": pf.build(str(root / "alice"), pf.PUBLIC + pf.SUPPORT, with_readers=False)}
    server = _server(full, tokens, audit_log=str(root / "audit.jsonl"))
    yield {"server": server, "tokens": tokens, "views": views, "root": root, "full": full}
    server.stop(0)


def _token(user):
    return {"alice": pf.ALICE, "bob": pf.BOB, "carol": pf.CAROL}[user]


def _inputs(query, mode="dense", k=5, filter=""):
    return {"query": np.array([query.encode()], object), "k": np.int32(k),
            "mode": np.array(mode.encode(), object), "filter": np.array(filter.encode(), object)}


def _grpc_search(server, user, query, mode="dense", k=5, filter=""):
    client = PredictClient(f"127.0.0.1:{server.grpc_port}", token=_token(user))
    return client.predict("search", _inputs(query, mode, k, filter),
                          signature_name="search_options")


def _rest_search(server, user, query, mode="dense", k=5, filter=""):
    r = requests.post(f"http://127.0.0.1:{server.rest_port}/v1/models/search:predict",
                      json={"signature_name": "search_options",
                            "inputs": {"query": [query], "k": k, "mode": mode,
                                       "filter": filter}},
                      headers={"Authorization": f"Bearer {_token(user)}"}, timeout=30)
    return r.status_code, r.json()


def _text(out) -> str:
    return json.dumps({k: np.asarray(v).tolist() for k, v in out.items()},
                      default=lambda b: b.decode() if isinstance(b, bytes) else str(b))


def _principal(user):
    """The caller the leak tests act as: alice reads support's documents, bob none."""
    from lepton_tf.server import identity

    return identity.Principal(user, frozenset({"support"} if user == "alice" else ()))


def _served_with_rule(world, user, rule) -> dict:
    """The full index and `user`'s permitted-only view, each served with `rule`
    as its not-found rule."""
    from lepton_tf.index.not_found_rule import FILE_NAME
    from lepton_tf.search.servable import SearchServable

    served = {}
    for name, path in (("full", world["full"]), ("view", world["views"][user])):
        with open(os.path.join(path, FILE_NAME), "w") as f:
            json.dump(rule.to_dict(), f)
        served[name] = SearchServable(path, pf.embed)
        assert served[name].not_found_rule.features == rule.features
    return served


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_search_never_shows_a_hidden_document(world, user):
    server = world["server"]
    for probe in pf.PROBES:
        for mode in MODES:
            out = _grpc_search(server, user, probe, mode)
            ids = {d.decode() for d in out["doc_ids"][0] if d}
            assert ids and ids <= pf.READABLE[user], (probe, mode, ids)
            assert not pf.leaked(user, _text(out)), (probe, mode)
            status, doc = _rest_search(server, user, probe, mode)
            assert status == 200 and not pf.leaked(user, json.dumps(doc)), (probe, mode)
            assert {h for h in doc["outputs"]["doc_ids"][0] if h} == ids
    # A leak would show: alice does read the support document bob may not.
    out = _grpc_search(server, "alice", "refund override code zebra42")
    assert out["doc_ids"][0][0] == b"sup-refund"


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_scores_and_not_found_are_those_of_the_permitted_documents_alone(world, user):
    """The response equals that of an index holding only what the user may read:
    nothing (hits, any score, the flag) tells a hidden document is there."""
    from lepton_tf.search.servable import SearchServable

    view = SearchServable(world["views"][user], pf.embed, not_found_threshold=0.3)
    for probe in pf.PROBES + ["where can visitors park", "what are the executive salary bands"]:
        got = _grpc_search(world["server"], user, probe, "dense")
        want = view.run("search_options", _inputs(probe, "dense"))
        assert got["doc_ids"].tolist() == want["doc_ids"].tolist(), probe
        for name in ("scores", "dense_score"):
            np.testing.assert_allclose(got[name], want[name], atol=1e-5, err_msg=probe)
        assert got["not_found"].tolist() == want["not_found"].tolist(), probe


@pytest.mark.parametrize("many", [False, True], ids=["few", "many"])
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_bm25_fusion_and_a_lexical_not_found_rule_see_only_permitted_documents(world, user,
                                                                               many,
                                                                               monkeypatch):
    """BM25's statistics (IDF, average length), the fused scores and a rule reading
    `bm25` and `cover` are those of the permitted documents alone; also for a
    caller who may read more passages than BM25 is rebuilt for (`many`: the
    threshold lowered below these documents)."""
    import lepton_tf.index.permitted_lexical as permitted_lexical
    import lepton_tf.index.permitted_signals as permitted_signals
    from lepton_tf.index.not_found_rule import NotFoundRule
    from lepton_tf.server import identity

    if many:
        monkeypatch.setattr(permitted_lexical, "PERMITTED_BELOW", 1)
        monkeypatch.setattr(permitted_signals, "PERMITTED_BELOW", 1)

    rule = NotFoundRule(("top1", "bm25", "cover"), (-1.0, -1.0, -1.0), (0.5, 0.5, 0.5),
                        (1.0, 1.0, 1.0))
    served = _served_with_rule(world, user, rule)
    principal = _principal(user)
    flags = set()
    for probe in pf.PROBES + ["office parking fee euros", "refund receipt"]:
        for mode in MODES:
            with identity.acting_as(principal):
                got = served["full"].run("search_options", _inputs(probe, mode))
            want = served["view"].run("search_options", _inputs(probe, mode))
            assert got["doc_ids"].tolist() == want["doc_ids"].tolist(), (probe, mode)
            for name in ("scores", "bm25_score", "dense_score"):
                np.testing.assert_allclose(got[name], want[name], atol=1e-5,
                                           err_msg=f"{probe} {mode} {name}")
            assert got["not_found"].tolist() == want["not_found"].tolist(), (probe, mode)
            flags.add(bool(got["not_found"][0]))
    assert flags == {True, False}  # the rule decides both ways here



@pytest.mark.parametrize("user", ["alice", "bob"])
def test_a_known_question_rule_sees_only_permitted_questions_in_one_pass(world, user,
                                                                         monkeypatch):
    """A hidden document's known question does not move the flag: with a rule
    on `question_top1` cut between the best question's cosine with and without
    the hidden documents, the caller gets the flag of the index of what it may
    read; and the signals come from the ranking pass (one question product,
    one BM25 scoring a query)."""
    from lepton_tf.index.lexical import LexicalIndex
    from lepton_tf.index.not_found_rule import NotFoundRule
    from lepton_tf.search.servable import SearchServable
    from lepton_tf.server import identity

    probe = "when does the falconcorp merger close"  # a board document's own question
    vector = pf.embed([probe])
    tops = {}
    for name, path in (("full", world["full"]), ("view", world["views"][user])):
        known = SearchServable(path, pf.embed).index.known_questions
        tops[name] = known.features(vector)[0]["question_top1"]
    assert tops["full"] > tops["view"] + 0.1  # the hidden question is the closest
    rule = NotFoundRule(("question_top1",), (-1.0,), ((tops["full"] + tops["view"]) / 2,),
                        (1.0,))
    served = _served_with_rule(world, user, rule)
    principal = _principal(user)
    assert served["full"].run("search_options", _inputs(probe))["not_found"].tolist() == [False]
    counts = {"questions": 0, "bm25": 0}
    known = served["full"].index.known_questions
    vectors = known.vectors

    class _Counted(type(known)):
        @property
        def vectors(self):
            counts["questions"] += 1
            return vectors

        @vectors.setter
        def vectors(self, value):
            pass

    monkeypatch.setattr(known, "__class__", _Counted)
    scores = LexicalIndex.scores

    def counted_scores(self, text):
        counts["bm25"] += 1
        return scores(self, text)
    monkeypatch.setattr(LexicalIndex, "scores", counted_scores)
    for mode in MODES:
        counts.update(questions=0, bm25=0)
        with identity.acting_as(principal):
            got = served["full"].run("search_options", _inputs(probe, mode))
        assert counts == {"questions": 1, "bm25": 1}, (mode, counts)
        want = served["view"].run("search_options", _inputs(probe, mode))
        assert got["not_found"].tolist() == want["not_found"].tolist() == [True], mode

def test_filters_cannot_probe_for_hidden_documents(world):
    server = world["server"]
    hidden = _grpc_search(server, "bob", "merger", "hybrid", filter='{"doc_id": "board-merger"}')
    absent = _grpc_search(server, "bob", "merger", "hybrid", filter='{"doc_id": "no-such-doc"}')
    assert _text(hidden) == _text(absent)
    assert hidden["not_found"].tolist() == [True] and not hidden["doc_ids"][0].any()
    by_title = _grpc_search(server, "bob", "merger", "bm25",
                            filter='{"title": "Merger plan falconcorp"}')
    assert not any(by_title["doc_ids"][0])
    with pytest.raises(grpc.RpcError) as info:
        _grpc_search(server, "bob", "merger", "dense", filter='{"$readers": ["board"]}')
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status, doc = _rest_search(server, "bob", "merger", "dense", filter='{"$readers": ["*"]}')
    assert status == 400 and "reserved" in doc["error"]


def _stream_grpc(server, user, session, message):
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        request = struct_pb2.Struct()
        request.update({"session_id": session, "message": message})
        call = channel.unary_stream("/lepton.assistant.v1.Assistant/Stream",
                                    request_serializer=struct_pb2.Struct.SerializeToString,
                                    response_deserializer=struct_pb2.Struct.FromString)
        return [json_format.MessageToDict(e) for e in
                call(request, timeout=30, metadata=(("authorization", f"Bearer {_token(user)}"),))]


def _stream_rest(server, user, session, message):
    r = requests.post(f"http://127.0.0.1:{server.rest_port}/v1/assistant:stream",
                      json={"session_id": session, "message": message},
                      headers={"Authorization": f"Bearer {_token(user)}"}, timeout=30)
    assert r.status_code == 200, r.text
    return [json.loads(line) for line in r.text.splitlines() if line.strip()]


def _predict_assistant(server, user, session, message):
    r = requests.post(f"http://127.0.0.1:{server.rest_port}/v1/models/assistant:predict",
                      json={"inputs": {"session_id": session, "message": message}},
                      headers={"Authorization": f"Bearer {_token(user)}"}, timeout=30)
    assert r.status_code == 200, r.text
    return [r.json()]


TRANSPORTS = {"grpc": _stream_grpc, "rest": _stream_rest, "predict": _predict_assistant}


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
@pytest.mark.parametrize("user", ["alice", "bob"])
def test_the_assistant_never_cites_relates_or_quotes_a_hidden_document(world, user, transport):
    ask = TRANSPORTS[transport]
    for n, probe in enumerate(pf.PROBES):
        session = f"{transport}-{user}-{n}"
        for message in (probe, "the first one", "the second one", "and the last one?"):
            events = ask(world["server"], user, session, message)
            assert not pf.leaked(user, json.dumps(events)), (probe, message, events)


def test_a_revoked_permission_ends_access_mid_session(world):
    server, tokens = world["server"], world["tokens"]
    first = _stream_rest(server, "alice", "revoke", "refund override code zebra42")
    final = first[-1]
    assert final["type"] == "final" and final["citations"], final
    assert final["citations"][0]["doc_id"] == "sup-refund" and "zebra42" in final["reply"]
    # bob reuses alice's session id: another caller's conversation is not his.
    bob = _stream_rest(server, "bob", "revoke", "the first one")
    assert not pf.leaked("bob", json.dumps(bob))
    try:
        tokens.write_text(pf.tokens_yaml(alice_groups=()))  # alice leaves support
        import os
        os.utime(tokens, (time.time() + 5, time.time() + 5))
        deadline = time.monotonic() + 10
        while _grpc_search(server, "alice", "refund override zebra42")["doc_ids"][0][0] == \
                b"sup-refund" and time.monotonic() < deadline:
            time.sleep(0.2)
        events = _stream_rest(server, "alice", "revoke", "the first one")
        assert not pf.leaked("bob", json.dumps(events)), events
        assert not events[-1]["citations"] and events[-1]["not_found"]
        assert events[0]["type"] == "sources" and not events[0]["sources"]
        events = _stream_rest(server, "alice", "revoke", "what about the second one?")
        assert not pf.leaked("bob", json.dumps(events)), events
        assert {c["doc_id"] for c in events[-1]["citations"]} <= pf.READABLE["bob"]
    finally:
        tokens.write_text(pf.tokens_yaml())
        os.utime(tokens, (time.time() + 10, time.time() + 10))
        time.sleep(1.2)


def test_the_audit_trail_records_who_asked_what_and_shows_admins_their_groups(world):
    server = world["server"]
    _grpc_search(server, "bob", "merger for jane.doe@example.com", "hybrid")
    _stream_rest(server, "alice", "audit", "refund override for +1 (415) 867-5309")
    records = [json.loads(line) for line in (world["root"] / "audit.jsonl").read_text()
               .splitlines()]
    bob = [r for r in records if r["principal"] == "bob" and "[EMAIL]" in r["query"][0]]
    assert bob and bob[-1]["model"] == "search" and bob[-1]["decision"].startswith(
        "readers=['*', 'user:bob']; 3 of 6 passages permitted")
    assert set(bob[-1]["documents"][0]) <= pf.READABLE["bob"]
    alice = [r for r in records if r["principal"] == "alice" and r["model"] == "assistant"
             and "[PHONE]" in r["query"][0]]
    assert alice and alice[-1]["documents"] == [["sup-refund"]]
    text = json.dumps(records)
    assert "jane.doe@example.com" not in text and "867-5309" not in text

    def view(user):
        return requests.get(f"http://127.0.0.1:{server.rest_port}/v1/audit",
                            headers={"Authorization": f"Bearer {_token(user)}"}, timeout=10)
    assert view("bob").status_code == 403 and view("alice").status_code == 403
    seen = view("carol").json()["records"]  # carol administers support: alice's records
    assert seen and {r["principal"] for r in seen} == {"alice"}
