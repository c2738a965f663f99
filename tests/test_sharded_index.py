"""Sharded index: scatter-gather equals unsharded exact search, storage, refusal."""

import json
import os

import numpy as np
import pytest

from lepton_tf.index import Document, EncoderInfo, IndexBuilder, IndexFormatError, SearchIndex
from lepton_tf.index.sharded import ShardedIndex, merge_top_k, shard_of, split_rows
from lepton_tf.index.sharded_storage import load_any, load_sharded, save_sharded
from lepton_tf.index.storage import list_index_versions, save_index


def _vectors(n, d=16, seed=0):
    x = np.random.RandomState(seed).randn(n, d).astype("float32")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _docs(n):
    return [Document(f"d{i}", f"text {i}", title=f"title {i}") for i in range(n)]


def test_shard_of_is_stable_and_spreads_ids():
    # Fixed values: a change of hash would move documents between shards of
    # existing indexes (lookups, upserts and deletes would miss them).
    assert [shard_of(f"d{i}", 4) for i in range(8)] == \
        [shard_of(f"d{i}", 4) for i in range(8)]
    assert shard_of("d0", 1) == 0
    counts = np.bincount([shard_of(f"doc-{i}", 8) for i in range(8000)], minlength=8)
    assert counts.min() > 850 and counts.max() < 1150, counts
    with pytest.raises(ValueError, match="empty"):
        split_rows(["a"], 4)


def test_merge_keeps_the_best_scores_across_shards():
    a = ([["a1", "a2"]], np.array([[0.9, 0.1]]))
    b = ([["b1", "b2"]], np.array([[0.5, 0.4]]))
    ids, scores = merge_top_k([a, b], 3)
    assert ids == [["a1", "b1", "b2"]]
    np.testing.assert_allclose(scores, [[0.9, 0.5, 0.4]])


def test_exact_sharded_search_equals_unsharded():
    x, docs = _vectors(3000), _docs(3000)
    queries = _vectors(50, seed=3)
    flat = SearchIndex.build(x, docs)
    assert flat.config.kind == "brute_force"
    want_ids, want_scores = flat.search_batched(queries, 10)
    for n in (2, 5):
        sharded = ShardedIndex.build(x, docs, num_shards=n)
        assert [len(s) for s in sharded.shards] != [3000] and len(sharded) == 3000
        ids, scores = sharded.search_batched(queries, 10)
        assert ids == want_ids
        np.testing.assert_allclose(scores, want_scores, rtol=1e-6, atol=1e-6)
        one_ids, _ = sharded.search(queries[0], 10)
        assert one_ids == want_ids[0]
        assert sharded.documents["d17"].text == "text 17" and "d17" in sharded.documents


def test_tree_ah_sharded_recall_within_a_point_of_unsharded():
    x, docs = _vectors(50_000, 16), _docs(50_000)
    queries = _vectors(300, 16, seed=5)
    from lepton_tf.index.exact import ExactIndex
    truth = ExactIndex(x, [d.doc_id for d in docs]).search_batched(queries, 10)[0]

    def recall(index):
        found = index.search_batched(queries, 10)[0]
        return np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth)])

    config = IndexBuilder(*x.shape).auto().config()
    flat = SearchIndex.build(x, docs, config)
    sharded = ShardedIndex.build(x, docs, num_shards=2)
    assert all(s.config.kind == "tree_ah" for s in sharded.shards)
    assert recall(sharded) >= recall(flat) - 0.01, (recall(sharded), recall(flat))


def test_save_load_and_a_corrupt_shard_is_refused_by_name(tmp_path):
    x, docs = _vectors(400), _docs(400)
    index = ShardedIndex.build(x, docs, num_shards=3, k=7,
                               encoder=EncoderInfo("encoder", 2, "abc"))
    path = save_sharded(index, str(tmp_path / "idx"))
    assert list_index_versions(str(tmp_path / "idx")) == [1]
    manifest = json.load(open(os.path.join(path, "manifest.json")))
    assert manifest["kind"] == "sharded" and manifest["count"] == 400
    assert [s["name"] for s in manifest["shards"]] == ["shard-00000", "shard-00001",
                                                       "shard-00002"]
    loaded = load_any(str(tmp_path / "idx"))
    assert isinstance(loaded, ShardedIndex) and loaded.config.k == 7
    assert loaded.search_batched(x[:5])[0] == index.search_batched(x[:5])[0]
    assert loaded.encoder.fingerprint == "abc"
    vectors = os.path.join(path, "shard-00001", "embeddings.npy")
    intact = open(vectors, "rb").read()
    with open(vectors, "r+b") as f:
        f.seek(300)
        f.write(b"\x07\x07\x07")
    with pytest.raises(IndexFormatError, match="shard shard-00001 refused.*embeddings.npy"):
        load_sharded(path)
    with open(vectors, "wb") as f:
        f.write(intact)
    load_sharded(path)
    with open(os.path.join(path, "shard-00002", "manifest.json"), "a") as f:
        f.write(" ")
    with pytest.raises(IndexFormatError, match="shard shard-00002"):
        load_sharded(path)


def test_upsert_and_delete_go_to_the_owning_shard():
    x, docs = _vectors(200), _docs(200)
    index = ShardedIndex.build(x, docs, num_shards=3)
    new = _vectors(1, seed=9)
    index.upsert([Document("new", "fresh")], new)
    owner = index.shards[shard_of("new", 3)]
    assert "new" in owner.documents and index.search(new[0], 1)[0] == ["new"]
    index.delete(["new", "d3"])
    assert "new" not in index.documents and "d3" not in index.documents and len(index) == 199
    with pytest.raises(KeyError):
        index.delete(["nope"])


def test_a_loaded_scann_shard_costs_at_most_1_5x_its_vectors_and_codes(tmp_path, run_python):
    # Clustered 384-d vectors (as real embeddings are), a tree_ah shard.
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((64, 384)).astype("float32")
    x = centers[rng.integers(0, 64, 30_000)] + 0.3 * rng.standard_normal((30_000, 384),
                                                                         dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = SearchIndex.build(x, _docs(30_000))
    assert index.config.kind == "tree_ah"
    path = save_index(index, str(tmp_path / "idx"))
    proc = run_python(f"""
import gc, os
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
import numpy as np, scann
from lepton_tf.index.storage import load_index
before = rss()
index = load_index({path!r})
gc.collect()
print("DELTA", rss() - before)
""")
    assert proc.returncode == 0, proc.stderr[-2000:]
    delta = int(proc.stdout.split("DELTA")[1])
    scann_dir = os.path.join(path, "scann")
    data = sum(os.path.getsize(os.path.join(scann_dir, f))
               for f in ("dataset.npy", "hashed_dataset.npy"))  # float vectors + AH codes
    assert delta <= 1.5 * data, (delta / data, delta, data)


def test_search_servable_serves_a_sharded_version_as_unsharded(tmp_path):
    from lepton_tf.search.servable import SearchServable

    x, docs = _vectors(120), _docs(120)
    save_sharded(ShardedIndex.build(x, docs, num_shards=4), str(tmp_path / "sharded"))
    save_index(SearchIndex.build(x, docs), str(tmp_path / "flat"))
    rows = {b"text 5": 5, b"title 77": 77}
    embed = lambda qs: x[[rows[q] for q in qs]]  # noqa: E731
    request = {"query": np.array(list(rows), object), "k": np.array(6, np.int32)}
    servables = {name: SearchServable(str(tmp_path / name), embed)
                 for name in ("sharded", "flat")}
    # Every mode and a filter: a sharded version answers as the unsharded one
    # (it answered dense only, and refused filters, before).
    for mode, filter in (("hybrid", b""), ("dense", b""), ("bm25", b'{"doc_id": ["d77", "d5"]}'),
                         ("hybrid", b'{"title": "title 77"}')):
        options = dict(request, mode=np.array(mode.encode(), object),
                       filter=np.array(filter, object))
        sharded, flat = (servables[n].run("search_options", options) for n in servables)
        for key in ("doc_ids", "texts", "titles", "metadata"):
            assert sharded[key].tolist() == flat[key].tolist(), (mode, filter)
        for key in ("scores", "dense_score", "bm25_score"):
            np.testing.assert_allclose(sharded[key], flat[key], atol=1e-6)
    assert servables["sharded"].run("search", request)["doc_ids"][0, 0] == b"d5"
