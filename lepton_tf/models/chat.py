"""The chat model: an encoder-decoder Transformer from keras-hub layers.

The encoder reads the dialogue so far (last turns, speaker-marked, left
truncated), the decoder writes the next system turn. Besides the functional
forward pass used for teacher-forced training, the model exposes
`call_encoder`; in-graph decoding reads the decoder's weights
(`lepton_tf.models.chat_step`).

The context format (the `chat` servable's contract): a string of turns, each
opened by a speaker marker, `"[USER] I need a bus. [SYSTEM] Where to? [USER]
Fresno."`. Text that does not start with a marker is one user turn.
"""

from __future__ import annotations

import keras
import keras_hub
import tensorflow as tf

from lepton_tf.models.copy_head import CopyHead

PAD_ID, UNK_ID, BOS_ID, EOS_ID, SEP_ID, USER_ID, SYSTEM_ID, DOC_ID = 0, 1, 2, 3, 4, 5, 6, 7
SPEAKER_MARKERS = {"USER": "[USER]", "SYSTEM": "[SYSTEM]"}


def format_context(turns, speakers) -> str:
    """Joins dialogue turns into the context string the model reads.

    Example:

    >>> format_context(["Hi", "Hello, how can I help?"], ["USER", "SYSTEM"])
    '[USER] Hi [SYSTEM] Hello, how can I help?'

    Args:
        turns: utterances, oldest first.
        speakers: `"USER"` or `"SYSTEM"` for each turn.

    Returns:
        The turns, each prefixed by `[USER]` or `[SYSTEM]`, joined by spaces.

    Raises:
        KeyError: for a speaker that is neither.
    """
    return " ".join(f"{SPEAKER_MARKERS[s]} {t}" for t, s in zip(turns, speakers))


def _split_passages(token_ids: tf.RaggedTensor):
    """`(passage ids, dialogue ids)`: a row opening with `[DOC]` has passages
    up to its first turn marker; any other row is all dialogue."""
    first = token_ids[:, :1].to_tensor(default_value=PAD_ID, shape=[None, 1])
    is_turn = tf.cast((token_ids == USER_ID) | (token_ids == SYSTEM_ID), tf.int32)
    before_turns = tf.math.cumsum(is_turn, axis=1) == 0
    in_passages = tf.logical_and(before_turns, first == DOC_ID)
    return (tf.ragged.boolean_mask(token_ids, in_passages),
            tf.ragged.boolean_mask(token_ids, tf.logical_not(in_passages)))


def _clip_passages(passage_ids: tf.RaggedTensor, max_passages: int,
                   passage_length: int) -> tf.RaggedTensor:
    """Keeps the first `max_passages` passages, each cut to `passage_length` tokens.

    Every non-empty row starts with `[DOC]`, so over the flat values a running
    count of `[DOC]` ids numbers the passages of the whole batch in order.
    """
    flat = passage_ids.flat_values
    is_doc = tf.cast(flat == DOC_ID, tf.int32)
    segment = tf.math.cumsum(is_doc) - 1
    starts = tf.cast(tf.where(is_doc > 0)[:, 0], tf.int32)
    position = tf.range(tf.size(flat)) - tf.gather(starts, tf.maximum(segment, 0))
    number = passage_ids.with_flat_values(is_doc)
    number = tf.math.cumsum(number, axis=1)  # 1-based passage number within its row
    keep = tf.logical_and(number <= max_passages,
                          passage_ids.with_flat_values(position < passage_length))
    return tf.ragged.boolean_mask(passage_ids, keep)


def pack_context(token_ids: tf.RaggedTensor, max_turns: int, length: int,
                 max_passages: int = 0, passage_length: int = 0) -> tf.Tensor:
    """Packs context ids for the encoder: passages (if any), then the last turns.

    A context may open with retrieved passages, each marked `[DOC]` and
    numbered (`"[DOC] [1] title: text [DOC] [2] ... [USER] question"`, see
    `lepton_tf.assistant.grounding.build_context`): the first
    `max_passages` are kept, each cut to its first `passage_length` tokens
    (0 passages: they are dropped). The dialogue that follows keeps its last
    `max_turns` turns, counted by their speaker markers, and then its last
    tokens up to what `length` leaves. Dialogue text that does not start with
    a marker is one user turn (a `[USER]` id is put in front), so training
    data and served text go through exactly the same packing.

    Example:

    >>> ids = tf.ragged.constant([[5, 10, 6, 11, 12, 5, 13]])
    >>> pack_context(ids, max_turns=2, length=4).numpy().tolist()
    [[11, 12, 5, 13]]
    >>> ids = tf.ragged.constant([[7, 20, 21, 22, 7, 30, 31, 5, 13]])
    >>> pack_context(ids, 2, 6, max_passages=2, passage_length=2).numpy().tolist()
    [[7, 20, 7, 30, 5, 13]]

    Args:
        token_ids: int32 ragged `[B, None]` ids from `ChatTokenizer`.
        max_turns: turns kept, counted from the end.
        length: tokens kept in all.
        max_passages: passages kept, counted from the start.
        passage_length: tokens kept of each passage, counted from its `[DOC]`.

    Returns:
        int32 `[B, length]` ids, left-aligned, padded with `[PAD]` (0).
    """
    token_ids = tf.cast(token_ids, tf.int32)
    passages, token_ids = _split_passages(token_ids)
    if max_passages > 0 and passage_length > 0:
        passages = _clip_passages(passages, max_passages, passage_length)
        passages = passages[:, :length]
    else:
        passages = passages[:, :0]
    first = token_ids[:, :1].to_tensor(default_value=PAD_ID, shape=[None, 1])[:, 0]
    starts_marked = (first == USER_ID) | (first == SYSTEM_ID)
    prefix = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(~starts_marked, tf.int32))], USER_ID),
        tf.cast(~starts_marked, tf.int64))
    token_ids = tf.concat([prefix, token_ids], axis=1)
    marker = tf.cast((token_ids == USER_ID) | (token_ids == SYSTEM_ID), tf.int32)
    turn = tf.math.cumsum(marker, axis=1)  # 1-based turn of each token
    turns = tf.reduce_sum(marker, axis=1, keepdims=True)
    token_ids = tf.ragged.boolean_mask(token_ids, turn > turns - max_turns)
    # Left truncation: the newest tokens matter most for the next reply.
    lengths = token_ids.row_lengths()
    budget = length - passages.row_lengths()
    starts = tf.maximum(lengths - budget, 0)
    token_ids = tf.RaggedTensor.from_row_lengths(
        tf.gather(token_ids.flat_values,
                  tf.ragged.range(token_ids.row_starts() + starts,
                                  token_ids.row_limits()).flat_values),
        lengths - starts)
    token_ids = tf.concat([passages, token_ids], axis=1)
    return token_ids.to_tensor(default_value=PAD_ID, shape=[None, length])


def pack_reply(token_ids: tf.RaggedTensor, length: int):
    """Teacher-forcing decoder inputs and labels for reply ids.

    Example:

    >>> ids = tf.ragged.constant([[10, 11], [12, 13, 14, 15]])
    >>> inputs, labels = pack_reply(ids, length=4)
    >>> inputs.numpy().tolist(), labels.numpy().tolist()
    ([[2, 10, 11, 0], [2, 12, 13, 14]], [[10, 11, 3, 0], [12, 13, 14, 0]])

    Args:
        token_ids: int32 ragged `[B, None]` reply ids (no special tokens).
        length: decoder length.

    Returns:
        `(decoder_token_ids, labels)`, int32 `[B, length]`: `[BOS]` + reply,
        and reply + `[EOS]`, `[PAD]`-padded. A reply cut at `length - 1`
        tokens gets no `[EOS]`: the model must not learn to stop there.
    """
    reply = tf.cast(token_ids, tf.int32)[:, :length - 1]
    n = reply.nrows()
    inputs = tf.concat([tf.fill([n, 1], BOS_ID), reply], axis=1)
    full = reply.row_lengths() < length - 1
    eos = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(tf.cast(full, tf.int32))], EOS_ID), tf.cast(full, tf.int64))
    labels = tf.concat([reply, eos], axis=1)
    return (inputs.to_tensor(PAD_ID, shape=[None, length]),
            labels.to_tensor(PAD_ID, shape=[None, length]))


@keras.saving.register_keras_serializable(package="lepton_tf")
class ChatModel(keras.Model):
    """Encoder-decoder Transformer: context ids -> next-reply logits.

    One `TokenAndPositionEmbedding` is shared by encoder, decoder and the
    output projection (tied, `reverse=True`), which keeps a small model under
    the 25 MB the committed SavedModel may take; encoder and decoder each
    have their own embedding layer norm.

    Example:

    ```python
    model = ChatModel(vocabulary_size=100, context_length=16, reply_length=8,
                      hidden_dim=32, intermediate_dim=64, num_heads=2)
    logits = model({"encoder_token_ids": np.ones((2, 16), "int32"),
                    "encoder_padding_mask": np.ones((2, 16), bool),
                    "decoder_token_ids": np.ones((2, 8), "int32"),
                    "decoder_padding_mask": np.ones((2, 8), bool)})
    logits.shape  # (2, 8, 100)
    ```

    Args:
        vocabulary_size: chat tokenizer vocabulary size.
        context_length: encoder tokens (context, left-truncated).
        reply_length: decoder tokens (`[BOS]` + reply, or reply + `[EOS]`).
        hidden_dim: model width.
        intermediate_dim: feed-forward width.
        num_encoder_layers: encoder layers.
        num_decoder_layers: decoder layers.
        num_heads: attention heads (must divide `hidden_dim`).
        dropout: dropout rate.
        max_context_turns: turns of context kept (read by the packing code).
        max_passages: retrieved passages kept at the start of a context
            (read by the packing code; 0: passages are dropped).
        passage_length: tokens kept of each passage.
        copy_attention: add a pointer-generator `CopyHead`, so replies can
            copy context tokens (passages, slot values); the model then
            outputs log-probabilities instead of logits.
        copy_key_dim: the copy attention's width.
        max_length: decoder positions available when generating (`[BOS]` +
            up to `max_length - 1` new tokens); positions past
            `reply_length` are untrained but let benchmarks decode long.
    """

    def __init__(self, vocabulary_size: int, context_length: int = 96,
                 reply_length: int = 48, hidden_dim: int = 256,
                 intermediate_dim: int = 512, num_encoder_layers: int = 2,
                 num_decoder_layers: int = 2, num_heads: int = 4,
                 dropout: float = 0.1, max_context_turns: int = 5,
                 max_length: int = 129, max_passages: int = 0, passage_length: int = 0,
                 copy_attention: bool = False, copy_key_dim: int = 64, **kwargs):
        if hidden_dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide hidden_dim={hidden_dim}.")
        if max_passages * passage_length >= context_length:
            raise ValueError(
                f"max_passages * passage_length ({max_passages * passage_length}) must be "
                f"below context_length ({context_length}) to leave room for the dialogue.")
        embedding = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size, max(context_length, reply_length, max_length), hidden_dim,
            tie_weights=True, name="embedding")
        encoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="encoder_norm")
        decoder_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="decoder_norm")
        encoder_dropout = keras.layers.Dropout(dropout, name="encoder_dropout")
        decoder_dropout = keras.layers.Dropout(dropout, name="decoder_dropout")
        encoder_layers = [keras_hub.layers.TransformerEncoder(
            intermediate_dim, num_heads, dropout=dropout, name=f"encoder_{i}")
            for i in range(num_encoder_layers)]
        decoder_layers = [keras_hub.layers.TransformerDecoder(
            intermediate_dim, num_heads, dropout=dropout, name=f"decoder_{i}")
            for i in range(num_decoder_layers)]

        inputs = {
            "encoder_token_ids": keras.Input((context_length,), dtype="int32",
                                             name="encoder_token_ids"),
            "encoder_padding_mask": keras.Input((context_length,), dtype="bool",
                                                name="encoder_padding_mask"),
            "decoder_token_ids": keras.Input((reply_length,), dtype="int32",
                                             name="decoder_token_ids"),
            "decoder_padding_mask": keras.Input((reply_length,), dtype="bool",
                                                name="decoder_padding_mask"),
        }
        x = encoder_dropout(encoder_norm(embedding(inputs["encoder_token_ids"])))
        for layer in encoder_layers:
            x = layer(x, padding_mask=inputs["encoder_padding_mask"])
        encoded = x
        y = decoder_dropout(decoder_norm(embedding(inputs["decoder_token_ids"])))
        for layer in decoder_layers:
            y = layer(y, encoded, decoder_padding_mask=inputs["decoder_padding_mask"],
                      encoder_padding_mask=inputs["encoder_padding_mask"])
        logits = embedding.token_embedding(y, reverse=True)
        copy_head = None
        if copy_attention:
            copy_head = CopyHead(vocabulary_size, copy_key_dim, name="copy_head")
            logits = copy_head(y, logits, encoded, inputs["encoder_token_ids"],
                               inputs["encoder_padding_mask"])
        logits = keras.layers.Activation("linear", dtype="float32", name="logits")(logits)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        self.embedding = embedding
        self.encoder_norm, self.decoder_norm = encoder_norm, decoder_norm
        self.encoder_layers, self.decoder_layers = encoder_layers, decoder_layers
        self.copy_head = copy_head
        # The constructor arguments, readable as attributes (`model.context_length`,
        # used by the servable) and returned by `get_config`.
        self._arguments = dict(
            vocabulary_size=vocabulary_size, context_length=context_length,
            reply_length=reply_length, hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim, num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers, num_heads=num_heads, dropout=dropout,
            max_context_turns=max_context_turns, max_length=max(reply_length, max_length),
            max_passages=max_passages, passage_length=passage_length,
            copy_attention=copy_attention, copy_key_dim=copy_key_dim)
        for key, value in self._arguments.items():
            setattr(self, key, value)

    # -- pieces for cached decoding (inference only: no dropout) -------------

    def call_encoder(self, token_ids, padding_mask):
        """Encodes context ids `[B, S]` -> hidden states `[B, S, H]`."""
        x = self.encoder_norm(self.embedding(token_ids))
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=padding_mask, training=False)
        return x

    def get_config(self):
        return {**self._arguments, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
