"""Document records in JSONL: one reader for a user's corpus file, a JSONL
file inside a corpus folder and an index's own document store.

A record is a JSON object per line: `_id` (or `id`), `title`, `text`,
`metadata` (an object), `questions` (a list of strings: questions the
document is known to answer, `index.known_questions`) and `readers` (a list
of groups, `user:NAME` principals or `"*"`: who may read it,
`index.permissions`; also accepted inside `metadata`). This is BEIR's
`corpus.jsonl` shape, with `metadata`, `questions` and `readers` added.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Iterable, Iterator


class RecordError(ValueError):
    """A line that is not a document record.

    Attributes:
        line: the 1-based line number.
        reason: what is wrong with it.
    """

    def __init__(self, line: int, reason: str):
        super().__init__(f"line {line}: {reason}")
        self.line, self.reason = line, reason


@dataclasses.dataclass(frozen=True)
class DocumentRecord:
    """One record of a JSONL document file.

    Attributes:
        line: its 1-based line number.
        record_id: `_id`, else `id`, as a string (None: the record has neither).
        title / text: as strings ("" when absent).
        metadata: its `metadata` object ({} when absent).
        questions: its known questions, stripped, blank ones dropped, each once.
        readers: who may read it, sorted, each once (`()`: nobody; None: the
            record does not say).
    """

    line: int
    record_id: str | None
    title: str
    text: str
    metadata: dict
    questions: tuple = ()
    readers: tuple | None = None


def known_questions(value) -> tuple:
    """A record's `questions`: a list of strings (blank ones dropped, repeats once).

    Raises:
        ValueError: for anything but a list of strings.
    """
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(q, str) for q in value):
        raise ValueError(f"questions must be a list of strings, not {value!r:.60}")
    return tuple(dict.fromkeys(q.strip() for q in value if q.strip()))


def record_readers(value) -> tuple | None:
    """A record's `readers`: a list of non-empty strings, sorted, once each
    (None: absent).

    Raises:
        ValueError: for anything but a list of non-empty strings.
    """
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(r, str) and r.strip() for r in value):
        raise ValueError(f"readers must be a list of group or user:NAME strings, not {value!r:.60}")
    return tuple(sorted({r.strip() for r in value}))


def _text(value) -> str:
    return "" if value is None else str(value)


def parse_record(line: str, line_no: int) -> DocumentRecord | None:
    """The record on one line (None for a blank line).

    Raises:
        RecordError: for a line that is not a JSON object, or a `metadata`,
            `questions` or `readers` of the wrong type.
    """
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except ValueError as e:
        raise RecordError(line_no, f"not JSON ({e}).") from None
    if not isinstance(record, dict):
        raise RecordError(line_no, "expected a JSON object.")
    metadata = record.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise RecordError(line_no, f"metadata must be a JSON object, not {metadata!r:.60}")
    metadata = metadata or {}
    readers = record.get("readers", metadata.get("readers"))
    if "readers" in metadata:  # permissions, not a field shown with the hit
        metadata = {k: v for k, v in metadata.items() if k != "readers"}
    try:
        questions = known_questions(record.get("questions"))
        readers = record_readers(readers)
    except ValueError as e:
        raise RecordError(line_no, str(e)) from None
    record_id = record.get("_id", record.get("id"))
    return DocumentRecord(line_no, None if record_id is None else str(record_id),
                          _text(record.get("title")), _text(record.get("text")),
                          metadata, questions, readers)


def read_records(lines: Iterable[str]) -> Iterator[DocumentRecord]:
    """The records of a JSONL file's lines, in order (blank lines skipped).

    Raises:
        RecordError: naming the first bad line.
    """
    for line_no, line in enumerate(lines, 1):
        record = parse_record(line, line_no)
        if record is not None:
            yield record
