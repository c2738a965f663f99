"""Readers for the Banking77 intent-classification data.

Files (vendored under ``data/banking77/``): ``train.csv.gz`` and ``test.csv.gz`` with
header ``text,category``, and ``categories.json`` listing the 77 intent names.
"""

from __future__ import annotations

import csv
import gzip
import json
import os
import zlib

from lepton_tf.data._io import open_text
from lepton_tf.data.errors import DataFormatError
from lepton_tf.data.paths import data_file, split_file
from lepton_tf.data.records import IntentExample

SPLITS = ("train", "test")
HEADER = ["text", "category"]


def read_banking77(split: str, path: str | os.PathLike | None = None) -> list[IntentExample]:
    """Read one Banking77 split.

    Args:
        split: ``"train"`` or ``"test"``.
        path: a CSV file (gzipped or not) to read instead of the vendored
            ``data/banking77/<split>.csv.gz``.

    Returns:
        The examples in file order. Texts keep their original spelling; quoted
        fields with commas are handled by the csv module.

    Raises:
        ValueError: if ``split`` is not ``"train"`` or ``"test"``.
        FileNotFoundError: naming the file if it is missing.
        DataFormatError: naming the file and 1-based line of a bad header or of a
            row that does not have exactly two non-empty fields.
    """
    path = split_file("banking77", "{split}.csv.gz", split, SPLITS, path)
    examples = []
    line = 0
    try:
        with open_text(path) as fh:
            reader = csv.reader(fh, strict=True)
            for row in reader:
                first_line, line = line + 1, reader.line_num
                if first_line == 1:
                    if row != HEADER:
                        raise DataFormatError(path, 1, f"expected header 'text,category', got {','.join(row)!r}")
                    continue
                if not row:
                    continue
                if len(row) != 2:
                    raise DataFormatError(path, first_line, f"expected 2 fields (text,category), got {len(row)}")
                text, label = row[0].strip(), row[1].strip()
                if not text or not label:
                    raise DataFormatError(path, first_line, "empty text or category")
                examples.append(IntentExample(text=text, label=label))
    except csv.Error as exc:
        raise DataFormatError(path, line + 1, f"malformed CSV: {exc}") from None
    except (UnicodeDecodeError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataFormatError(path, line + 1, f"cannot decode file: {exc}") from None
    if line == 0:
        raise DataFormatError(path, 1, "empty file, expected header 'text,category'")
    return examples


def banking77_labels(path: str | os.PathLike | None = None) -> list[str]:
    """Return the 77 Banking77 intent names, in ``categories.json`` order.

    Args:
        path: a JSON list of names to read instead of the vendored
            ``data/banking77/categories.json``.

    Returns:
        The intent names; their index is the conventional class id.

    Raises:
        FileNotFoundError: naming the file if it is missing.
        DataFormatError: if the file is not a JSON list of unique strings.
    """
    if path is None:
        path = data_file("banking77", "categories.json")
    try:
        with open_text(path) as fh:
            labels = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, exc.lineno, f"invalid JSON: {exc.msg}") from None
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise DataFormatError(path, None, "expected a JSON list of strings")
    if len(set(labels)) != len(labels):
        raise DataFormatError(path, None, "duplicate category names")
    return labels
