"""Document permissions in the index: ACL globs, storage, exact permitted search
(dense, BM25, hybrid; one index and shards), ACL-only updates that re-encode nothing."""

import json

import numpy as np
import pytest
from corpus_files import CountingEncoder, HashHandler, stand_in_encoder

from lepton_tf.index import Document, SearchIndex, load_index
from lepton_tf.index.filters import FilterError
from lepton_tf.index.folder_build import build_folder_index
from lepton_tf.index.permissions import AclError, AclRules, permitted_filter
from lepton_tf.index.sharded import ShardedIndex
from lepton_tf.ingest import ChunkConfig

ACL = """
"public/**": ["*"]
"support/**": [support]
"support/escalations/*.md": [ops, "user:dana"]
"board/*.md": [board]
"faq.jsonl": ["*"]
"""


def test_acl_globs_union_and_nobody():
    rules = AclRules.parse(ACL)
    assert rules.readers_for("public/a.md") == ("*",)
    assert rules.readers_for("public/deep/er/b.txt") == ("*",)
    assert rules.readers_for("support/escalations/x.md") == ("ops", "support", "user:dana")
    assert rules.readers_for("board/plan.md") == ("board",)
    assert rules.readers_for("board/old/plan.md") == ()  # "*" stays inside one folder
    assert rules.readers_for("orphan.md") == ()
    for bad, message in (("[1, 2]", "mapping"), ('"a/**": support', "list"),
                         ('"/abs/**": [x]', "relative"), ("a: [", "not YAML")):
        with pytest.raises(AclError, match=message):
            AclRules.parse(bad)


def _corpus(root):
    for rel, text in {"public/hours.md": "# Hours\n\nThe office opens at nine.",
                      "public/deep/parking.md": "# Parking\n\nPark in the north garage.",
                      "support/refunds.md": "# Refunds\n\nOverride refunds with zebra42.",
                      "board/merger.md": "# Merger\n\nThe falconcorp merger closes in March.",
                      "orphan.md": "# Orphan\n\nNobody was granted this file."}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "faq.jsonl").write_text(
        json.dumps({"_id": "r1", "title": "Open record", "text": "Everyone reads it."}) + "\n" +
        json.dumps({"_id": "r2", "title": "Own readers", "text": "Only auditors read it.",
                    "readers": ["auditors"]}) + "\n")
    (root / "people.csv").write_text("id,title,text,readers\n"
                                     "p1,Dana,Dana's desk is 4B,hr;user:dana\n"
                                     "p2,Lobby,The lobby is open,\n")
    return root


def test_one_record_reader_carries_readers_and_questions(tmp_path):
    """A JSONL corpus file and the same file inside a folder are read by one
    reader: the same readers (also from `metadata.readers`, which is then not
    shown) and known questions, the same refusal of readers that are not a list."""
    from lepton_tf.index.documents import read_documents
    from lepton_tf.index.errors import IndexFormatError
    from lepton_tf.ingest.errors import ParseError
    from lepton_tf.ingest.records import parse_jsonl

    rows = [{"_id": "a", "text": "Refund overrides.", "readers": ["support", "ops", "ops"],
             "questions": ["override a refund?"]},
            {"_id": "b", "text": "Board minutes.", "metadata": {"readers": ["board"], "y": 1}},
            {"_id": "c", "text": "Hidden from all.", "readers": []},
            {"_id": "d", "text": "No permissions said."}]
    data = "".join(json.dumps(r) + "\n" for r in rows)
    (tmp_path / "kb.jsonl").write_text(data)
    documents = read_documents(str(tmp_path / "kb.jsonl"))
    assert [d.readers for d in documents] == [("ops", "support"), ("board",), (), None]
    assert documents[0].questions == ("override a refund?",)
    assert documents[1].metadata == {"y": 1}
    sections = parse_jsonl(data.encode(), "kb.jsonl")
    assert [s.metadata.get("$readers") for s in sections] == \
        [["ops", "support"], ["board"], [], None]
    assert sections[0].questions == ("override a refund?",)
    assert "readers" not in sections[1].metadata

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "kb.jsonl").write_text(data)
    report = build_folder_index(str(folder), str(tmp_path / "idx"), CountingEncoder(),
                                progress=False, self_tune=False, log=lambda *_: None)
    built = {d.metadata["record"]: d for d in load_index(report.path).documents.values()}
    assert {r: d.readers for r, d in built.items()} == \
        {"a": ("ops", "support"), "b": ("board",), "c": (), "d": None}
    assert built["a"].questions == ("override a refund?",)

    bad = json.dumps({"_id": "x", "text": "t", "readers": "support"}) + "\n"
    with pytest.raises(ParseError, match="line 1: readers must be a list"):
        parse_jsonl(bad.encode(), "kb.jsonl")
    (tmp_path / "bad.jsonl").write_text(bad)
    with pytest.raises(IndexFormatError, match="bad.jsonl:1: .*readers must be a list"):
        read_documents(str(tmp_path / "bad.jsonl"))


def test_folder_acl_is_stored_counted_and_updated_without_re_encoding(tmp_path):
    root = _corpus(tmp_path / "kb")
    acl = tmp_path / "acl.yaml"
    acl.write_text(ACL + '"people.csv": [staff]\n')
    out = tmp_path / "idx"
    encoder = CountingEncoder()
    logged = []
    first = build_folder_index(str(root), str(out), encoder, config=ChunkConfig(64, 8),
                               progress=False, self_tune=False, acl=AclRules.load(str(acl)),
                               log=logged.append)
    assert first.unreadable == 1 and "1 readable by nobody" in logged[-1]
    index = load_index(first.path)
    readers = {d.metadata["source"] + (f":{d.metadata.get('record')}" if "record" in d.metadata
                                       else ""): d.readers for d in index.documents.values()}
    assert readers == {"public/hours.md": ("*",), "public/deep/parking.md": ("*",),
                       "support/refunds.md": ("support",), "board/merger.md": ("board",),
                       "orphan.md": (), "faq.jsonl:r1": ("*",), "faq.jsonl:r2": ("auditors",),
                       "people.csv:p1": ("hr", "user:dana"), "people.csv:p2": ("staff",)}
    # Readers are kept apart from the text and never shown as metadata.
    p1 = next(d for d in index.documents.values() if d.metadata.get("record") == "p1")
    assert "hr" not in p1.text and "readers" not in p1.text
    manifest = json.loads((out / "1" / "manifest.json").read_text())
    assert manifest["permissions"] == len(index) and "acl.yaml" in manifest["sha256"]

    # Only the ACL changes: a new version, nothing encoded, only those readers changed.
    encoder.encoded.clear()
    acl.write_text(ACL.replace("[board]", "[board, support]") + '"orphan.md": [ops]\n'
                   '"people.csv": [staff]\n')
    second = build_folder_index(str(root), str(out), encoder, config=ChunkConfig(64, 8),
                                progress=False, acl=AclRules.load(str(acl)))
    assert second.written and encoder.encoded == [] and second.encoded == 0
    assert second.acl_changed == 2 and second.unreadable == 0
    updated = load_index(second.path)
    merger = next(d for d in updated.documents.values()
                  if d.metadata["source"] == "board/merger.md")
    assert merger.readers == ("board", "support")
    np.testing.assert_array_equal(np.asarray(updated.embeddings), np.asarray(index.embeddings))
    # No --acl: the stored rules stay (permissions are never dropped by omission).
    third = build_folder_index(str(root), str(out), encoder, config=ChunkConfig(64, 8),
                               progress=False)
    assert not third.written
    (root / "public" / "new.md").write_text("# New\n\nA new public page.")
    fourth = build_folder_index(str(root), str(out), encoder, config=ChunkConfig(64, 8),
                                progress=False)
    new = [d for d in load_index(fourth.path).documents.values()
           if d.metadata["source"] == "public/new.md"]
    assert new and all(d.readers == ("*",) for d in new)


GROUPS = ["g0", "g1", "g2", "g3", "g4"]


@pytest.fixture(scope="module")
def corpus():
    rng = np.random.default_rng(0)
    n, dim = 2500, 24
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta"]
    docs = [Document(f"d{i:05d}", " ".join(rng.choice(words, 6)), f"t{i}", {"n": i % 7},
                     readers=tuple(sorted(set(rng.choice(GROUPS, rng.integers(0, 3))))))
            for i in range(n)]
    queries = rng.standard_normal((6, dim)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    texts = [" ".join(rng.choice(words, 3)) for _ in range(6)]
    return x, docs, queries, texts


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
@pytest.mark.parametrize("sharded", [False, True])
def test_permission_is_an_exact_prefilter(corpus, mode, sharded):
    x, docs, queries, texts = corpus
    index = ShardedIndex.build(x, docs, num_shards=3) if sharded else SearchIndex.build(x, docs)
    for readers in (["g1"], ["g0", "g3"], ["user:nobody"]):
        allowed = [d.doc_id for d in docs if set(d.readers) & set(readers)]
        got = index.hybrid_search(queries, texts, 10, mode, permitted_filter(None, readers))
        if mode == "dense" or not allowed:
            # The same as asking for exactly those ids (the filter machinery's exactness).
            want = index.hybrid_search(queries, texts, 10, mode,
                                       {"doc_id": allowed} if allowed else {"doc_id": ["none"]})
        else:  # BM25 and fusion as by one index of the permitted passages alone
            rows = [int(a[1:]) for a in allowed]
            subset = SearchIndex.build(x[rows], [docs[r] for r in rows])
            want = subset.hybrid_search(queries, texts, 10, mode)
        for g, w in zip(got, want):
            assert g.doc_ids == w.doc_ids
            np.testing.assert_allclose(g.scores, w.scores, rtol=1e-5, atol=1e-6)
            assert set(g.doc_ids) <= set(allowed)
        if mode == "dense" and allowed:  # and the exact top-k by cosine over the subset
            rows = np.array([int(a[1:]) for a in allowed])
            for q, g in zip(queries, got):
                best = rows[np.argsort(-(x[rows] @ q), kind="stable")[:10]]
                assert g.doc_ids == [f"d{r:05d}" for r in best]
    with pytest.raises(FilterError, match="reserved"):
        permitted_filter('{"$readers": ["g1"]}', ["g0"])


def test_the_beam_built_index_carries_the_acl_and_updates_it_without_encoding(tmp_path):
    pytest.importorskip("apache_beam")
    from lepton_tf.index.fusion import FusionConfig
    from lepton_tf.index.sharded_storage import load_sharded
    from lepton_tf.pipelines.index_pipeline import run_index_pipeline

    encoder = stand_in_encoder(tmp_path / "encoder")
    root = _corpus(tmp_path / "kb")
    acl = AclRules.parse(ACL)
    out = str(tmp_path / "idx")
    first = run_index_pipeline(str(root), encoder, out, runner="direct", num_shards=2,
                               handler=HashHandler(encoder), fusion=FusionConfig(), acl=acl,
                               chunk_config=ChunkConfig(64, 8))
    index = load_sharded(first)
    readers = {d.metadata["source"]: d.readers for d in index.documents.values()
               if "record" not in d.metadata}
    assert readers["support/refunds.md"] == ("support",) and readers["orphan.md"] == ()
    merger = [d for d in index.documents.values() if d.metadata["source"] == "board/merger.md"]
    hits = index.hybrid_search(CountingEncoder().encode_queries(["falconcorp merger"]),
                               ["falconcorp merger"], 5, "hybrid",
                               permitted_filter(None, ["*", "support"]))
    assert merger and not {d.doc_id for d in merger} & set(hits[0].doc_ids)
    changed = AclRules.parse(ACL.replace("[board]", "[board, support]"))
    second = run_index_pipeline(str(root), encoder, out, runner="direct", num_shards=2,
                                handler=HashHandler(encoder, refuse=True),
                                fusion=FusionConfig(), acl=changed,
                                chunk_config=ChunkConfig(64, 8))
    assert second != first
    updated = load_sharded(second)
    assert {updated.documents[d.doc_id].readers for d in merger} == {("board", "support")}
    hits = updated.hybrid_search(CountingEncoder().encode_queries(["falconcorp merger"]),
                                 ["falconcorp merger"], 5, "hybrid",
                                 permitted_filter(None, ["*", "support"]))
    assert {d.doc_id for d in merger} & set(hits[0].doc_ids)
