"""Plain text (`.txt`): the whole file is one section, its paragraphs rebuilt
(lines hard-wrapped at a column joined, `ingest.reflow`).

Bytes are decoded as UTF-8 (a BOM is dropped), or UTF-16 with its BOM;
anything else is read as Windows-1252, the legacy encoding of Western
editors (a superset of Latin-1's printable range). Statistical detectors
(charset-normalizer) were tried and guessed Central-European code pages for
short French notes, which is worse than a fixed, documented fallback.
"""

from __future__ import annotations

from lepton_tf.ingest.errors import ParseError
from lepton_tf.ingest.passage import Section
from lepton_tf.ingest.reflow import reflow_plain


def decode_text(data: bytes, path: str) -> str:
    """The text of a file's bytes.

    Raises:
        ParseError: for binary content (NUL bytes without a UTF-16 BOM).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise ParseError(path, "not valid UTF-16 text.") from None
    if b"\x00" in data[:8192]:
        raise ParseError(path, "binary content, not text.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # the 5 bytes cp1252 leaves undefined
        return data.decode("latin-1")


def stripped(text: str, start: int = 0) -> tuple[str, int]:
    """`text` without surrounding whitespace, and the offset it moved to."""
    lead = len(text) - len(text.lstrip())
    return text.strip(), start + lead


def reflowed_section(text: str, start: int = 0, **fields) -> Section | None:
    """A section of hard-wrapped plain text with its paragraphs' lines joined.

    Args:
        text: the text as the unit holds it, from `start`.
        start: its offset in the unit.
        fields: other `Section` fields (headings, page, title).

    Returns:
        The section (its anchors map back into the unit), None for blank text.
    """
    text, start = stripped(text, start)
    if not text:
        return None
    flowed = reflow_plain(text)
    return Section(flowed.text, start, anchors=flowed.shifted(start), **fields)


def parse_text(data: bytes, path: str) -> list[Section]:
    """One section holding the file's text, its paragraphs' lines joined
    (offsets index the decoded file).

    Raises:
        ParseError: for bytes that are not text.
    """
    section = reflowed_section(decode_text(data, path))
    return [section] if section else []
