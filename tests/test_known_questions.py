"""Known questions: documents list what they answer, the index embeds it, the not-found rule
reads it; updates keep it in step and a stale or misused set is refused."""

import gzip
import json
import os

import numpy as np
import pytest
from test_not_found import THREADS, _query, _TopicEncoder

from lepton_tf.cli import main as cli_main
from lepton_tf.data.beir import write_beir
from lepton_tf.index import Document, SearchIndex, load_index, not_found_rule
from lepton_tf.index.build import build_index
from lepton_tf.index.documents import read_documents, write_documents
from lepton_tf.index.errors import IndexFormatError
from lepton_tf.index.known_questions import VECTORS_FILE, KnownQuestions
from lepton_tf.index.storage import read_manifest, save_index
from lepton_tf.search.servable import SearchServable


class _CountingEncoder(_TopicEncoder):
    def __init__(self):
        self.queries = []

    def encode_queries(self, texts):
        self.queries.extend(texts)
        return self._embed(texts)


def _faq(tmp_path, rows):
    path = tmp_path / "faq.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_documents_keep_their_questions_and_others_their_bytes(tmp_path):
    docs = [Document("a", "Use tildes.", "Strikethrough", questions=("cross out text?", "s tag")),
            Document("b", "Settings.")]
    path = str(tmp_path / "docs.jsonl.gz")
    write_documents(docs, path)
    assert read_documents(path) == docs
    with gzip.open(path, "rt") as f:
        assert "questions" not in json.loads(f.readlines()[1])  # as before for such documents
    bad = _faq(tmp_path, [{"_id": "x", "text": "t", "questions": "not a list"}])
    with pytest.raises(IndexFormatError, match="faq.jsonl:1: .*questions must be a list"):
        read_documents(bad)


def test_a_paraphrase_of_a_known_question_is_found_where_the_answer_alone_is_far(tmp_path):
    """The answer's words share nothing with how users ask: without its known questions
    the index flags the question (this failed before known questions existed)."""
    rows = [{"_id": f"n{i}", "text": f"topic{i} notes",
             "questions": [f"zebra{i} giraffe{i} lion{i}"]} for i in range(THREADS)]
    encoder = _CountingEncoder()
    path = build_index(_faq(tmp_path, rows), "", str(tmp_path / "with"), encoder=encoder)
    assert read_manifest(path)["questions"] == THREADS
    assert VECTORS_FILE in read_manifest(path)["sha256"]  # checksummed like the rest
    with_known = SearchServable(path, encoder.encode_queries)
    assert with_known.not_found_rule == not_found_rule.DEFAULT_QUESTIONS_RULE
    assert _query(with_known, "zebra4 giraffe4 lion4") is False
    assert _query(with_known, "walrus penguin seal") is True
    for r in rows:
        del r["questions"]
    plain = build_index(_faq(tmp_path, rows), "", str(tmp_path / "without"), encoder=encoder)
    without = SearchServable(plain, encoder.encode_queries)
    assert without.not_found_rule == not_found_rule.DEFAULT_RULE
    assert _query(without, "zebra4 giraffe4 lion4") is True


def _thread_collection_with_train(tmp_path):
    corpus = {f"t{i}-a0": {"title": f"topic{i} question", "text": f"answer word{i}"}
              for i in range(THREADS)}
    test = {f"t{i}-q0": f"how topic{i} query0" for i in range(THREADS)}
    train = {f"t{i}-q1": f"how topic{i} asked before" for i in range(THREADS)}
    folder = tmp_path / "threads"
    write_beir(folder, corpus, {**test, **train},
               {"test": {q: {q.split("-")[0] + "-a0": 1} for q in test},
                "train": {q: {q.split("-")[0] + "-a0": 1} for q in train}})
    return str(folder)


def test_a_beir_split_becomes_known_questions_and_the_fitted_rule_reads_them(tmp_path):
    encoder = _TopicEncoder()
    folder = _thread_collection_with_train(tmp_path)
    path = build_index(folder, "", str(tmp_path / "index"), encoder=encoder, questions="train")
    index = load_index(path)
    assert index.documents["t3-a0"].questions == ("how topic3 asked before",)
    with open(os.path.join(path, not_found_rule.FILE_NAME)) as f:
        rule = not_found_rule.NotFoundRule.from_dict(json.load(f))
    assert set(not_found_rule.QUESTION_FEATURES) <= set(rule.features)
    servable = SearchServable(path, encoder.encode_queries)
    assert _query(servable, "how topic3 query0") is False
    assert _query(servable, "what zebra giraffe") is True
    # The split the rule is calibrated on cannot also be the known questions.
    with pytest.raises(ValueError, match="also known questions"):
        build_index(folder, "", str(tmp_path / "leak"), encoder=encoder, questions="test")
    assert not os.path.exists(tmp_path / "leak" / "1")  # nothing half-written


def test_updates_keep_the_questions_in_step(tmp_path, monkeypatch):
    from lepton_tf.index.update import update_index

    rows = [{"_id": f"n{i}", "text": f"topic{i} notes", "questions": [f"q{i} ask"]}
            for i in range(4)]
    encoder = _CountingEncoder()
    index_dir = str(tmp_path / "index")
    build_index(_faq(tmp_path, rows), "", index_dir, encoder=encoder, calibrate=False)
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({"_id": "n9", "text": "topic9 notes",
                                "questions": ["q9 ask", "q1 ask"]}) + "\n")
    encoder.queries.clear()
    monkeypatch.setattr("lepton_tf.index.encoding.SavedModelEncoder", lambda path: encoder)
    update_index(index_dir, "", add=str(more))
    assert encoder.queries == ["q9 ask"]  # only the new question is encoded
    updated = load_index(index_dir)
    assert updated.known_questions.doc_ids[updated.known_questions.texts.index("q1 ask")] \
        == ("n1", "n9")
    update_index(index_dir, "", delete=["n9", "n2"])
    left = load_index(index_dir).known_questions
    assert sorted(left.texts) == ["q0 ask", "q1 ask", "q3 ask"]
    assert left.doc_ids[left.texts.index("q1 ask")] == ("n1",)


def test_questions_that_were_not_embedded_are_not_saved_as_if_they_were(tmp_path):
    encoder = _TopicEncoder()
    docs = [Document("a", "topic1 a", questions=("one",)), Document("b", "topic2 b")]
    index = SearchIndex.build(encoder.encode_documents(["topic1 a", "topic2 b"]), docs)
    index.refresh_questions(encoder.encode_queries)
    index.upsert([Document("b", "topic2 b", questions=("two",))],
                 encoder.encode_documents(["topic2 b"]))
    with pytest.raises(ValueError, match="refresh_questions"):
        save_index(index, str(tmp_path / "index"))
    assert not os.path.exists(tmp_path / "index" / "1")
    index.refresh_questions(encoder.encode_queries)
    assert len(load_index(save_index(index, str(tmp_path / "index"))).known_questions) == 2


def test_a_rule_that_needs_known_questions_falls_back_without_them(tmp_path):
    encoder = _TopicEncoder()
    index = SearchIndex.build(encoder.encode_documents(["topic1 a", "topic2 b"]),
                              [Document("a", "topic1 a"), Document("b", "topic2 b")])
    path = save_index(index, str(tmp_path), extra_files=not_found_rule.rule_file(
        not_found_rule.DEFAULT_QUESTIONS_RULE))
    assert SearchServable(path, encoder.encode_queries).not_found_rule == \
        not_found_rule.DEFAULT_RULE


def test_corrupt_question_files_are_refused(tmp_path):
    encoder = _TopicEncoder()
    docs = [Document("a", "topic1 a", questions=("one",))]
    index = SearchIndex.build(encoder.encode_documents(["topic1 a"]), docs)
    index.refresh_questions(encoder.encode_queries)
    path = save_index(index, str(tmp_path))
    np.save(os.path.join(path, VECTORS_FILE), np.zeros((2, 40), np.float32))
    with pytest.raises(IndexFormatError, match="questions.npy is corrupt"):
        load_index(path)
    with pytest.raises(IndexFormatError, match="known questions and the documents disagree"):
        load_index(path, verify=False)


def test_features_margin_skips_questions_of_the_same_documents():
    vectors = np.array([[1, 0], [0.99, 0.141], [0, 1]], np.float32)
    known = KnownQuestions(["a", "a2", "b"], vectors, [("d1",), ("d1",), ("d2",)])
    (row,) = known.features(np.array([[1, 0]], np.float32))
    assert row["question_top1"] == pytest.approx(1.0)
    assert row["question_margin"] == pytest.approx(1.0)  # against "b", not "a2"
    assert row["question_top3"] == pytest.approx((1 + 0.99 + 0) / 3)
    assert len(known.keep_documents({"d2"})) == 1


def test_questions_on_the_command_line_for_a_file_is_one_clear_line(tmp_path, capsys):
    corpus = _faq(tmp_path, [{"_id": "a", "text": "t"}])
    status = cli_main(["index", "--corpus", corpus, "--questions", "train",
                       "--out", str(tmp_path / "i"), "--encoder", str(tmp_path / "none")])
    err = capsys.readouterr()
    assert status != 0 and "needs a BEIR folder" in err.err + err.out
    assert "Traceback" not in err.err + err.out


def _asked_index():
    """Answers whose words are far from how users ask; their known questions are not."""
    encoder = _TopicEncoder()
    docs = [Document(f"n{i}", f"topic{i} notes", metadata={"part": i % 2},
                     questions=(f"zebra{i} giraffe{i} lion{i}",)) for i in range(6)]
    index = SearchIndex.build(encoder.encode_documents([d.text for d in docs]), docs)
    index.refresh_questions(encoder.encode_queries)
    return encoder, index


def test_search_finds_a_document_by_its_known_question():
    encoder, index = _asked_index()
    query = "zebra3 giraffe3 lion3"
    vector = encoder.encode_queries([query])
    (hits,) = index.hybrid_search(vector, [query], 2, "dense")
    assert hits.doc_ids[0] == "n3" and hits.dense_scores[0] == pytest.approx(1.0, abs=1e-5)
    (hybrid,) = index.hybrid_search(vector, [query], 2, "hybrid")
    assert hybrid.doc_ids[0] == "n3"
    # The filter still holds: n3 is in part 1.
    (filtered,) = index.hybrid_search(vector, [query], 2, "dense", '{"part": 0}')
    assert "n3" not in filtered.doc_ids and len(filtered.doc_ids) == 2
    # Without its known questions the answer is no nearer than any other.
    index.known_questions = None
    (plain,) = index.hybrid_search(vector, [query], 2, "dense")
    assert plain.dense_scores[0] < 0.5


def test_new_known_questions_are_searched_after_an_update():
    encoder, index = _asked_index()
    index.upsert([Document("n0", "topic0 notes", questions=("walrus seal",))],
                 encoder.encode_documents(["topic0 notes"]))
    index.refresh_questions(encoder.encode_queries)
    (hits,) = index.hybrid_search(encoder.encode_queries(["walrus seal"]), ["walrus seal"], 1,
                                  "dense")
    assert hits.doc_ids == ["n0"] and hits.dense_scores[0] == pytest.approx(1.0, abs=1e-5)


def test_eval_search_refuses_known_questions_from_the_scored_split(tmp_path):
    from lepton_tf.evaluation.search import evaluate_search

    with pytest.raises(ValueError, match="split being scored"):
        evaluate_search(str(tmp_path), None, "test", questions="test")


def test_the_assistant_routes_with_the_threshold_of_an_index_with_known_questions(tmp_path):
    from lepton_tf.assistant import routing, routing_thresholds
    from lepton_tf.assistant.routing import Router

    rows = [{"_id": f"n{i}", "text": f"topic{i} notes", "questions": [f"q{i} ask"]}
            for i in range(3)]
    with_known = build_index(_faq(tmp_path, rows), "", str(tmp_path / "with"),
                             encoder=_TopicEncoder(), calibrate=False)
    for r in rows:
        del r["questions"]
    without = build_index(_faq(tmp_path, rows), "", str(tmp_path / "without"),
                          encoder=_TopicEncoder(), calibrate=False)
    assert routing.index_has_known_questions(os.path.dirname(with_known))
    assert not routing.index_has_known_questions(os.path.dirname(without))
    assert not routing.index_has_known_questions(str(tmp_path / "nothing"))
    assert routing.default_router(True).search_threshold == routing_thresholds.load()[
        "known_questions"]["thresholds"]["search_threshold"] > Router().search_threshold
    assert routing.default_router(False) == routing.Router()


def test_the_main_job_rebuilds_an_index_without_the_corpus_known_questions(tmp_path,
                                                                            monkeypatch):
    from lepton_tf.commands.main_job import ensure_index
    from lepton_tf.index.storage import list_index_versions

    folder = _thread_collection_with_train(tmp_path)
    encoder = _TopicEncoder()
    monkeypatch.setattr("lepton_tf.index.encoding.SavedModelEncoder", lambda path: encoder)
    index_dir = str(tmp_path / "index")
    build_index(folder, "", index_dir, encoder=encoder)  # before: no known questions
    ensure_index(index_dir, "", folder)
    assert list_index_versions(index_dir) == [1, 2]
    assert read_manifest(index_dir)["questions"] == THREADS
    ensure_index(index_dir, "", folder)  # up to date: kept
    assert list_index_versions(index_dir) == [1, 2]


class _Counted:
    """`target`'s attributes, with calls to `methods` counted in `counts[label]`."""

    def __init__(self, target, methods, counts, label):
        self._target, self._methods, self._counts, self._label = target, methods, counts, label

    def __len__(self):
        return len(self._target)

    def __getattr__(self, name):
        value = getattr(self._target, name)
        if name not in self._methods:
            return value

        def counted(*args, **kwargs):
            self._counts[self._label] += 1
            return value(*args, **kwargs)
        return counted


class _CountedQuestions(KnownQuestions):
    """Known questions that count each read of their vectors (a `[B, Q]` product)."""

    def __init__(self, known, counts):
        super().__init__(known.texts, known.vectors, known.doc_ids)
        self._read = counts

    @property
    def vectors(self):
        self._read["questions"] += 1
        return self._vectors

    @vectors.setter
    def vectors(self, value):
        self._vectors = value


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_one_scann_one_bm25_and_one_question_pass_per_query(tmp_path, mode):
    """The not-found signals come from the pass that ranked the hits: one ScaNN
    search for the batch, one BM25 scoring and one known-question product a
    query, whatever the mode (a second pass for the not-found rule doubled them)."""
    import collections

    encoder = _TopicEncoder()
    path = build_index(_thread_collection_with_train(tmp_path), "", str(tmp_path / "index"),
                       encoder=encoder, questions="train")
    servable = SearchServable(path, encoder.encode_queries)
    rule = servable.not_found_rule
    assert rule.needs_lexical() and rule.needs_questions()  # it reads every signal
    index = servable.index
    queries = ["how topic3 query0", "what zebra giraffe", "topic7 word7"]
    expected = servable.run("search_options", {
        "query": np.array([q.encode() for q in queries], object), "k": np.array(3, np.int32),
        "mode": np.array(mode.encode(), object), "filter": np.array(b"", object)})
    counts = collections.Counter()
    index.searcher = _Counted(index.searcher, {"search", "search_batched",
                                               "search_batched_parallel"}, counts, "scann")
    index.lexical = _Counted(index.lexical, {"scores"}, counts, "bm25")
    index.known_questions = _CountedQuestions(index.known_questions, counts)
    counts.clear()
    out = servable.run("search_options", {
        "query": np.array([q.encode() for q in queries], object), "k": np.array(3, np.int32),
        "mode": np.array(mode.encode(), object), "filter": np.array(b"", object)})
    assert counts == {"scann": 1, "bm25": len(queries), "questions": 1}, counts
    assert out["not_found"].tolist() == expected["not_found"].tolist() == [False, True, False]
    for name in ("doc_ids", "scores", "dense_score", "bm25_score"):
        np.testing.assert_array_equal(out[name], expected[name])


def test_a_faq_jsonl_inside_a_folder_keeps_its_known_questions(tmp_path):
    """A folder's FAQ .jsonl is read as a JSONL corpus is: its records' questions
    are embedded, rank their answers and feed the not-found rule, and an update
    embeds the questions of a changed record (the folder reader dropped them)."""
    from lepton_tf.index.folder_build import build_folder_index

    rows = [{"_id": f"n{i}", "text": f"topic{i} notes",
             "questions": [f"zebra{i} giraffe{i} lion{i}"]} for i in range(THREADS)]
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "faq.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (corpus / "guide.md").write_text("# Guide\n\nplain words about nothing else\n")
    encoder = _TopicEncoder()
    report = build_folder_index(str(corpus), str(tmp_path / "index"), encoder, progress=False,
                                log=lambda *_: None)
    index = load_index(report.path)
    assert index.documents["faq.jsonl#4"].questions == ("zebra4 giraffe4 lion4",)
    assert index.known_questions is not None and len(index.known_questions) == THREADS
    servable = SearchServable(report.path, encoder.encode_queries)
    assert servable.not_found_rule == not_found_rule.DEFAULT_QUESTIONS_RULE
    assert _query(servable, "zebra4 giraffe4 lion4") is False
    assert _query(servable, "walrus penguin seal") is True

    rows[4]["questions"] = ["walrus penguin seal"]
    (corpus / "faq.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    update = build_folder_index(str(corpus), str(tmp_path / "index"), encoder, progress=False,
                                log=lambda *_: None)
    assert update.incremental and update.changed == ["faq.jsonl"]
    updated = SearchServable(update.path, encoder.encode_queries)
    assert "walrus penguin seal" in updated.index.known_questions.texts
    assert "zebra4 giraffe4 lion4" not in updated.index.known_questions.texts
    assert _query(updated, "walrus penguin seal") is False


def test_one_record_reader_for_a_corpus_file_and_a_folder_file(tmp_path):
    """A JSONL corpus given to `lepton-tf index` and the same file inside a folder
    are read by one reader: the same questions, the same refusal of bad ones."""
    from lepton_tf.ingest.errors import ParseError
    from lepton_tf.ingest.records import parse_jsonl

    rows = [{"_id": "a", "title": "Strike", "text": "Use tildes.", "metadata": {"lang": "en"},
             "questions": [" cross out text? ", "", "cross out text?"]},
            {"id": "b", "text": "Settings."}]
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    sections = parse_jsonl(data, "faq.jsonl")
    assert [s.questions for s in sections] == [("cross out text?",), ()]
    assert [s.metadata["record"] for s in sections] == ["a", "b"]
    assert sections[0].metadata["lang"] == "en"
    assert read_documents(_faq(tmp_path, rows[:1]))[0].questions == ("cross out text?",)
    bad = (json.dumps(rows[0]) + "\n" + json.dumps({"_id": "x", "text": "t", "questions": "no"})
           + "\n").encode()
    with pytest.raises(ParseError, match="line 2: questions must be a list"):
        parse_jsonl(bad, "faq.jsonl")
