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
            "k": np.int32(5), "pool": np.int32(5), "mode": np.array(b"hybrid", object),
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
                "k": np.int32(5), "pool": np.int32(5), "mode": np.array(b"dense", object),
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
