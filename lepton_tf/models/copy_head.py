"""A pointer-generator head: the decoder may copy context tokens instead of generating them.

A small model trained for minutes on CPU does not learn to copy through
cross-attention alone: fine-tuned on grounded replies it keeps writing
answers it memorised and cites a passage it did not use. With a copy head
(See et al., 2017, "Get To The Point") the output distribution is

    p(w) = g * softmax(vocab_logits)(w) + (1 - g) * sum_{s: id_s = w} a_s

where `a` is a single-head attention of the decoder state over the encoder
states (the context: passages and dialogue) and `g = sigmoid(w_g . h + b_g)`
decides between generating and copying, so quoting a passage or a slot
value the user said ("Fresno", "March 3rd") is one learned attention.
keras-hub has no such layer; the math is plain TF ops shared by training
(`CopyHead`) and in-graph decoding (`lepton_tf.models.chat_step`), and the
servable stays stock TF Serving ops.

The head returns log-probabilities; a `log_softmax` of them (the training
loss, the samplers) leaves them unchanged.
"""

from __future__ import annotations

import keras
import tensorflow as tf

_NEG_INF = -1e9
_TINY = 1e-12


def padding_bias(padding_mask):
    """float `[B, S]`: 0 on real tokens (`padding_mask` True), -1e9 on padding."""
    return (1.0 - tf.cast(padding_mask, tf.float32)) * _NEG_INF


def copy_log_probs(vocab_logits, query, keys, gate_logit, encoder_token_ids, encoder_bias,
                   vocabulary_size: int):
    """Mixes the vocabulary distribution with copies of encoder tokens.

    Args:
        vocab_logits: float `[B, T, V]` or `[B, V]`.
        query: `[B, T, d]` or `[B, d]` copy-attention queries (scale folded in).
        keys: `[B, S, d]` copy-attention keys of the encoder states.
        gate_logit: `[B, T, 1]` or `[B, 1]`; sigmoid of it is the generate share.
        encoder_token_ids: int `[B, S]` ids the keys stand for.
        encoder_bias: float `[B, S]`: 0 on real tokens, -1e9 on padding.
        vocabulary_size: V.

    Returns:
        float32 log-probabilities shaped like `vocab_logits`.
    """
    one_step = vocab_logits.shape.rank == 2
    if one_step:
        vocab_logits, query, gate_logit = (x[:, None, :] for x in
                                           (vocab_logits, query, gate_logit))
    vocab_logits = tf.cast(vocab_logits, tf.float32)
    scores = tf.matmul(tf.cast(query, tf.float32), tf.cast(keys, tf.float32),
                       transpose_b=True) + encoder_bias[:, None, :]
    attention = tf.nn.softmax(scores)  # [B, T, S]
    batch, steps, length = tf.shape(attention)[0], tf.shape(attention)[1], tf.shape(attention)[2]
    # Scatter-add each position's weight onto its token id: segment b*V + id.
    segments = tf.cast(encoder_token_ids, tf.int32) + tf.range(batch)[:, None] * vocabulary_size
    per_position = tf.reshape(tf.transpose(attention, [0, 2, 1]), [batch * length, steps])
    copied = tf.math.unsorted_segment_sum(per_position, tf.reshape(segments, [-1]),
                                          batch * vocabulary_size)
    copied = tf.transpose(tf.reshape(copied, [batch, vocabulary_size, steps]), [0, 2, 1])
    gate = tf.sigmoid(tf.cast(gate_logit, tf.float32))
    probs = gate * tf.nn.softmax(vocab_logits) + (1.0 - gate) * copied
    log_probs = tf.math.log(tf.maximum(probs, _TINY))
    return log_probs[:, 0, :] if one_step else log_probs


@keras.saving.register_keras_serializable(package="lepton_tf")
class CopyHead(keras.layers.Layer):
    """Pointer-generator output head (see the module docstring).

    Example:

    >>> import numpy as np
    >>> head = CopyHead(vocabulary_size=100, key_dim=16)
    >>> log_probs = head(np.zeros((2, 3, 8), "float32"),    # decoder states [B, T, H]
    ...                  np.zeros((2, 3, 100), "float32"),  # vocabulary logits [B, T, 100]
    ...                  np.zeros((2, 5, 8), "float32"),    # encoder states [B, S, H]
    ...                  np.ones((2, 5), "int32"),          # encoder ids [B, S]
    ...                  np.ones((2, 5), bool))             # encoder mask [B, S]
    >>> tuple(log_probs.shape)
    (2, 3, 100)

    Args:
        vocabulary_size: output vocabulary size.
        key_dim: copy-attention width.
        gate_bias: initial generate-gate bias (2.0: generate 88% of the
            mass at first, so a trained model starts close to itself).
    """

    def __init__(self, vocabulary_size: int, key_dim: int = 64, gate_bias: float = 2.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.key_dim, self.gate_bias = vocabulary_size, key_dim, gate_bias
        self.query_dense = keras.layers.Dense(key_dim, name="query")
        self.key_dense = keras.layers.Dense(key_dim, name="key")
        self.gate_dense = keras.layers.Dense(
            1, bias_initializer=keras.initializers.Constant(gate_bias), name="gate")

    def build(self, decoder_states_shape, vocab_logits_shape=None, encoder_states_shape=None,
              encoder_token_ids_shape=None, encoder_padding_mask_shape=None):
        hidden = decoder_states_shape[-1]
        for dense in (self.query_dense, self.key_dense, self.gate_dense):
            dense.build((None, hidden))
        self.built = True

    @property
    def query_scale(self) -> float:
        """The copy attention's `1 / sqrt(key_dim)`, folded into the queries."""
        return 1.0 / float(self.key_dim) ** 0.5

    def call(self, decoder_states, vocab_logits, encoder_states, encoder_token_ids,
             encoder_padding_mask):
        return copy_log_probs(vocab_logits, self.query_dense(decoder_states) * self.query_scale,
                              self.key_dense(encoder_states), self.gate_dense(decoder_states),
                              encoder_token_ids, padding_bias(encoder_padding_mask),
                              self.vocabulary_size)

    def compute_output_shape(self, decoder_states_shape, vocab_logits_shape, *args):
        return vocab_logits_shape

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "key_dim": self.key_dim, "gate_bias": self.gate_bias}
