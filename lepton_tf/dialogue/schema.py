"""Service schemas in the Schema-Guided Dialogue (SGD) ``schema.json`` format.

A schema file is a JSON list of services. Each service names its slots (categorical,
with ``possible_values``, or free text) and its intents (``required_slots``,
``optional_slots`` with defaults, ``is_transactional``, ``result_slots``), every
element with a natural-language ``description``. The descriptions are what a
zero-shot tracker reads, so a user adds a service by writing its schema.

    >>> schema = parse_schema([{
    ...     "service_name": "Alarm_1", "description": "Manage alarms",
    ...     "slots": [{"name": "alarm_time", "description": "Time of the alarm",
    ...                "is_categorical": False, "possible_values": []}],
    ...     "intents": [{"name": "AddAlarm", "description": "Set a new alarm",
    ...                  "is_transactional": True, "required_slots": ["alarm_time"],
    ...                  "optional_slots": {}, "result_slots": ["alarm_time"]}]}])
    >>> schema["Alarm_1"].intent("AddAlarm").required_slots
    ('alarm_time',)
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The value a user gives when any value of a slot will do ("I don't mind").
DONTCARE = "dontcare"

_GZIP_MAGIC = b"\x1f\x8b"
# A schema file is a handful of kilobytes; this bound keeps a wrong path (a dump,
# a model file) from being read into memory whole.
MAX_SCHEMA_BYTES = 16 * 1024 * 1024


class SchemaError(ValueError):
    """A schema file, or one of its services, is malformed.

    The message reads ``<file>: service '<name>': <field>: <what is wrong>``,
    leaving out the parts that do not apply.

    Attributes:
        path: the schema file ("<memory>" when parsed from a Python object).
        service: the service's name, or None for file-level problems.
        field: the JSON path of the offending field (``intents[1].required_slots``),
            or None.
        reason: what is wrong.
    """

    def __init__(self, path: str, service: str | None, field_path: str | None, reason: str):
        """Build the error.

        Args:
            path: the schema file.
            service: the service the problem is in, if any.
            field_path: the field the problem is in, if any.
            reason: what is wrong.
        """
        self.path = path
        self.service = service
        self.field = field_path
        self.reason = reason
        parts = [path]
        if service is not None:
            parts.append(f"service {service!r}")
        if field_path is not None:
            parts.append(field_path)
        super().__init__(": ".join(parts + [reason]))

    def __reduce__(self):
        return (type(self), (self.path, self.service, self.field, self.reason))


@dataclass(frozen=True)
class Slot:
    """One slot of a service.

    Attributes:
        name: the slot's name, unique within its service.
        description: what the slot holds, in words.
        is_categorical: True when the value is one of ``possible_values``.
        possible_values: the allowed values (categorical) or example values (free text).
    """

    name: str
    description: str
    is_categorical: bool
    possible_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Intent:
    """One intent (task) of a service.

    Attributes:
        name: the intent's name, unique within its service.
        description: what the intent does, in words.
        is_transactional: True when fulfilling it changes the world (a booking).
        required_slots: slots that must be filled before the service is called.
        optional_slots: slot -> default value used when the user gives none.
        result_slots: slots the service's results carry.
    """

    name: str
    description: str
    is_transactional: bool
    required_slots: tuple[str, ...] = ()
    optional_slots: Mapping[str, str] = field(default_factory=dict)
    result_slots: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    """A service: its description, slots and intents.

    Attributes:
        name: the service's name (``service_name`` in the file).
        description: what the service does, in words.
        slots: the service's slots, in file order.
        intents: the service's intents, in file order.
    """

    name: str
    description: str
    slots: tuple[Slot, ...]
    intents: tuple[Intent, ...]

    @property
    def slot_names(self) -> tuple[str, ...]:
        """The slot names, in file order."""
        return tuple(s.name for s in self.slots)

    @property
    def intent_names(self) -> tuple[str, ...]:
        """The intent names, in file order."""
        return tuple(i.name for i in self.intents)

    def slot(self, name: str) -> Slot:
        """Return the slot called ``name``.

        Raises:
            KeyError: naming the service and the slot when there is no such slot.
        """
        return self._named(self.slots, "slot", name)

    def intent(self, name: str) -> Intent:
        """Return the intent called ``name``.

        Raises:
            KeyError: naming the service and the intent when there is no such intent.
        """
        return self._named(self.intents, "intent", name)

    def _named(self, items, kind: str, name: str):
        for item in items:
            if item.name == name:
                return item
        raise KeyError(f"service {self.name!r} has no {kind} {name!r}")


class Schema(Mapping[str, Service]):
    """The services of one schema file, by name, in file order.

    Attributes:
        path: where the services were read from ("<memory>" when parsed from objects).
    """

    def __init__(self, services: tuple[Service, ...], path: str = "<memory>"):
        """Build the mapping.

        Args:
            services: the services, names unique.
            path: where they came from, for messages.

        Raises:
            SchemaError: when two services share a name.
        """
        self.path = path
        self._services: dict[str, Service] = {}
        for service in services:
            if service.name in self._services:
                raise SchemaError(path, service.name, "service_name", "appears more than once")
            self._services[service.name] = service

    def __getitem__(self, name: str) -> Service:
        try:
            return self._services[name]
        except KeyError:
            raise KeyError(f"{self.path}: no service {name!r} (services: {', '.join(self._services)})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)

    def __repr__(self) -> str:
        return f"Schema({self.path!r}, services={list(self._services)})"


class _Reader:
    """Checks the fields of one service, raising SchemaError with its location."""

    def __init__(self, path: str, service: str | None):
        self.path = path
        self.service = service

    def fail(self, where: str | None, reason: str) -> SchemaError:
        return SchemaError(self.path, self.service, where, reason)

    def get(self, obj: Any, key: str, kind: type | tuple, where: str, default: Any = ...) -> Any:
        if not isinstance(obj, dict):
            raise self.fail(where or None, f"must be a JSON object, got {_json_type(obj)}")
        if key not in obj:
            if default is not ...:
                return default
            raise self.fail(_join(where, key), "missing field")
        value = obj[key]
        # bool is an int subclass in Python; JSON keeps them apart, so do we.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.fail(_join(where, key), f"must be {_kind_name(kind)}, got {_json_type(value)}")
        return value

    def text(self, obj: Any, key: str, where: str, nonempty: bool = True) -> str:
        value = self.get(obj, key, str, where)
        if nonempty and not value.strip():
            raise self.fail(_join(where, key), "must not be empty")
        return value

    def strings(self, obj: Any, key: str, where: str) -> tuple[str, ...]:
        items = self.get(obj, key, list, where, default=[])
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.fail(f"{_join(where, key)}[{i}]", f"must be a string, got {_json_type(item)}")
        return tuple(items)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind_name(kind: type | tuple) -> str:
    names = {str: "a string", bool: "true or false", list: "a list", dict: "an object"}
    return names.get(kind, getattr(kind, "__name__", str(kind)))


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "a list", dict: "an object",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _unique(reader: _Reader, names: tuple[str, ...], where: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise reader.fail(f"{where}[{i}]", f"{name!r} appears more than once")
        seen.add(name)


def _parse_slot(reader: _Reader, raw: Any, where: str) -> Slot:
    name = reader.text(raw, "name", where)
    is_categorical = reader.get(raw, "is_categorical", bool, where)
    values = reader.strings(raw, "possible_values", where)
    if is_categorical and not values:
        raise reader.fail(_join(where, "possible_values"), f"categorical slot {name!r} needs at least one value")
    _unique(reader, values, _join(where, "possible_values"))
    return Slot(name, reader.text(raw, "description", where), is_categorical, values)


def _check_slot_refs(reader: _Reader, names: tuple[str, ...], known: tuple[str, ...], where: str) -> None:
    for i, name in enumerate(names):
        if name not in known:
            raise reader.fail(f"{where}[{i}]", f"unknown slot {name!r} (slots: {', '.join(known) or 'none'})")


def _parse_intent(reader: _Reader, raw: Any, where: str, slots: tuple[Slot, ...]) -> Intent:
    known = tuple(s.name for s in slots)
    name = reader.text(raw, "name", where)
    required = reader.strings(raw, "required_slots", where)
    _check_slot_refs(reader, required, known, _join(where, "required_slots"))
    result = reader.strings(raw, "result_slots", where)
    _check_slot_refs(reader, result, known, _join(where, "result_slots"))
    optional = reader.get(raw, "optional_slots", dict, where, default={})
    by_name = {s.name: s for s in slots}
    for slot_name, default in optional.items():
        here = f"{_join(where, 'optional_slots')}.{slot_name}"
        if slot_name not in by_name:
            raise reader.fail(here, f"unknown slot {slot_name!r} (slots: {', '.join(known) or 'none'})")
        if not isinstance(default, str):
            raise reader.fail(here, f"default value must be a string, got {_json_type(default)}")
        slot = by_name[slot_name]
        if slot.is_categorical and default != DONTCARE and default not in slot.possible_values:
            raise reader.fail(here, f"default {default!r} is not a possible value of {slot_name!r}")
        if slot_name in required:
            raise reader.fail(here, f"slot {slot_name!r} is both required and optional")
    return Intent(
        name=name,
        description=reader.text(raw, "description", where),
        is_transactional=reader.get(raw, "is_transactional", bool, where),
        required_slots=required,
        optional_slots=dict(optional),
        result_slots=result,
    )


def parse_service(raw: Any, index: int = 0, path: str = "<memory>") -> Service:
    """Parse and validate one service object of a schema file.

    Args:
        raw: the decoded JSON object.
        index: its position in the file, for messages when it has no usable name.
        path: the file it came from, for messages.

    Returns:
        The service.

    Raises:
        SchemaError: naming the file, the service, the field and what is wrong.
    """
    name = raw.get("service_name") if isinstance(raw, dict) else None
    label = name if isinstance(name, str) and name.strip() else f"#{index}"
    reader = _Reader(path, label)
    name = reader.text(raw, "service_name", "")
    raw_slots = reader.get(raw, "slots", list, "")
    slots = tuple(_parse_slot(reader, s, f"slots[{i}]") for i, s in enumerate(raw_slots))
    _unique(reader, tuple(s.name for s in slots), "slots")
    raw_intents = reader.get(raw, "intents", list, "")
    if not raw_intents:
        raise reader.fail("intents", "a service needs at least one intent")
    intents = tuple(_parse_intent(reader, x, f"intents[{i}]", slots) for i, x in enumerate(raw_intents))
    _unique(reader, tuple(i.name for i in intents), "intents")
    return Service(name, reader.text(raw, "description", ""), slots, intents)


def parse_schema(raw: Any, path: str = "<memory>") -> Schema:
    """Parse and validate a decoded schema file (a JSON list of services).

    Args:
        raw: the decoded JSON value.
        path: where it came from, for messages.

    Returns:
        The services by name.

    Raises:
        SchemaError: naming the file, the service, the field and what is wrong.
    """
    if not isinstance(raw, list):
        raise SchemaError(path, None, None, f"must be a JSON list of services, got {_json_type(raw)}")
    if not raw:
        raise SchemaError(path, None, None, "has no services")
    return Schema(tuple(parse_service(s, i, path) for i, s in enumerate(raw)), path)


def load_schema(path: str | os.PathLike) -> Schema:
    """Read and validate a ``schema.json`` file (gzip-compressed or not).

    Args:
        path: the file.

    Returns:
        The services by name.

    Raises:
        SchemaError: when the file is missing, unreadable, not JSON, or malformed;
            the message names the file, the service, the field and what is wrong.
    """
    name = os.fspath(path)
    p = Path(path)
    if not p.is_file():
        raise SchemaError(name, None, None, "no such file")
    try:
        with open(p, "rb") as fh:
            data = fh.read(MAX_SCHEMA_BYTES + 1)
        if data[:2] == _GZIP_MAGIC:
            with gzip.open(p, "rb") as fh:
                data = fh.read(MAX_SCHEMA_BYTES + 1)
    except (OSError, EOFError) as exc:
        raise SchemaError(name, None, None, f"cannot be read: {exc}") from None
    if len(data) > MAX_SCHEMA_BYTES:
        raise SchemaError(name, None, None, f"is larger than {MAX_SCHEMA_BYTES // (1024 * 1024)} MiB")
    try:
        raw = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise SchemaError(name, None, None, "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise SchemaError(name, None, None, f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    return parse_schema(raw, name)
