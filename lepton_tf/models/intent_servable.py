"""The `intent` servable: raw UTF-8 text in, intent and probabilities out."""

from __future__ import annotations

import keras
import tensorflow as tf


class IntentServable(tf.Module):
    """Wraps tokenizer + classifier in string-in signatures for TF Serving.

    Signatures (`serving_default` and `classify_text`, the same function):
    input `text` (string `[B]`); outputs `intent` (string `[B]`),
    `probabilities` (float32 `[B, C]`), `labels` (string `[C]`, the column
    order of `probabilities`).

    Args:
        tokenizer: a `MiniLMTokenizer` (or any layer giving `token_ids` and
            `padding_mask`).
        model: a Keras model mapping those to logits.
        labels: intent names in logit order.
    """

    def __init__(self, tokenizer: keras.layers.Layer, model: keras.Model, labels):
        super().__init__()
        self.tokenizer = tokenizer
        self.model = model
        self.labels = tf.constant(list(labels))
        self.sequence_length = int(model.sequence_length)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        tokens = self.tokenizer(text)
        # The classifier has a fixed length: pad every row up to it.
        pad = self.sequence_length - tf.shape(tokens["token_ids"])[1]
        token_ids = tf.pad(tokens["token_ids"], [[0, 0], [0, pad]])
        padding_mask = tf.pad(tokens["padding_mask"], [[0, 0], [0, pad]])
        logits = self.model({"token_ids": token_ids, "padding_mask": padding_mask},
                            training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        batch = tf.shape(text)[0]
        return {"intent": tf.gather(self.labels, tf.argmax(probabilities, axis=-1)),
                "probabilities": probabilities,
                "labels": tf.tile(self.labels[None], [batch, 1])}

    def signatures(self) -> dict:
        return {"serving_default": self.serve, "classify_text": self.serve}


def export_intent(model: keras.Model, tokenizer: keras.layers.Layer, labels, *,
                  base_dir: str = "saved_models", name: str = "intent",
                  version: int | None = None) -> str:
    """Exports an intent classifier as a validated TF Serving version.

    Returns:
        The version folder written.
    """
    import numpy as np

    from lepton_tf.export import export_servable

    servable = IntentServable(tokenizer, model, labels)
    sample = np.array([b"I still have not received my new card",
                       "Can I top up with Apple Pay? \u00e7a marche?".encode()])
    examples = {"serving_default": {"text": sample}}
    return export_servable(servable, name=name, signatures=servable.signatures(),
                           examples=examples, base_dir=base_dir, version=version,
                           atol=1e-4)
