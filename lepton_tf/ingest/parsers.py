"""Which parser reads which file suffix."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable

from lepton_tf.ingest.errors import ParseError
from lepton_tf.ingest.passage import Section

Parser = Callable[[bytes, str], list]


# suffix -> (module of lepton_tf.ingest, its parser): imported on first use, so
# scanning a folder does not import the HTML and PDF libraries.
_PARSERS = {".md": ("markdown", "parse_markdown"), ".markdown": ("markdown", "parse_markdown"),
            ".txt": ("plain", "parse_text"), ".html": ("html", "parse_html"),
            ".htm": ("html", "parse_html"), ".pdf": ("pdf", "parse_pdf"),
            ".jsonl": ("records", "parse_jsonl"), ".csv": ("records", "parse_csv"),
            ".rst": ("rst", "parse_rst")}
SUPPORTED = tuple(_PARSERS)  # the file suffixes a corpus folder may hold


def parser_for(name: str) -> Parser | None:
    """The parser of a file by its suffix (None: unsupported)."""
    found = _PARSERS.get(os.path.splitext(name)[1].lower())
    if found is None:
        return None
    module, function = found
    return getattr(importlib.import_module(f"lepton_tf.ingest.{module}"), function)


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
    parser = parser_for(name)
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
