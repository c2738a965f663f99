"""No trace of a document a caller may not read over shards: remote shard
servers behind a front server, shard servers called directly, and the
not-found signals of local and remote shards (`permission_fixtures`)."""

import json

import grpc
import numpy as np
import pytest

import permission_fixtures as pf
from lepton_tf.client.base import PredictClient

MODES = ("dense", "bm25", "hybrid")
FRONT = "front-shard-token-91ab"


def _grpc_search(server, user, query, mode="dense", k=5):
    token = {"alice": pf.ALICE, "bob": pf.BOB}[user]
    return PredictClient(f"127.0.0.1:{server.grpc_port}", token=token).predict(
        "search", {"query": np.array([query.encode()], object), "k": np.int32(k),
                   "mode": np.array(mode.encode(), object), "filter": np.array(b"", object)},
        signature_name="search_options")


def _text(out) -> str:
    return json.dumps({k: np.asarray(v).tolist() for k, v in out.items()},
                      default=lambda b: b.decode() if isinstance(b, bytes) else str(b))


@pytest.fixture(scope="module")
def shard_world(tmp_path_factory):
    """The same documents in 2 shards on 2 shard servers and a front server."""
    from lepton_tf.index.search_index import EncoderInfo
    from lepton_tf.index.sharded import ShardedIndex
    from lepton_tf.index.sharded_storage import save_sharded
    from lepton_tf.search.shards import MODEL, shard_source
    from lepton_tf.search.wiring import remote_shards_factory
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.server.authenticators import token_sha256

    root = tmp_path_factory.mktemp("shards")
    docs = pf.ALL
    base = str(root / "sharded")
    save_sharded(ShardedIndex.build(pf.embed([d.embedding_text() for d in docs]), docs,
                                    num_shards=2, encoder=EncoderInfo("hash", 1, "hash-1")),
                 base)
    shard_tokens = root / "shard-tokens.yaml"
    shard_tokens.write_text(pf.tokens_yaml() + f"front:\n  token_sha256: {token_sha256(FRONT)}"
                                               "\n  unrestricted: true\n")
    shards = []
    for s in range(2):
        server = ModelServer(ServerOptions(port=0, rest_api_port=0, tokens_file=str(shard_tokens),
                                           file_system_poll_wait_seconds=0))
        server.register_polled_python_servable(MODEL, *shard_source(base, s))
        shards.append(server.start())
    front_tokens = root / "front-tokens.yaml"
    front_tokens.write_text(pf.tokens_yaml())
    front = ModelServer(ServerOptions(port=0, rest_api_port=0, tokens_file=str(front_tokens)),
                        python_servables={"encoder": pf.HashEncoder()})
    front.register_python_servable("search", remote_shards_factory(
        [f"127.0.0.1:{s.grpc_port}" for s in shards], k=5, token=FRONT))
    front.start()
    yield front, shards
    front.stop(0)
    for s in shards:
        s.stop(0)


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_remote_shards_never_show_a_hidden_document(shard_world, user):
    front, shards = shard_world
    for probe in pf.PROBES:
        for mode in MODES:
            out = _grpc_search(front, user, probe, mode)
            ids = {d.decode() for d in out["doc_ids"][0] if d}
            assert ids and ids <= pf.READABLE[user], (probe, mode, ids)
            assert not pf.leaked(user, _text(out)), (probe, mode)


def test_shard_servers_enforce_permissions_on_direct_callers(shard_world):
    from lepton_tf.search.shards import MODEL

    _, shards = shard_world
    vectors = pf.embed(pf.PROBES)
    for shard in shards:
        client = PredictClient(f"127.0.0.1:{shard.grpc_port}", token=pf.BOB)
        out = client.predict(MODEL, {
            "embedding": vectors, "query": np.array([p.encode() for p in pf.PROBES], object),
            "k": np.int32(5), "pool": np.int32(5), "signals": np.int32(10),
            "mode": np.array(b"hybrid", object),
            "filter": np.array(b"", object)}, signature_name="candidates")
        assert not pf.leaked("bob", _text(out))
        for doc_id in (b"board-merger", b"sup-refund"):
            with pytest.raises(grpc.RpcError) as info:
                client.predict(MODEL, {"doc_ids": np.array([doc_id], object)},
                               signature_name="documents")
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "No document" in info.value.details()
        with pytest.raises(grpc.RpcError) as info:  # a restricted caller cannot lift it
            client.predict(MODEL, {
                "embedding": vectors[:1], "query": np.array([b"merger"], object),
                "k": np.int32(5), "pool": np.int32(5), "signals": np.int32(0),
                "mode": np.array(b"dense", object),
                "filter": np.array(b'{"$readers": ["board"]}', object)},
                signature_name="candidates")
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_sharded_not_found_cosines_are_over_permitted_passages(shard_world, user):
    """Local and remote shards: the not-found signals returned with the hits are
    the best cosines among the passages the caller may read, exactly."""
    from lepton_tf.index.not_found_rule import TOP_K
    from lepton_tf.index.sharded import ShardedIndex
    from lepton_tf.search.shards import RemoteShard
    from lepton_tf.server import identity

    _, shards = shard_world
    readers = identity.Principal(user, frozenset({"support"} if user == "alice" else ())
                                 ).readers()
    local = ShardedIndex.build(pf.embed([d.embedding_text() for d in pf.ALL]), pf.ALL,
                               num_shards=2)
    remote = ShardedIndex([RemoteShard(f"127.0.0.1:{s.grpc_port}", token=FRONT)
                           for s in shards], k=5)
    permitted = pf.embed([d.embedding_text() for d in pf.ALL if d.doc_id in pf.READABLE[user]])
    vectors = pf.embed(pf.PROBES)
    for index in (local, remote):
        for mode in MODES:
            hits = index.hybrid_search(vectors, pf.PROBES, 3, mode, {"$readers": readers},
                                       signals=TOP_K)
            for h, q in zip(hits, vectors):
                np.testing.assert_allclose(h.signals.top_cosines,
                                           np.sort(permitted @ q)[::-1][:TOP_K], atol=1e-5)


BM25_QUERIES = pf.PROBES + ["when does the office open", "parking fee for visitors",
                            "refund receipt check", "office news press"]


def _permitted_only_bm25(user) -> dict:
    """query -> doc id -> BM25 of an index of the documents `user` may read alone."""
    from lepton_tf.index.lexical import LexicalIndex

    docs = [d for d in pf.ALL if d.doc_id in pf.READABLE[user]]
    lexical = LexicalIndex([d.doc_id for d in docs], [d.embedding_text() for d in docs])
    return {q: dict(zip(lexical.doc_ids, lexical.scores(q))) for q in BM25_QUERIES}


def _check_bm25(hits, expected, whole) -> int:
    """Asserts each hit's BM25 is the permitted-only index's; returns how many
    differ from the whole corpus's (the statistics a leak would show)."""
    shifted = 0
    for q, h in zip(BM25_QUERIES, hits):
        for doc_id, bm25 in zip(h.doc_ids, h.bm25_scores):
            np.testing.assert_allclose(bm25, expected[q][doc_id], rtol=1e-5, atol=1e-6,
                                       err_msg=f"{q!r} {doc_id}")
            shifted += not np.isclose(bm25, whole[q][doc_id], rtol=1e-4)
    return shifted


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_remote_shards_score_bm25_with_the_permitted_passages_statistics(shard_world, user):
    """Every BM25 score a caller gets over remote shards equals that of an index
    of the documents it may read alone: hidden documents move no statistic."""
    from lepton_tf.index.lexical import LexicalIndex
    from lepton_tf.index.sharded import ShardedIndex
    from lepton_tf.search.shards import RemoteShard
    from lepton_tf.server import identity

    _, shards = shard_world
    readers = identity.Principal(user, frozenset({"support"} if user == "alice" else ())
                                 ).readers()
    remote = ShardedIndex([RemoteShard(f"127.0.0.1:{s.grpc_port}", token=FRONT)
                           for s in shards], k=5)
    everything = LexicalIndex([d.doc_id for d in pf.ALL], [d.embedding_text() for d in pf.ALL])
    whole = {q: dict(zip(everything.doc_ids, everything.scores(q))) for q in BM25_QUERIES}
    for mode in ("bm25", "hybrid"):
        hits = remote.hybrid_search(pf.embed(BM25_QUERIES), BM25_QUERIES, 3, mode,
                                    {"$readers": readers})
        assert _check_bm25(hits, _permitted_only_bm25(user), whole) > 0


@pytest.mark.parametrize("sharded", [False, True])
def test_many_permitted_passages_score_bm25_with_their_statistics(monkeypatch, sharded):
    """Above the size where BM25 is rebuilt for a permitted set, the scores are
    still those of an index of the permitted passages alone (local index and
    local shards): the threshold is lowered so these documents pass it."""
    import lepton_tf.index.permitted_lexical as permitted_lexical
    import lepton_tf.index.permitted_signals as permitted_signals
    from lepton_tf.index import SearchIndex
    from lepton_tf.index.lexical import LexicalIndex
    from lepton_tf.index.sharded import ShardedIndex
    from lepton_tf.server import identity

    monkeypatch.setattr(permitted_lexical, "PERMITTED_BELOW", 1)
    monkeypatch.setattr(permitted_signals, "PERMITTED_BELOW", 1)
    vectors = pf.embed([d.embedding_text() for d in pf.ALL])
    index = ShardedIndex.build(vectors, pf.ALL, num_shards=2) if sharded else \
        SearchIndex.build(vectors, pf.ALL)
    everything = LexicalIndex([d.doc_id for d in pf.ALL], [d.embedding_text() for d in pf.ALL])
    whole = {q: dict(zip(everything.doc_ids, everything.scores(q))) for q in BM25_QUERIES}
    for user in ("alice", "bob"):
        readers = identity.Principal(user, frozenset({"support"} if user == "alice" else ())
                                     ).readers()
        hits = index.hybrid_search(pf.embed(BM25_QUERIES), BM25_QUERIES, 3, "bm25",
                                   {"$readers": readers})
        assert _check_bm25(hits, _permitted_only_bm25(user), whole) > 0


def test_a_permission_change_in_place_moves_the_permitted_statistics(monkeypatch):
    """After `replace_documents` opens a board document to everyone, bob's BM25
    (above the rebuild threshold) is that of the public documents and it."""
    import dataclasses

    import lepton_tf.index.permitted_lexical as permitted_lexical
    from lepton_tf.index import SearchIndex
    from lepton_tf.index.lexical import LexicalIndex

    monkeypatch.setattr(permitted_lexical, "PERMITTED_BELOW", 1)
    index = SearchIndex.build(pf.embed([d.embedding_text() for d in pf.ALL]), pf.ALL)
    readers = {"$readers": ["*", "user:bob"]}
    index.hybrid_search(pf.embed(BM25_QUERIES[:1]), BM25_QUERIES[:1], 3, "bm25", readers)
    opened = dataclasses.replace(pf.BOARD[0], readers=("*",))
    index.replace_documents([opened])
    docs = pf.PUBLIC + [opened]
    lexical = LexicalIndex([d.doc_id for d in docs], [d.embedding_text() for d in docs])
    for q, h in zip(BM25_QUERIES, index.hybrid_search(pf.embed(BM25_QUERIES), BM25_QUERIES, 3,
                                                      "bm25", readers)):
        want = dict(zip(lexical.doc_ids, lexical.scores(q)))
        for doc_id, bm25 in zip(h.doc_ids, h.bm25_scores):
            np.testing.assert_allclose(bm25, want[doc_id], rtol=1e-5, atol=1e-6)
