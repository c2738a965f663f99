"""JSONL and CSV files: each record is a document.

JSONL records are read as `lepton-tf index` reads a JSONL corpus
(`data.document_records`: `_id`, `title`, `text`, `metadata`, and the
`questions` each record is known to answer, which its passages keep).
CSV files (Python's `csv`, which handles quoting and embedded newlines)
take their text from a column named
`text`, `body`, `content`, `answer` or `description` and their title from
`title`, `question`, `name`, `subject` or `heading`; the other columns become
metadata, filterable by name. Without a text column, each row is written as
`column: value` lines.

A record's `readers` (a JSONL list, or a CSV column of names separated by `;`)
says who may read it (`index.permissions`); it is kept apart from the text and
the shown metadata, under `metadata["$readers"]`, which the index takes out.
"""

from __future__ import annotations

import csv
import io
import json

from lepton_tf.data.document_records import RecordError, read_records
from lepton_tf.ingest.errors import ParseError
from lepton_tf.ingest.passage import Section
from lepton_tf.ingest.plain import decode_text

TEXT_COLUMNS = ("text", "body", "content", "answer", "description")
TITLE_COLUMNS = ("title", "question", "name", "subject", "heading")
ID_COLUMNS = ("_id", "id", "doc_id")
READERS = "readers"
READERS_KEY = "$readers"  # where a record's readers travel to the index builder


def _scalar_metadata(values: dict) -> dict:
    """str/int/float fields only (what filters compare); others as JSON text."""
    out = {}
    for key, value in values.items():
        if isinstance(value, bool):
            out[str(key)] = int(value)
        elif isinstance(value, (str, int, float)):
            out[str(key)] = value
        elif value is not None:
            out[str(key)] = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return out


def _csv_readers(cell: str) -> list:
    """A CSV `readers` cell's names, `;`-separated (sorted, each once)."""
    return sorted({v for v in (p.strip() for p in cell.split(";")) if v})


def _record(path: str, record_id: str, title: str, text: str, extra: dict,
            questions: tuple = (), readers=None):
    text = (text or "").strip()
    if not text:
        return None
    metadata = {**_scalar_metadata(extra), "record": record_id}
    if readers is not None:
        metadata[READERS_KEY] = readers
    return Section(text, 0, (), document=f"{path}:{record_id}", title=(title or "").strip(),
                   metadata=metadata, questions=questions)


def parse_jsonl(data: bytes, path: str) -> list[Section]:
    """One section per record (offsets index the record's text).

    Raises:
        ParseError: naming the line of a record that is not a JSON object
            (or whose `metadata`, `questions` or `readers` has the wrong type).
    """
    sections = []
    try:
        for r in read_records(decode_text(data, path).splitlines()):
            section = _record(path, r.record_id or str(r.line), r.title, r.text, r.metadata,
                              r.questions, None if r.readers is None else list(r.readers))
            if section:
                sections.append(section)
    except RecordError as e:
        raise ParseError(path, str(e)) from None
    return sections


def _pick(columns: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {c.strip().lower(): c for c in columns}
    return next((lowered[n] for n in names if n in lowered), None)


def parse_csv(data: bytes, path: str) -> list[Section]:
    """One section per row; the header row names the columns.

    Raises:
        ParseError: for a file without a header or with malformed quoting.
    """
    text = decode_text(data, path)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.DictReader(io.StringIO(text, newline=""), dialect=dialect, strict=True))
    except csv.Error as e:
        raise ParseError(path, f"malformed CSV ({e}).") from None
    if not rows:
        return []
    columns = [c for c in rows[0] if c is not None]
    text_col, title_col, id_col = (_pick(columns, TEXT_COLUMNS), _pick(columns, TITLE_COLUMNS),
                                   _pick(columns, ID_COLUMNS))
    sections = []
    for row_no, row in enumerate(rows, 2):
        if None in row:
            raise ParseError(path, f"row {row_no - 1} has more fields than the header.")
        record_id = ((row.get(id_col) or "").strip() if id_col else "") or str(row_no - 1)
        readers_col = _pick([c for c in row if c is not None], (READERS,))
        cell = (row.get(readers_col) or "").strip() if readers_col else ""
        readers = _csv_readers(cell) if cell else None  # empty: the file's ACL globs decide
        row = {c: v for c, v in row.items() if c != readers_col}
        extra = {c: v for c, v in row.items() if c not in (text_col, title_col, id_col) and v}
        body = row.get(text_col, "") if text_col else "\n".join(
            f"{c}: {v}" for c, v in row.items() if c != title_col and v)
        section = _record(path, record_id, row.get(title_col, "") if title_col else "", body,
                          extra if text_col else {}, readers=readers)
        if section:
            sections.append(section)
    return sections
