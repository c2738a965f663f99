"""Plain text (`.txt`): the whole file is one section.

Bytes are decoded as UTF-8 (a BOM is dropped); other encodings are guessed
by charset-normalizer, the detector `requests` ships with (maintained, pure
Python), so a Windows-1252 note does not come out as mojibake or an error.
"""

from __future__ import annotations

from lepton_tf.ingest.errors import ParseError
from lepton_tf.ingest.passage import Section


def decode_text(data: bytes, path: str) -> str:
    """The text of a file's bytes.

    Raises:
        ParseError: if the bytes are no text in any encoding detected.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or b"\x00" in data[:4096]:
        raise ParseError(path, "not text (no character encoding fits).")
    return str(best)


def stripped(text: str, start: int = 0) -> tuple[str, int]:
    """`text` without surrounding whitespace, and the offset it moved to."""
    lead = len(text) - len(text.lstrip())
    return text.strip(), start + lead


def parse_text(data: bytes, path: str) -> list[Section]:
    """One section holding the file's text (offsets index the decoded file).

    Raises:
        ParseError: for bytes that are not text.
    """
    text, start = stripped(decode_text(data, path))
    return [Section(text, start)] if text else []
