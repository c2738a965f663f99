"""The learning loop on a real store and a real index: `lepton-tf learn export` writes
the review CSV (rated-up answers pre-accepted, unrated ones to confirm, rated-down
ones left out) and the unanswered to-do; applying the reviewed file adds the
accepted questions as known questions in a new version, with the fusion weight and
the not-found rule fitted again on them."""

import csv
import json

import numpy as np
import pytest
from test_not_found import THREADS, _TopicEncoder

from lepton_tf.cli import main
from lepton_tf.index import load_index, not_found_rule
from lepton_tf.index.build import build_index
from lepton_tf.index.learned_questions import learn_questions
from lepton_tf.index.storage import read_extra_file
from lepton_tf.store import ConversationStore, TurnRecord, new_turn_id, sqlite_url
from lepton_tf.store.learning import accepted_pairs


def _log(store, session, message, doc_id, rating=None, not_found=False):
    record = TurnRecord(new_turn_id(), session, message, "search",
                        sources=[{"n": 1, "doc_id": doc_id, "title": f"title {doc_id}",
                                  "score": 0.9}],
                        cited=[] if not_found else [1], not_found=not_found, reply="r")
    store.write_turn(record, {}, 1)
    if rating:
        store.add_feedback(session, record.turn_id, rating)


@pytest.fixture
def logged(tmp_path):
    path = str(tmp_path / "c.sqlite")
    store = ConversationStore.open(sqlite_url(path))
    for i in range(THREADS):
        for j in range(2):  # users' own phrasings, rated up
            _log(store, f"s{i}-{j}", f"what about topic{i} thing{j} please", f"t{i}-a0", "up")
    _log(store, "x", "how topic3 unrated", "t3-a0")  # answered, not rated: to confirm
    _log(store, "y", "topic4 wrong doc", "t5-a0", "down")  # rated down: not a candidate
    for message in ("where is the parking", "Where is the parking?", "opening hours"):
        _log(store, "z", message, "t0-a0", not_found=True)
    store.close()
    return path


def test_export_writes_the_review_file_and_the_unanswered_todo(logged, tmp_path, capsys):
    review, todo = tmp_path / "review.csv", tmp_path / "todo.csv"
    assert main(["learn", "export", "--conversation_store", logged, "--review", str(review),
                 "--todo", str(todo)]) == 0
    assert f"{2 * THREADS + 5} candidate known questions" in capsys.readouterr().out
    rows = list(csv.DictReader(review.open()))
    by_question = {r["question"]: r for r in rows}
    assert by_question["what about topic3 thing0 please"]["accept"] == "yes"
    assert by_question["what about topic3 thing0 please"]["doc_id"] == "t3-a0"
    assert by_question["how topic3 unrated"]["accept"] == ""
    assert by_question["how topic3 unrated"]["evidence"] == \
        "answered, not rated: confirm doc_id"
    wrong = by_question["topic4 wrong doc"]  # the operator corrects the document
    assert (wrong["accept"], wrong["doc_id"]) == ("", "t5-a0")
    assert wrong["evidence"] == "rated down 1, up 0: correct doc_id"
    assert by_question["opening hours"]["evidence"] == "not found: closest match; correct doc_id"
    groups = list(csv.DictReader(todo.open()))
    assert groups[0]["count"] == "2" and groups[0]["question"] in ("where is the parking",
                                                                   "Where is the parking?")
    assert len(accepted_pairs(str(review))) == 2 * THREADS


def test_applying_the_review_adds_known_questions_and_refits(logged, tmp_path):
    corpus = tmp_path / "faq.jsonl"
    rows = [{"_id": f"t{i}-a0", "title": f"topic{i} question", "text": f"topic{i} answer word{i}"}
            for i in range(THREADS)]
    # A second answer to thread 7 (same title): it learns what the first one learns.
    rows.append({"_id": "t7-a1", "title": "topic7 question", "text": "topic7 other answer"})
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    encoder = _TopicEncoder()
    index_dir = str(tmp_path / "index")
    before = build_index(str(corpus), "", index_dir, encoder=encoder, calibrate=False)
    assert load_index(before).known_questions is None
    review = tmp_path / "review.csv"
    assert main(["learn", "export", "--conversation_store", logged, "--review", str(review),
                 "--todo", str(tmp_path / "todo.csv")]) == 0
    # The operator confirms the unrated one too, and adds a pair for a missing document.
    rows = list(csv.DictReader(review.open()))
    for row in rows:
        if row["question"] == "how topic3 unrated":
            row["accept"] = "yes"
        if row["question"] == "topic4 wrong doc":
            row["accept"], row["doc_id"] = "yes", "t4-a0"
    rows.append({**rows[0], "question": "a question", "doc_id": "no-such-doc"})
    with review.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = learn_questions(index_dir, encoder, accepted_pairs(str(review)))
    assert result["counts"] == {"new": 2 * THREADS + 2, "already_known": 0,
                                "unknown_document": 1}
    assert load_index(result["version"]).documents["t4-a0"].questions[-1] == "topic4 wrong doc"
    after = load_index(result["version"])
    assert set(after.documents["t3-a0"].questions) == {
        "what about topic3 thing0 please", "what about topic3 thing1 please",
        "how topic3 unrated"}
    assert len(after.known_questions) == 2 * THREADS + 2
    assert set(after.documents["t7-a1"].questions) == set(after.documents["t7-a0"].questions) \
        == {"what about topic7 thing0 please", "what about topic7 thing1 please"}
    assert after.fusion.tuned_on.startswith("learned questions")
    rule = not_found_rule.load_rule(result["version"], has_questions=True)
    assert "question_top1" in rule.features  # refitted with the new evidence
    assert read_extra_file(result["version"], not_found_rule.FILE_NAME) is not None
    # A new phrasing of a learned question is found; the search ranks its document first.
    vector = np.asarray(encoder.encode_queries(["what about topic7 thing0 please"]))
    assert after.hybrid_search(vector, ["what about topic7 thing0 please"], k=1)[0].doc_ids[0] \
        in ("t7-a0", "t7-a1")
    # Applying the same file again adds nothing and writes no version.
    again = learn_questions(index_dir, encoder, accepted_pairs(str(review)))
    assert again["version"] is None and again["counts"]["already_known"] == 2 * THREADS + 2


def test_a_file_that_is_not_a_review_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["learn", "apply", str(bad), "--search_index", str(tmp_path)]) == 2
    assert "is not a review file of `lepton-tf learn export`: no column accept, doc_id, " \
           "question" in capsys.readouterr().err


def test_a_missed_or_wrong_answer_proposes_every_document_it_showed(tmp_path):
    """An operator who only confirms can accept the shown document that answers a
    question the assistant flagged or answered wrong, without writing an id."""
    from lepton_tf.store.learning import review_rows

    store = ConversationStore.open(sqlite_url(str(tmp_path / "c.sqlite")))
    shown = [{"n": 1, "doc_id": "t1-a0", "title": "one", "score": 0.5},
             {"n": 2, "doc_id": "t2-a0", "title": "two", "score": 0.4}]
    for message, not_found, rating in (("missed", True, None), ("wrong", False, "down"),
                                       ("right", False, "up")):
        record = TurnRecord(new_turn_id(), message, message, "search", sources=shown,
                            cited=[] if not_found else [1], not_found=not_found, reply="r")
        store.write_turn(record, {}, 1)
        if rating:
            store.add_feedback(message, record.turn_id, rating)
    rows = {(r["question"], r["doc_id"]): r for r in review_rows(store)}
    store.close()
    assert rows["missed", "t1-a0"]["evidence"] == "not found: closest match; correct doc_id"
    assert rows["missed", "t2-a0"]["evidence"] == "not found: shown #2; confirm doc_id"
    assert (rows["wrong", "t1-a0"]["down"], rows["wrong", "t2-a0"]["down"]) == (1, 0)
    assert rows["wrong", "t2-a0"]["evidence"] == "answer rated down: shown #2; confirm doc_id"
    assert rows["wrong", "t2-a0"]["accept"] == ""  # proposed, never pre-accepted
    # A right answer proposes the document it cited, nothing else.
    assert ("right", "t2-a0") not in rows and rows["right", "t1-a0"]["accept"] == "yes"
