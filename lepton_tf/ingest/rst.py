"""reStructuredText (`.rst`): sections under their title path.

docutils is the reference reStructuredText parser (maintained, what Sphinx
builds on); it finds section titles whatever adornment style a file uses
(over- and underlines, any punctuation, the order of first use setting the
level). The text between two titles is cut from the source, like Markdown's,
and its hard-wrapped paragraphs joined (`ingest.reflow`), so offsets index
the file's text. Nothing is executed or read: `include` and `raw` directives
are off, and markup problems are not reported (a section with a broken role
is still text).
"""

from __future__ import annotations

from lepton_tf.ingest.passage import Section
from lepton_tf.ingest.plain import decode_text, reflowed_section

SETTINGS = {"report_level": 5, "halt_level": 5, "warning_stream": False,
            "file_insertion_enabled": False, "raw_enabled": False,
            "doctitle_xform": False}


def _titles(text: str) -> list[tuple[int, int, tuple[str, ...]]]:
    """(first line, line after, title path) of each section title, 0-based lines."""
    from docutils import nodes
    from docutils.core import publish_doctree

    doc = publish_doctree(text, settings_overrides=SETTINGS)
    lines = text.splitlines()
    found = []
    for title in doc.findall(nodes.title):
        section = title.parent
        if not isinstance(section, nodes.section) or not title.line:
            continue
        underline = title.line - 1  # docutils numbers the underline's line, from 1
        first = underline - 1
        adornment = lines[underline].strip()[:1] if underline < len(lines) else ""
        if first >= 1 and adornment and lines[first - 1].strip()[:1] == adornment and \
                set(lines[first - 1].strip()) == {adornment}:
            first -= 1  # an overline too
        path = []
        node = section
        while isinstance(node, nodes.section):
            path.append(node[0].astext().strip())
            node = node.parent
        found.append((first, underline + 1, tuple(reversed(path))))
    return sorted(found)


def parse_rst(data: bytes, path: str) -> list[Section]:
    """Sections between titles, each titled by its title path.

    Raises:
        ParseError: for bytes that are not text.
    """
    text = decode_text(data, path)
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    starts.append(len(text))
    sections, headings, body_from = [], (), 0
    for first, after, title_path in _titles(text) + [(len(starts) - 1, None, None)]:
        lo, hi = starts[min(body_from, len(starts) - 1)], starts[min(first, len(starts) - 1)]
        section = reflowed_section(text[lo:hi], lo, headings=headings)
        if section:
            sections.append(section)
        if title_path is None:
            break
        headings, body_from = title_path, after
    return sections
