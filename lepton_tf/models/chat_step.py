"""Lean decoder math for `ChatModel` generation, in plain TensorFlow ops.

At the chat model's size (hidden 256, 2 decoder layers) a decoding step is a
few million multiply-adds, so on CPU its cost is mostly per-op overhead in the
`while` loop. Calling the Keras layers each step costs ~1.5-1.9 ms: among
other things a transpose of the tied 3765 x 256 output embedding, stacking and
re-slicing every layer's `[B, 2, T, heads, head_dim]` cache, and masks and
einsums rebuilt per step. Here the decoder's weights are read and reshaped
once per request, outside the loop (fused query/key/value kernels, the query
scale folded in, output logits as `matmul(x, embeddings, transpose_b=True)`),
and one step is ~200 small ops on `[B, H]` rows.

Both decoding modes use the same functions, so the benchmark compares the
cache and nothing else:
- `cached_step`: one new token against per-layer key/value caches
  `[B, heads, T, head_dim]`, updated with `tf.tensor_scatter_nd_update` (a
  stock kernel: no `XlaDynamicUpdateSlice`, which a TF Serving model server
  without `--xla_cpu_compilation_enabled` refuses to compile on demand), and
  cross-attention keys/values computed once per request (`cross_cache`);
- `uncached_logits`: the no-cache baseline, rerunning the decoder over the
  whole prefix (cross-attention keys/values included) and projecting only the
  last position to logits.

All caches are batch-major, so keras-hub's `BeamSampler` can repeat and
reorder them by beam. The math equals the Keras layers' (post-norm
`TransformerDecoder`, ReLU feed-forward), up to float rounding.
"""

from __future__ import annotations

import tensorflow as tf

from lepton_tf.models.copy_head import copy_log_probs, padding_bias

_NEG_INF = -1e9


def _read(variable):
    return tf.convert_to_tensor(variable)


def _attention_weights(layer, num_heads: int, head_dim: int):
    """`(w_q, b_q, w_kv, b_kv, w_o, b_o)` of a keras `MultiHeadAttention`,
    reshaped to 2-D with the `1 / sqrt(head_dim)` query scale folded in."""
    hidden = num_heads * head_dim
    scale = 1.0 / float(head_dim) ** 0.5
    q, k, v, o = (layer._query_dense, layer._key_dense, layer._value_dense,
                  layer._output_dense)
    w_q = tf.reshape(_read(q.kernel), [-1, hidden]) * scale
    b_q = tf.reshape(_read(q.bias), [hidden]) * scale
    w_kv = tf.concat([tf.reshape(_read(k.kernel), [-1, hidden]),
                      tf.reshape(_read(v.kernel), [-1, hidden])], axis=1)
    b_kv = tf.concat([tf.reshape(_read(k.bias), [hidden]),
                      tf.reshape(_read(v.bias), [hidden])], axis=0)
    w_o = tf.reshape(_read(o.kernel), [hidden, -1])
    return w_q, b_q, w_kv, b_kv, w_o, _read(o.bias)


def _norm_weights(layer):
    return _read(layer.gamma), _read(layer.beta), float(layer.epsilon)


def _layer_norm(x, norm):
    gamma, beta, epsilon = norm
    mean = tf.reduce_mean(x, axis=-1, keepdims=True)
    variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=-1, keepdims=True)
    inv = tf.math.rsqrt(variance + epsilon) * gamma
    return x * inv + (beta - mean * inv)


def _dense(x, w, b):
    """`x @ w + b` for `[B, H]` or `[B, T, H]` `x` (`bias_add`: grappler fuses
    a 2-D `MatMul` + `BiasAdd` into one op)."""
    return tf.nn.bias_add(tf.matmul(x, w), b)


def _attend(q, k, v, bias):
    """Softmax attention on `[B, heads, T, head_dim]` tensors; `bias` is added
    to the `[B, heads, Tq, Tk]` scores (0 or -1e9)."""
    scores = tf.matmul(q, k, transpose_b=True) + bias
    return tf.matmul(tf.nn.softmax(scores), v)


class DecoderWeights:
    """A `ChatModel` decoder's weights as tensors, read once per request.

    Build it inside the traced function, before the decoding loop: the loop
    body then captures the tensors as loop invariants.

    Args:
        model: a built `ChatModel`.
    """

    def __init__(self, model):
        self.num_heads = int(model.num_heads)
        self.head_dim = int(model.hidden_dim) // self.num_heads
        self.hidden = self.num_heads * self.head_dim
        self.token = _read(model.embedding.token_embedding.embeddings)
        self.position = _read(model.embedding.position_embedding.position_embeddings)
        self.norm = _norm_weights(model.decoder_norm)
        self.vocabulary_size = int(model.vocabulary_size)
        head = getattr(model, "copy_head", None)
        self.copy = None
        if head is not None:  # pointer-generator: see lepton_tf.models.copy_head
            scale = head.query_scale
            self.copy = {
                "query": (_read(head.query_dense.kernel) * scale,
                          _read(head.query_dense.bias) * scale),
                "key": (_read(head.key_dense.kernel), _read(head.key_dense.bias)),
                "gate": (_read(head.gate_dense.kernel), _read(head.gate_dense.bias))}
        self.layers = []
        for layer in model.decoder_layers:
            ffn_in, ffn_out = layer._feedforward_intermediate_dense, layer._feedforward_output_dense
            self.layers.append({
                "self": _attention_weights(layer._self_attention_layer, self.num_heads,
                                           self.head_dim),
                "self_norm": _norm_weights(layer._self_attention_layer_norm),
                "cross": _attention_weights(layer._cross_attention_layer, self.num_heads,
                                            self.head_dim),
                "cross_norm": _norm_weights(layer._cross_attention_layer_norm),
                "ffn": (_read(ffn_in.kernel), _read(ffn_in.bias),
                        _read(ffn_out.kernel), _read(ffn_out.bias)),
                "ffn_norm": _norm_weights(layer._feedforward_layer_norm)})

    # -- shared pieces --------------------------------------------------------

    def _heads(self, x):
        """`[B, T, H]` -> `[B, heads, T, head_dim]`."""
        x = tf.reshape(x, [tf.shape(x)[0], -1, self.num_heads, self.head_dim])
        return tf.transpose(x, [0, 2, 1, 3])

    def _merge(self, x):
        """`[B, heads, T, head_dim]` -> `[B, T, H]`."""
        return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [tf.shape(x)[0], -1, self.hidden])

    def _cross_kv(self, layer, encoder_hidden_states):
        w_kv, b_kv = layer["cross"][2:4]
        k, v = tf.split(_dense(encoder_hidden_states, w_kv, b_kv), 2, axis=-1)
        return self._heads(k), self._heads(v)

    def _finish_layer(self, layer, x, self_attended, cross_k, cross_v, cross_bias):
        """Residual + norm after self-attention, then cross-attention and FFN."""
        w_o, b_o = layer["self"][4:]
        x = _layer_norm(x + _dense(self_attended, w_o, b_o), layer["self_norm"])
        w_q, b_q, _, _, w_o, b_o = layer["cross"]
        q = _dense(x, w_q, b_q)
        if x.shape.rank == 2:  # one position: [B, H] -> [B, heads, 1, head_dim]
            attended = _attend(tf.reshape(q, [-1, self.num_heads, 1, self.head_dim]),
                               cross_k, cross_v, cross_bias)
            attended = tf.reshape(attended, [-1, self.hidden])
        else:
            attended = self._merge(_attend(self._heads(q), cross_k, cross_v, cross_bias))
        x = _layer_norm(x + _dense(attended, w_o, b_o), layer["cross_norm"])
        w_1, b_1, w_2, b_2 = layer["ffn"]
        y = _dense(tf.nn.relu(_dense(x, w_1, b_1)), w_2, b_2)
        return _layer_norm(x + y, layer["ffn_norm"])

    def logits(self, x):
        """Tied output projection: `[B, H]` -> float32 `[B, vocab]`."""
        return tf.cast(tf.matmul(x, self.token, transpose_b=True), tf.float32)

    def copy_memory(self, encoder_hidden_states, encoder_token_ids, encoder_padding_mask):
        """What the copy head needs per request: `(keys, ids, bias)` (`()` without one)."""
        if self.copy is None:
            return ()
        keys = _dense(encoder_hidden_states, *self.copy["key"])
        return keys, tf.cast(encoder_token_ids, tf.int32), padding_bias(encoder_padding_mask)

    def output(self, x, copy_memory):
        """Logits (or, with a copy head, log-probabilities) for `[B, H]` states."""
        logits = self.logits(x)
        if not copy_memory:
            return logits
        keys, ids, bias = copy_memory
        return copy_log_probs(logits, _dense(x, *self.copy["query"]), keys,
                              _dense(x, *self.copy["gate"]), ids, bias, self.vocabulary_size)

    @staticmethod
    def encoder_bias(encoder_padding_mask):
        """`[B, 1, 1, S]`: 0 on real context tokens, -1e9 on padding."""
        return padding_bias(encoder_padding_mask)[:, None, None, :]

    # -- cached decoding --------------------------------------------------------

    def init_cache(self, encoder_hidden_states, length):
        """Zero self-attention caches (`length` positions) and the cross-attention
        keys/values of `encoder_hidden_states`, one `(k, v)` pair per layer."""
        batch = tf.shape(encoder_hidden_states)[0]
        zeros = tf.zeros([batch, self.num_heads, length, self.head_dim],
                         encoder_hidden_states.dtype)
        self_cache = tuple((zeros, zeros) for _ in self.layers)
        cross_cache = tuple(self._cross_kv(layer, encoder_hidden_states)
                            for layer in self.layers)
        return self_cache, cross_cache

    def cached_step(self, token, index, self_cache, cross_cache, encoder_bias, copy_memory=()):
        """Logits for `token` (int `[B]`) at position `index`.

        Writes the token's keys/values at `index` of each layer's cache and
        attends over positions `0..index`.

        Returns:
            `(logits float32 [B, vocab], self_cache)`.
        """
        x = tf.gather(self.token, token) + self.position[index]
        x = _layer_norm(x, self.norm)
        batch = tf.shape(x)[0]
        length = tf.shape(self_cache[0][0])[2]
        # Scatter indices (b, head, index) for the new keys/values, and a
        # bias hiding the cache positions not written yet.
        rows = tf.range(batch * self.num_heads)
        where = tf.reshape(tf.stack([rows // self.num_heads, rows % self.num_heads,
                                     tf.fill([batch * self.num_heads], index)], axis=1),
                           [batch, self.num_heads, 3])
        self_bias = tf.where(tf.range(length) <= index, 0.0, _NEG_INF)
        new_cache = []
        for layer, (k_cache, v_cache), (cross_k, cross_v) in zip(
                self.layers, self_cache, cross_cache):
            w_q, b_q, w_kv, b_kv = layer["self"][:4]
            q = tf.reshape(_dense(x, w_q, b_q), [-1, self.num_heads, 1, self.head_dim])
            k, v = tf.split(_dense(x, w_kv, b_kv), 2, axis=1)
            k_cache = tf.tensor_scatter_nd_update(
                k_cache, where, tf.reshape(k, [-1, self.num_heads, self.head_dim]))
            v_cache = tf.tensor_scatter_nd_update(
                v_cache, where, tf.reshape(v, [-1, self.num_heads, self.head_dim]))
            new_cache.append((k_cache, v_cache))
            attended = tf.reshape(_attend(q, k_cache, v_cache, self_bias), [-1, self.hidden])
            x = self._finish_layer(layer, x, attended, cross_k, cross_v, encoder_bias)
        return self.output(x, copy_memory), tuple(new_cache)

    # -- the no-cache baseline ----------------------------------------------------

    def uncached_logits(self, encoder_hidden_states, encoder_bias, prefix, copy_memory=()):
        """Logits after the last of `prefix` (int `[B, T]`), recomputing everything."""
        length = tf.shape(prefix)[1]
        x = tf.gather(self.token, prefix) + self.position[:length]
        x = _layer_norm(x, self.norm)
        causal = tf.linalg.band_part(tf.ones([length, length]), -1, 0)
        causal_bias = (1.0 - causal) * _NEG_INF
        for layer in self.layers:
            w_q, b_q, w_kv, b_kv = layer["self"][:4]
            q = self._heads(_dense(x, w_q, b_q))
            k, v = tf.split(_dense(x, w_kv, b_kv), 2, axis=-1)
            attended = self._merge(_attend(q, self._heads(k), self._heads(v), causal_bias))
            cross_k, cross_v = self._cross_kv(layer, encoder_hidden_states)
            x = self._finish_layer(layer, x, attended, cross_k, cross_v, encoder_bias)
        return self.output(x[:, -1, :], copy_memory)
