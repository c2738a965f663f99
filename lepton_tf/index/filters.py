"""Metadata filters: which passages a search may return.

A filter is a JSON object; each key names a field and each value is what
the field must equal, or a list of values it must be one of; several keys
must all hold:

    {"source": "docs/guide.md"}                     one file
    {"source": ["a.md", "b.md"], "page": 3}         page 3 of either file

Fields are `doc_id`, `title`, or any key of a passage's `metadata` (the
ingestion writes `source`, `page`, `section`, `start`, `end`, `document`).
`$readers` is the document's permission list (`index.permissions`): a
document passes when one of its readers is among the values, so a caller's
permission is one more filter key, answered by the same exact machinery.
Values compare as JSON values: 3 equals 3.0 but not "3"; a passage without
the field never matches.

`FieldIndex` keeps, per field, value -> rows (built on a field's first use),
so a filter costs a few set lookups and one `np.isin`, not a pass over every
passage's metadata.
"""

from __future__ import annotations

import json

import numpy as np

BUILTIN_FIELDS = ("doc_id", "title")
READERS_FIELD = "$readers"  # a document's `readers` (list-valued: any one of them matches)
_MISSING = object()
_CACHED_FILTERS = 64


class FilterError(ValueError):
    """The filter is not a JSON object of field -> value or list of values."""


def _key(value):
    """A hashable key with JSON equality (bool is not 1; 3 == 3.0)."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, (int, float)):
        return ("number", float(value))
    if isinstance(value, str):
        return ("str", value)
    if value is None:
        return ("null", None)
    return ("json", json.dumps(value, sort_keys=True))


def parse_filter(spec) -> dict[str, list]:
    """A filter from JSON text, bytes or a dict: field -> allowed values.

    Returns:
        `{field: [value, ...]}`; `{}` (no filter) for empty input.

    Raises:
        FilterError: saying what is wrong.
    """
    if isinstance(spec, bytes):
        spec = spec.decode("utf-8")
    if isinstance(spec, str):
        if not spec.strip():
            return {}
        try:
            spec = json.loads(spec)
        except ValueError as e:
            raise FilterError(f"filter is not valid JSON ({e}).") from None
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise FilterError('filter must be a JSON object such as {"source": "a.md"} or '
                          '{"page": [1, 2]}, got ' + type(spec).__name__ + ".")
    parsed = {}
    for field, value in spec.items():
        values = value if isinstance(value, list) else [value]
        if not values:
            raise FilterError(f"filter field {field!r}: an empty list matches nothing.")
        for v in values:
            if isinstance(v, (dict, list)):
                raise FilterError(f"filter field {field!r}: values must be strings, numbers, "
                                  "booleans or null, not objects or nested lists.")
        parsed[str(field)] = values
    return parsed


def field_value(document, field: str):
    """`document`'s value of `field` (`_MISSING` when it has none)."""
    if field in BUILTIN_FIELDS:
        return getattr(document, field)
    if field == READERS_FIELD:  # no readers: an index without permissions, open to all
        readers = getattr(document, "readers", None)
        return ("*",) if readers is None else readers
    return document.metadata.get(field, _MISSING) if document.metadata else _MISSING


def matches(document, parsed: dict[str, list]) -> bool:
    """Whether one document passes a parsed filter (the reference semantics)."""
    for field, values in parsed.items():
        value = field_value(document, field)
        wanted = {_key(v) for v in values}
        if field == READERS_FIELD:
            if value is _MISSING or wanted.isdisjoint(_key(r) for r in value):
                return False
        elif value is _MISSING or _key(value) not in wanted:
            return False
    return True


class FieldIndex:
    """Rows by field value over a fixed list of documents (one per row).

    Args:
        documents: in row order.
    """

    def __init__(self, documents):
        self.documents = list(documents)
        self._by_field: dict[str, dict] = {}
        self._cache: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.documents)

    def _rows_by_value(self, field: str) -> dict:
        if field not in self._by_field:
            groups: dict = {}
            for row, d in enumerate(self.documents):
                value = field_value(d, field)
                if field == READERS_FIELD and value is not _MISSING:
                    for reader in value:  # a row under each of its readers
                        groups.setdefault(_key(reader), []).append(row)
                elif value is not _MISSING and not isinstance(value, (dict, list)):
                    groups.setdefault(_key(value), []).append(row)
            self._by_field[field] = {k: np.asarray(v, np.int64) for k, v in groups.items()}
        return self._by_field[field]

    def rows(self, parsed: dict[str, list]) -> np.ndarray | None:
        """Sorted rows passing `parsed` (None: every row passes); the
        last filters' answers are cached (the same filter on every query)."""
        if not parsed:
            return None
        key = json.dumps(parsed, sort_keys=True)
        if key not in self._cache:
            if len(self._cache) >= _CACHED_FILTERS:
                self._cache.pop(next(iter(self._cache)))
            rows = self._rows(parsed)
            # Every row passes (a permission over an index without any): no filter.
            self._cache[key] = None if len(rows) == len(self.documents) else rows
        return self._cache[key]

    def _rows(self, parsed: dict[str, list]) -> np.ndarray:
        result = None
        for field, values in parsed.items():
            by_value = self._rows_by_value(field)
            parts = [by_value[_key(v)] for v in values if _key(v) in by_value]
            rows = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
            result = rows if result is None else np.intersect1d(result, rows, assume_unique=True)
            if not len(result):
                break
        return result

    def mask(self, parsed: dict[str, list]) -> np.ndarray | None:
        """bool `[N]` of the rows passing `parsed` (None: no filter)."""
        rows = self.rows(parsed)
        if rows is None:
            return None
        mask = np.zeros(len(self.documents), bool)
        mask[rows] = True
        return mask
