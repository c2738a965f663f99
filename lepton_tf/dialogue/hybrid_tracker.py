"""A tracker that takes each part of the state from the tracker that does it better.

The learned tracker tells intents and requested slots apart from their
descriptions; a string matcher finds the schema's categorical values and the
values a schema lists in the user's words. The hybrid runs both from the same
previous state and takes the intent and requested slots from ``intents`` and,
per slot, the first change (a value set, changed or made ``dontcare`` in this
turn) among ``values``, in order: a slot neither changes keeps its value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lepton_tf.dialogue.schema import Service
from lepton_tf.dialogue.state import DialogueState, ServiceState, Tracker


class HybridTracker:
    """Implements ``Tracker`` from other trackers' updates.

    Args:
        intents: the tracker whose active intent and requested slots are used.
        values: trackers whose slot changes are used, the first to change a slot winning.
    """

    def __init__(self, intents: Tracker, values: Sequence[Tracker]):
        if not values:
            raise ValueError("HybridTracker needs at least one tracker for the slot values")
        self.intents = intents
        self.values = list(values)

    def update(self, state: DialogueState, system_utterance: str, user_utterance: str,
               schemas: Mapping[str, Service]) -> DialogueState:
        """Return the state after the user's turn (see the module docstring)."""
        updates = {}
        for tracker in [self.intents, *self.values]:
            if id(tracker) not in updates:
                updates[id(tracker)] = tracker.update(state, system_utterance, user_utterance, schemas)
        merged = state
        for name in schemas:
            before = state.service(name)
            lead = updates[id(self.intents)].service(name)
            values = dict(before.slot_values)
            for slot in {s for t in self.values for s in updates[id(t)].service(name).slot_values}:
                for tracker in self.values:
                    now = updates[id(tracker)].service(name).slot_values.get(slot)
                    if now and now != before.slot_values.get(slot):
                        values[slot] = now
                        break
            merged = merged.with_service(name, ServiceState(active_intent=lead.active_intent,
                                                            requested_slots=lead.requested_slots,
                                                            slot_values=values))
        return merged
