"""Chat: teacher-forced training of `ChatModel` on SGD (context -> next system turn)."""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from lepton_tf.data import iter_response_pairs, read_sgd_dialogues
from lepton_tf.data.stream import epoch_shuffled_stream
from lepton_tf.models.chat import (PAD_ID, ChatModel, format_context, pack_context,
                                   pack_reply)
from lepton_tf.text import ChatTokenizer
from lepton_tf.text.vocab_io import load_vocab
from lepton_tf.training.config import TrainConfig

DEFAULT_VOCAB = os.path.join("vocab", "chat-v1.txt")


@keras.saving.register_keras_serializable(package="lepton_tf")
class MaskedSmoothedCrossEntropy(keras.losses.Loss):
    """Token cross-entropy with label smoothing, ignoring `[PAD]` labels.

    Keras' sparse cross-entropy has no label smoothing and averages over pad
    positions too. Per-token losses are rescaled by `tokens / real tokens`,
    so Keras' own `sum_over_batch_size` reduction (which also does the
    per-replica scaling under `tf.distribute`) yields the mean over real
    tokens.

    Example:

    >>> loss = MaskedSmoothedCrossEntropy(label_smoothing=0.0)
    >>> float(loss(np.array([[1, 0]]), np.array([[[0., 0.], [5., 0.]]])))  # ln 2
    0.693...

    Args:
        label_smoothing: mass spread uniformly over the vocabulary.
    """

    def __init__(self, label_smoothing: float = 0.1, name="masked_smoothed_ce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = label_smoothing

    def call(self, y_true, y_pred):
        y_true = tf.cast(y_true, tf.int32)
        log_probs = tf.nn.log_softmax(tf.cast(y_pred, tf.float32), axis=-1)
        nll = -tf.gather(log_probs, y_true, batch_dims=2)
        smooth = -tf.reduce_mean(log_probs, axis=-1)
        loss = (1.0 - self.label_smoothing) * nll + self.label_smoothing * smooth
        mask = tf.cast(tf.not_equal(y_true, PAD_ID), tf.float32)
        scale = tf.cast(tf.size(mask), tf.float32) / tf.maximum(tf.reduce_sum(mask), 1.0)
        return loss * mask * scale

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def masked_accuracy(y_true, y_pred):
    """Next-token accuracy over non-pad labels (a batch scalar)."""
    y_true = tf.cast(y_true, tf.int32)
    mask = tf.cast(tf.not_equal(y_true, PAD_ID), tf.float32)
    hit = tf.cast(tf.equal(tf.argmax(y_pred, axis=-1, output_type=tf.int32), y_true), tf.float32)
    return tf.reduce_sum(hit * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def token_nll(y_true, y_pred):
    """Unsmoothed mean negative log-likelihood per real token (exp = perplexity)."""
    return MaskedSmoothedCrossEntropy(label_smoothing=0.0)(y_true, y_pred)


def encode_pairs(tokenizer: ChatTokenizer, pairs, context_length: int,
                 reply_length: int, max_turns: int, batch: int = 4096):
    """Turns `ResponsePair`s into model features and labels (NumPy).

    Args:
        tokenizer: the chat tokenizer.
        pairs: `ResponsePair`s (context turns, speakers, response).
        context_length, reply_length, max_turns: as in `ChatModel`.
        batch: strings tokenized per call (bounds memory).

    Returns:
        `(features, labels)`: the four `ChatModel` inputs and int32 labels
        `[N, reply_length]` (reply + `[EOS]`, `[PAD]` after; a reply longer
        than `reply_length - 1` tokens is cut and gets no `[EOS]`).
    """
    contexts = [format_context(p.context, p.speakers) for p in pairs]
    replies = [p.response for p in pairs]
    enc, dec, lab = [], [], []
    for i in range(0, len(pairs), batch):
        ids = tokenizer.tokenize(tf.constant(contexts[i:i + batch]))
        enc.append(pack_context(ids, max_turns, context_length).numpy())
        inputs, labels = pack_reply(tokenizer.tokenize(tf.constant(replies[i:i + batch])),
                                    reply_length)
        dec.append(inputs.numpy())
        lab.append(labels.numpy())
    enc, dec, lab = (np.concatenate(a).astype(np.int32) for a in (enc, dec, lab))
    features = {"encoder_token_ids": enc, "encoder_padding_mask": enc != PAD_ID,
                "decoder_token_ids": dec, "decoder_padding_mask": dec != PAD_ID}
    return features, lab


class ChatTask:
    """Trains `ChatModel` with teacher forcing on SGD response pairs.

    Config `model` keys: the `ChatModel` arguments (except
    `vocabulary_size`). Config `data` keys: `vocab` (default
    `vocab/chat-v1.txt`), `label_smoothing` (0.1), `limit` (first N training
    pairs, for smoke runs), `validation_limit` (dev pairs evaluated at epoch
    ends, default 2000).

    Args:
        train: training `ResponsePair`s (default: SGD train).
        validation: validation pairs (default: SGD dev).
    """

    def __init__(self, train=None, validation=None):
        self._train, self._validation = train, validation
        self.tokenizer = None

    def _pairs(self, split, config):
        turns = config.model.get("max_context_turns", 5)
        return list(iter_response_pairs(read_sgd_dialogues(split), max_context_turns=turns))

    def get_tokenizer(self, config: TrainConfig) -> ChatTokenizer:
        if self.tokenizer is None:
            self.tokenizer = ChatTokenizer(load_vocab(config.data.get("vocab", DEFAULT_VOCAB)))
        return self.tokenizer

    def _encode(self, config, pairs):
        m = config.model
        return encode_pairs(self.get_tokenizer(config), pairs, m.get("context_length", 96),
                            m.get("reply_length", 48), m.get("max_context_turns", 5))

    def build_model(self, config: TrainConfig) -> ChatModel:
        return ChatModel(vocabulary_size=self.get_tokenizer(config).vocabulary_size,
                         name="chat_model", **config.model)

    def compile_args(self, config: TrainConfig) -> dict:
        return {"loss": MaskedSmoothedCrossEntropy(config.data.get("label_smoothing", 0.1)),
                "metrics": [masked_accuracy, token_nll]}

    def train_dataset(self, config: TrainConfig) -> tf.data.Dataset:
        pairs = self._train if self._train is not None else self._pairs("train", config)
        limit = config.data.get("limit")
        features, labels = self._encode(config, pairs[:limit] if limit else pairs)
        return epoch_shuffled_stream((features, labels), batch_size=config.batch_size,
                                     seed=config.seed)

    def validation_dataset(self, config: TrainConfig) -> tf.data.Dataset | None:
        pairs = self._validation if self._validation is not None else self._pairs("dev", config)
        limit = config.data.get("validation_limit", 2000)
        if not pairs or not limit:
            return None
        # A fixed, spread-out sample: dev dialogues come grouped by service.
        step = max(1, len(pairs) // limit)
        features, labels = self._encode(config, pairs[::step][:limit])
        return tf.data.Dataset.from_tensor_slices((features, labels)).batch(256)


def _make_task(config: TrainConfig) -> ChatTask:
    return ChatTask()


def _export(model, task: ChatTask, config: TrainConfig, base_dir: str, version) -> str:
    from lepton_tf.models.chat_servable import export_chat
    return export_chat(model, task.get_tokenizer(config), base_dir=base_dir,
                       name=config.name, version=version,
                       **config.data.get("export", {}))


def _trainable():
    from lepton_tf.commands.train import Trainable
    return Trainable(config=os.path.join("configs", "chat.yaml"), make_task=_make_task,
                     export=_export)


TRAINABLE = _trainable()
