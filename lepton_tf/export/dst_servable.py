"""The `dst` servable: a dialogue turn and a service's schema elements as strings in, the turn's state update out.

One row is one (turn, service) pair. Inputs (signature ``serving_default``, also ``track_turn``):

- ``user_utterance`` ``[B]``, ``system_utterance`` ``[B]`` (the system turn before; "" at the start);
- ``intents`` ``[B, I]``: the service's intent descriptions ("" pads a row);
- ``slots`` ``[B, S]``: its slot descriptions ("" pads);
- ``slot_values`` ``[B, S, V]``: each slot's categorical values ("" pads; a slot with none is free text).

Outputs: ``active_intent`` (index into ``intents``, -1 for none) and ``intent_probabilities``
``[B, 1 + I]`` (column 0 is none); ``requested_probabilities`` ``[B, S]``; ``slot_status``
(0 none, 1 dontcare, 2 active, 3 carryover) and ``status_probabilities`` ``[B, S, 4]``;
``value_index``/``value_probabilities`` for categorical slots; ``span_text`` (the best span
of the user's or the system's words) and ``slot_value`` ``[B, S]``: the value this turn
gives the slot ("" when it gives none; carrying earlier values over is the caller's).

Signature ``encode_schema`` (``texts [N]`` -> ``embeddings [N, H]``) embeds schema texts once;
``track_turn_encoded`` takes the same inputs plus ``intent_embeddings [B, I, H]``,
``slot_embeddings [B, S, H]`` and ``value_embeddings [B, S, V, H]`` so a client that caches a
service's vectors pays only for the turn.

Tokenization and the schema descriptions' encoding run in the graph (tensorflow-text
only, no XLA ops), so stock TF Serving hosts it. Malformed requests (an empty batch,
batch sizes that differ, a row without intents, more elements than ``MAX_*``) fail with
``InvalidArgumentError`` naming the input; an utterance is cut to
``MAX_UTTERANCE_CHARS`` characters before tokenizing, so a huge one costs no more
than a normal one.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lepton_tf.export.input_checks import check_shape, check_string_batch
from lepton_tf.models.dst.dst_heads import STATUS_ACTIVE, STATUS_DONTCARE
from lepton_tf.models.dst.dst_preprocessor import SPECIAL, DSTPreprocessor
from lepton_tf.models.dst.state_tracker_model import StateTrackerModel

MAX_UTTERANCE_CHARS = 2000
MAX_INTENTS, MAX_SLOTS, MAX_VALUES = 32, 64, 64
MAX_SPAN_TOKENS = 12
DONTCARE = "dontcare"

_SPEC = {
    "user_utterance": tf.TensorSpec([None], tf.string, name="user_utterance"),
    "system_utterance": tf.TensorSpec([None], tf.string, name="system_utterance"),
    "intents": tf.TensorSpec([None, None], tf.string, name="intents"),
    "slots": tf.TensorSpec([None, None], tf.string, name="slots"),
    "slot_values": tf.TensorSpec([None, None, None], tf.string, name="slot_values"),
}
# Clients that cache the schema's vectors (``encode_schema``) send them instead of re-encoding.
_ENCODED_SPEC = {
    "intent_embeddings": tf.TensorSpec([None, None, None], tf.float32, name="intent_embeddings"),
    "slot_embeddings": tf.TensorSpec([None, None, None], tf.float32, name="slot_embeddings"),
    "value_embeddings": tf.TensorSpec([None, None, None, None], tf.float32, name="value_embeddings"),
}
MAX_ENCODE_TEXTS = 4096


def _ensure_ranks(user, system, *schema):
    """Each string input at its signature's rank (the utterances a non-empty batch),
    checked when the request runs (see `input_checks`)."""
    return [check_string_batch(user, "user_utterance"),
            check_string_batch(system, "system_utterance")] + [
        check_shape(x, spec.shape, name) for x, (name, spec) in zip(schema,
                                                                    list(_SPEC.items())[2:])]


def _check_inputs(user, system, intents, slots, slot_values):
    """In-graph checks; each raises InvalidArgumentError naming the input."""
    batch = tf.shape(user)[0]
    shape_s, shape_v = tf.shape(slots), tf.shape(slot_values)
    return [
        tf.debugging.assert_equal(tf.shape(system)[0], batch,
                                  message="system_utterance: needs one row per user_utterance"),
        tf.debugging.assert_equal(tf.shape(intents)[0], batch, message="intents: needs one row per user_utterance"),
        tf.debugging.assert_equal(shape_s[0], batch, message="slots: needs one row per user_utterance"),
        tf.debugging.assert_equal(shape_v[0], batch, message="slot_values: needs one row per user_utterance"),
        tf.debugging.assert_equal(shape_v[1], shape_s[1], message="slot_values: needs one row per slot"),
        tf.debugging.assert_less_equal(tf.shape(intents)[1], MAX_INTENTS,
                                       message=f"intents: at most {MAX_INTENTS} per row"),
        tf.debugging.assert_less_equal(shape_s[1], MAX_SLOTS, message=f"slots: at most {MAX_SLOTS} per row"),
        tf.debugging.assert_less_equal(shape_v[2], MAX_VALUES,
                                       message=f"slot_values: at most {MAX_VALUES} per slot"),
        tf.debugging.assert_equal(tf.reduce_all(tf.reduce_any(intents != "", axis=1)), True,
                                  message="intents: every row needs at least one intent description"),
    ]


class DSTServable(tf.Module):
    """Wraps the preprocessor, the schema encoder and the tracker model in a string signature.

    Args:
        model: the trained ``StateTrackerModel``.
        preprocessor: its ``DSTPreprocessor``.
    """

    def __init__(self, model: StateTrackerModel, preprocessor: DSTPreprocessor):
        super().__init__()
        self.model = model
        self.preprocessor = preprocessor

    def _encode_elements(self, texts):
        """Vectors ``texts.shape + [H]`` of schema texts (each distinct text once; "" -> zeros)."""
        flat = tf.reshape(texts, [-1])
        unique, where = tf.unique(flat)
        packed = self.preprocessor.pack_schema(unique)
        vectors = self.model.backbone.encode_schema(packed["token_ids"], packed["padding_mask"])
        vectors = vectors * tf.cast(unique != "", vectors.dtype)[:, None]
        dim = tf.shape(vectors)[-1:]
        return tf.reshape(tf.gather(vectors, where), tf.concat([tf.shape(texts), dim], 0))

    @tf.function(input_signature=list(_SPEC.values()))
    def serve(self, user_utterance, system_utterance, intents, slots, slot_values):
        user_utterance, system_utterance, intents, slots, slot_values = _ensure_ranks(
            user_utterance, system_utterance, intents, slots, slot_values)
        return self._track(user_utterance, system_utterance, intents, slots, slot_values,
                           self._encode_elements(intents), self._encode_elements(slots),
                           self._encode_elements(slot_values))

    @tf.function(input_signature=list(_SPEC.values()) + list(_ENCODED_SPEC.values()))
    def serve_encoded(self, user_utterance, system_utterance, intents, slots, slot_values, intent_embeddings,
                      slot_embeddings, value_embeddings):
        user_utterance, system_utterance, intents, slots, slot_values = _ensure_ranks(
            user_utterance, system_utterance, intents, slots, slot_values)
        intent_embeddings, slot_embeddings, value_embeddings = (
            check_shape(x, _ENCODED_SPEC[name].shape, name) for x, name in zip(
                (intent_embeddings, slot_embeddings, value_embeddings), _ENCODED_SPEC))
        checks = [
            tf.debugging.assert_equal(tf.shape(intent_embeddings)[:2], tf.shape(intents),
                                      message="intent_embeddings: needs one vector per intent"),
            tf.debugging.assert_equal(tf.shape(slot_embeddings)[:2], tf.shape(slots),
                                      message="slot_embeddings: needs one vector per slot"),
            tf.debugging.assert_equal(tf.shape(value_embeddings)[:3], tf.shape(slot_values),
                                      message="value_embeddings: needs one vector per value"),
        ]
        with tf.control_dependencies(checks):
            intent_embeddings = tf.identity(intent_embeddings)
        return self._track(user_utterance, system_utterance, intents, slots, slot_values, intent_embeddings,
                           slot_embeddings, value_embeddings)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def encode_schema(self, texts):
        texts = check_shape(texts, [None], "texts")
        checks = [tf.debugging.assert_less_equal(tf.shape(texts)[0], MAX_ENCODE_TEXTS,
                                                 message=f"texts: at most {MAX_ENCODE_TEXTS} per request")]
        with tf.control_dependencies(checks):
            texts = tf.identity(texts)
        return {"embeddings": self._encode_elements(texts)}

    def _track(self, user_utterance, system_utterance, intents, slots, slot_values, intent_vectors,
               slot_vectors, value_vectors):
        checks = _check_inputs(user_utterance, system_utterance, intents, slots, slot_values)
        with tf.control_dependencies(checks):
            user = tf.strings.substr(user_utterance, 0, MAX_UTTERANCE_CHARS, unit="UTF8_CHAR")
            system = tf.strings.substr(system_utterance, 0, MAX_UTTERANCE_CHARS, unit="UTF8_CHAR")
        turn = self.preprocessor.pack_turns(user, system)
        features = {
            "token_ids": turn["token_ids"], "segment_ids": turn["segment_ids"],
            "padding_mask": turn["padding_mask"], "span_mask": turn["token_source"] != SPECIAL,
            "intents": intent_vectors, "intent_mask": intents != "",
            "slots": slot_vectors, "slot_mask": slots != "",
            "values": value_vectors, "value_mask": slot_values != "",
        }
        out = self.model(features, training=False)
        return decode_outputs(out, turn, user, system, slots, slot_values)

    def signatures(self) -> dict:
        return {"serving_default": self.serve, "track_turn": self.serve, "track_turn_encoded": self.serve_encoded,
                "encode_schema": self.encode_schema}


def best_spans(start_logits, end_logits, token_source):
    """The highest-scoring span (start <= end, one utterance, at most ``MAX_SPAN_TOKENS``) per slot.

    Returns:
        ``(start, end, score)`` each ``[B, S]`` (token indices; score = start + end logit).
    """
    length = tf.shape(start_logits)[-1]
    pairs = start_logits[..., :, None] + end_logits[..., None, :]  # [B, S, L, L]
    i = tf.range(length)[:, None]
    j = tf.range(length)[None, :]
    band = (j >= i) & (j < i + MAX_SPAN_TOKENS)
    same = tf.equal(token_source[:, :, None], token_source[:, None, :])  # [B, L, L]
    allowed = band[None, None] & same[:, None]
    pairs = tf.where(allowed, pairs, tf.cast(-1e9, pairs.dtype))
    flat = tf.reshape(pairs, tf.concat([tf.shape(pairs)[:2], [-1]], 0))
    best = tf.argmax(flat, axis=-1, output_type=tf.int32)
    return best // length, best % length, tf.reduce_max(flat, axis=-1)


def decode_outputs(out, turn, user, system, slots, slot_values) -> dict:
    """Model logits -> the servable's outputs (see the module docstring)."""
    intent_probabilities = tf.nn.softmax(tf.cast(out["intent_logits"], tf.float32))
    status_probabilities = tf.nn.softmax(tf.cast(out["status_logits"], tf.float32))
    value_probabilities = tf.nn.softmax(tf.cast(out["value_logits"], tf.float32))
    slot_status = tf.argmax(status_probabilities, axis=-1, output_type=tf.int32)
    value_index = tf.argmax(value_probabilities, axis=-1, output_type=tf.int32)

    start, end, _ = best_spans(out["span_start_logits"], out["span_end_logits"], turn["token_source"])
    byte_start = tf.gather(turn["token_start"], start, batch_dims=1)
    byte_end = tf.gather(turn["token_end"], end, batch_dims=1)
    source = tf.gather(turn["token_source"], start, batch_dims=1)
    num_slots = tf.shape(slots)[1]
    text = tf.where(source == 0, tf.repeat(user[:, None], num_slots, axis=1),
                    tf.repeat(system[:, None], num_slots, axis=1))
    span_text = tf.strings.substr(text, tf.maximum(byte_start, 0), tf.maximum(byte_end - byte_start, 0))

    categorical = tf.reduce_any(slot_values != "", axis=-1)
    chosen_value = tf.gather(slot_values, value_index, batch_dims=2)
    new_value = tf.where(categorical, chosen_value, span_text)
    slot_value = tf.where(slot_status == STATUS_ACTIVE, new_value,
                          tf.where(slot_status == STATUS_DONTCARE, tf.constant(DONTCARE), tf.constant("")))
    slot_value = tf.where(slots != "", slot_value, tf.constant(""))
    return {
        "active_intent": tf.argmax(intent_probabilities, axis=-1, output_type=tf.int32) - 1,
        "intent_probabilities": intent_probabilities,
        "requested_probabilities": tf.sigmoid(tf.cast(out["requested_logits"], tf.float32)),
        "slot_status": slot_status,
        "status_probabilities": status_probabilities,
        "value_index": value_index,
        "value_probabilities": value_probabilities,
        "span_text": span_text,
        "slot_value": slot_value,
    }


def example_inputs() -> dict[str, np.ndarray]:
    """A two-row request (one free-text, one categorical slot each): validation and warmup."""
    return {
        "user_utterance": np.array([b"Book a table for two at Bird Dog tonight", b"Set an alarm for 6:30 am"]),
        "system_utterance": np.array([b"", b"What time should the alarm ring?"]),
        "intents": np.array([[b"Reserve a table at a restaurant", b"Find restaurants"],
                             [b"Set a new alarm", b""]]),
        "slots": np.array([[b"Name of the restaurant", b"Number of seats to reserve"],
                           [b"Time of the alarm", b""]]),
        "slot_values": np.array([[[b"", b""], [b"1", b"2"]], [[b"", b""], [b"", b""]]]),
    }


def export_dst(model: StateTrackerModel, preprocessor: DSTPreprocessor, *, base_dir: str = "saved_models",
               name: str = "dst", version: int | None = None, validate: bool = True) -> str:
    """Export the tracker as a validated TF Serving version (``<base_dir>/<name>/<version>``).

    Raises:
        ExportValidationError: when the reloaded model (plain TensorFlow + tensorflow_text,
            a fresh process) fails or answers differently.
    """
    from lepton_tf.export.exporter import export_servable

    servable = DSTServable(model, preprocessor)
    examples = example_inputs()
    encoded = dict(examples)
    for key, texts in (("intent_embeddings", "intents"), ("slot_embeddings", "slots"),
                       ("value_embeddings", "slot_values")):
        encoded[key] = servable.encode_schema(tf.reshape(examples[texts], [-1]))["embeddings"].numpy().reshape(
            examples[texts].shape + (-1,))
    return export_servable(servable, name=name, signatures=servable.signatures(),
                           examples={"serving_default": examples, "track_turn": examples,
                                     "track_turn_encoded": encoded,
                                     "encode_schema": {"texts": examples["intents"].reshape(-1)}},
                           base_dir=base_dir, version=version, validate=validate, atol=1e-4)
