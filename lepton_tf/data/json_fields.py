"""The one check of a field of a JSON record, for every reader of the vendored data.

A reader names where in the file a record sits (``dialogue d1 turn 2``), and
a fault is reported as that place, a dot and the field, in JSON's own words:

    data/sgd/sgd_dev.jsonl.gz:17: dialogue: missing field 'turns'
    dialogues_001.json: dialogue d1 turn 2.speaker: must be a string, got a number
"""

from __future__ import annotations

import os
from typing import Any

from lepton_tf.data.errors import DataFormatError

# JSON's names for the Python types `json.load` gives, as a user reads the file.
_JSON_NAMES = {dict: "a JSON object", list: "a list", str: "a string", bool: "true or false",
               int: "an integer", float: "a number", type(None): "null"}


def json_type(value: Any) -> str:
    """What `value` is, in JSON's words ("a list", "a string", ...)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return _JSON_NAMES.get(type(value), type(value).__name__)


def json_field(obj: Any, key: str, kind: type, path: str | os.PathLike, where: str,
               line: int | None = None) -> Any:
    """``obj[key]``, after checking that `obj` is an object holding `key` of type `kind`.

    Args:
        obj: the parsed record.
        key: the field.
        kind: its Python type (`str`, `list`, `dict`, ...).
        path: the file, for the message.
        where: the record's place in the file (``dialogue``, ``turn 3``).
        line: the record's 1-based line (None: not known, a whole-file JSON).

    Returns:
        The field's value.

    Raises:
        DataFormatError: naming the file, the place, the field and the fault.
    """
    if not isinstance(obj, dict):
        raise DataFormatError(path, line, f"{where}: must be a JSON object, got {json_type(obj)}")
    if key not in obj:
        raise DataFormatError(path, line, f"{where}: missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise DataFormatError(path, line, f"{where}.{key}: must be {_JSON_NAMES.get(kind, kind.__name__)}, "
                                          f"got {json_type(value)}")
    return value


def json_strings(items: list, path: str | os.PathLike, where: str,
                 line: int | None = None) -> tuple[str, ...]:
    """`items` as a tuple, after checking that each is a string.

    Raises:
        DataFormatError: naming the first item that is not (``where[i]``).
    """
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise DataFormatError(path, line, f"{where}[{i}]: must be a string, got {json_type(item)}")
    return tuple(items)
