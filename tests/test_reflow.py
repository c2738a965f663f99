"""Ingest keeps the author's paragraphs: hard-wrapped lines joined, structure kept,
offsets into the file intact."""

import re

from corpus_files import write_pdf
from lepton_tf.ingest import ChunkConfig
from lepton_tf.ingest.chunker import Chunker
from lepton_tf.ingest.parsers import parse_bytes

MANUAL = """HWCLOCK

Hwclock is a tool to access the Hardware Clock. It is a program that runs under
Linux and sets and queries the Hardware Clock, which is also called the RTC. The
implemen-
tation is well-known and a well-
known fact.

Options:
  -r, --show     read the clock
  -w, --systohc  write it

       -r, --show
              Read the Hardware Clock and print its time to standard output in the
              ISO 8601 format.

    $ hwclock --show
    2026-12-07 16:00:00

- an item that is long enough to wrap around the line width of this text, so it
  continues here
- a second item
"""

MARKDOWN = """# Events

By default, a maximum of `10` listeners can be registered for any single
event. This limit can be changed for individual `EventEmitter` instances
using the `emitter.setMaxListeners(n)` method.

- a list item that
  wraps
- another item

> a quotation that
> wraps

| option | default |
|--------|---------|
| size   | `1024 * 1024` |

```js
const a = 1;
const b = 2;
```

A hard break  
stays, and so does a line ending in a backslash\\
here.
"""


def _squash(text: str) -> str:
    return " ".join(text.split())


def _check_offsets(source: str, sections):
    """Every character of a section comes from the source at its offset (or is the
    space that replaced a line break)."""
    for section in sections:
        for i, ch in enumerate(section.text):
            at = section.unit_offset(i)
            assert ch == source[at] or (ch == " " and source[at] in " \n\r\t"), (
                section.text[max(0, i - 20):i + 5], repr(source[at - 5:at + 5]))


def test_plain_text_paragraphs_are_rebuilt_and_structure_kept():
    [section] = parse_bytes(MANUAL.encode(), "hwclock.txt")
    text = section.text
    assert ("It is a program that runs under Linux and sets and queries the Hardware Clock, "
            "which is also called the RTC.") in text
    assert "The implementation is well-known and a well-known fact." in text
    assert "HWCLOCK\n\nHwclock is" in text  # the title keeps its line
    assert "Options:\n  -r, --show     read the clock\n  -w, --systohc  write it" in text
    assert "print its time to standard output in the ISO 8601 format." in text
    assert "    $ hwclock --show\n    2026-12-07 16:00:00" in text  # code keeps its lines
    assert ("- an item that is long enough to wrap around the line width of this text, so it "
            "continues here\n- a second item") in text
    _check_offsets(MANUAL, [section])


def test_markdown_paragraphs_joined_lists_quotes_tables_code_kept():
    [section] = parse_bytes(MARKDOWN.encode(), "events.md")
    text = section.text
    assert ("By default, a maximum of `10` listeners can be registered for any single event. "
            "This limit can be changed") in text
    assert "- a list item that wraps\n- another item" in text
    assert "> a quotation that wraps" in text
    assert "| option | default |\n|--------|---------|\n| size   | `1024 * 1024` |" in text
    assert "```js\nconst a = 1;\nconst b = 2;\n```" in text
    assert "A hard break  \nstays" in text and "backslash\\\nhere." in text
    _check_offsets(MARKDOWN, [section])


def test_passage_offsets_point_into_the_file():
    source = MANUAL * 6
    sections = parse_bytes(source.encode(), "long.txt")
    passages = list(Chunker(ChunkConfig(max_tokens=60, overlap=10)).chunk(sections, "long.txt"))
    assert len(passages) > 4
    for passage in passages:
        cut = source[passage.metadata["start"]:passage.metadata["end"]]
        # the same characters, line breaks, indents and a broken word's hyphen aside
        assert re.sub(r"[\s-]", "", passage.text) == re.sub(r"[\s-]", "", cut), (passage, cut)
        assert passage.text[:2] == cut[:2] and passage.text[-2:] == cut[-2:]


def test_pdf_text_layer_lines_are_joined(tmp_path):
    sentence = ("The daemon reads its configuration from the file named in the environment "
                "variable and falls back to the system default when it is not set. ")
    path = tmp_path / "manual.pdf"
    write_pdf(path, [("Configuration", sentence * 3)])
    [section] = parse_bytes(path.read_bytes(), "manual.pdf")
    assert "\n" not in section.text  # fpdf wrapped the lines; the paragraph is one again
    assert _squash(sentence * 3) == section.text


RST = """=========
Masked IO
=========

Intro that is hard
wrapped.

Reading
-------

A masked array is read with ``load`` and the mask
travels with it.

Example::

    x = load("a.npy")

Writing
-------

.. include:: /etc/passwd

Saved with ``save``.
"""


def test_rst_sections_by_title_path_with_joined_paragraphs():
    sections = parse_bytes(RST.encode(), "guide.rst")
    assert [s.headings for s in sections] == [
        ("Masked IO",), ("Masked IO", "Reading"), ("Masked IO", "Writing")]
    assert sections[0].text == "Intro that is hard wrapped."
    assert sections[1].text.startswith(
        "A masked array is read with ``load`` and the mask travels with it.\n\nExample::")
    assert "/etc/passwd" in sections[2].text and "root:" not in sections[2].text  # not read
    _check_offsets(RST, sections)


def test_folder_build_names_the_files_it_cannot_read(tmp_path):
    from corpus_files import CountingEncoder
    from lepton_tf.index.folder_build import build_folder_index

    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.rst").write_text(RST)
    (tmp_path / "docs" / "notes.txt").write_text("Plain notes about masked arrays.")
    (tmp_path / "docs" / "slides.odp").write_bytes(b"PK\x03\x04 not read")
    (tmp_path / "docs" / "diagram.png").write_bytes(b"\x89PNG")
    lines = []
    report = build_folder_index(str(tmp_path / "docs"), str(tmp_path / "index"),
                                CountingEncoder(), progress=False, log=lines.append,
                                self_tune=False)
    assert report.unsupported == ("diagram.png", "slides.odp")
    assert any(line.startswith("Not read, type not supported (2 files): diagram.png, slides.odp")
               for line in lines), lines
    assert "2 not read (type not supported)" in report.summary()
    assert {p.split("#")[0] for p in report_passages(report)} >= {"guide.rst", "notes.txt"}


def report_passages(report):
    from lepton_tf.index.storage import load_index

    return list(load_index(report.path).documents)
