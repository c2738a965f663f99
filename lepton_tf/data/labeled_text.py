"""Read (text, label) examples from any CSV or JSONL file: bring your own intents.

CSV: a header row naming a text column (`text`, `utterance`, `query` or
`sentence`) and a label column (`label`, `intent` or `category`); other
columns are ignored. JSONL: one object a line with the same keys. Either may
be gzipped. Banking77's own CSV files (`text,category`) read as they are.
"""

from __future__ import annotations

import csv
import gzip
import os
import zlib

from lepton_tf.data._io import iter_json_objects, open_text
from lepton_tf.data.errors import DataFormatError
from lepton_tf.data.records import IntentExample

TEXT_KEYS = ("text", "utterance", "query", "sentence")
LABEL_KEYS = ("label", "intent", "category")
CSV_SUFFIXES = (".csv", ".tsv")
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")


def labeled_text_format(path: str | os.PathLike) -> str:
    """`"csv"` or `"jsonl"` from the file name (a `.gz` suffix is looked through).

    Raises:
        ValueError: for another suffix, naming the file and the suffixes known.
    """
    name = os.fspath(path).lower()
    if name.endswith(".gz"):
        name = name[:-3]
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    raise ValueError(f"{os.fspath(path)}: cannot tell the format from the name; use one of "
                     f"{CSV_SUFFIXES + JSONL_SUFFIXES} (optionally .gz).")


def _pick(names, candidates, what: str, path, line: int) -> str:
    for key in candidates:
        if key in names:
            return key
    raise DataFormatError(path, line, f"no {what} column/key: expected one of "
                                      f"{list(candidates)}, got {sorted(names)}")


def _example(path, line: int, text, label) -> IntentExample:
    if not isinstance(text, str) or not isinstance(label, (str, int)) or isinstance(label, bool):
        raise DataFormatError(path, line, "text must be a string and label a string or integer")
    text, label = text.strip(), str(label).strip()
    if not text or not label:
        raise DataFormatError(path, line, "empty text or label")
    return IntentExample(text=text, label=label)


def _read_csv(path) -> list[IntentExample]:
    delimiter = "\t" if os.fspath(path).lower().removesuffix(".gz").endswith(".tsv") else ","
    examples, line = [], 0
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh, delimiter=delimiter, strict=True)
            header = next(reader, None)
            if header is None:
                raise DataFormatError(path, 1, "empty file, expected a header row")
            header = [h.strip().lower() for h in header]
            text_col = header.index(_pick(header, TEXT_KEYS, "text", path, 1))
            label_col = header.index(_pick(header, LABEL_KEYS, "label", path, 1))
            line = reader.line_num
            for row in reader:
                first_line, line = line + 1, reader.line_num
                if not row or not any(field.strip() for field in row):
                    continue
                if len(row) != len(header):
                    raise DataFormatError(path, first_line, f"expected {len(header)} fields "
                                                            f"({','.join(header)}), got {len(row)}")
                examples.append(_example(path, first_line, row[text_col], row[label_col]))
    except csv.Error as exc:
        raise DataFormatError(path, line + 1, f"malformed CSV: {exc}") from None
    except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataFormatError(path, line + 1, f"cannot decode file: {exc}") from None
    return examples


def _read_jsonl(path) -> list[IntentExample]:
    examples = []
    try:
        for line, record in iter_json_objects(path):
            text = record[_pick(record, TEXT_KEYS, "text", path, line)]
            label = record[_pick(record, LABEL_KEYS, "label", path, line)]
            examples.append(_example(path, line, text, label))
    except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataFormatError(path, None, f"cannot decode file: {exc}") from None
    return examples


def read_labeled_text(path: str | os.PathLike) -> list[IntentExample]:
    """Reads (text, label) examples from a CSV or JSONL file (gzipped or not).

    Args:
        path: the file; `.csv`/`.tsv` or `.jsonl`/`.ndjson`/`.json` (one
            object a line), optionally with `.gz`.

    Returns:
        The examples in file order, texts and labels stripped; blank lines
        are skipped.

    Raises:
        FileNotFoundError: naming the file if it is missing.
        ValueError: if the name has no known suffix.
        DataFormatError: naming the file and 1-based line of a missing text
            or label column, a row with the wrong number of fields, an empty
            text or label, invalid JSON, or a file with no examples.
    """
    kind = labeled_text_format(path)
    examples = _read_csv(path) if kind == "csv" else _read_jsonl(path)
    if not examples:
        raise DataFormatError(path, None, "no examples in the file")
    return examples
