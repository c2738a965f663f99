"""Paragraphs as the author wrote them, from text hard-wrapped at a line width.

Plain-text manuals, Markdown sources and a PDF's text layer break lines at a
column, not where a sentence ends; cut at those breaks, a passage (and an
answer quoted from it) stops mid-sentence. `reflow_plain` joins the lines of
a paragraph with one space, and `reflow_line_ranges` does it for the line
ranges a parser knows to be paragraphs (Markdown's paragraph blocks). A word
hyphenated at a line end is joined back (`implemen-` + `tation`), unless the
text writes that word with its hyphen elsewhere (`well-known`).

Structure stays: blank lines, list items, indented code, table rows and
short lines that end a sentence (a heading, an address line) keep their
line breaks. What is rewritten is only whitespace and line-end hyphens, and
`Reflowed.source_offset` maps every character back to the source, so
passages' offsets still point into the file.
"""

from __future__ import annotations

import bisect
import dataclasses
import re

LIST_ITEM = re.compile(r"^\s*(?:[-*+\u2022\u2023\u25e6\u2043\u2219]|\(?\d{1,3}[.)]|\(?[a-zA-Z][.)]"
                       r"|\([ivxIVX]{1,4}\))\s+\S")
TABLE_ROW = re.compile(r"\|.*\||\t|\S {3,}\S|^\s*[+|]?[-=]{3,}[+|]")
CODE_PROMPT = re.compile(r"^\s*(?:\$ |# |>>> |\.\.\. |C:\\>)")
SENTENCE_END = re.compile(r"[.!?:;]['\")\]]?$")
HYPHENATED = re.compile(r"([^\W\d_]{2,})-$")
STARTS_LOWER = re.compile(r"^([^\W\d_]*[a-z\u00e0-\u00ff])")
INDENT = re.compile(r"[ \t]*")


@dataclasses.dataclass(frozen=True)
class Reflowed:
    """Rewritten text and where each of its characters came from.

    Attributes:
        text: the text with paragraph lines joined.
        anchors: `(offset in text, offset in source)` pairs, sorted; from an
            anchor to the next the two advance together.
    """

    text: str
    anchors: tuple[tuple[int, int], ...]

    def shifted(self, by: int) -> tuple[tuple[int, int], ...]:
        """The anchors with source offsets moved by `by` (text cut from a larger unit)."""
        return tuple((at, source + by) for at, source in self.anchors)

    def source_offset(self, i: int) -> int:
        """The source offset of `text[i]`."""
        return map_offset(self.anchors, i)

    def text_offset(self, source_i: int) -> int:
        """Where source offset `source_i` is in `text` (a dropped character:
        where the text resumes after it)."""
        if not self.anchors:
            return source_i
        k = bisect.bisect_right([s for _, s in self.anchors], source_i) - 1
        if k < 0:
            return 0
        at, source = self.anchors[k]
        end = self.anchors[k + 1][0] if k + 1 < len(self.anchors) else len(self.text)
        return min(at + (source_i - source), end)

    def cut(self, lo: int, hi: int) -> tuple[str, tuple[tuple[int, int], ...]]:
        """`text[lo:hi]` without surrounding whitespace, with its own anchors
        (offsets in the cut text -> source offsets)."""
        piece = self.text[lo:hi]
        lead = len(piece) - len(piece.lstrip())
        piece = piece.strip()
        lo += lead
        anchors = [(0, self.source_offset(lo))] + [
            (at - lo, source) for at, source in self.anchors if lo < at < lo + len(piece)]
        return piece, tuple(anchors)


def map_offset(anchors: tuple[tuple[int, int], ...], i: int, start: int = 0) -> int:
    """The source offset of character `i` of a rewritten text.

    Args:
        anchors: a `Reflowed`'s anchors (empty: the text is the source's,
            from `start`).
        i: an offset in the rewritten text.
        start: the source offset of the text's first character, without anchors.

    Returns:
        The offset in the source.
    """
    if not anchors:
        return start + i
    k = bisect.bisect_right(anchors, (i, float("inf"))) - 1
    at, source = anchors[max(k, 0)]
    return source + (i - at)


class _Builder:
    """Appends copied source spans and replacements, keeping the anchors."""

    def __init__(self, source: str):
        self.source, self.parts, self.anchors, self.length = source, [], [], 0

    def copy(self, lo: int, hi: int) -> None:
        if hi > lo:
            self._anchor(lo)
            self.parts.append(self.source[lo:hi])
            self.length += hi - lo

    def replace(self, text: str, source_at: int) -> None:
        if text:
            self._anchor(source_at)
            self.parts.append(text)
            self.length += len(text)

    def _anchor(self, source_at: int) -> None:
        if self.anchors and self.anchors[-1][1] + (self.length - self.anchors[-1][0]) == source_at:
            return  # continues the last span
        self.anchors.append((self.length, source_at))

    def result(self) -> Reflowed:
        return Reflowed("".join(self.parts), tuple(self.anchors))


def _lines(text: str) -> list[tuple[int, int]]:
    """`(start, end)` of each line, without its newline."""
    out, start = [], 0
    for match in re.finditer(r"\r?\n", text):
        out.append((start, match.start()))
        start = match.end()
    out.append((start, len(text)))
    return out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _wrap_width(lines: list[str]) -> int:
    """The column the text was wrapped at: a high percentile of line lengths."""
    lengths = sorted(len(line.rstrip()) for line in lines if line.strip())
    if not lengths:
        return 80
    return max(40, lengths[int(0.9 * (len(lengths) - 1))])


def _structural(line: str) -> bool:
    """A line that is its own unit: a table row, a shell or Python prompt."""
    return bool(TABLE_ROW.search(line.strip()) or CODE_PROMPT.match(line))


def joins(line: str, next_line: str, width: int, body_indent: int) -> bool:
    """Whether `next_line` continues the paragraph `line` is in (plain text).

    Args:
        line, next_line: two consecutive lines (without newlines).
        width: the text's wrap width.
        body_indent: the indent of most of the text's lines.

    Returns:
        True when the break between them is a wrap, not structure.
    """
    here, there = line.rstrip(), next_line.strip()
    if not here.strip() or not there:
        return False
    if LIST_ITEM.match(next_line) or _structural(line) or _structural(next_line):
        return False
    long_line = len(here) >= 0.7 * width
    indent, next_indent = _indent(line), _indent(next_line)
    if max(indent, next_indent) >= body_indent + 4 and not (
            long_line and next_indent == indent):
        # Deeper than the body: code keeps its lines; an indented paragraph
        # (a man page's option text) wraps at the width like the body.
        return False
    if next_indent > indent + 1 and LIST_ITEM.match(line) is None:
        return False  # a block under its lead-in line
    if SENTENCE_END.search(here) and not long_line:
        return False  # a short line that ends a sentence: a heading, an address line
    if len(here.strip()) <= 0.5 * width and there[:1].isupper():
        return False  # a short line before a capital: a title over its text
    return True


def _hyphen_break(line: str, next_line: str, text: str) -> str:
    """"broken word" for `implemen-` / `tation`, "compound" for `well-` / `known`
    (written with its hyphen elsewhere in `text`), "" for no hyphen at the break."""
    head, tail = HYPHENATED.search(line.rstrip()), STARTS_LOWER.match(next_line.lstrip())
    if not head or not tail:
        return ""
    return "compound" if f"{head[1]}-{tail[1]}" in text else "broken word"


def _join(builder: _Builder, source: str, lo: int, hi: int, nxt: tuple[int, int],
          continuation: re.Pattern) -> int:
    """Writes source[lo:hi] and the break to `nxt` as one space (nothing after a
    broken word's hyphen); returns where the next line's text starts (after
    what `continuation` matches at its start: its indent, a quote's `>`)."""
    body_end = lo + len(source[lo:hi].rstrip())
    next_text = source[nxt[0]:nxt[1]]
    skip = continuation.match(next_text).end()
    hyphen = _hyphen_break(source[lo:hi], next_text, source)
    if hyphen == "broken word":
        builder.copy(lo, body_end - 1)  # without the hyphen
    elif hyphen == "compound":
        builder.copy(lo, body_end)  # `well-` + `known`: the hyphen, no space
    else:
        builder.copy(lo, body_end)
        builder.replace(" ", body_end)
    return nxt[0] + skip


def reflow_line_ranges(text: str, paragraphs: list[tuple[int, int]],
                       hard_break=None, continuation: re.Pattern = INDENT) -> Reflowed:
    """Joins the lines of the given line ranges; everything else is copied.

    Args:
        text: the source text.
        paragraphs: `(first line, line after)` ranges (0-based) to join,
            e.g. Markdown's paragraph blocks.
        hard_break: `line -> bool`, a line whose break is kept (Markdown's
            two trailing spaces or backslash); None: none.
        continuation: what to drop at the start of a joined line (its
            indent; Markdown also drops a block quote's `>` markers).

    Returns:
        The `Reflowed` text.
    """
    lines = _lines(text)
    joined = set()
    for first, after in paragraphs:
        for i in range(first, min(after, len(lines)) - 1):
            line = text[lines[i][0]:lines[i][1]]
            if line.strip() and text[lines[i + 1][0]:lines[i + 1][1]].strip() and not (
                    hard_break and hard_break(line)):
                joined.add(i)
    return _rebuild(text, lines, joined, continuation)


def reflow_plain(text: str) -> Reflowed:
    """Joins hard-wrapped lines into paragraphs, by the text's own line width.

    Args:
        text: plain text (a `.txt` file, a PDF page's text layer).

    Returns:
        The `Reflowed` text.
    """
    lines = _lines(text)
    strings = [text[lo:hi] for lo, hi in lines]
    width = _wrap_width(strings)
    indents = [_indent(line) for line in strings if line.strip()]
    body_indent = max(set(indents), key=indents.count) if indents else 0
    joined = {i for i in range(len(lines) - 1)
              if joins(strings[i], strings[i + 1], width, body_indent)}
    return _rebuild(text, lines, joined, INDENT)


def _rebuild(text: str, lines: list[tuple[int, int]], joined: set[int],
             continuation: re.Pattern) -> Reflowed:
    """`text` with the breaks after the `joined` lines made spaces."""
    builder = _Builder(text)
    resume = 0  # a joined line's text starts after its indent
    for i, (lo, hi) in enumerate(lines):
        lo = max(lo, resume)
        if i in joined:
            resume = _join(builder, text, lo, hi, lines[i + 1], continuation)
        else:
            resume = lines[i + 1][0] if i + 1 < len(lines) else len(text)
            builder.copy(lo, resume)  # the line and its own newline
    return builder.result()
