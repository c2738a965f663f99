"""Passages open where a sentence or a line does, never inside a URL or a call chain.

The overlap of a window used to start after any `.` or `:` word piece: a
passage of the portalocker README opened on `//github.com/wolph/...)` (the
`:` of `https:`), one of pypdf's on `readthedocs.io/en/stable/...` and one
of pyparsing's on `suppress()` to handle line ends` (`pp.LineEnd().suppress()`),
and the answer extractor offered those fragments as sentences.
"""

import os

import pytest

from lepton_tf.ingest import ChunkConfig
from lepton_tf.ingest.chunker import Chunker
from lepton_tf.ingest.parsers import parse_file

REALDOCS = os.path.join(os.path.dirname(__file__), "..", "bench", "data", "realdocs")


@pytest.mark.parametrize("name", ["portalocker-README.md", "pypdf-README.md",
                                  "pyparsing-best-practices.md", "jsonschema-README.rst"])
def test_every_window_opens_after_a_space(name):
    sections = parse_file(os.path.join(REALDOCS, name))
    chunker = Chunker(ChunkConfig())
    texts = {s.text for s in sections}
    opened = 0
    for section in sections:
        for passage in chunker.chunk([section], name):
            lo = section.text.index(passage.text)
            if lo == 0:
                continue
            opened += 1
            before = section.text[max(0, lo - 40):lo]
            # A run of badge URLs longer than the overlap has no space to open after.
            assert before[-1].isspace() or not any(c.isspace() for c in before), (
                name, passage.text[:60])
            assert not passage.text.startswith("//")
    assert texts and opened  # the files are long enough to need several windows


def test_a_stop_inside_a_url_is_no_window_end():
    text = ("Read the guide at https://portalocker.readthedocs.io/en/latest/platforms.html "
            "before you choose a locking primitive for the shared drive. ") * 12
    from lepton_tf.ingest.passage import Section

    section = Section(text=text, title="Locks")
    for passage in Chunker(ChunkConfig(max_tokens=40, overlap=12)).chunk([section], "a.md"):
        lo = text.index(passage.text)
        assert lo == 0 or text[lo - 1] == " ", passage.text[:40]
        assert passage.text.split()[0] in {"Read", "the", "guide", "at", "before", "you",
                                           "choose", "a", "locking", "primitive", "for",
                                           "shared", "drive."} or passage.text.startswith(
            "https://"), passage.text[:40]
