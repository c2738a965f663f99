"""A tiny random `ChatModel` shared by the chat tests (no training needed:
decoding equalities hold for any weights)."""

import functools

import keras
import numpy as np
import tensorflow as tf

from lepton_tf.models.chat import ChatModel, pack_context
from lepton_tf.text import ChatTokenizer
from lepton_tf.text.vocab_io import load_vocab

SIZES = dict(context_length=24, reply_length=12, hidden_dim=16, intermediate_dim=32,
             num_encoder_layers=1, num_decoder_layers=2, num_heads=2, dropout=0.1,
             max_context_turns=3, max_length=17)
CONTEXTS = ["[USER] Find me a bus to Fresno. [SYSTEM] When? [USER] March 3rd.",
            "hello there, caf\u00e9?"]


@functools.lru_cache(maxsize=None)
def tokenizer() -> ChatTokenizer:
    return ChatTokenizer(load_vocab("vocab/chat-v1.txt"))


def tiny_model(seed: int = 0, **changes) -> ChatModel:
    keras.utils.set_random_seed(seed)
    return ChatModel(vocabulary_size=tokenizer().vocabulary_size, **{**SIZES, **changes})


def encode(model, contexts=CONTEXTS):
    ids = pack_context(tokenizer().tokenize(tf.constant(contexts)),
                       model.max_context_turns, model.context_length)
    return ids.numpy(), ids.numpy() != 0


def reference_greedy(model, contexts, max_new_tokens: int) -> np.ndarray:
    """Greedy decoding with the plain Keras forward pass (no cache, no
    samplers): the independent reference the exported decoder must match."""
    ids, mask = encode(model, contexts)
    batch, length = len(contexts), model.reply_length
    assert max_new_tokens <= length, "the forward pass sees reply_length tokens"
    out = np.zeros((batch, max_new_tokens), np.int32)
    prefix = np.full((batch, 1), 2, np.int32)  # [BOS]
    for i in range(max_new_tokens):
        dec = np.zeros((batch, length), np.int32)
        dec[:, :prefix.shape[1]] = prefix
        logits = model({"encoder_token_ids": ids, "encoder_padding_mask": mask,
                        "decoder_token_ids": dec, "decoder_padding_mask": dec != 0},
                       training=False)
        out[:, i] = np.argmax(logits.numpy()[:, prefix.shape[1] - 1], axis=-1)
        prefix = np.concatenate([prefix, out[:, i:i + 1]], axis=1)
    # After [EOS] the servable reports [PAD].
    for row in out:
        eos = np.flatnonzero(row == 3)
        if eos.size:
            row[eos[0] + 1:] = 0
    return out
