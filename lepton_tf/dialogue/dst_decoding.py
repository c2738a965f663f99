"""How the ``dst`` servable's per-turn outputs become a service's state update.

The servable gives, per service in play, the probabilities of each intent, of
each slot being requested, and of each slot status (none, dontcare, a new value,
a value carried over), with the best value of each kind. ``Decoding`` turns them
into decisions. ``ARGMAX`` takes the most probable of everything, as the servable's
own ``active_intent``/``slot_status`` do; ``TUNED`` (the tracker's default) was chosen
on SGD's dev split (never its test split): figures and the command in docs/dst.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from lepton_tf.dialogue.schema import Service
from lepton_tf.models.dst.dst_heads import STATUS_CARRYOVER, STATUS_NONE


@dataclasses.dataclass(frozen=True)
class Decoding:
    """Decision rules over the servable's outputs for one (turn, service) row.

    Args:
        requested_threshold: a slot is requested above this probability.
        switch_margin: a service with an active intent switches to another one only when
            the other's probability beats the active one's by more than this (users
            rarely switch tasks mid-service; the model's intent flickers).
        arguments_only: values only for slots that some intent of the service takes
            (in SGD a result-only slot, an address or a rating, is never in the state).
        carry_threshold: on a service's first turn, a slot whose probability of a value
            carried over from another service is at least this takes it (a user who
            says "a cab to get there" after booking a table means the restaurant's
            city), even where "none" is more probable. None: the most probable status.
    """

    requested_threshold: float = 0.5
    switch_margin: float = 0.0
    arguments_only: bool = False
    carry_threshold: float | None = None

    def intent(self, out: Mapping[str, np.ndarray], row: int, previous: int) -> int:
        """The active intent's index (-1: none), given the service's ``previous`` one."""
        intent = int(out["active_intent"][row])
        if previous < 0 or intent < 0 or intent == previous:
            return intent
        if self.switch_margin and "intent_probabilities" in out:
            probabilities = out["intent_probabilities"][row]  # column 0 is "none"
            if probabilities[intent + 1] - probabilities[previous + 1] <= self.switch_margin:
                return previous
        return intent

    def requested(self, out: Mapping[str, np.ndarray], row: int, slot: int) -> bool:
        return bool(out["requested_probabilities"][row, slot] > self.requested_threshold)

    def slot_updates(self, out: Mapping[str, np.ndarray], row: int, service: Service,
                     first_turn: bool = False) -> list[tuple[int, str]]:
        """Per slot of ``service``: its status (``dst_heads.STATUS_*``) and, when active,
        its new value ("" when the model gives none). ``first_turn``: the service has
        no state yet."""
        carry = (self.carry_threshold is not None and first_turn and "status_probabilities" in out)
        arguments = {s for i in service.intents for s in (*i.required_slots, *i.optional_slots)}
        updates = []
        for k, slot in enumerate(service.slots):
            if self.arguments_only and slot.name not in arguments:
                updates.append((STATUS_NONE, ""))
                continue
            status = int(out["slot_status"][row, k])
            if carry and status == STATUS_NONE and \
                    out["status_probabilities"][row, k, STATUS_CARRYOVER] >= self.carry_threshold:
                status = STATUS_CARRYOVER
            value = out["slot_value"][row, k]
            updates.append((status, value.decode("utf-8") if isinstance(value, bytes) else str(value)))
        return updates


ARGMAX = Decoding()
TUNED = Decoding(switch_margin=0.4, arguments_only=True, carry_threshold=0.3)
DECODINGS = {"argmax": ARGMAX, "tuned": TUNED}
