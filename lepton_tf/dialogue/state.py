"""The tracked dialogue state, and the interface every tracker implements.

The state follows SGD's ``state`` annotation: per service, the active intent
(``"NONE"`` before the user states one), the slots the user asked about in the
latest turn, and the slot values given so far. A slot maps to a tuple of values
because SGD lists every equivalent way the value was said ("7 pm", "7 in the
evening"); the first is the canonical one.

    >>> state = DialogueState().with_service(
    ...     "Restaurants_2", ServiceState("ReserveRestaurant", (), {"party_size": ("2",)}))
    >>> state.service("Restaurants_2").value("party_size")
    '2'
    >>> state.service("Alarm_1").active_intent
    'NONE'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from lepton_tf.dialogue.schema import Service

# SGD's active intent before the user has stated a task.
NO_INTENT = "NONE"


@dataclass(frozen=True)
class ServiceState:
    """What the user wants from one service, after a user turn.

    Attributes:
        active_intent: the intent being pursued, or ``NO_INTENT``.
        requested_slots: slots the user asked about in the latest user turn.
        slot_values: slot -> the values given for it (first is canonical; may be
            ``dontcare``).
    """

    active_intent: str = NO_INTENT
    requested_slots: tuple[str, ...] = ()
    slot_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def value(self, slot: str) -> str | None:
        """Return the canonical value of ``slot``, or None when it has none."""
        values = self.slot_values.get(slot)
        return values[0] if values else None

    def to_json(self) -> dict[str, Any]:
        """Return the state in SGD's frame ``state`` layout (JSON-ready)."""
        return {
            "active_intent": self.active_intent,
            "requested_slots": list(self.requested_slots),
            "slot_values": {k: list(v) for k, v in self.slot_values.items()},
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "ServiceState":
        """Build from SGD's frame ``state`` layout (as :meth:`to_json` writes it).

        Raises:
            ValueError: when a field has the wrong type.
        """
        intent = raw.get("active_intent", NO_INTENT)
        requested = raw.get("requested_slots", [])
        values = raw.get("slot_values", {})
        if not isinstance(intent, str):
            raise ValueError(f"active_intent must be a string, got {type(intent).__name__}")
        if not isinstance(requested, list) or not all(isinstance(s, str) for s in requested):
            raise ValueError("requested_slots must be a list of strings")
        if not isinstance(values, dict):
            raise ValueError("slot_values must be an object")
        for slot, vals in values.items():
            if not isinstance(vals, list) or not all(isinstance(v, str) for v in vals):
                raise ValueError(f"slot_values.{slot} must be a list of strings")
        return cls(intent, tuple(requested), {k: tuple(v) for k, v in values.items()})


@dataclass(frozen=True)
class DialogueState:
    """The state of a whole dialogue: one ServiceState per service touched so far.

    Attributes:
        services: service name -> its state. A service not listed has the empty state.
    """

    services: Mapping[str, ServiceState] = field(default_factory=dict)

    def service(self, name: str) -> ServiceState:
        """Return the state of service ``name`` (the empty state if untouched)."""
        return self.services.get(name, ServiceState())

    def with_service(self, name: str, state: ServiceState) -> "DialogueState":
        """Return a copy whose service ``name`` has ``state``."""
        return DialogueState({**self.services, name: state})

    def to_json(self) -> dict[str, dict[str, Any]]:
        """Return service -> SGD frame ``state`` (JSON-ready)."""
        return {name: s.to_json() for name, s in self.services.items()}


@runtime_checkable
class Tracker(Protocol):
    """Anything that updates the dialogue state after a user turn.

    Implementations: the string-matching baseline and the Keras tracker model.
    """

    def update(
        self,
        state: DialogueState,
        system_utterance: str,
        user_utterance: str,
        schemas: Mapping[str, Service],
    ) -> DialogueState:
        """Return the state after the user's turn.

        Args:
            state: the state before this turn (``DialogueState()`` at the start).
            system_utterance: what the system said just before ("" at the start).
            user_utterance: what the user said.
            schemas: the services that may be in play, by name (a ``Schema``).

        Returns:
            The new state. Services the tracker does not touch keep their values;
            ``requested_slots`` describe this turn only.
        """
        ...
