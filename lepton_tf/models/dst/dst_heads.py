"""The state tracker's heads: schema elements read against the encoded turn.

Every schema element arrives as a sentence vector of its description, so the
heads score *pairs* (turn, element) and never hold a per-service output: a new
service needs no new weights.
"""

from __future__ import annotations

import keras
from keras import ops

# Large enough to zero a masked logit's probability, small enough for float16.
NEG = -1.0e4

# Slot status classes: what this turn does to the slot.
STATUS_NONE, STATUS_DONTCARE, STATUS_ACTIVE, STATUS_CARRYOVER = 0, 1, 2, 3
STATUS_NAMES = ("none", "dontcare", "active", "carryover")


def masked(logits, mask):
    """``logits`` with ``NEG`` where ``mask`` is False."""
    return ops.where(mask, logits, ops.cast(NEG, logits.dtype))


def _mlp(hidden: int, out: int, dropout: float, name: str) -> keras.Sequential:
    return keras.Sequential([keras.layers.Dense(hidden, activation="gelu"), keras.layers.Dropout(dropout),
                             keras.layers.Dense(out)], name=name)


@keras.saving.register_keras_serializable(package="lepton_tf")
class SchemaHeads(keras.layers.Layer):
    """Intent, requested-slot, slot-status, categorical-value and span logits.

    Args:
        hidden_dim: width of the heads' hidden layers.
        dropout: dropout in the heads.
    """

    def __init__(self, hidden_dim: int = 256, dropout: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = int(hidden_dim)
        self.dropout = float(dropout)
        h = self.hidden_dim
        self.intent_proj = keras.layers.Dense(h, name="intent_proj")
        self.slot_proj = keras.layers.Dense(h, name="slot_proj")
        self.value_proj = keras.layers.Dense(h, name="value_proj")
        self.turn_proj = keras.layers.Dense(h, name="turn_proj")
        self.token_key = keras.layers.Dense(h, name="token_key")
        self.token_value = keras.layers.Dense(h, name="token_value")
        self.intent_score = _mlp(h, 1, dropout, "intent_score")
        self.none_score = _mlp(h, 1, dropout, "none_intent_score")
        self.slot_hidden = keras.Sequential([keras.layers.Dense(h, activation="gelu"), keras.layers.Dropout(dropout)],
                                            name="slot_hidden")
        self.requested_score = keras.layers.Dense(1, name="requested_score")
        self.status_score = keras.layers.Dense(len(STATUS_NAMES), name="status_score")
        self.value_score = _mlp(h, 1, dropout, "value_score")
        self.span_token = keras.layers.Dense(2 * h, name="span_token")
        self.span_slot = keras.layers.Dense(2 * h, name="span_slot")

    def call(self, sequence, padding_mask, span_mask, intents, intent_mask, slots, slot_mask, values, value_mask,
             training=None):
        """Score the schema elements against the encoded turn.

        Args:
            sequence: ``[B, L, H]`` token vectors of the turn.
            padding_mask: ``[B, L]`` real tokens.
            span_mask: ``[B, L]`` tokens a value span may start or end on.
            intents: ``[B, I, D]`` intent description vectors; ``intent_mask`` ``[B, I]``.
            slots: ``[B, S, D]`` slot description vectors; ``slot_mask`` ``[B, S]``.
            values: ``[B, S, V, D]`` categorical value vectors; ``value_mask`` ``[B, S, V]``.

        Returns:
            ``intent_logits [B, 1 + I]`` (0 is no intent), ``requested_logits [B, S]``,
            ``status_logits [B, S, 4]``, ``value_logits [B, S, V]``,
            ``span_start_logits`` and ``span_end_logits [B, S, L]``.
        """
        h = self.hidden_dim
        sequence = ops.cast(sequence, "float32")
        turn = self.turn_proj(sequence[:, 0, :])  # [B, h] from [CLS]
        intent_vec = self.intent_proj(intents)  # [B, I, h]
        turn_i = ops.broadcast_to(turn[:, None, :], ops.shape(intent_vec))
        intent_logits = self.intent_score(ops.concatenate([turn_i, intent_vec, turn_i * intent_vec], -1),
                                          training=training)[..., 0]
        none_logit = self.none_score(turn, training=training)
        intent_logits = ops.concatenate([none_logit, masked(intent_logits, intent_mask)], axis=1)

        # Each slot attends over the tokens with its description as the query.
        slot_vec = self.slot_proj(slots)  # [B, S, h]
        keys = self.token_key(sequence)
        scores = ops.einsum("bsh,blh->bsl", slot_vec, keys) / (h ** 0.5)
        attention = ops.softmax(masked(scores, padding_mask[:, None, :]), axis=-1)
        context = ops.einsum("bsl,blh->bsh", attention, self.token_value(sequence))
        turn_s = ops.broadcast_to(turn[:, None, :], ops.shape(slot_vec))
        slot_state = self.slot_hidden(ops.concatenate([turn_s, context, slot_vec, context * slot_vec], -1),
                                      training=training)
        requested_logits = self.requested_score(slot_state)[..., 0]
        status_logits = self.status_score(slot_state)

        value_vec = self.value_proj(values)  # [B, S, V, h]
        state_v = ops.broadcast_to(slot_state[:, :, None, :], ops.shape(value_vec))
        value_logits = self.value_score(ops.concatenate([state_v, value_vec, state_v * value_vec], -1),
                                        training=training)[..., 0]
        value_logits = masked(value_logits, value_mask)

        tokens = self.span_token(sequence)  # [B, L, 2h]
        query = self.span_slot(ops.concatenate([slot_state, slot_vec], -1))  # [B, S, 2h]
        start = ops.einsum("bsh,blh->bsl", query[..., :h], tokens[..., :h]) / (h ** 0.5)
        end = ops.einsum("bsh,blh->bsl", query[..., h:], tokens[..., h:]) / (h ** 0.5)
        allowed = span_mask[:, None, :]
        return {"intent_logits": intent_logits, "requested_logits": requested_logits,
                "status_logits": status_logits, "value_logits": value_logits,
                "span_start_logits": masked(start, allowed), "span_end_logits": masked(end, allowed)}

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "dropout": self.dropout})
        return config
