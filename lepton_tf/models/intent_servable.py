"""The `intent` servable: raw UTF-8 text in; intent, probabilities and out-of-scope out.

Out-of-scope detection: a text is out of scope when its maximum softmax
probability (MSP) is below a threshold calibrated on held-out in-scope
examples (`calibrate_threshold`), so that a chosen fraction of in-scope
texts is accepted. The threshold is a variable of the SavedModel.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def max_softmax_probability(probabilities) -> np.ndarray:
    """The out-of-scope score: the largest class probability of each row.

    Args:
        probabilities: `[N, C]` softmax outputs.

    Returns:
        float64 `[N]`; higher means more confidently in scope.
    """
    probabilities = np.asarray(probabilities, np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] == 0:
        raise ValueError(f"expected [N, C] probabilities, got shape {probabilities.shape}")
    return probabilities.max(axis=1)


def calibrate_threshold(scores, accept_fraction: float = 0.95) -> float:
    """The largest threshold that accepts at least `accept_fraction` of `scores`.

    A text is accepted (in scope) when `score >= threshold`. With the
    in-scope scores sorted ascending, the threshold is the `k`-th smallest,
    `k = floor((1 - accept_fraction) * n)`: at most `k` scores lie below it.

    Args:
        scores: scores of held-out in-scope examples (e.g. their MSP).
        accept_fraction: the share of in-scope examples to accept, in (0, 1].

    Returns:
        The threshold (a float).

    Raises:
        ValueError: for no scores or an `accept_fraction` outside (0, 1].
    """
    scores = np.sort(np.asarray(scores, np.float64).ravel())
    if scores.size == 0:
        raise ValueError("cannot calibrate a threshold on no scores")
    if not 0.0 < accept_fraction <= 1.0:
        raise ValueError(f"accept_fraction must be in (0, 1], got {accept_fraction}")
    k = int(np.floor((1.0 - accept_fraction) * scores.size + 1e-9))
    return float(scores[min(k, scores.size - 1)])


class IntentServable(tf.Module):
    """Wraps tokenizer + classifier + OOS threshold in string-in signatures.

    Signatures (`serving_default` and `classify_text`, the same function):
    input `text` (string `[B]`); outputs `intent` (string `[B]`, the best
    label even when out of scope), `probabilities` (float32 `[B, C]`),
    `out_of_scope` (bool `[B]`: max probability below `oos_threshold`) and
    `labels` (string `[B, C]`, the column order of `probabilities`).

    Args:
        tokenizer: a `MiniLMTokenizer` (or any layer giving `token_ids` and
            `padding_mask`).
        model: a Keras model mapping those to logits; its `sequence_length`
            is the fixed input length.
        labels: intent names in logit order.
        oos_threshold: texts whose max probability is below it are out of
            scope (0 accepts everything).
    """

    def __init__(self, tokenizer: keras.layers.Layer, model: keras.Model, labels,
                 oos_threshold: float = 0.0):
        super().__init__()
        self.tokenizer = tokenizer
        self.model = model
        self.labels = tf.constant(list(labels))
        self.sequence_length = int(model.sequence_length)
        self.oos_threshold = tf.Variable(float(oos_threshold), dtype=tf.float32,
                                         trainable=False, name="oos_threshold")

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
                "out_of_scope": tf.reduce_max(probabilities, axis=-1) < self.oos_threshold,
                "labels": tf.tile(self.labels[None], [batch, 1])}

    def signatures(self) -> dict:
        return {"serving_default": self.serve, "classify_text": self.serve}


def predict_probabilities(model: keras.Model, features: dict, batch_size: int = 128
                          ) -> np.ndarray:
    """Softmax probabilities of a logits model on fixed-length token arrays.

    Args:
        model: the classifier.
        features: `token_ids`/`padding_mask` arrays from `tokenize_fixed`.
        batch_size: rows a call.

    Returns:
        float32 `[N, C]`.
    """
    logits = model.predict(features, batch_size=batch_size, verbose=0)
    return tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1).numpy()


def export_intent(model: keras.Model, tokenizer: keras.layers.Layer, labels, *,
                  oos_threshold: float = 0.0, base_dir: str = "saved_models",
                  name: str = "intent", version: int | None = None) -> str:
    """Exports an intent classifier as a validated TF Serving version.

    Args:
        model: the trained classifier (logits).
        tokenizer: the in-graph tokenizer it reads.
        labels: intent names in logit order.
        oos_threshold: the calibrated max-probability threshold.
        base_dir: model base path.
        name: servable name.
        version: version number (default: the next free one).

    Returns:
        The version folder written.

    Raises:
        VersionExistsError: if that version exists.
        ExportValidationError: if the fresh-process reload disagrees.
    """
    from lepton_tf.export import export_servable

    servable = IntentServable(tokenizer, model, labels, oos_threshold)
    sample = np.array([b"I still have not received my new card",
                       "Can I top up with Apple Pay? \u00e7a marche?".encode()])
    examples = {"serving_default": {"text": sample}}
    return export_servable(servable, name=name, signatures=servable.signatures(),
                           examples=examples, base_dir=base_dir, version=version,
                           atol=1e-4)
