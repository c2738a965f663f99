"""Shards on separate servers: `serve --search-shard N` and a front over gRPC."""

import numpy as np
import pytest

from lepton_tf.index import Document, SearchIndex
from lepton_tf.index.sharded import ShardedIndex
from lepton_tf.index.sharded_storage import save_sharded
from lepton_tf.server.servable import Servable, Signature, TensorSpec

N, D = 300, 16


def _vectors(n, seed):
    x = np.random.RandomState(seed).randn(n, D).astype("float32")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


class TableEncoder(Servable):
    """`encode_query`: query `q<i>` -> row i of a fixed table of vectors."""

    def __init__(self, table):
        self.name, self.version, self.table = "encoder", 1, table
        sig = Signature({"text": TensorSpec("text", "string", (None,))},
                        {"embedding": TensorSpec("embedding", "float32", (None, D))})
        self._signatures = {"serving_default": sig, "encode_query": sig}

    @property
    def signatures(self):
        return self._signatures

    def run(self, signature_name, inputs):
        return {"embedding": self.table[[int(t.decode()[1:]) for t in inputs["text"]]]}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from lepton_tf.cli import build_parser
    from lepton_tf.commands.serve import build_server

    x = _vectors(N, 0)
    docs = [Document(f"d{i}", f"text {i}", f"title {i}") for i in range(N)]
    base = str(tmp_path_factory.mktemp("idx"))
    save_sharded(ShardedIndex.build(x, docs, num_shards=3), base)
    servers = [build_server(build_parser().parse_args([
        "serve", "--port=0", "--rest_api_port=0", f"--search_index={base}",
        f"--search-shard={s}", "--file_system_poll_wait_seconds=0"])).start()
        for s in range(3)]
    yield x, docs, [f"127.0.0.1:{s.grpc_port}" for s in servers]
    for s in servers:
        s.stop()


def test_remote_shards_answer_as_the_unsharded_index(cluster):
    from lepton_tf.search.shards import RemoteShard

    x, docs, targets = cluster
    queries = _vectors(20, 1)
    want_ids, want_scores = SearchIndex.build(x, docs).search_batched(queries, 10)
    index = ShardedIndex([RemoteShard(t) for t in targets], k=10)
    assert index.dimension == D
    ids, scores = index.search_batched(queries)
    assert ids == want_ids
    np.testing.assert_allclose(scores, want_scores, atol=1e-6)
    assert index.documents[ids[0][0]].text == f"text {ids[0][0][1:]}"


def test_front_search_servable_scatters_over_grpc(cluster):
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.search.wiring import remote_shards_factory
    from lepton_tf.client.base import PredictClient

    x, docs, targets = cluster
    queries = _vectors(4, 2)
    front = ModelServer(ServerOptions(port=0, rest_api_port=0),
                        python_servables={"encoder": TableEncoder(queries)})
    front.register_python_servable("search", remote_shards_factory(targets, k=5))
    front.start()
    try:
        out = PredictClient(f"127.0.0.1:{front.grpc_port}").predict(
            "search", {"query": np.array([b"q0", b"q3"], object), "k": np.int32(4)},
            signature_name="search")
    finally:
        front.stop()
    want, _ = SearchIndex.build(x, docs).search_batched(queries[[0, 3]], 4)
    assert [[i.decode() for i in row] for row in out["doc_ids"]] == want
    assert out["texts"][0, 0].decode() == f"text {want[0][0][1:]}"


def test_shard_flags_are_checked():
    from lepton_tf.cli import build_parser
    from lepton_tf.commands.serve import build_server

    with pytest.raises(ValueError, match="--search-shard N needs --search_index"):
        build_server(build_parser().parse_args(["serve", "--search-shard=0"]))
    with pytest.raises(ValueError, match="not both"):
        build_server(build_parser().parse_args(["serve", "--search_index=/x",
                                                "--search-shards=a:1", "--model_base_path=/m"]))


def test_predict_client_spreads_calls_over_every_address():
    """round_robin: a target resolving to several pods (a headless Service)
    gets calls on all of them; gRPC's default pick_first would use one."""
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.client.base import PredictClient

    calls = []

    class Counting(TableEncoder):
        def __init__(self, tag):
            super().__init__(_vectors(2, 3))
            self.tag = tag

        def run(self, signature_name, inputs):
            calls.append(self.tag)
            return super().run(signature_name, inputs)

    servers = [ModelServer(ServerOptions(port=0, rest_api_port=0),
                           python_servables={"encoder": Counting(tag)}).start()
               for tag in ("a", "b")]
    try:
        client = PredictClient("ipv4:" + ",".join(f"127.0.0.1:{s.grpc_port}"
                                                  for s in servers))
        for _ in range(20):
            client.predict("encoder", {"text": np.array([b"q1"], object)},
                           signature_name="encode_query")
    finally:
        for s in servers:
            s.stop()
    assert calls.count("a") >= 5 and calls.count("b") >= 5, calls


@pytest.mark.parametrize("mode,filter", [("hybrid", None), ("bm25", None), ("dense", None),
                                         ("hybrid", {"doc_id": ["d3", "d30", "d299"]}),
                                         ("bm25", '{"title": "title 7"}')])
def test_remote_shards_answer_bm25_hybrid_and_filters_as_unsharded(cluster, mode, filter):
    from lepton_tf.search.shards import RemoteShard

    x, docs, targets = cluster
    queries = _vectors(6, 4)
    texts = ["text 7", "title 30", "299", "nothing", "text title 3", "7 30 299"]
    want = SearchIndex.build(x, docs).hybrid_search(queries, texts, 5, mode, filter)
    index = ShardedIndex([RemoteShard(t) for t in targets], k=10)
    got = index.hybrid_search(queries, texts, 5, mode, filter)
    for w, g in zip(want, got):
        assert g.doc_ids == w.doc_ids
        for a, b in ((g.scores, w.scores), (g.dense_scores, w.dense_scores),
                     (g.bm25_scores, w.bm25_scores)):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        for d in g.doc_ids:  # the hits' documents were fetched from their shards
            assert index.documents[d].text == f"text {d[1:]}"
    with pytest.raises(ValueError, match="filter"):
        index.hybrid_search(queries, texts, 5, mode, "[1]")
    index.close()


@pytest.fixture(scope="module")
def tuned_cluster(tmp_path_factory):
    """Two shards of a self-tuned index (dense weight 0.3, a cosine-only
    not-found rule in the version) and one shard of another index (0.85)."""
    import json

    from lepton_tf.cli import build_parser
    from lepton_tf.commands.serve import build_server
    from lepton_tf.index.fusion import FusionConfig
    from lepton_tf.index.not_found_rule import FILE_NAME, threshold_rule

    x = _vectors(N, 0)
    docs = [Document(f"d{i}", f"text {i}", f"title {i}") for i in range(N)]
    tuned = FusionConfig(dense_weight=0.3, tuned_on="self-tuned: test")
    bases = [str(tmp_path_factory.mktemp(name)) for name in ("tuned", "other")]
    version = save_sharded(ShardedIndex.build(x, docs, num_shards=2, fusion=tuned), bases[0])
    with open(f"{version}/{FILE_NAME}", "w") as f:
        json.dump(threshold_rule(0.42).to_dict(), f)
    save_sharded(ShardedIndex.build(x, docs, num_shards=2), bases[1])
    servers = [build_server(build_parser().parse_args([
        "serve", "--port=0", "--rest_api_port=0", f"--search_index={base}",
        f"--search-shard={s}", "--file_system_poll_wait_seconds=0"])).start()
        for base, s in ((bases[0], 0), (bases[0], 1), (bases[1], 1))]
    yield x, docs, tuned, [f"127.0.0.1:{s.grpc_port}" for s in servers]
    for s in servers:
        s.stop()


def test_front_fuses_with_the_shards_tuned_weight_and_rule(tuned_cluster):
    """On main the front fused with the default 0.85 and the default rule."""
    from lepton_tf.index.not_found_rule import threshold_rule
    from lepton_tf.search.servable import SearchServable
    from lepton_tf.search.shards import RemoteShard

    x, docs, tuned, targets = tuned_cluster
    queries = _vectors(6, 4)
    texts = ["text 7", "title 30", "299", "nothing", "text title 3", "7 30 299"]
    index = ShardedIndex([RemoteShard(t) for t in targets[:2]], k=10)
    assert index.fusion == tuned
    want = SearchIndex.build(x, docs, fusion=tuned).hybrid_search(queries, texts, 5, "hybrid")
    for w, g in zip(want, index.hybrid_search(queries, texts, 5, "hybrid")):
        assert g.doc_ids == w.doc_ids
        np.testing.assert_allclose(g.scores, w.scores, rtol=1e-6, atol=1e-6)
    servable = SearchServable(None, lambda texts: queries[:len(texts)], index=index)
    assert servable.not_found_rule == threshold_rule(0.42)
    index.close()


def test_front_refuses_shards_that_disagree_naming_the_shard(tuned_cluster):
    from lepton_tf.search.shards import RemoteShard

    _, _, _, targets = tuned_cluster
    with pytest.raises(ValueError, match=rf"Shard 1 \({targets[2]}\) has fusion"):
        ShardedIndex([RemoteShard(t) for t in (targets[0], targets[2])], k=10)
