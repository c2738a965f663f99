"""Sharded BM25, hybrid and filtered search answer as one unsharded index."""

import numpy as np
import pytest

from lepton_tf.index import Document, SearchIndex
from lepton_tf.index.lexical import LexicalIndex
from lepton_tf.index.lexical_stats import merge_all
from lepton_tf.index.sharded import ShardedIndex, split_rows

WORDS = ("index shard search passage query vector hotel room booking train ticket "
         "station python error install package network server latency memory disk "
         "cluster worker pipeline encoder model token embedding stem filter").split()
MODES = ("dense", "bm25", "hybrid")
FILTERS = (None, {"lang": "en"}, {"lang": ["de", "fr"], "year": 2021}, {"doc_id": "p7"})


def _corpus(n=1200, seed=0):
    """Passages of varied length over a small vocabulary (so BM25 has many
    partial matches and its IDF depends on the whole corpus), with metadata."""
    rng = np.random.default_rng(seed)
    docs = []
    for i in range(n):
        words = rng.choice(WORDS, int(rng.integers(3, 40)), p=_zipf(len(WORDS)))
        docs.append(Document(f"p{i}", " ".join(words), title=f"T{i}",
                             metadata={"lang": str(rng.choice(["en", "de", "fr"])),
                                       "year": int(rng.integers(2019, 2023))}))
    x = rng.standard_normal((n, 24)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), docs


def _zipf(n):
    p = 1.0 / np.arange(1, n + 1)
    return p / p.sum()


def _queries(count=25, seed=5):
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, int(rng.integers(1, 5)))) for _ in range(count)]
    texts[0] = "nothing matches here"  # bm25: all fill from dense
    q = rng.standard_normal((count, 24)).astype(np.float32)
    return q / np.linalg.norm(q, axis=1, keepdims=True), texts


def _assert_same(got, want, flat, query, text):
    """The same hits in the same order with the same scores (fused, cosine
    and BM25), each hit's cosine and BM25 those of the unsharded index."""
    assert got.doc_ids == want.doc_ids
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-6, atol=1e-6)
    row_of = flat.row_of()
    bm25 = np.zeros(len(flat.row_ids), np.float32)
    bm25[flat.lexical_rows()] = flat.lexical.scores(text)
    for d, dense, b25 in zip(got.doc_ids, got.dense_scores, got.bm25_scores):
        np.testing.assert_allclose(dense, flat.embeddings[row_of[d]] @ query, rtol=1e-5,
                                   atol=1e-6)
        assert b25 == bm25[row_of[d]]  # bit for bit: the corpus's statistics


def test_shard_bm25_with_corpus_statistics_scores_as_unsharded():
    x, docs = _corpus(300)
    texts = [d.embedding_text() for d in docs]
    ids = [d.doc_id for d in docs]
    flat = LexicalIndex(ids, texts)
    parts = split_rows(ids, 3)
    stats = merge_all(LexicalIndex.corpus_stats([texts[i] for i in p]) for p in parts)
    assert stats == LexicalIndex.corpus_stats(texts)
    for p in parts:
        shard = LexicalIndex([ids[i] for i in p], [texts[i] for i in p], stats=stats)
        local = LexicalIndex([ids[i] for i in p], [texts[i] for i in p])
        for query in ("hotel room", "python error install", "stem"):
            want = flat.scores(query)[p]
            np.testing.assert_array_equal(shard.scores(query), want)  # bit for bit
        # Without the corpus statistics each shard's IDF is its own: the bug.
        assert not np.allclose(local.scores("hotel room"), flat.scores("hotel room")[p])


@pytest.mark.parametrize("num_shards", [2, 5])
def test_sharded_modes_and_filters_equal_unsharded(num_shards):
    x, docs = _corpus()
    flat = SearchIndex.build(x, docs)
    assert flat.config.kind == "brute_force"
    sharded = ShardedIndex.build(x, docs, num_shards=num_shards)
    queries, texts = _queries()
    try:
        for mode in MODES:
            for filter in FILTERS:
                want = flat.hybrid_search(queries, texts, 10, mode, filter)
                got = sharded.hybrid_search(queries, texts, 10, mode, filter)
                for w, g, q, t in zip(want, got, queries, texts):
                    _assert_same(g, w, flat, q, t)
                if filter == {"doc_id": "p7"}:
                    assert [h.doc_ids for h in got] == [["p7"]] * len(texts)
        # bm25 with no keyword match fills from dense, as unsharded.
        got = sharded.hybrid_search(queries[:1], texts[:1], 10, "bm25")[0]
        assert len(got.doc_ids) == 10 and not got.bm25_scores.any()
    finally:
        sharded.close()


def test_upsert_and_delete_keep_bm25_equal_to_unsharded():
    x, docs = _corpus(600)
    flat = SearchIndex.build(x, docs)
    sharded = ShardedIndex.build(x, docs, num_shards=3)
    new = [Document("p5", "hotel hotel hotel booking"), Document("new-1", "stem filter token")]
    vectors = x[:2][::-1].copy()
    for index in (flat, sharded):
        index.upsert(new, vectors)
        index.delete(["p9", "p10"])
    queries, texts = _queries(10)
    try:
        for mode in ("bm25", "hybrid"):
            want = flat.hybrid_search(queries, texts, 10, mode)
            got = sharded.hybrid_search(queries, texts, 10, mode)
            for w, g, q, t in zip(want, got, queries, texts):
                _assert_same(g, w, flat, q, t)
    finally:
        sharded.close()


def test_shards_without_bm25_gain_it_with_the_corpus_statistics():
    x, docs = _corpus(400)
    flat = SearchIndex.build(x, docs)
    sharded = ShardedIndex.build(x, docs, num_shards=3, lexical=False)  # as before sharded BM25
    assert not sharded.lexical
    sharded.rebuild_lexical()  # what `lepton-tf index --add/--delete` does to such a version
    queries, texts = _queries(8)
    try:
        for w, g, q, t in zip(flat.hybrid_search(queries, texts, 10, "hybrid"),
                              sharded.hybrid_search(queries, texts, 10, "hybrid"), queries,
                              texts):
            _assert_same(g, w, flat, q, t)
    finally:
        sharded.close()


@pytest.mark.parametrize("filter", [None, {"lang": "en"}, {"$readers": ["staff"]},
                                    {"$readers": ["staff"], "lang": "en"}])
def test_one_scatter_a_query_returns_the_hits_and_the_not_found_cosines(filter):
    from lepton_tf.index.not_found_rule import TOP_K

    x, docs = _corpus(600)
    docs = [Document(d.doc_id, d.text, d.title, d.metadata,
                     readers=("staff",) if i % 3 else ("board",)) for i, d in enumerate(docs)]
    flat = SearchIndex.build(x, docs)
    sharded = ShardedIndex.build(x, docs, num_shards=3)
    scatters = []
    scatter = sharded.scatter
    sharded.scatter = lambda call: scatters.append(call) or scatter(call)
    queries, texts = _queries(8)
    try:
        for mode in MODES:
            scatters.clear()
            got = sharded.hybrid_search(queries, texts, 5, mode, filter, signals=TOP_K)
            assert len(scatters) == 1  # the candidates and the signals in one pass
            want = flat.hybrid_search(queries, texts, 5, mode, filter, signals=TOP_K)
            for g, w in zip(got, want):
                assert g.doc_ids == w.doc_ids
                # the cosines over what the caller may read (not what the rest of the
                # filter narrows the hits to), as the unsharded index's
                np.testing.assert_allclose(g.signals.top_cosines, w.signals.top_cosines,
                                           rtol=1e-5, atol=1e-6)
    finally:
        sharded.close()
