"""What the tracker reads of a service: the texts of its intents, slots and categorical values.

The one place that decides which words stand for a schema element, so training,
the servable and the trackers encode the same thing. An element is its
natural-language description (a value is its own words): names are left out,
so a service is understood from how it is described, and a new one needs no
training.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServiceElements:
    """A service as the tracker sees it.

    Attributes:
        name: the service's name.
        intent_names: intent names, in schema order.
        intent_texts: the text encoded for each intent.
        slot_names: slot names, in schema order.
        slot_texts: the text encoded for each slot.
        slot_values: per slot, its categorical values (``()`` for a free-text slot).
    """

    name: str
    intent_names: tuple[str, ...]
    intent_texts: tuple[str, ...]
    slot_names: tuple[str, ...]
    slot_texts: tuple[str, ...]
    slot_values: tuple[tuple[str, ...], ...]

    def is_categorical(self, slot_index: int) -> bool:
        """True when the slot chooses among values (else its value is a span)."""
        return bool(self.slot_values[slot_index])

    @classmethod
    def from_sgd(cls, raw: Mapping[str, Any]) -> "ServiceElements":
        """Build from one service object of an SGD ``schema.json`` (already validated).

        >>> e = ServiceElements.from_sgd({"service_name": "Alarm_1", "slots": [
        ...     {"name": "alarm_time", "description": "Time of the alarm", "is_categorical": False}],
        ...     "intents": [{"name": "AddAlarm", "description": "Set a new alarm"}]})
        >>> e.intent_texts, e.slot_texts, e.slot_values
        (('Set a new alarm',), ('Time of the alarm',), ((),))
        """
        slots = raw["slots"]
        return cls(
            name=raw["service_name"],
            intent_names=tuple(i["name"] for i in raw["intents"]),
            intent_texts=tuple(i["description"] for i in raw["intents"]),
            slot_names=tuple(s["name"] for s in slots),
            slot_texts=tuple(s["description"] for s in slots),
            slot_values=tuple(tuple(s.get("possible_values", ())) if s["is_categorical"] else () for s in slots),
        )
