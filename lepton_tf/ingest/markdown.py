"""Markdown (`.md`): sections under their heading path.

markdown-it-py is a maintained CommonMark parser (already installed with
`rich`); its block tokens carry source line ranges (`token.map`), so ATX
(`## A`) and setext (`A\\n---`) headings are found exactly as a renderer
would (not inside code fences, not `#hashtags`), and the text between two
headings is cut from the source with each paragraph's hard-wrapped lines
joined (`ingest.reflow`): offsets index the file's text.
"""

from __future__ import annotations

import re

from lepton_tf.ingest.passage import Section
from lepton_tf.ingest.plain import decode_text
from lepton_tf.ingest.reflow import reflow_line_ranges

# What starts a paragraph's next line: its indent, a block quote's markers.
QUOTED = re.compile(r"[ \t]*(?:>[ \t]?)*[ \t]*")


def _heading_text(inline) -> str:
    """Heading text without markup (`## The *fast* path` -> `The fast path`)."""
    if not inline.children:
        return inline.content.strip()
    return "".join(c.content for c in inline.children
                   if c.type in ("text", "code_inline", "softbreak")).strip()


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)
    starts.append(len(text))
    return starts


def parse_markdown(data: bytes, path: str) -> list[Section]:
    """Sections between headings, each titled by its heading path.

    Text before the first heading has an empty path. A YAML front-matter
    block is not treated specially (it is rare in knowledge bases and
    stays searchable).

    Raises:
        ParseError: for bytes that are not text.
    """
    from markdown_it import MarkdownIt

    text = decode_text(data, path)
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    # Paragraph blocks (also inside list items and quotes) are joined into one
    # line each; code, tables, list items and headings keep their lines.
    flowed = reflow_line_ranges(
        text, [tuple(t.map) for t in tokens if t.type == "paragraph_open" and t.map],
        hard_break=lambda line: line.endswith(("  ", "\\")), continuation=QUOTED)
    lines = _line_starts(text)
    headings = []  # (first line, line after, level, text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.map and token.level == 0:
            headings.append((token.map[0], token.map[1], int(token.tag[1]),
                             _heading_text(tokens[i + 1])))
    sections, path_stack = [], []
    body_from = 0
    for first, after, level, title in headings + [(len(lines) - 1, None, 0, None)]:
        body, anchors = flowed.cut(flowed.text_offset(lines[body_from]),
                                   flowed.text_offset(lines[first]))
        if body:
            sections.append(Section(body, anchors[0][1], tuple(t for _, t in path_stack),
                                    anchors=anchors))
        if title is None:
            break
        path_stack = [(lv, t) for lv, t in path_stack if lv < level] + [(level, title)]
        body_from = after
    return sections
