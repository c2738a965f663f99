"""The state tracker as one Keras model: backbone + schema heads, with its training loss.

Inputs are numbers: a packed turn (``DSTPreprocessor.pack_turns``) and the
schema elements' description vectors (``DSTBackbone.encode_schema``, cached in
training, computed in-graph by the exported servable). Padding of intents,
slots and values is marked by their masks.

Labels (``compute_loss``), -1 meaning "no target":
    intent ``[B]`` (0 no intent, i + 1 the i-th intent), requested ``[B, S]`` (0/1),
    status ``[B, S]`` (see ``dst_heads.STATUS_NAMES``), value ``[B, S]`` (index of
    the categorical value), span_start / span_end ``[B, S]`` (token indices).
"""

from __future__ import annotations

import keras
from keras import ops

from lepton_tf.models.dst.dst_backbone import DSTBackbone
from lepton_tf.models.dst.dst_heads import SchemaHeads

FEATURES = ("token_ids", "segment_ids", "padding_mask", "span_mask", "intents", "intent_mask", "slots",
            "slot_mask", "values", "value_mask")
LOSSES = ("intent_loss", "requested_loss", "status_loss", "value_loss", "span_loss")


def _masked_mean(values, weights):
    weights = ops.cast(weights, "float32")
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights), 1.0)


def _sparse_ce(labels, logits):
    """Cross-entropy per position; labels < 0 give 0 (the caller masks them out)."""
    safe = ops.maximum(labels, 0)
    return keras.losses.sparse_categorical_crossentropy(safe, logits, from_logits=True)


@keras.saving.register_keras_serializable(package="lepton_tf")
class StateTrackerModel(keras.Model):
    """Predicts the active intent, requested slots and slot updates of a turn for one service.

    Args:
        backbone: the ``DSTBackbone``.
        hidden_dim: width of the heads.
        dropout: dropout in the heads.
        status_weights: loss weight of each slot status class (none, dontcare, active,
            carryover). "none" is about 93% of SGD's slot labels; unweighted, a model
            first learns to predict it everywhere and fills no value.
    """

    def __init__(self, backbone: DSTBackbone, hidden_dim: int = 256, dropout: float = 0.1,
                 status_weights=(1.0, 1.0, 1.0, 1.0), **kwargs):
        super().__init__(**kwargs)
        self.backbone = backbone
        self.heads = SchemaHeads(hidden_dim, dropout, name="schema_heads")
        self.hidden_dim = int(hidden_dim)
        self.dropout = float(dropout)
        self.status_weights = tuple(float(w) for w in status_weights)
        if len(self.status_weights) != 4 or min(self.status_weights) <= 0:
            raise ValueError(f"status_weights must be 4 positive numbers, got {status_weights!r}")
        self.loss_trackers = {name: keras.metrics.Mean(name=name) for name in LOSSES}
        self.intent_accuracy = keras.metrics.SparseCategoricalAccuracy(name="intent_accuracy")

    def build(self, input_shape=None):
        # The heads' weights take their shapes from the first call's inputs
        # (the schema vectors' width), so they are built there.
        self.built = True

    def call(self, inputs, training=None):
        sequence = self.backbone.encode_turn(inputs["token_ids"], inputs["segment_ids"], inputs["padding_mask"],
                                             training=training)
        return self.heads(sequence, inputs["padding_mask"], inputs["span_mask"], inputs["intents"],
                          inputs["intent_mask"], inputs["slots"], inputs["slot_mask"], inputs["values"],
                          inputs["value_mask"], training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The sum of the five heads' losses, each averaged over the positions it applies to."""
        slot_mask = x["slot_mask"]
        intent_loss = ops.mean(_sparse_ce(y["intent"], y_pred["intent_logits"]))
        requested = keras.losses.binary_crossentropy(
            ops.cast(y["requested"], "float32")[..., None], y_pred["requested_logits"][..., None], from_logits=True)
        requested_loss = _masked_mean(requested, slot_mask)
        status_weight = ops.take(ops.convert_to_tensor(self.status_weights, "float32"), ops.maximum(y["status"], 0))
        status_loss = _masked_mean(_sparse_ce(y["status"], y_pred["status_logits"]) * status_weight, slot_mask)
        value_loss = _masked_mean(_sparse_ce(y["value"], y_pred["value_logits"]), y["value"] >= 0)
        span_weight = y["span_start"] >= 0
        span_loss = 0.5 * (_masked_mean(_sparse_ce(y["span_start"], y_pred["span_start_logits"]), span_weight)
                           + _masked_mean(_sparse_ce(y["span_end"], y_pred["span_end_logits"]), span_weight))
        parts = dict(zip(LOSSES, (intent_loss, requested_loss, status_loss, value_loss, span_loss)))
        for name, value in parts.items():
            self.loss_trackers[name].update_state(value)
        self.intent_accuracy.update_state(y["intent"], y_pred["intent_logits"])
        return intent_loss + requested_loss + status_loss + value_loss + span_loss

    @property
    def metrics(self):
        return [*super().metrics, *self.loss_trackers.values(), self.intent_accuracy]

    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone), "hidden_dim": self.hidden_dim,
                "dropout": self.dropout, "status_weights": list(self.status_weights), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
