"""SGD dialogues -> the state tracker's training arrays (one example per user frame).

For each user turn and each service frame in it, the example is the packed turn
(user utterance, preceding system utterance) and the service's elements, with
labels read off the annotated state against the previous state of the same
service in the dialogue:

- intent: the active intent (0 = none);
- requested: the requested slots;
- status per slot: ``none`` (unchanged), ``dontcare``, ``active`` (a new value
  said in this turn by the user, or offered by the system and taken), or
  ``carryover`` (a new value said in neither utterance: copied from earlier,
  often from another service);
- value: the categorical value's index; span: the new free-text value's tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from lepton_tf.models.dst.dst_heads import STATUS_ACTIVE, STATUS_CARRYOVER, STATUS_DONTCARE, STATUS_NONE
from lepton_tf.models.dst.dst_preprocessor import SYSTEM, USER, DSTPreprocessor
from lepton_tf.models.dst.schema_elements import ServiceElements

DONTCARE = "dontcare"
NO_INTENT = "NONE"


@dataclass
class ElementTable:
    """Every distinct element text, so each is encoded once; row -1 is padding."""

    texts: list[str]
    index: dict[str, int]

    @classmethod
    def of(cls, services: Iterable[ServiceElements]) -> "ElementTable":
        texts: list[str] = []
        index: dict[str, int] = {}
        for s in services:
            for text in (*s.intent_texts, *s.slot_texts, *(v for values in s.slot_values for v in values)):
                if text not in index:
                    index[text] = len(texts)
                    texts.append(text)
        return cls(texts, index)


@dataclass
class Frame:
    dialogue_id: str
    user: str
    system: str
    service: str
    state: dict
    previous: dict
    user_spans: list
    system_spans: list


def iter_frames(dialogues: Iterable[Mapping]) -> Iterable[Frame]:
    """Every user frame, with the system utterance before it and the service's previous state."""
    for dialogue in dialogues:
        system, system_frames = "", []
        previous: dict[str, dict] = {}
        for turn in dialogue["turns"]:
            if turn["speaker"] == "SYSTEM":
                system, system_frames = turn["utterance"], turn["frames"]
                continue
            spans_by_service = {f["service"]: f.get("slots", []) for f in system_frames}
            for frame in turn["frames"]:
                service = frame["service"]
                yield Frame(dialogue["dialogue_id"], turn["utterance"], system, service, frame["state"],
                            previous.get(service, {}), frame.get("slots", []), spans_by_service.get(service, []))
                previous[service] = frame["state"]["slot_values"]


def _byte(text: str, char: int) -> int:
    return len(text[:char].encode("utf-8"))


def _token_span(starts, ends, sources, source, text, char_start, char_end):
    """Token indices covering ``text[char_start:char_end]`` in the packed row, or None if cut off."""
    b0, b1 = _byte(text, char_start), _byte(text, char_end)
    tokens = np.nonzero((sources == source) & (ends > b0) & (starts < b1))[0]
    if not len(tokens):
        return None
    first, last = int(tokens[0]), int(tokens[-1])
    # A value whose end was cut off by truncation would be learnt as a shorter one.
    if ends[last] < b1 and last == int(np.nonzero(sources == source)[0][-1]):
        return None
    return first, last


def _find_span(frame: Frame, slot: str, values: list[str], row):
    """Where a new free-text value was said: the annotated spans first, then a plain search."""
    starts, ends, sources = row
    wanted = {v.lower() for v in values}
    for spans, text, source in ((frame.user_spans, frame.user, USER), (frame.system_spans, frame.system, SYSTEM)):
        for span in spans:
            if span["slot"] == slot and text[span["start"]:span["exclusive_end"]].lower() in wanted:
                return _token_span(starts, ends, sources, source, text, span["start"], span["exclusive_end"]), True
    for text, source in ((frame.user, USER), (frame.system, SYSTEM)):
        lowered = text.lower()
        for value in values:
            at = lowered.find(value.lower())
            if value and at >= 0:
                return _token_span(starts, ends, sources, source, text, at, at + len(value)), True
    return None, False


def build_arrays(dialogues: Iterable[Mapping], services: Mapping[str, ServiceElements], table: ElementTable,
                 preprocessor: DSTPreprocessor, max_intents: int, max_slots: int, max_values: int,
                 batch_size: int = 1024) -> dict[str, np.ndarray]:
    """Build the training arrays.

    Args:
        dialogues: SGD dialogues (checked by ``lepton_tf.data.sgd_full``).
        services: service name -> its elements (the dialogues' schema).
        table: the element texts (indices into it are stored).
        preprocessor: packs the turns.
        max_intents, max_slots, max_values: padded sizes (a service with more raises).
        batch_size: turns tokenized at a time.

    Returns:
        Feature arrays (token ids, segments, masks, element indices) and labels.

    Raises:
        ValueError: for a frame of a service not in ``services`` or a service larger than the padding.
    """
    frames = list(iter_frames(dialogues))
    n, L = len(frames), preprocessor.sequence_length
    out = {
        "token_ids": np.zeros((n, L), np.int32), "segment_ids": np.zeros((n, L), np.int32),
        "padding_mask": np.zeros((n, L), bool), "span_mask": np.zeros((n, L), bool),
        "intent_index": np.full((n, max_intents), -1, np.int32), "slot_index": np.full((n, max_slots), -1, np.int32),
        "value_index": np.full((n, max_slots, max_values), -1, np.int32),
        "intent": np.zeros(n, np.int32), "requested": np.zeros((n, max_slots), np.int32),
        "status": np.zeros((n, max_slots), np.int32), "value": np.full((n, max_slots), -1, np.int32),
        "span_start": np.full((n, max_slots), -1, np.int32), "span_end": np.full((n, max_slots), -1, np.int32),
    }
    for begin in range(0, n, batch_size):
        chunk = frames[begin:begin + batch_size]
        packed = {k: v.numpy() for k, v in preprocessor.pack_turns(
            tf.constant([f.user for f in chunk]), tf.constant([f.system for f in chunk])).items()}
        for j, frame in enumerate(chunk):
            i = begin + j
            for key in ("token_ids", "segment_ids", "padding_mask"):
                out[key][i] = packed[key][j]
            out["span_mask"][i] = packed["token_source"][j] >= 0
            row = (packed["token_start"][j], packed["token_end"][j], packed["token_source"][j])
            _label(out, i, frame, services, table, row, max_intents, max_slots, max_values)
    return out


def _label(out, i, frame: Frame, services, table: ElementTable, row, max_intents, max_slots, max_values):
    if frame.service not in services:
        raise ValueError(f"dialogue {frame.dialogue_id}: service {frame.service!r} is not in the schema")
    service = services[frame.service]
    if len(service.intent_names) > max_intents or len(service.slot_names) > max_slots or any(
            len(v) > max_values for v in service.slot_values):
        raise ValueError(f"service {service.name} is larger than the padding ({max_intents} intents, "
                         f"{max_slots} slots, {max_values} values)")
    out["intent_index"][i, :len(service.intent_texts)] = [table.index[t] for t in service.intent_texts]
    out["slot_index"][i, :len(service.slot_texts)] = [table.index[t] for t in service.slot_texts]
    state = frame.state
    intent = state["active_intent"]
    out["intent"][i] = 0 if intent == NO_INTENT else service.intent_names.index(intent) + 1
    requested = set(state["requested_slots"])
    for s, slot in enumerate(service.slot_names):
        values = service.slot_values[s]
        out["value_index"][i, s, :len(values)] = [table.index[v] for v in values]
        out["requested"][i, s] = slot in requested
        now = state["slot_values"].get(slot)
        before = frame.previous.get(slot)
        if not now or (before and set(now) & set(before)):
            out["status"][i, s] = STATUS_NONE
        elif now[0] == DONTCARE:
            out["status"][i, s] = STATUS_DONTCARE
        elif values:
            out["status"][i, s] = STATUS_ACTIVE
            out["value"][i, s] = values.index(now[0]) if now[0] in values else -1
        else:
            span, said = _find_span(frame, slot, now, row)
            out["status"][i, s] = STATUS_ACTIVE if said else STATUS_CARRYOVER
            if span is not None:
                out["span_start"][i, s], out["span_end"][i, s] = span
