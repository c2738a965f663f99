"""The learned tracker: the ``dst`` servable's per-turn updates folded into the dialogue state.

The servable says, per service in play, what this turn does (intent, requested
slots, per slot: nothing, don't care, a new value, or a value carried over from
earlier). This class keeps the state: untouched slots keep their values, and a
carried-over value is taken from the slot of another service whose description is
the closest to this slot's (a restaurant's city becomes the ride's destination city).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np

from lepton_tf.dialogue.dst_decoding import TUNED, Decoding
from lepton_tf.dialogue.schema import DONTCARE, Service
from lepton_tf.dialogue.schema_vectors import SchemaVectors
from lepton_tf.dialogue.state import NO_INTENT, DialogueState, ServiceState
from lepton_tf.models.dst.dst_heads import STATUS_ACTIVE, STATUS_CARRYOVER, STATUS_DONTCARE
from lepton_tf.models.dst.schema_elements import ServiceElements

# The servable's outputs this tracker reads (a server-side caller asks for these only).
OUTPUTS_READ = ("active_intent", "intent_probabilities", "slot_status", "status_probabilities",
                "requested_probabilities", "slot_value")
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
        decoding: how the outputs become decisions (``dst_decoding``; default ``TUNED``).
        vectors: the schema vectors cache to use (a ``predict`` that adds the vectors
            itself shares its cache here, so carried values are matched by them too).
    """

    def __init__(self, predict: Predict, encode: Callable[[np.ndarray], np.ndarray] | None = None,
                 remember_turns: int = 0, decoding: Decoding = TUNED, vectors: SchemaVectors | None = None):
        self.predict = predict
        self.decoding = decoding
        self.encode = encode
        self.remember_turns = int(remember_turns)
        self._vectors = vectors if vectors is not None else SchemaVectors()
        self._services: dict[str, Service] = {}  # every service seen: carried values' sources
        self._outputs: dict[tuple, Mapping[str, np.ndarray]] = {}

    @classmethod
    def from_saved_model(cls, path: str, remember_turns: int = 0, decoding: Decoding = TUNED) -> "ModelTracker":
        """Load a ``dst`` SavedModel version folder in this process (schema vectors cached)."""
        import tensorflow as tf

        loaded = tf.saved_model.load(path)
        track = loaded.signatures["track_turn_encoded"]
        encode = loaded.signatures["encode_schema"]

        def predict(inputs):
            return {k: v.numpy() for k, v in track(**{k: tf.constant(v) for k, v in inputs.items()}).items()}

        def embed(texts):
            return encode(texts=tf.constant(texts))["embeddings"].numpy()

        return cls(predict, embed, remember_turns, decoding)

    def with_decoding(self, decoding: Decoding) -> "ModelTracker":
        """A tracker on the same servable, schema vectors and remembered outputs, decoding
        them differently (scoring several decodings runs the model once per turn)."""
        other = ModelTracker(self.predict, self.encode, self.remember_turns, decoding)
        other._vectors, other._outputs, other._services = self._vectors, self._outputs, self._services
        return other

    def _with_vectors(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Add the cached (or newly embedded) vectors of the rows' schema texts."""
        return self._vectors.add_to(rows, self.encode)

    def update(self, state: DialogueState, system_utterance: str, user_utterance: str,
               schemas: Mapping[str, Service]) -> DialogueState:
        """Return the state after the user's turn (see the module docstring)."""
        if not schemas:
            return state
        services = list(schemas.values())
        self._services.update(schemas)
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
        names = service.intent_names
        decoding = self.decoding
        intent = decoding.intent(out, row, names.index(previous.active_intent)
                                 if previous.active_intent in names else -1)
        values = dict(previous.slot_values)
        requested = [slot.name for k, slot in enumerate(service.slots) if decoding.requested(out, row, k)]
        updates = decoding.slot_updates(out, row, service, first_turn=service.name not in before.services)
        for slot, (status, value) in zip(service.slots, updates):
            if status == STATUS_DONTCARE:
                values[slot.name] = (DONTCARE,)
            elif status == STATUS_ACTIVE and value:
                values[slot.name] = (value,)
            elif status == STATUS_CARRYOVER:
                carried = _carried_value(before, service, slot, self._services, self._vectors)
                if carried is not None:
                    values[slot.name] = (carried,)
        return ServiceState(active_intent=service.intents[intent].name if intent >= 0 else NO_INTENT,
                            requested_slots=tuple(requested), slot_values=values)


def _carried_value(state: DialogueState, service: Service, slot, known: Mapping[str, Service],
                   vectors: SchemaVectors) -> str | None:
    """The value of the most similar filled slot of another service: by the cosine of the
    two slots' description vectors where both are cached, else by the words the other
    slot's name shares with this slot's name and description."""
    want = _words(slot.name) | _words(slot.description)
    mine = vectors.vector(slot.description)
    best, best_score = None, 0.0
    for other_name, other in state.services.items():
        if other_name == service.name:
            continue
        descriptions = {s.name: s.description for s in known[other_name].slots} if other_name in known else {}
        for other_slot, vals in other.slot_values.items():
            if not vals or vals[0] == DONTCARE:
                continue
            theirs = vectors.vector(descriptions[other_slot]) if other_slot in descriptions else None
            if mine is not None and theirs is not None:
                score = float(np.dot(mine, theirs) / max(np.linalg.norm(mine) * np.linalg.norm(theirs), 1e-9))
            else:
                score = float(len(want & _words(other_slot)))
            if score > best_score:
                best, best_score = vals[0], score
    return best
