"""Which sentence answers: real-docs cases the extractor got wrong.

The similarities below are the cosines the zero-shot MiniLM encoder gave
these sentences for the question (measured on the real-docs index,
`bench/answers.py`), so each case replays what the encoder said.
"""

import os

from lepton_tf.assistant.answers import extractive_answer, split_sentences
from lepton_tf.assistant.grounding import RetrievedPassage as Passage
from lepton_tf.ingest.parsers import parse_file

REALDOCS = os.path.join(os.path.dirname(__file__), "..", "bench", "data", "realdocs")


def _section(name, phrase):
    return next(s.text for s in parse_file(os.path.join(REALDOCS, name)) if phrase in s.text)


def test_inline_code_stays_inside_its_sentence():
    text = _section("pyparsing-best-practices.md", "pp.LineEnd().suppress()")
    sentences = split_sentences(text)
    assert not any(s.startswith(("suppress()", "set_parse_action(")) for s in sentences)
    assert any("`NL = pp.LineEnd().suppress()` to handle line ends explicitly." in s
               for s in sentences)


def test_a_rare_asked_word_picks_the_answering_sentence():
    """'modified' is asked and only the answering sentence has it; the encoder
    preferred the sentence about pip's vendor.txt (0.747 against 0.665)."""
    text = _section("pip-vendor-README.rst", "MUST** not be modified")
    measured = {"* Vendored libraries **MUST** not be modified": 0.665,
                "* Vendored libraries **MUST** be released copies": 0.527,
                "* Vendored libraries **MUST** be available under": 0.701,
                "* Vendored libraries **MUST** be accompanied": 0.491,
                "* The versions of libraries vendored in pip": 0.747,
                "* Vendored libraries **MUST** function without": 0.489,
                "* Any modifications made to libraries": 0.651}

    def similarity(question, sentences):
        return [next((v for k, v in measured.items() if s.startswith(k)), 0.2)
                for s in sentences]

    passage = Passage("pip-vendor-README.rst#0", "Vendoring Policy", text, 1.0)
    reply, cited = extractive_answer("Can vendored libraries in pip be modified?", [passage],
                                     similarity)
    assert reply.startswith("* Vendored libraries **MUST** not be modified except as required "
                            "to successfully vendor them."), reply
    assert cited == [1]


def test_the_sentence_that_completes_the_answer_still_follows():
    """The best sentence holds every asked word; the next, which says how to
    keep whitespace, must not be shut out by that (0.875 and 0.382)."""
    text = _section("tabulate-README.md", "preserve_whitespace=True")
    measured = {"By default, `tabulate` removes leading": 0.875,
                "To disable whitespace removal": 0.382,
                "Older versions of the library": 0.278}

    def similarity(question, sentences):
        return [next((v for k, v in measured.items() if s.startswith(k)), 0.1)
                for s in sentences]

    passage = Passage("tabulate-README.md#9", "Text formatting", text, 1.0)
    reply, _ = extractive_answer(
        "How do I keep leading and trailing whitespace in tabulate text columns?", [passage],
        similarity)
    assert "To disable whitespace removal, pass `preserve_whitespace=True`." in reply, reply
