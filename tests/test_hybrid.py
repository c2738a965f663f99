"""Stemmed BM25 in the index, weighted fusion, and exact metadata filters."""

import json
import os

import numpy as np
import pytest

from lepton_tf.index import Document, IndexBuilder, IndexFormatError, SearchIndex, load_index, save_index
from lepton_tf.index.filters import FieldIndex, FilterError, matches, parse_filter
from lepton_tf.index.fusion import FusionConfig, fuse, rank_pool
from lepton_tf.index.lexical import LexicalIndex

WORDS = ("index passage search query vector hybrid stem filter metadata page section "
         "encoder token lexical dense sparse score rank fusion weight").split()


def _vectors(n, d=16, seed=0):
    x = np.random.RandomState(seed).randn(n, d).astype("float32")
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _docs(n, seed=0):
    rng = np.random.RandomState(seed)
    return [Document(f"d{i}", " ".join(rng.choice(WORDS, 8)), title=f"title {i}",
                     metadata={"source": f"file{i % 7}.md", "page": i % 5,
                               "section": "intro" if i % 2 else "body"})
            for i in range(n)]


def test_bm25_stems_and_round_trips(tmp_path):
    lexical = LexicalIndex(["a", "b", "c"], ["Indexing many passages", "hotel rooms in Paris",
                                             "the of and"])
    assert lexical.search(["indexes"], 3)[0] == [["a"]]  # stem: index
    assert LexicalIndex(["a"], ["Indexing"], language=None).search(["indexes"], 1)[0] == [[]]
    assert lexical.scores("zzz unknown").tolist() == [0.0, 0.0, 0.0]
    lexical.save(str(tmp_path))
    loaded = LexicalIndex.load(str(tmp_path))
    np.testing.assert_allclose(loaded.scores("paris hotels"), lexical.scores("paris hotels"))
    assert loaded.search(["index hotel"], 3, allowed=np.array([False, True, True]))[0] == [["b"]]


def test_fusion_weights_interpolate_between_the_two_rankings():
    dense = np.array([0.9, 0.5, 0.1])
    bm25 = np.array([0.0, 2.0, 9.0])
    assert np.argmax(fuse(dense, bm25, "convex", 1.0)) == 0
    assert np.argmax(fuse(dense, bm25, "convex", 0.0)) == 2
    np.testing.assert_allclose(fuse(dense, bm25, "convex", 0.5), [0.5, 0.5 * (0.5 + 2 / 9), 0.5],
                               rtol=1e-6)
    rrf = fuse(dense, bm25, "rrf", 0.5)
    assert rrf[1] < rrf[0] == pytest.approx(rrf[2])
    assert fuse(np.ones(3), np.ones(3), "convex", 0.3).tolist() == [0, 0, 0]  # no evidence
    order, scores = rank_pool(dense, bm25, "hybrid", 2, FusionConfig(dense_weight=0.2))
    assert order.tolist() == [2, 1] and scores[0] >= scores[1]
    with pytest.raises(ValueError, match="dense_weight"):
        FusionConfig(dense_weight=1.5)
    with pytest.raises(ValueError, match="mode"):
        rank_pool(dense, bm25, "sparse", 2, FusionConfig())


def test_filters_parse_and_match_as_json_values():
    docs = _docs(30)
    assert parse_filter("") == {} and parse_filter(None) == {}
    assert parse_filter(b'{"page": [1, 2]}') == {"page": [1, 2]}
    for bad, match in (("[1]", "object"), ("{", "JSON"), ('{"page": []}', "empty"),
                       ('{"page": {"gt": 1}}', "values")):
        with pytest.raises(FilterError, match=match):
            parse_filter(bad)
    fields = FieldIndex(docs)
    for spec in ({"source": "file3.md"}, {"page": [1, 4.0], "section": "intro"},
                 {"doc_id": ["d1", "d29", "nope"]}, {"page": "1"}, {"missing": 1}):
        parsed = parse_filter(json.dumps(spec))
        expected = [i for i, d in enumerate(docs) if matches(d, parsed)]
        assert fields.rows(parsed).tolist() == expected, spec
    assert fields.rows(parse_filter('{"page": "1"}')).tolist() == []  # "1" is not 1
    assert fields.rows({}) is None


def _exact_subset(x, docs, query, parsed, k):
    rows = [i for i, d in enumerate(docs) if matches(d, parsed)]
    scores = x[rows] @ query
    order = sorted(range(len(rows)), key=lambda j: (-scores[j], rows[j]))[:k]
    return [docs[rows[j]].doc_id for j in order]


@pytest.mark.parametrize("kind", ["brute_force", "tree_ah"])
def test_filtered_dense_hits_equal_exact_search_over_the_filtered_subset(kind, monkeypatch):
    from lepton_tf.index import hybrid

    n = 3000
    x, docs = _vectors(n), _docs(n)
    builder = IndexBuilder(n, 16)
    config = (builder.tree(50, 5).score_ah(2).reorder(100) if kind == "tree_ah"
              else builder.brute_force()).config(k=10)
    index = SearchIndex.build(x, docs, config)
    queries = _vectors(20, seed=5)
    specs = ({"source": "file3.md"}, {"page": 2, "section": "intro"},
             {"doc_id": ["d5", "d17", "d2999"]})
    for spec in specs:
        parsed = parse_filter(spec)
        hits = index.hybrid_search(queries, ["index"] * len(queries), 10, "dense", spec)
        for q, h in zip(queries, hits):
            assert h.doc_ids == _exact_subset(x, docs, q, parsed, 10), spec
            np.testing.assert_allclose(h.scores, h.dense_scores)
    if kind == "tree_ah":
        # Large filtered sets are over-fetched from ScaNN (approximate like
        # any ScaNN search), falling back to exhaustive when too few survive.
        monkeypatch.setattr(hybrid, "EXACT_BELOW", 0)
        recalls = []
        for spec in specs:
            parsed = parse_filter(spec)
            hits = index.hybrid_search(queries, ["index"] * len(queries), 10, "dense", spec)
            for q, h in zip(queries, hits):
                expected = _exact_subset(x, docs, q, parsed, 10)
                assert len(h.doc_ids) == len(expected)
                assert all(matches(index.documents[d], parsed) for d in h.doc_ids)
                recalls.append(len(set(h.doc_ids) & set(expected)) / len(expected))
        found, _ = index.search_batched(queries, 10)
        truth, _ = index.exact().search_batched(queries, 10)
        unfiltered = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)])
        assert np.mean(recalls) >= unfiltered - 0.05, (np.mean(recalls), unfiltered)


def test_filtered_bm25_and_hybrid_stay_in_the_filter_and_fill_k():
    n = 500
    x, docs = _vectors(n), _docs(n)
    index = SearchIndex.build(x, docs)
    spec = {"source": ["file1.md", "file2.md"]}
    parsed = parse_filter(spec)
    matching = [d for d in docs if matches(d, parsed)]
    texts = ["hybrid fusion weights", "zzzz"]  # the second matches no word: dense fills
    for mode in ("bm25", "hybrid"):
        hits = index.hybrid_search(_vectors(2, seed=3), texts, 10, mode, json.dumps(spec))
        for h in hits:
            assert len(h.doc_ids) == 10 and len(set(h.doc_ids)) == 10
            assert all(matches(index.documents[d], parsed) for d in h.doc_ids)
    bm25 = index.hybrid_search(_vectors(1, seed=3), texts[:1], 10, "bm25", spec)[0]
    lexical = index.lexical.scores(texts[0])
    by_id = dict(zip(index.lexical.doc_ids, lexical))
    expected = sorted((d.doc_id for d in matching), key=lambda d: -by_id[d])[:10]
    assert [by_id[d] for d in bm25.doc_ids] == pytest.approx([by_id[d] for d in expected])
    few = index.hybrid_search(_vectors(1), ["x"], 10, "hybrid", {"doc_id": ["d1", "d2"]})[0]
    assert sorted(few.doc_ids) == ["d1", "d2"]  # fewer match than k: all of them
    assert index.hybrid_search(_vectors(1), ["x"], 10, "dense", {"page": 99})[0].doc_ids == []


def test_hybrid_beats_either_retriever_when_each_knows_half():
    # Queries whose answer only BM25 finds (an exact rare word) and queries
    # whose answer only the dense side finds (no shared word): fusion gets both.
    n = 200
    x, docs = _vectors(n), _docs(n)
    docs[10] = Document("d10", "zebra quantum " + docs[10].text)
    index = SearchIndex.build(x, docs)
    queries = np.stack([_vectors(1, seed=77)[0], x[20]])
    texts = ["zebra quantum", "nothing shared"]
    even = FusionConfig(dense_weight=0.5)
    hits = {m: index.hybrid_search(queries, texts, 5, m, fusion=even)
            for m in ("dense", "bm25", "hybrid")}
    assert hits["dense"][1].doc_ids[0] == "d20" and hits["bm25"][0].doc_ids[0] == "d10"
    assert hits["hybrid"][0].doc_ids[0] == "d10" and hits["hybrid"][1].doc_ids[0] == "d20"


def test_bm25_part_is_saved_checksummed_and_rebuilt_on_upsert(tmp_path):
    x, docs = _vectors(100), _docs(100)
    index = SearchIndex.build(x, docs, fusion=FusionConfig(dense_weight=0.4, tuned_on="pairs"))
    index.upsert([Document("new", "zebra quantum")], _vectors(1, seed=9))
    index.delete(["d3"])
    path = save_index(index, str(tmp_path))
    manifest = json.load(open(os.path.join(path, "manifest.json")))
    assert any(f.startswith("bm25/") for f in manifest["sha256"])
    assert manifest["fusion"]["dense_weight"] == 0.4
    loaded = load_index(path)
    assert loaded.fusion.tuned_on == "pairs"
    assert loaded.hybrid_search(_vectors(1), ["zebra"], 1, "bm25")[0].doc_ids == ["new"]
    assert "d3" not in loaded.lexical.doc_ids
    with open(os.path.join(path, "bm25", "vocab.index.json"), "a") as f:
        f.write(" ")
    with pytest.raises(IndexFormatError, match="bm25/vocab.index.json is corrupt"):
        load_index(path)


class _HashingEncoder:
    """A fake encoder: normalised bag of hashed words (counts its calls)."""

    def __init__(self):
        from lepton_tf.index import EncoderInfo
        self.info = EncoderInfo("fake", 1, "f00")
        self.calls = 0

    def _encode(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), 32), np.float32)
        for i, t in enumerate(texts):
            for w in t.lower().split():
                out[i, sum(map(ord, w)) % 32] += 1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)

    encode_documents = encode_queries = _encode


def test_eval_adds_stemmed_bm25_hybrid_and_sweep_rows_from_cached_embeddings(tmp_path):
    from lepton_tf.data.beir import BeirCollection
    from lepton_tf.evaluation.search import _dense_runs
    from lepton_tf.evaluation.retrieval_metrics import score_run

    corpus = {f"d{i}": {"title": "", "text": t} for i, t in enumerate(
        ["indexing passages for search", "hotel rooms in paris", "vector encoders embed text",
         "stemming reduces words", "filters on metadata fields"])}
    queries = {"q0": "index passage", "q1": "paris hotels", "q2": "stemmed word"}
    qrels = {"q0": {"d0": 1}, "q1": {"d1": 1}, "q2": {"d3": 1}}
    collection = BeirCollection(corpus, queries, qrels)
    encoder = _HashingEncoder()
    sweeps = {}
    runs = _dense_runs(encoder, collection, sorted(queries), "fake", False, str(tmp_path), "tiny",
                       FusionConfig(), sweeps)
    assert set(runs) == {"fake + exact", "fake + BM25 hybrid (convex w=0.85)",
                         "BM25 stemmed (bm25s + PyStemmer)"}
    assert score_run(qrels, runs["BM25 stemmed (bm25s + PyStemmer)"])["nDCG@10"] == 1.0
    table = sweeps["fake"]
    assert set(table) == {"convex", "rrf"} and len(table["convex"]) == 21
    # weight 0 is BM25 alone over the pool: the stemmed BM25 figure
    assert table["convex"][0.0] == 1.0
    assert encoder.calls == 2 and len(os.listdir(tmp_path)) == 2
    again = _dense_runs(encoder, collection, sorted(queries), "fake", False, str(tmp_path), "tiny")
    assert encoder.calls == 2  # both read from the cache
    assert again["fake + exact"] == runs["fake + exact"]


def test_tune_picks_the_weight_the_pairs_need():
    from lepton_tf.data.pairs import RetrievalPair
    from lepton_tf.index.fusion_tuning import match_pairs, tune_fusion

    n = 300
    x, docs = _vectors(n), _docs(n)
    docs = [Document(d.doc_id, f"{d.text} unique{i}word", d.title) for i, d in enumerate(docs)]
    index = SearchIndex.build(x, docs)
    # Keyword pairs: the query names the passage's unique word, its vector is noise.
    keyword = [RetrievalPair(f"unique{i}word", docs[i].text) for i in range(0, 60, 3)]
    noise = {p.query: _vectors(1, seed=100 + i)[0] for i, p in enumerate(keyword)}
    config, table = tune_fusion(index, keyword + [RetrievalPair("q", "not a document")],
                                lambda qs: np.stack([noise[q] for q in qs]), source="/x/kw.jsonl")
    assert config.dense_weight < 0.5 and table[0.0] > table[1.0]
    assert index.fusion is config and config.tuned_on == "kw.jsonl (20 queries, 1 pairs skipped)"
    # Semantic pairs: the query's vector is the passage's, no word shared.
    semantic = [RetrievalPair(f"zz{i}", f"d{i}") for i in range(0, 60, 3)]
    vectors = {p.query: x[int(p.positive[1:])] for p in semantic}
    config, table = tune_fusion(index, semantic, lambda qs: np.stack([vectors[q] for q in qs]))
    assert config.dense_weight > 0.5 and table[1.0] == 1.0
    assert match_pairs(index, [RetrievalPair("q", docs[5].embedding_text())])[1] == [{"d5"}]
    with pytest.raises(ValueError, match="nothing to tune"):
        tune_fusion(index, [RetrievalPair("q", "nope")], lambda qs: x[:len(qs)])


def test_search_servable_modes_filters_and_padding(tmp_path):
    from lepton_tf.search.servable import SearchServable

    x, docs = _vectors(60), _docs(60)
    save_index(SearchIndex.build(x, docs), str(tmp_path))
    rows = {f"q{i}".encode(): i for i in range(60)}
    servable = SearchServable(str(tmp_path), lambda qs: x[[rows[q] for q in qs]])
    assert set(servable.signatures) == {"serving_default", "search", "search_options"}

    def ask(mode, filter, k=5, queries=(b"q3",)):
        return servable.run("search_options", {
            "query": np.array(list(queries), object), "k": np.array(k, np.int32),
            "mode": np.array(mode.encode(), object), "filter": np.array(filter.encode(), object)})

    dense = ask("dense", "")
    assert dense["doc_ids"][0, 0] == b"d3"
    np.testing.assert_allclose(dense["scores"], dense["dense_score"])
    spec = '{"source": "file2.md", "page": [0, 1]}'
    out = ask("hybrid", spec, k=20, queries=(b"q3", b"q9"))
    parsed = parse_filter(spec)
    expected = sorted(d.doc_id for d in docs if matches(d, parsed))
    assert out["doc_ids"].shape == (2, len(expected)) and len(expected) < 20
    assert sorted(x.decode() for x in out["doc_ids"][0]) == expected
    meta = json.loads(out["metadata"][0, 0])
    assert meta["source"] == "file2.md" and meta["page"] in (0, 1)
    bm25 = ask("bm25", "")
    np.testing.assert_allclose(bm25["scores"], bm25["bm25_score"])
    # default mode is hybrid; "" mode too
    default = servable.run("search", {"query": np.array([b"q3"], object), "k": np.array(5, np.int32)})
    np.testing.assert_allclose(default["scores"], ask("", "")["scores"])
    none = ask("dense", '{"doc_id": "nope"}')
    assert none["doc_ids"].shape == (1, 0)
    for mode, filter, match in (("sparse", "", "mode must be"), ("dense", "{", "JSON")):
        with pytest.raises(ValueError, match=match):
            ask(mode, filter)


def test_query_tokens_are_those_of_bm25s_tokenize():
    import bm25s
    import Stemmer

    texts = ["Indexing the PASSAGES, quickly!", "what is an ALGOL-60 compiler's run-time?",
             "a b of the", "naïve café résumés"]
    lexical = LexicalIndex([f"d{i}" for i in range(len(texts))], texts)
    stem = Stemmer.Stemmer("english").stemWords
    for text in texts:
        expected = bm25s.tokenize([text], stopwords="en", stemmer=stem, return_ids=False,
                                  show_progress=False)[0]
        assert lexical._query_tokens(text) == [t for t in expected
                                                if t in lexical.retriever.vocab_dict]


def test_assistant_searches_in_dense_mode_where_search_has_modes(tmp_path):
    # Its routing threshold (top score >= 0.45) is calibrated on cosine scores.
    from lepton_tf.assistant.backends import ServerBackends
    from lepton_tf.server.model_manager import ModelManager
    from lepton_tf.search.servable import SearchServable

    x, docs = _vectors(40), _docs(40)
    save_index(SearchIndex.build(x, docs), str(tmp_path))
    manager = ModelManager(load=None)
    servable = SearchServable(str(tmp_path), lambda qs: x[[int(q[1:]) for q in qs]])
    manager.add_python_servable(servable)
    backends = ServerBackends(manager)
    signature, inputs = backends.search_request(["q4"], 3)
    assert signature == "search_options" and inputs["mode"] == b"dense"
    passages, not_found = backends.search("q4", 3)
    assert passages[0].doc_id == "d4" and passages[0].score == pytest.approx(1.0, abs=1e-5)
    assert not_found is False  # the search servable's flag, by the best cosine
