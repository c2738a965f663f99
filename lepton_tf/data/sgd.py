"""Readers for the Schema-Guided Dialogue (SGD) data.

Files (vendored under ``data/sgd/``): ``sgd_<split>.jsonl.gz`` with one dialogue per
line, and ``schema_<split>.json.gz`` with the service schemas.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from lepton_tf.data._io import open_text
from lepton_tf.data.errors import DataFormatError
from lepton_tf.data.json_fields import json_field, json_strings
from lepton_tf.data.paths import split_file
from lepton_tf.data.records import Dialogue, ResponsePair, ServiceSchema, Turn

SPLITS = ("train", "dev", "test")
SPEAKERS = ("USER", "SYSTEM")


def _strings(obj: dict, key: str, path, line: int, where: str, required: bool = True) -> tuple[str, ...]:
    """Return ``obj[key]`` (a list of strings) as a tuple; missing -> () if not required."""
    if not required and isinstance(obj, dict) and key not in obj:
        return ()
    return json_strings(json_field(obj, key, list, path, where, line), path, f"{where}.{key}", line)


def _parse_turn(raw: Any, index: int, path, line: int) -> Turn:
    where = f"turn {index}"
    speaker = json_field(raw, "speaker", str, path, where, line)
    if speaker not in SPEAKERS:
        raise DataFormatError(path, line, f"{where}.speaker: must be USER or SYSTEM, got {speaker!r}")
    return Turn(
        speaker=speaker,
        utterance=json_field(raw, "utterance", str, path, where, line),
        services=_strings(raw, "services", path, line, where, required=False),
        intents=_strings(raw, "intents", path, line, where, required=False),
        acts=_strings(raw, "acts", path, line, where, required=False),
    )


def _parse_dialogue(text: str, path, line: int) -> Dialogue:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, line, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    dialogue_id = json_field(raw, "dialogue_id", str, path, "dialogue", line)
    where = f"dialogue {dialogue_id}"
    turns = json_field(raw, "turns", list, path, where, line)
    return Dialogue(
        dialogue_id=dialogue_id,
        services=_strings(raw, "services", path, line, where),
        turns=tuple(_parse_turn(t, i, path, line) for i, t in enumerate(turns)),
    )


def read_sgd_dialogues(split: str, path: str | os.PathLike | None = None) -> list[Dialogue]:
    """Read the SGD dialogues of one split.

    Args:
        split: ``"train"``, ``"dev"`` or ``"test"``.
        path: a JSONL file (gzipped or not) to read instead of the vendored
            ``data/sgd/sgd_<split>.jsonl.gz``.

    Returns:
        The dialogues in file order. Blank lines are skipped.

    Raises:
        ValueError: if ``split`` is not a known split.
        FileNotFoundError: naming the file if it is missing.
        DataFormatError: naming the file and 1-based line of a malformed dialogue.
    """
    path = split_file("sgd", "sgd_{split}.jsonl.gz", split, SPLITS, path)
    dialogues = []
    line = 0
    try:
        with open_text(path) as fh:
            for line, text in enumerate(fh, start=1):
                if text.strip():
                    dialogues.append(_parse_dialogue(text, path, line))
    except (UnicodeDecodeError, EOFError, zlib.error) as exc:
        raise DataFormatError(path, line + 1, f"cannot decode file: {exc}") from None
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DataFormatError(path, line + 1, f"cannot read file: {exc}") from None
    return dialogues


def iter_response_pairs(
    dialogues: Iterable[Dialogue], max_context_turns: int | None = None
) -> Iterator[ResponsePair]:
    """Yield one (context, response) pair per SYSTEM turn.

    Args:
        dialogues: dialogues, e.g. from :func:`read_sgd_dialogues`.
        max_context_turns: keep only the last N turns before the response as
            context; None keeps all earlier turns.

    Returns:
        An iterator of :class:`ResponsePair`, in dialogue and turn order. The
        pair's ``intents`` are those of the last USER turn before the response
        (empty if there is none); its ``services`` are the response turn's.

    Raises:
        ValueError: if ``max_context_turns`` is not None and not a positive int.
    """
    if max_context_turns is not None and (
        isinstance(max_context_turns, bool) or not isinstance(max_context_turns, int) or max_context_turns < 1
    ):
        raise ValueError(f"max_context_turns must be None or a positive int, got {max_context_turns!r}")
    for dialogue in dialogues:
        last_user_intents: tuple[str, ...] = ()
        for index, turn in enumerate(dialogue.turns):
            if turn.speaker == "USER":
                last_user_intents = turn.intents
                continue
            start = 0 if max_context_turns is None else max(0, index - max_context_turns)
            previous = dialogue.turns[start:index]
            yield ResponsePair(
                dialogue_id=dialogue.dialogue_id,
                turn_index=index,
                context=tuple(t.utterance for t in previous),
                speakers=tuple(t.speaker for t in previous),
                response=turn.utterance,
                services=turn.services,
                intents=last_user_intents,
            )


def read_sgd_schemas(split: str, path: str | os.PathLike | None = None) -> dict[str, ServiceSchema]:
    """Read the SGD service schemas of one split.

    Args:
        split: ``"train"``, ``"dev"`` or ``"test"``.
        path: a schema.json file (gzipped or not) to read instead of the vendored
            ``data/sgd/schema_<split>.json.gz``.

    Returns:
        Service name -> :class:`ServiceSchema`, in file order.

    Raises:
        ValueError: if ``split`` is not a known split.
        FileNotFoundError: naming the file if it is missing.
        DataFormatError: if the file is not valid JSON (with the line) or a
            service lacks a name, description or intents (no line).
    """
    path = split_file("sgd", "schema_{split}.json.gz", split, SPLITS, path)
    try:
        with open_text(path) as fh:
            raw = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataFormatError(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except (UnicodeDecodeError, EOFError, zlib.error) as exc:
        raise DataFormatError(path, None, f"cannot decode file: {exc}") from None
    if not isinstance(raw, list):
        raise DataFormatError(path, None, "expected a JSON list of services")
    schemas: dict[str, ServiceSchema] = {}
    for i, service in enumerate(raw):
        where = f"service {i}"
        name = json_field(service, "service_name", str, path, where)
        intents: dict[str, str] = {}
        for j, intent in enumerate(json_field(service, "intents", list, path, f"service {name!r}")):
            where = f"service {name!r} intent {j}"
            intents[json_field(intent, "name", str, path, where)] = json_field(intent, "description", str, path, where)
        schemas[name] = ServiceSchema(
            service_name=name,
            description=json_field(service, "description", str, path, f"service {name!r}"),
            intents=intents,
        )
    return schemas
