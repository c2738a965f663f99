"""HTML (`.html`, `.htm`): visible text in sections under `<h1>`-`<h6>`.

beautifulsoup4 over the lxml parser: maintained, fast, and tolerant of the
broken markup exported help pages are full of, and it keeps the element
tree, so the heading path is read exactly. trafilatura was the other
candidate: its boilerplate removal is built for scraped news pages, but it
flattens the heading structure this index titles passages with and pulls a
dozen more packages; knowledge-base pages are mostly content, so dropping
`<script>`, `<style>`, `<nav>` and friends is enough.
"""

from __future__ import annotations

import re

from lepton_tf.ingest.passage import Section
from lepton_tf.ingest.plain import decode_text, stripped

HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
DROPPED = ("script", "style", "noscript", "template", "nav", "svg", "head")
BLOCKS = frozenset(["address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "header", "hr", "li", "main", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"])
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _TextBuilder:
    """Visible text with at most one blank line between blocks."""

    def __init__(self):
        self.parts, self.size, self.newlines = [], 0, 2  # start counts as a line start

    def text(self, s: str) -> None:
        s = _SPACES.sub(" ", s.replace("\n", " "))
        if self.newlines:
            s = s.lstrip()
        if s:
            self._add(s)
            self.newlines = 0

    def breaks(self, n: int) -> None:
        """Ends the current line, then leaves n - 1 blank lines (n <= 2)."""
        if self.newlines < n:
            if self.parts and self.newlines == 0:
                last = self.parts[-1].rstrip(" ")
                self.size -= len(self.parts[-1]) - len(last)
                self.parts[-1] = last
            self._add("\n" * (n - self.newlines))
            self.newlines = n

    def _add(self, s: str) -> None:
        self.parts.append(s)
        self.size += len(s)


def _visible_text(soup):
    """(text, [(offset, level, heading)]) of the page's body, in order."""
    from bs4 import NavigableString
    from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

    skipped = (Comment, Declaration, Doctype, ProcessingInstruction)
    out, marks = _TextBuilder(), []

    def walk(node):
        for child in node.children:
            if isinstance(child, NavigableString):
                if not isinstance(child, skipped):
                    out.text(str(child))
            elif child.name in HEADINGS:
                out.breaks(2)
                marks.append((out.size, int(child.name[1]), child.get_text(" ", strip=True)))
            elif child.name not in DROPPED:
                block = child.name in BLOCKS
                if block:
                    out.breaks(2 if child.name == "p" else 1)
                walk(child)
                if block:
                    out.breaks(2 if child.name == "p" else 1)

    walk(soup.body or soup)
    return "".join(out.parts), marks


def parse_html(data: bytes, path: str) -> list[Section]:
    """Sections of the visible text between headings.

    Offsets index the extracted visible text (whitespace runs inside a line
    collapsed to one space; blocks on their own lines). The page's `<title>`
    titles text that has no heading above it.

    Raises:
        ParseError: for bytes that are not text.
    """
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data, path), "lxml")
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    text, marks = _visible_text(soup)
    sections, path_stack, body_from = [], [], 0
    for offset, level, heading in marks + [(len(text), 0, None)]:
        body, start = stripped(text[body_from:offset], body_from)
        if body:
            sections.append(Section(body, start, tuple(t for _, t in path_stack),
                                    title=page_title))
        if heading is None:
            break
        path_stack = [(lv, t) for lv, t in path_stack if lv < level] + [(level, heading)]
        body_from = offset
    return sections
