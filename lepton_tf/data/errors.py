"""The error raised for malformed data files."""

from __future__ import annotations

import os


class DataFormatError(ValueError):
    """A data file does not have the expected format.

    The message starts with ``<path>:<line>:`` (compiler style), e.g.
    ``data/sgd/sgd_dev.jsonl.gz:17: expected key 'turns'``.

    Attributes:
        path: the file, as given to the reader.
        line: 1-based line number of the problem, or None when it is not known.
        reason: the message without the location prefix.
    """

    def __init__(self, path: str | os.PathLike, line: int | None, reason: str):
        """Build the error.

        Args:
            path: the file that is malformed.
            line: 1-based line number, or None if unknown.
            reason: what is wrong, e.g. ``"expected key 'turns'"``.
        """
        self.path = os.fspath(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.line, self.reason))
