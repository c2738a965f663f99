"""The sentence that answers, not the one that names the subject: real-docs cases.

Each case is a question of `bench/data/realdocs_questions.jsonl`, the two
passages search showed for it, and all-MiniLM-L6-v2's similarity of every
sentence to the question (`bench/record_answer_cases.py`), replayed here so
the extractor sees the encoder's real scores without loading the model. On
these the encoder prefers a line naming the package ("$ pip install h11"
for "Does h11 have dependencies?"), a sibling rule or a sentence about the
same words (tqdm's "Since tqdm uses a simple printing mechanism ...").
"""

import json
import os

import pytest

from lepton_tf.assistant.answer_likeness import answer_likeness, focus_terms, is_pointer
from lepton_tf.assistant.answers import extractive_answer
from lepton_tf.assistant.grounding import RetrievedPassage
from lepton_tf.assistant.standalone import leans_back

CASES = os.path.join(os.path.dirname(__file__), "testdata", "realdocs_answer_cases.json")


def _cases():
    with open(CASES, encoding="utf-8") as f:
        return {case["id"]: case for case in json.load(f)["cases"]}


def _reply(case) -> str:
    passages = [RetrievedPassage(p["id"], p["title"], p["text"], p["score"],
                                 metadata=p["metadata"]) for p in case["passages"]]

    def recorded(question, sentences):
        return [case["similarity"][s] for s in sentences]
    return extractive_answer(case["question"], passages, recorded)[0]


def _section(title: str) -> RetrievedPassage:
    return RetrievedPassage("f.md#0", title, "", 1.0, metadata={"source": "f.md", "start": 0})


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("qid", ["q03", "q07", "q25", "q27", "q36", "q40"])
def test_the_reply_holds_the_answer_phrase_whole(qid):
    case = _cases()[qid]
    reply = _reply(case)
    assert _flat(case["answer"]) in _flat(reply), (case["question"], reply)
    assert not leans_back(reply), reply


def test_a_package_line_loses_to_the_sentence_with_the_asked_term():
    reply = _reply(_cases()["q07"])  # Does h11 have dependencies?
    assert reply.startswith("It's pure Python, and has no dependencies outside of the "
                            "standard library."), reply
    assert "pip install h11" not in reply


def test_the_steps_after_the_answer_still_follow():
    # "By default, tabulate removes ... whitespace" leads; the next sentence,
    # how to keep it, still follows although the lead earned a bonus.
    reply = _reply(_cases()["q10"])
    assert "By default, `tabulate` removes leading and trailing whitespace" in reply, reply
    assert "To disable whitespace removal, pass `preserve_whitespace=True`." in reply, reply


def test_focus_terms_leave_out_what_the_title_says():
    assert focus_terms("Where does tqdm write its progress messages by default?",
                       "tqdm > Examples and Advanced Usage > Writing messages") == \
        frozenset({"progress", "default"})


def test_a_pointer_to_other_docs_from_a_real_readme_counts_less():
    pointer = ("Please read the `format validation documentation "
               "<https://python-jsonschema.readthedocs.io/en/latest/validate/"
               "#validating-formats>`_ for further details.")
    answer = ("Two extras are available when installing the package, both currently related "
              "to ``format`` validation:")
    assert is_pointer(pointer) and not is_pointer(answer)
    adjust = answer_likeness("Which extras does jsonschema offer for format validation?",
                             [(1, 0, answer), (1, 1, pointer)],
                             [_section("jsonschema > Installation > Extras")])
    assert adjust[0] - adjust[1] >= 0.2


def test_a_definition_by_name_is_preferred_for_what_is():
    adjust = answer_likeness("What is h11?",
                             [(1, 0, "It's a bring-your-own-I/O library."),
                              (1, 1, "h11 is a little HTTP/1.1 library written in Python."),
                              (1, 2, "h11 is also a pun.")],
                             [_section("h11")])
    assert adjust[1] > adjust[0] and adjust[1] > adjust[2]


def test_a_record_that_is_one_answer_keeps_its_opening():
    # A Q&A answer or FAQ entry (no file section): judged by similarity alone,
    # as on StackFAQ, where the opening sentence is the answer.
    record = RetrievedPassage("t1", "Send urgent mail in Gmail",
                              "Use the priority marker. Otherwise mark it urgent in the subject.",
                              1.0)
    faq = RetrievedPassage("f1", "Opening hours", "Nine to five. Default hours apply.", 1.0,
                           ("When does the office open by default?",),
                           {"source": "faq.jsonl", "start": 0, "record": "f1"})
    candidates = [(1, 0, "Use the priority marker."),
                  (1, 1, "Otherwise mark it urgent in the subject."),
                  (2, 0, "Nine to five."), (2, 1, "Default hours apply.")]
    adjust = answer_likeness("how do I mark mail urgent by default", candidates, [record, faq])
    assert not adjust.any()


def test_a_short_list_item_is_what_its_lead_in_announces():
    # jsonschema's README: "Two extras are available ...:" then "* ``format``",
    # "* ``format-nongpl``" (two words each: before, dropped as markup).
    reply = _reply(_cases()["q27"])
    assert reply.startswith("Two extras are available when installing the package"), reply
    assert "* ``format``\n* ``format-nongpl`` [1]" in reply, reply
    assert "Please read" not in reply


def test_a_how_question_is_answered_by_the_instruction():
    reply = _reply(_cases()["q03"])  # How do I get Redis locks in portalocker?
    assert reply.startswith("Install the optional `redis` extra for Redis locks"), reply
