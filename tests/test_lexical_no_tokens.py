"""A corpus with no BM25 token at all (only stop words, punctuation, one-letter
words, empty strings): bm25s cannot index an empty vocabulary, so the index
gets a BM25 that matches nothing, and bm25 / hybrid fall back to dense."""

import json
import zlib

import numpy as np

from lepton_tf.index import Document, SearchIndex, load_index
from lepton_tf.index.lexical import LexicalIndex
from lepton_tf.index.search_index import EncoderInfo

TEXTS = ["the and of", "!!! ... ???", "", "a b c", "to be or not to be", "-- , ;"]
D = 8


class HashEncoder:
    """Each text -> a fixed pseudo-random unit vector (its CRC32 seeds it)."""

    info = EncoderInfo(name="hash", version=1)

    def encode_documents(self, texts):
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=D)
                        for t in texts]).astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_queries = encode_documents


def test_bm25_over_no_tokens_matches_nothing_and_survives_save_and_load(tmp_path):
    ids = [f"d{i}" for i in range(len(TEXTS))]
    lexical = LexicalIndex(ids, TEXTS)
    assert len(lexical) == len(TEXTS)
    assert lexical.search(["the", "hello world", ""], k=3)[0] == [[], [], []]
    np.testing.assert_array_equal(lexical.scores("hello"), np.zeros(len(TEXTS)))
    lexical.save(str(tmp_path / "bm25"))
    assert LexicalIndex.load(str(tmp_path / "bm25")).search(["hello"], k=2)[0] == [[]]
    # A shard with no token of a corpus that has some (sharded BM25 statistics).
    stats = LexicalIndex.corpus_stats(TEXTS + ["hello world"])
    assert LexicalIndex(ids, TEXTS, stats=stats).search(["hello"], k=2)[0] == [[]]


def test_bm25_and_hybrid_fall_back_to_dense_on_such_an_index(tmp_path):
    docs = [Document(f"d{i}", t) for i, t in enumerate(TEXTS)]
    encoder = HashEncoder()
    index = SearchIndex.build(encoder.encode_documents(TEXTS), docs)
    queries = encoder.encode_queries(["the", "hello world"])
    dense, _ = index.search_batched(queries, 3)
    for mode in ("bm25", "hybrid"):
        hits = index.hybrid_search(queries, ["the", "hello world"], 3, mode)
        assert [h.doc_ids for h in hits] == dense, mode


def test_lepton_tf_index_builds_and_searches_a_corpus_without_tokens(tmp_path, monkeypatch):
    from lepton_tf.cli import main

    corpus = tmp_path / "stopwords.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                              for i, t in enumerate(TEXTS)))
    monkeypatch.setattr("lepton_tf.index.encoding.SavedModelEncoder",
                        lambda path: HashEncoder())
    out = str(tmp_path / "idx")
    assert main(["index", "--corpus", str(corpus), "--out", out]) == 0
    index = load_index(out)
    assert len(index) == len(TEXTS) and index.lexical is not None
    query = HashEncoder().encode_queries(["of"])
    hits = index.hybrid_search(query, ["of"], 2, "hybrid")
    assert hits[0].doc_ids == index.search_batched(query, 2)[0][0]


def test_lepton_tf_index_of_a_folder_of_stop_words(tmp_path):
    from corpus_files import CountingEncoder

    from lepton_tf.cli import build_parser
    from lepton_tf.commands.index import build

    root = tmp_path / "notes"
    root.mkdir()
    (root / "a.md").write_text("the and of\n\nto be or not to be\n")
    (root / "b.txt").write_text("!!! ... ???\n")
    args = build_parser().parse_args(["index", "--corpus", str(root), "--out",
                                      str(tmp_path / "idx")])
    assert build(args, CountingEncoder()) == 0
    index = load_index(str(tmp_path / "idx"))
    assert len(index) >= 2 and index.lexical is not None
    assert index.lexical.search(["be"], k=2)[0] == [[]]
