"""Self-tuned fusion weight from held-out pseudo-queries (`index.selftune`)."""

import json
import random
import zlib

import numpy as np
import pytest

from lepton_tf.index import Document, SearchIndex, load_index
from lepton_tf.index.build import build_index
from lepton_tf.index.search_index import EncoderInfo
from lepton_tf.index.selftune import DEFAULT_RECIPE, pseudo_examples, self_tune

DIM, CONCEPTS, FILLERS = 64, 40, [f"filler{j}" for j in range(20)]


class _ConceptEncoder:
    """`c<i>w<j>` words are synonyms of concept i (one dimension each);
    `key<i>x<j>` keywords land on concept i in a document but i + 1 in a
    query (the model sends each keyword query to the next document); other words hash into 4 shared
    dimensions; every text adds its own seeded noise of norm about 1/8.
    A toy dense model: right on paraphrases, wrong on keywords."""

    info = EncoderInfo(name="concept", version=1)

    def _embed(self, texts, shift=0):
        out = np.full((len(texts), DIM), 1e-3, np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                if word.startswith("c") and "w" in word:
                    out[row, int(word[1:word.index("w")])] += 1.0
                elif word.startswith("key"):
                    out[row, (int(word[3:word.index("x")]) + shift) % CONCEPTS] += 1.0
                else:
                    out[row, CONCEPTS + zlib.crc32(word.encode()) % 4] += 1.0
            noise = np.random.default_rng(zlib.crc32(text.encode())).normal(size=DIM) / 64
            out[row] += noise.astype(np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True)

    def encode_queries(self, texts):
        return self._embed(texts, shift=1)

    def encode_documents(self, texts):
        return self._embed(texts)


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
    # Every weight from some point up ranks all perfectly: ties go to the nearest default.
    assert config.dense_weight >= 0.85 and table[1.0] == 1.0 > table[0.0], table
    assert index.fusion is config
    assert config.tuned_on == f"self-tuned: {DEFAULT_RECIPE} pseudo-queries, seed 0 (30 queries)"
    index, encoder = _index(_keyword_corpus())
    config, table = self_tune(index, encoder, n=30, seed=0)
    assert config.dense_weight <= 0.5 and table[0.0] > table[1.0], table


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


def test_index_build_self_tunes_by_default_and_records_it_in_the_manifest(tmp_path):
    corpus = tmp_path / "keywords.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.doc_id, "title": "", "text": d.text}) + "\n"
                              for d in _keyword_corpus()))
    tuned = load_index(build_index(str(corpus), "", str(tmp_path / "auto"),
                                   encoder=_ConceptEncoder(), auto_tune=True))
    assert tuned.fusion.dense_weight <= 0.5
    assert tuned.fusion.tuned_on.startswith(f"self-tuned: {DEFAULT_RECIPE} pseudo-queries, seed 0")
    fixed = load_index(build_index(str(corpus), "", str(tmp_path / "fixed"),
                                   encoder=_ConceptEncoder()))
    assert (fixed.fusion.dense_weight, fixed.fusion.tuned_on) == (0.85, "default")


def test_cli_self_tune_refuses_builds_it_cannot_tune(tmp_path):
    from lepton_tf.cli import main

    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"_id": "a", "text": "some words"}) + "\n")
    with pytest.raises(SystemExit, match="exclude each other"):
        main(["index", "--self-tune", "--tune", "pairs.jsonl", "--corpus", str(corpus),
              "--out", str(tmp_path / "idx")])
    (tmp_path / "notes").mkdir()
    with pytest.raises(SystemExit, match="folder of files"):
        main(["index", "--self-tune", "--corpus", str(tmp_path / "notes")])
