"""Sentences split as the author wrote them: a real-docs case the extractor got wrong.

pysbd ended a sentence at the `.` inside inline code, so a reply could open
on `suppress()` to handle line ends explicitly.` (pyparsing's best practices).
"""

import os

from lepton_tf.assistant.answers import split_sentences
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
