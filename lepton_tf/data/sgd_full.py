"""Reading Schema-Guided Dialogue folders in SGD's original layout, with every annotation.

A folder holds ``schema.json`` and ``dialogues_NNN.json`` (each may be gzipped:
``.json.gz``). A dialogue file is a JSON list of dialogues (or, as the official
scorer also accepts, an object mapping dialogue id -> dialogue). Each dialogue
has ``dialogue_id``, ``services`` and ``turns``; a turn has ``speaker``,
``utterance`` and ``frames``; a user turn's frame carries ``state``
(``active_intent``, ``requested_slots``, ``slot_values``).

The readers check the fields the state tracker and its scorer use and raise
:class:`DataFormatError` naming the file, the dialogue, the turn and the field.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lepton_tf.data._io import open_binary
from lepton_tf.data.errors import DataFormatError
from lepton_tf.data.json_fields import json_field, json_strings

SCHEMA_NAMES = ("schema.json", "schema.json.gz")
# The per-frame dump the official scorer writes next to predictions; never an input.
PER_FRAME_OUTPUT_FILENAME = "dialogues_and_metrics.json"


def schema_path(folder: str | os.PathLike) -> Path:
    """Return the folder's ``schema.json`` (or ``schema.json.gz``).

    Raises:
        FileNotFoundError: naming the folder when it has neither.
    """
    for name in SCHEMA_NAMES:
        path = Path(folder) / name
        if path.is_file():
            return path
    raise FileNotFoundError(f"{folder}: no schema.json or schema.json.gz")


def dialogue_paths(folder: str | os.PathLike, pattern: str = "dialogues_*.json") -> list[Path]:
    """The folder's dialogue files (``pattern`` and ``pattern.gz``), sorted by name.

    Raises:
        FileNotFoundError: when the folder does not exist or holds no such file.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder")
    paths = sorted(
        p for p in {*root.glob(pattern), *root.glob(pattern + ".gz")}
        if p.is_file() and p.name != PER_FRAME_OUTPUT_FILENAME
    )
    if not paths:
        raise FileNotFoundError(f"{folder}: no {pattern} or {pattern}.gz files")
    return paths


def check_state(state: Any, path: Path, where: str) -> None:
    """Check a frame's ``state`` object (the fields the scorer reads).

    Raises:
        DataFormatError: naming the file and ``where``.
    """
    json_field(state, "active_intent", str, path, where)
    json_strings(json_field(state, "requested_slots", list, path, where), path, f"{where}.requested_slots")
    for slot, values in json_field(state, "slot_values", dict, path, where).items():
        if not isinstance(values, list) or not values:
            raise DataFormatError(path, None, f"{where}.slot_values.{slot}: must be a non-empty list of strings")
        json_strings(values, path, f"{where}.slot_values.{slot}")


def check_dialogue(dialogue: Any, path: Path) -> None:
    """Check one dialogue's structure.

    Raises:
        DataFormatError: naming the file, the dialogue, the turn, the frame and the field.
    """
    dialogue_id = json_field(dialogue, "dialogue_id", str, path, "dialogue")
    here = f"dialogue {dialogue_id}"
    json_strings(json_field(dialogue, "services", list, path, here), path, f"{here}.services")
    for t, turn in enumerate(json_field(dialogue, "turns", list, path, here)):
        where = f"{here} turn {t}"
        speaker = json_field(turn, "speaker", str, path, where)
        if speaker not in ("USER", "SYSTEM"):
            raise DataFormatError(path, None, f"{where}.speaker: must be USER or SYSTEM, got {speaker!r}")
        json_field(turn, "utterance", str, path, where)
        for f, frame in enumerate(json_field(turn, "frames", list, path, where)):
            frame_where = f"{where} frame {f}"
            json_field(frame, "service", str, path, frame_where)
            if speaker == "USER":
                check_state(json_field(frame, "state", dict, path, frame_where), path, f"{frame_where}.state")


def read_dialogue_file(path: str | os.PathLike) -> list[dict]:
    """Read and check one dialogue file (gzipped or not).

    Returns:
        The dialogues, in file order.

    Raises:
        FileNotFoundError: when the file is missing.
        DataFormatError: when it is not JSON or a dialogue is malformed.
    """
    p = Path(path)
    with open_binary(p) as fh:
        raw = fh.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFormatError(p, None, f"not a JSON file: {exc}") from None
    if isinstance(data, dict):
        data = list(data.values())
    if not isinstance(data, list):
        raise DataFormatError(p, None, f"must be a JSON list of dialogues, got {type(data).__name__}")
    for dialogue in data:
        check_dialogue(dialogue, p)
    return data


def load_dialogues(paths: list[Path]) -> dict[str, dict]:
    """Read dialogue files into dialogue id -> dialogue.

    Raises:
        DataFormatError: for a malformed file or a dialogue id in two files.
    """
    dialogues: dict[str, dict] = {}
    for path in paths:
        for dialogue in read_dialogue_file(path):
            if dialogue["dialogue_id"] in dialogues:
                raise DataFormatError(path, None, f"dialogue {dialogue['dialogue_id']}: appears more than once")
            dialogues[dialogue["dialogue_id"]] = dialogue
    return dialogues
