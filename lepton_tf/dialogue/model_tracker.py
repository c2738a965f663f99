"""The learned tracker: the ``dst`` servable's per-turn updates folded into the dialogue state.

The servable says, per service in play, what this turn does (intent, requested
slots, per slot: nothing, don't care, a new value, or a value carried over from
earlier). This class keeps the state: untouched slots keep their values, and a
carried-over value is taken from the slot of another service whose description
shares the most words with this slot's (a restaurant's city becomes the ride's
destination city).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np

from lepton_tf.dialogue.schema import DONTCARE, Service
from lepton_tf.dialogue.state import NO_INTENT, DialogueState, ServiceState
from lepton_tf.models.dst.dst_heads import STATUS_CARRYOVER, STATUS_DONTCARE, STATUS_ACTIVE
from lepton_tf.models.dst.schema_elements import ServiceElements

REQUESTED_THRESHOLD = 0.5
Predict = Callable[[dict[str, np.ndarray]], Mapping[str, np.ndarray]]
_WORD = re.compile(r"[a-z0-9]+")


def elements_of(service: Service) -> ServiceElements:
    """The texts the tracker model reads for a service (see ``ServiceElements``)."""
    return ServiceElements(
        name=service.name,
        intent_names=service.intent_names,
        intent_texts=tuple(i.description for i in service.intents),
        slot_names=service.slot_names,
        slot_texts=tuple(s.description for s in service.slots),
        slot_values=tuple(s.possible_values if s.is_categorical else () for s in service.slots),
    )


def request_rows(user: str, system: str, services: list[ServiceElements]) -> dict[str, np.ndarray]:
    """The servable's inputs for one turn: one row per service, padded with ""."""
    width_i = max(len(s.intent_texts) for s in services)
    width_s = max(max(len(s.slot_texts) for s in services), 1)
    width_v = max(max((len(v) for s in services for v in s.slot_values), default=0), 1)

    def pad(texts, width):
        return [t.encode("utf-8") for t in texts] + [b""] * (width - len(texts))

    return {
        "user_utterance": np.array([user.encode("utf-8")] * len(services), dtype=object),
        "system_utterance": np.array([system.encode("utf-8")] * len(services), dtype=object),
        "intents": np.array([pad(s.intent_texts, width_i) for s in services], dtype=object),
        "slots": np.array([pad(s.slot_texts, width_s) for s in services], dtype=object),
        "slot_values": np.array([[pad(v, width_v) for v in s.slot_values] + [[b""] * width_v] * (
            width_s - len(s.slot_values)) for s in services], dtype=object),
    }


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower().replace("_", " ")))


class ModelTracker:
    """Implements ``Tracker`` over a ``dst`` servable.

    Args:
        predict: inputs -> outputs of the servable's ``serving_default`` (numpy in and out),
            or, with ``encode``, of ``track_turn_encoded``.
        encode: texts -> ``embeddings`` of the servable's ``encode_schema``; when given, each
            schema text is embedded once and its vector reused on every turn.
        remember_turns: keep the outputs of this many distinct turns (utterances and
            services), so scoring several trackers built on this one runs the model once
            per turn; 0 (serving) keeps none.
    """

    def __init__(self, predict: Predict, encode: Callable[[np.ndarray], np.ndarray] | None = None,
                 remember_turns: int = 0):
        self.predict = predict
        self.encode = encode
        self.remember_turns = int(remember_turns)
        self._vectors: dict[bytes, np.ndarray] = {}
        self._outputs: dict[tuple, Mapping[str, np.ndarray]] = {}

    @classmethod
    def from_saved_model(cls, path: str, remember_turns: int = 0) -> "ModelTracker":
        """Load a ``dst`` SavedModel version folder in this process (schema vectors cached)."""
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        track = loaded.signatures["track_turn_encoded"]
        encode = loaded.signatures["encode_schema"]

        def predict(inputs):
            return {k: v.numpy() for k, v in track(**{k: tf.constant(v) for k, v in inputs.items()}).items()}

        def embed(texts):
            return encode(texts=tf.constant(texts))["embeddings"].numpy()

        return cls(predict, embed, remember_turns)

    def _with_vectors(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Add the cached (or newly embedded) vectors of the rows' schema texts."""
        texts = [rows[k].reshape(-1) for k in ("intents", "slots", "slot_values")]
        missing = sorted({t for part in texts for t in part.tolist() if t not in self._vectors})
        if missing:
            for text, vector in zip(missing, self.encode(np.array(missing, dtype=object))):
                self._vectors[text] = vector
        for key, name in (("intent_embeddings", "intents"), ("slot_embeddings", "slots"),
                          ("value_embeddings", "slot_values")):
            flat = [self._vectors[t] for t in rows[name].reshape(-1).tolist()]
            rows[key] = np.stack(flat).reshape(rows[name].shape + (-1,)).astype(np.float32)
        return rows

    def update(self, state: DialogueState, system_utterance: str, user_utterance: str,
               schemas: Mapping[str, Service]) -> DialogueState:
        """Return the state after the user's turn (see the module docstring)."""
        if not schemas:
            return state
        services = list(schemas.values())
        key = (user_utterance, system_utterance, tuple(s.name for s in services))
        out = self._outputs.get(key)
        if out is None:
            rows = request_rows(user_utterance, system_utterance, [elements_of(s) for s in services])
            out = self.predict(self._with_vectors(rows) if self.encode is not None else rows)
            if len(self._outputs) < self.remember_turns:
                self._outputs[key] = out
        before = state
        for row, service in enumerate(services):
            state = state.with_service(service.name, self._service_state(before, service, out, row))
        return state

    def _service_state(self, before: DialogueState, service: Service, out: Mapping[str, np.ndarray],
                       row: int) -> ServiceState:
        previous = before.service(service.name)
        intent = int(out["active_intent"][row])
        values = dict(previous.slot_values)
        requested = []
        for k, slot in enumerate(service.slots):
            status = int(out["slot_status"][row, k])
            if out["requested_probabilities"][row, k] > REQUESTED_THRESHOLD:
                requested.append(slot.name)
            if status == STATUS_DONTCARE:
                values[slot.name] = (DONTCARE,)
            elif status == STATUS_ACTIVE:
                value = out["slot_value"][row, k].decode("utf-8")
                if value:
                    values[slot.name] = (value,)
            elif status == STATUS_CARRYOVER:
                carried = _carried_value(before, service, slot.name, slot.description)
                if carried is not None:
                    values[slot.name] = (carried,)
        return ServiceState(active_intent=service.intents[intent].name if intent >= 0 else NO_INTENT,
                            requested_slots=tuple(requested), slot_values=values)


def _carried_value(state: DialogueState, service: Service, slot: str, description: str) -> str | None:
    """The value of the most similar filled slot of another service (by name and description words)."""
    want = _words(slot) | _words(description)
    best, best_overlap = None, 0
    for other_name, other in state.services.items():
        if other_name == service.name:
            continue
        for other_slot, vals in other.slot_values.items():
            overlap = len(want & _words(other_slot))
            if vals and vals[0] != DONTCARE and overlap > best_overlap:
                best, best_overlap = vals[0], overlap
    return best
