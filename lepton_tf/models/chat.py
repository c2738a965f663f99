"""The chat model: an encoder-decoder Transformer from keras-hub layers.

The encoder reads the dialogue so far (last turns, speaker-marked, left
truncated), the decoder writes the next system turn. Besides the functional
forward pass used for teacher-forced training, the model exposes
`call_encoder`; in-graph decoding reads the decoder's weights
(`lepton_tf.models.chat_step`).

The context format (the `chat` servable's contract) is defined once in
`lepton_tf.text.chat_format`; `ChatPreprocessor` turns it into model ids.
"""

from __future__ import annotations

import keras
import keras_hub

from lepton_tf.models.copy_head import CopyHead

# The context format and reserved ids have one definition (text.chat_format);
# packing ids for the model is the preprocessor's (models.chat_preprocessor).
from lepton_tf.models.chat_preprocessor import pack_context, pack_reply  # noqa: F401
from lepton_tf.text.chat_format import (  # noqa: F401
    BOS_ID, DOC_ID, EOS_ID, PAD_ID, SEP_ID, SPEAKER_MARKERS, SYSTEM_ID, UNK_ID, USER_ID,
    format_context)


@keras.saving.register_keras_serializable(package="lepton_tf")
class ChatModel(keras.Model):
    """Encoder-decoder Transformer: context ids -> next-reply logits.

    One `TokenAndPositionEmbedding` is shared by encoder, decoder and the
    output projection (tied, `reverse=True`), which keeps a small model under
    the 25 MB the committed SavedModel may take; encoder and decoder each
    have their own embedding layer norm.

    Example:

    >>> import numpy as np
    >>> model = ChatModel(vocabulary_size=100, context_length=16, reply_length=8,
    ...                   hidden_dim=32, intermediate_dim=64, num_heads=2, max_length=8)
    >>> logits = model({"encoder_token_ids": np.ones((2, 16), "int32"),
    ...                 "encoder_padding_mask": np.ones((2, 16), bool),
    ...                 "decoder_token_ids": np.ones((2, 8), "int32"),
    ...                 "decoder_padding_mask": np.ones((2, 8), bool)})
    >>> tuple(logits.shape)
    (2, 8, 100)

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
