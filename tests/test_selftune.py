"""Self-tuned fusion weight from held-out pseudo-queries (`index.fusion_selftune`)."""

import json
import random
import zlib

import numpy as np
import pytest

from lepton_tf.index import Document, SearchIndex, load_index
from lepton_tf.index.build import build_index
from lepton_tf.index.search_index import EncoderInfo
from lepton_tf.index.fusion_selftune import (
    DEFAULT_RECIPE,
    choose_weight,
    lower_bounds,
    pseudo_examples,
    self_tune,
)

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


def test_self_tune_keeps_dense_on_paraphrases_and_mixes_bm25_in_for_keywords():
    index, encoder = _index(_paraphrase_corpus())
    config, table = self_tune(index, encoder, n=30, seed=0)
    # Every weight from some point up ranks all perfectly: no gain over dense, so dense only
    # (the argmax rule took the tie nearest 0.85).
    assert config.dense_weight == 1.0 and table[1.0] == 1.0 > table[0.0], table
    assert index.fusion is config
    assert config.tuned_on == (f"self-tuned: {DEFAULT_RECIPE} pseudo-queries, seed 0 (30 queries; "
                               "dense only: the best mix, w 0.95 gains +0.0000 nDCG@10 over "
                               "dense, 95% lower bound +0.0000)")
    index, encoder = _index(_keyword_corpus())
    config, table = self_tune(index, encoder, n=30, seed=0)
    assert config.dense_weight <= 0.5 and table[0.0] > table[1.0], table
    assert f"w {config.dense_weight:g} gains +0." in config.tuned_on
    assert "95% lower bound +0." in config.tuned_on and "dense only" not in config.tuned_on


def test_choose_weight_needs_a_gain_above_its_noise():
    rng = np.random.default_rng(0)
    dense = rng.uniform(0.3, 0.9, 400)
    noisy = dense + rng.normal(0.01, 0.3, 400)  # the best mean, but within its noise
    steady = dense + 0.004  # a smaller gain on every query
    worse = dense - 0.05
    assert np.mean(noisy) > np.mean(steady) > np.mean(dense)
    assert choose_weight({1.0: dense, 0.9: noisy, 0.5: worse}) == 1.0
    assert choose_weight({1.0: dense, 0.9: noisy, 0.7: steady, 0.5: worse}) == 0.7
    bounds = lower_bounds({1.0: dense, 0.7: steady})
    assert bounds[1.0] == 0.0 and np.isclose(bounds[0.7], 0.004)
    # Ties go to dense, then to the higher weight; one query is no evidence.
    assert choose_weight({1.0: dense, 0.95: dense.copy(), 0.9: dense.copy()}) == 1.0
    assert choose_weight({0.0: dense, 0.95: dense + 0.1, 0.9: dense + 0.1}, baseline=0.0) == 0.95
    assert choose_weight({1.0: np.array([0.1]), 0.5: np.array([0.9])}) == 1.0


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


def _jsonl(path, docs):
    path.write_text("".join(json.dumps({"_id": d.doc_id, "title": d.title, "text": d.text}) + "\n"
                            for d in docs))
    return str(path)


def test_every_build_without_pairs_self_tunes_and_records_it_in_the_manifest(tmp_path,
                                                                             monkeypatch):
    from lepton_tf.cli import main

    corpus = _jsonl(tmp_path / "keywords.jsonl", _keyword_corpus())
    tuned = load_index(build_index(corpus, "", str(tmp_path / "auto"), encoder=_ConceptEncoder()))
    assert tuned.fusion.dense_weight <= 0.5
    assert tuned.fusion.tuned_on.startswith(f"self-tuned: {DEFAULT_RECIPE} pseudo-queries, seed 0")
    manifest = json.loads((tmp_path / "auto" / "1" / "manifest.json").read_text())
    assert manifest["fusion"]["tuned_on"] == tuned.fusion.tuned_on
    fixed = load_index(build_index(corpus, "", str(tmp_path / "fixed"),
                                   encoder=_ConceptEncoder(), auto_tune=False))
    assert (fixed.fusion.dense_weight, fixed.fusion.tuned_on) == (0.85, "default")
    monkeypatch.setattr("lepton_tf.index.encoding.SavedModelEncoder",
                        lambda path: _ConceptEncoder())
    assert main(["index", "--corpus", corpus, "--out", str(tmp_path / "cli")]) == 0
    assert load_index(str(tmp_path / "cli")).fusion == tuned.fusion
    assert main(["index", "--corpus", corpus, "--out", str(tmp_path / "cli"),
                 "--dense-weight", "0.6"]) == 0
    given = load_index(str(tmp_path / "cli"))
    assert (given.fusion.dense_weight, given.fusion.tuned_on) == (0.6, "fixed (--dense-weight)")


def test_upserts_keep_the_weight_and_retune_chooses_it_again(tmp_path, monkeypatch):
    from lepton_tf.cli import main

    monkeypatch.setattr("lepton_tf.index.encoding.SavedModelEncoder",
                        lambda path: _ConceptEncoder())
    out = str(tmp_path / "idx")
    assert main(["index", "--corpus", _jsonl(tmp_path / "p.jsonl", _paraphrase_corpus()),
                 "--out", out]) == 0
    first = load_index(out).fusion
    assert first.dense_weight == 1.0 and first.tuned_on.startswith("self-tuned")
    # Keyword documents replace the paraphrase ones: an upsert keeps the weight...
    assert main(["index", "--out", out, "--add",
                 _jsonl(tmp_path / "k.jsonl", _keyword_corpus())]) == 0
    assert main(["index", "--out", out, "--delete"] + [f"p{i}" for i in range(CONCEPTS)]) == 0
    kept = load_index(out)
    assert set(kept.documents) == {f"k{i}" for i in range(CONCEPTS)} and kept.fusion == first
    # ... and --retune, without pairs, chooses it again on the documents now there.
    assert main(["index", "--out", out, "--retune"]) == 0
    again = load_index(out).fusion
    assert again.dense_weight <= 0.5 and again.tuned_on.startswith("self-tuned")


def test_a_folder_build_self_tunes_and_an_incremental_run_keeps_the_weight(tmp_path):
    from lepton_tf.index.folder_build import build_folder_index

    root = tmp_path / "notes"
    root.mkdir()
    for i, d in enumerate(_keyword_corpus()):  # the heading is the title: a pseudo-query
        (root / f"{d.doc_id}.md").write_text(f"# key{i}x0 key{i}x1\n\n{d.text}\n")
    out = str(tmp_path / "idx")
    quiet = {"progress": False, "log": lambda m: None}
    build_folder_index(str(root), out, _ConceptEncoder(), **quiet)
    first = load_index(out).fusion
    assert first.dense_weight <= 0.5 and first.tuned_on.startswith("self-tuned")
    (root / "k0.md").write_text("# key0x0 key0x1\n\nkey0x0 key0x1 key0x2 filler1 filler2\n")
    report = build_folder_index(str(root), out, _ConceptEncoder(), **quiet)
    assert report.incremental and report.encoded == 1 and load_index(out).fusion == first
    build_folder_index(str(root), out, _ConceptEncoder(), rebuild=True, self_tune=False, **quiet)
    assert load_index(out).fusion.tuned_on == "default"


def test_retune_keeps_a_folder_index_incremental(tmp_path, monkeypatch):
    from lepton_tf.index.update import update_index
    from lepton_tf.index.folder_build import build_folder_index

    monkeypatch.setattr("lepton_tf.index.encoding.SavedModelEncoder",
                        lambda path: _ConceptEncoder())
    root = tmp_path / "notes"
    root.mkdir()
    for i, d in enumerate(_keyword_corpus()):
        (root / f"{d.doc_id}.md").write_text(f"# key{i}x0 key{i}x1\n\n{d.text}\n")
    out = str(tmp_path / "idx")
    quiet = {"progress": False, "log": lambda m: None}
    build_folder_index(str(root), out, _ConceptEncoder(), self_tune=False, **quiet)
    update_index(out, "", retune=True)
    assert load_index(out).fusion.tuned_on.startswith("self-tuned")
    (root / "k1.md").write_text("# key1x0 key1x1\n\nkey1x0 key1x1 key1x2 filler3 filler4\n")
    report = build_folder_index(str(root), out, _ConceptEncoder(), **quiet)
    assert report.incremental and report.encoded == 1  # the ingest manifest survived
    assert load_index(out).fusion.tuned_on.startswith("self-tuned")


def test_tune_on_a_folder_chooses_the_weight_before_the_one_version_it_publishes(
        tmp_path, monkeypatch):
    from lepton_tf.cli import main
    from lepton_tf.index.storage import list_index_versions

    monkeypatch.setattr("lepton_tf.index.encoding.SavedModelEncoder",
                        lambda path: _ConceptEncoder())
    root = tmp_path / "notes"
    root.mkdir()
    docs = _keyword_corpus()
    for i, d in enumerate(docs):
        (root / f"{d.doc_id}.md").write_text(f"# key{i}x0 key{i}x1\n\n{d.text}\n")
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"query": f"key{i}x0 key{i}x2",
                                         "positive": f"{d.doc_id}.md#0"}) + "\n"
                             for i, d in enumerate(docs)))
    out = str(tmp_path / "idx")
    assert main(["index", "--corpus", str(root), "--out", out, "--tune", str(pairs)]) == 0
    assert list_index_versions(out) == [1]  # one version, tuned before it was published
    assert load_index(out).fusion.tuned_on.startswith("pairs.jsonl")
    # Unchanged files with --tune: the weight is tuned again, into one more version.
    assert main(["index", "--corpus", str(root), "--out", out, "--tune", str(pairs)]) == 0
    assert list_index_versions(out) == [1, 2]
    assert load_index(out).fusion.tuned_on.startswith("pairs.jsonl")


def test_eval_search_scores_the_self_tuned_default_not_a_fixed_weight(tmp_path):
    from types import SimpleNamespace

    from lepton_tf.evaluation.search import SELF_TUNED, _dense_runs
    from lepton_tf.index.fusion import FusionConfig

    docs = _keyword_corpus()
    collection = SimpleNamespace(
        corpus={d.doc_id: {"text": d.text, "title": ""} for d in docs},
        queries={f"q{i}": f"key{i}x0 key{i}x1" for i in range(CONCEPTS)},
        qrels={f"q{i}": {f"k{i}": 1} for i in range(CONCEPTS)})
    qids = sorted(collection.queries)

    def hybrid_rows(fusion):
        runs = _dense_runs(_ConceptEncoder(), collection, qids, "toy", False, str(tmp_path),
                           "keywords", fusion)
        return [name for name in runs if "hybrid" in name]

    # The default row is the weight `lepton-tf index` would choose here (BM25-leaning on
    # keywords), not a fixed 0.85.
    [default] = hybrid_rows(FusionConfig(tuned_on=SELF_TUNED))
    assert default.startswith("toy + BM25 hybrid (default: self-tuned, w=")
    assert float(default.rsplit("w=", 1)[1].rstrip(")")) <= 0.5, default
    assert hybrid_rows(FusionConfig("convex", 0.85)) == ["toy + BM25 hybrid (convex w=0.85)"]
