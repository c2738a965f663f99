"""Self-tuned fusion weight from held-out pseudo-queries (`index.selftune`)."""

import random
import zlib

import numpy as np
import pytest

from lepton_tf.index import Document, SearchIndex
from lepton_tf.index.selftune import pseudo_examples, self_tune

DIM, CONCEPTS, FILLERS = 64, 40, [f"filler{j}" for j in range(20)]


class _ConceptEncoder:
    """`c<i>w<j>` words are synonyms of concept i (one dimension each); any
    other word hashes into 4 shared dimensions (the encoder cannot tell them
    apart). A toy dense model: perfect on paraphrases, blind to keywords."""

    def _embed(self, texts):
        out = np.full((len(texts), DIM), 1e-3, np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                if word.startswith("c") and "w" in word:
                    out[row, int(word[1:word.index("w")])] += 1.0
                else:
                    out[row, CONCEPTS + zlib.crc32(word.encode()) % 4] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    encode_queries = encode_documents = _embed


def _paraphrase_corpus():
    """Each document: 12 different synonyms of its concept and 4 fillers,
    so a cut span shares no word with the rest of its document."""
    rng = random.Random(1)
    docs = []
    for i in range(CONCEPTS):
        words = [f"c{i}w{j}" for j in range(12)] + rng.sample(FILLERS, 4)
        rng.shuffle(words)
        docs.append(Document(f"p{i}", " ".join(words)))
    return docs


def _keyword_corpus():
    """Each document: its own 3 rare keywords, 4 times each (every span and
    the rest of its document share one), and 4 fillers."""
    rng = random.Random(2)
    docs = []
    for i in range(CONCEPTS):
        words = [f"key{i}x{j}" for j in range(3)] * 4 + rng.sample(FILLERS, 4)
        rng.shuffle(words)
        docs.append(Document(f"k{i}", " ".join(words)))
    return docs


def _index(docs):
    encoder = _ConceptEncoder()
    return SearchIndex.build(encoder.encode_documents([d.embedding_text() for d in docs]),
                             docs), encoder


def test_self_tune_picks_a_high_weight_for_paraphrases_and_a_low_one_for_keywords():
    index, encoder = _index(_paraphrase_corpus())
    config, table = self_tune(index, encoder, n=30, seed=0)
    assert config.dense_weight >= 0.9, table
    assert index.fusion is config
    assert config.tuned_on == "self-tuned: span pseudo-queries, seed 0 (30 queries)"
    index, encoder = _index(_keyword_corpus())
    config, table = self_tune(index, encoder, n=30, seed=0)
    assert config.dense_weight <= 0.3, table


def test_pseudo_queries_are_cut_from_their_documents_and_seeded():
    docs = _paraphrase_corpus()
    pairs, cut = pseudo_examples(docs, n=5, seed=3)
    assert (pairs, cut) == pseudo_examples(docs, n=5, seed=3)
    assert len(pairs) == 5 and pairs != pseudo_examples(docs, n=5, seed=4)[0]
    by_id = {d.doc_id: d for d in docs}
    for p in pairs:
        rest = cut[p.positive].text.split()
        assert len(p.query.split()) == 4 and len(rest) == 12
        assert sorted(p.query.split() + rest) == sorted(by_id[p.positive].text.split())


def test_title_recipe_cuts_a_shared_title_from_every_document_that_has_it():
    docs = [Document("a1", "first answer text here", "How to strike text"),
            Document("a2", "second answer text here", "How to strike text"),
            Document("b", "other words entirely here", "Another question"),
            Document("c", "no title at all in this one")]
    pairs, cut = pseudo_examples(docs, n=10, seed=0, recipe="title")
    assert sorted((p.query, p.positive) for p in pairs) == [
        ("Another question", "b"), ("How to strike text", "a1"), ("How to strike text", "a2")]
    assert all(d.title == "" for d in cut.values()) and set(cut) == {"a1", "a2", "b"}
    with pytest.raises(ValueError, match="recipe"):
        pseudo_examples(docs, recipe="nope")
