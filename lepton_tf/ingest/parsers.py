"""Which parser reads which file suffix."""

from __future__ import annotations

import os
from collections.abc import Callable

from lepton_tf.ingest.errors import ParseError
from lepton_tf.ingest.passage import Section

Parser = Callable[[bytes, str], list]


def _parsers() -> dict[str, Parser]:
    from lepton_tf.ingest.html import parse_html
    from lepton_tf.ingest.markdown import parse_markdown
    from lepton_tf.ingest.pdf import parse_pdf
    from lepton_tf.ingest.plain import parse_text
    from lepton_tf.ingest.records import parse_csv, parse_jsonl
    from lepton_tf.ingest.rst import parse_rst

    return {".md": parse_markdown, ".markdown": parse_markdown, ".txt": parse_text,
            ".html": parse_html, ".htm": parse_html, ".pdf": parse_pdf,
            ".jsonl": parse_jsonl, ".csv": parse_csv, ".rst": parse_rst}


def file_format(path: str) -> str:
    """The format name of a file (its lower-cased suffix without the dot)."""
    return os.path.splitext(path)[1].lower().lstrip(".")


def parse_bytes(data: bytes, name: str) -> list[Section]:
    """The sections of a file's bytes, by the suffix of `name`.

    Args:
        data: the file's content.
        name: its path (relative to the corpus folder: ids and messages use it).

    Returns:
        The file's non-empty sections, in reading order.

    Raises:
        ParseError: for an unsupported suffix or content the parser rejects
            (any parser exception is reported as this, naming the file).
    """
    parser = _parsers().get(os.path.splitext(name)[1].lower())
    if parser is None:
        raise ParseError(name, "unsupported file type.")
    try:
        return parser(data, name)
    except ParseError:
        raise
    except Exception as e:  # a parser bug on one file must not stop a corpus
        raise ParseError(name, f"{type(e).__name__}: {e}") from e


def parse_file(path: str, name: str | None = None) -> list[Section]:
    """`parse_bytes` of the file at `path` (`name` defaults to `path`).

    Raises:
        ParseError: as `parse_bytes`, or for a file that cannot be read.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ParseError(name or path, f"cannot be read ({e.strerror}).") from None
    return parse_bytes(data, name or path)
