"""Opening data files, gzipped or not (internal)."""

from __future__ import annotations

import errno
import gzip
import io
import os
from pathlib import Path
from typing import BinaryIO, TextIO

_GZIP_MAGIC = b"\x1f\x8b"


def check_file(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path, raising if it is not an existing file.

    Raises:
        FileNotFoundError: naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(errno.ENOENT, "data file not found", str(p))
    return p


def open_binary(path: str | os.PathLike) -> BinaryIO:
    """Open a file for reading bytes, decompressing it if it is gzipped.

    Gzip is detected from the file's magic bytes, not its name.

    Raises:
        FileNotFoundError: naming the file if it does not exist.
    """
    p = check_file(path)
    with open(p, "rb") as fh:
        magic = fh.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(p, "rb")
    return open(p, "rb")


def open_text(path: str | os.PathLike) -> TextIO:
    """Open a UTF-8 text file (gzipped or not) with universal newlines.

    Raises:
        FileNotFoundError: naming the file if it does not exist.
    """
    return io.TextIOWrapper(open_binary(path), encoding="utf-8", newline="")


def iter_json_objects(path: str | os.PathLike):
    """Yields `(line_number, dict)` for each non-blank line of a JSONL file.

    Raises:
        FileNotFoundError: naming the file if it does not exist.
        DataFormatError: naming the file and line of invalid JSON or a
            line that is not a JSON object.
    """
    import json

    from lepton_tf.data.errors import DataFormatError

    with open_text(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataFormatError(path, line_no, f"invalid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise DataFormatError(path, line_no, "expected a JSON object")
            yield line_no, record
