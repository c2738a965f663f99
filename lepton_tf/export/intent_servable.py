"""The `intent` servable: raw UTF-8 text in; intent, probabilities and out-of-scope out.

Out-of-scope detection: each text gets an in-scope score from the logits,
the energy score `logsumexp(logits)` (Liu et al., 2020; default) or the
maximum softmax probability (`msp`). A text is out of scope when its score
is below a threshold calibrated on held-out in-scope examples
(`calibrate_threshold`) so that a chosen fraction of in-scope texts is
accepted. Kind and threshold are part of the SavedModel.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lepton_tf.contracts import intent as contract
from lepton_tf.export.input_checks import check_string_batch

OOS_SCORES = ("energy", "msp", "centroid")
# Scores computed from the logits alone (the `centroid` score needs the
# sentence embedding: the model outputs it as `centroid_score`).
LOGIT_SCORES = ("energy", "msp")


def _check_kind(kind: str) -> None:
    if kind not in OOS_SCORES:
        raise ValueError(f"oos_score must be one of {OOS_SCORES}, got {kind!r}")


def in_scope_scores(logits, kind: str = "energy") -> np.ndarray:
    """In-scope scores of logits rows: higher means more confidently in scope.

    Args:
        logits: `[N, C]` classifier logits.
        kind: `energy` (`logsumexp` of the logits) or `msp` (the largest
            softmax probability).

    Returns:
        float64 `[N]`.

    Raises:
        ValueError: for an unknown kind or logits that are not `[N, C]`.
    """
    if kind not in LOGIT_SCORES:
        raise ValueError(f"oos_score {kind!r} is not computed from logits here; "
                         f"in_scope_scores computes {LOGIT_SCORES}")
    logits = np.asarray(logits, np.float64)
    if logits.ndim != 2 or logits.shape[1] == 0:
        raise ValueError(f"expected [N, C] logits, got shape {logits.shape}")
    top = logits.max(axis=1)
    total = np.exp(logits - top[:, None]).sum(axis=1)
    return top + np.log(total) if kind == "energy" else 1.0 / total


def calibrate_threshold(scores, accept_fraction: float = 0.95) -> float:
    """The largest threshold that accepts at least `accept_fraction` of `scores`.

    A text is accepted (in scope) when `score >= threshold`. With the
    in-scope scores sorted ascending, the threshold is the `k`-th smallest,
    `k = floor((1 - accept_fraction) * n)`: at most `k` scores lie below it.

    Args:
        scores: in-scope scores of held-out in-scope examples.
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
    input `text` (string `[B]`, B >= 1, checked in the graph:
    `input_checks`); outputs `intent` (string `[B]`, the best
    label even when out of scope), `probabilities` (float32 `[B, C]`),
    `out_of_scope` (bool `[B]`: `in_scope_score` below `oos_threshold`),
    `in_scope_score` (float32 `[B]`) and `labels` (string `[B, C]`, the
    column order of `probabilities`).

    Args:
        tokenizer: a `MiniLMTokenizer` (or any layer giving `token_ids` and
            `padding_mask`).
        model: a Keras model mapping those to logits, or to a dict of
            `logits` and `centroid_score` (the largest cosine similarity of
            the text's embedding to a class centroid, for `oos_score:
            centroid`); a model with a fixed input length gets every batch
            padded to it.
        labels: intent names in logit order.
        oos_threshold: texts scoring below it are out of scope (-inf
            accepts everything).
        oos_score: the score, `energy` or `msp` (see `in_scope_scores`) or
            `centroid` (the model's `centroid_score`).
    """

    def __init__(self, tokenizer: keras.layers.Layer, model: keras.Model, labels,
                 oos_threshold: float = float("-inf"), oos_score: str = "energy"):
        super().__init__()
        _check_kind(oos_score)
        self.oos_score = oos_score
        self.tokenizer = tokenizer
        self.model = model
        self.labels = tf.constant(list(labels))
        # Pad to the model's input length only if it has one (the small
        # model); the embedding model takes each batch at its own length.
        self.fixed_length = model.inputs[0].shape[1]
        self.oos_threshold = tf.Variable(float(oos_threshold), dtype=tf.float32,
                                         trainable=False, name="oos_threshold")
        self.oos_score_kind = tf.Variable(oos_score, dtype=tf.string, trainable=False,
                                          name="oos_score_kind")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=contract.TEXT)])
    def serve(self, text):
        tokens = self.tokenizer(check_string_batch(text, contract.TEXT))
        token_ids, padding_mask = tokens["token_ids"], tokens["padding_mask"]
        if self.fixed_length is not None:
            pad = self.fixed_length - tf.shape(token_ids)[1]
            token_ids = tf.pad(token_ids, [[0, 0], [0, pad]])
            padding_mask = tf.pad(padding_mask, [[0, 0], [0, pad]])
        outputs = self.model({"token_ids": token_ids, "padding_mask": padding_mask},
                             training=False)
        logits = tf.cast(outputs["logits"] if isinstance(outputs, dict) else outputs,
                         tf.float32)
        probabilities = tf.nn.softmax(logits, axis=-1)
        if self.oos_score == "centroid":
            if not isinstance(outputs, dict) or "centroid_score" not in outputs:
                raise ValueError("oos_score centroid needs a model that outputs "
                                 "`centroid_score` (EmbeddingIntentClassifier).")
            score = tf.cast(outputs["centroid_score"], tf.float32)
        elif self.oos_score == "energy":
            score = tf.reduce_logsumexp(logits, axis=-1)
        else:
            score = tf.reduce_max(probabilities, axis=-1)
        batch = tf.shape(text)[0]
        return {contract.INTENT: tf.gather(self.labels, tf.argmax(probabilities, axis=-1)),
                contract.PROBABILITIES: probabilities,
                contract.OUT_OF_SCOPE: score < self.oos_threshold,
                contract.IN_SCOPE_SCORE: score,
                contract.LABELS: tf.tile(self.labels[None], [batch, 1])}

    def signatures(self) -> dict:
        """`{signature name: concrete function}` to export."""
        return {contract.SIGNATURE: self.serve, contract.CLASSIFY_SIGNATURE: self.serve}


def predict_logits(model: keras.Model, features: dict, batch_size: int = 128) -> np.ndarray:
    """Logits of a classifier on fixed-length token arrays.

    Args:
        model: the classifier.
        features: `token_ids`/`padding_mask` arrays from `tokenize_fixed`.
        batch_size: rows a call.

    Returns:
        float32 `[N, C]`.
    """
    return np.asarray(model.predict(features, batch_size=batch_size, verbose=0), np.float32)


def export_intent(model: keras.Model, tokenizer: keras.layers.Layer, labels, *,
                  oos_threshold: float = float("-inf"), oos_score: str = "energy",
                  base_dir: str = "saved_models",
                  name: str = contract.MODEL, version: int | None = None) -> str:
    """Exports an intent classifier as a validated TF Serving version.

    Args:
        model: the trained classifier (logits).
        tokenizer: the in-graph tokenizer it reads.
        labels: intent names in logit order.
        oos_threshold: the calibrated threshold on the in-scope score.
        oos_score: `energy` or `msp`.
        base_dir: model base path.
        name: servable name.
        version: version number (default: the next free one).

    Returns:
        The version folder written.

    Raises:
        VersionExistsError: if that version exists.
        ExportValidationError: if the fresh-process reload disagrees.
        ValueError: for an unknown `oos_score`.
    """
    from lepton_tf.export import export_servable

    servable = IntentServable(tokenizer, model, labels, oos_threshold, oos_score)
    sample = np.array([b"I still have not received my new card",
                       "Can I top up with Apple Pay? \u00e7a marche?".encode()])
    examples = {contract.SIGNATURE: {contract.TEXT: sample}}
    return export_servable(servable, name=name, signatures=servable.signatures(),
                           examples=examples, base_dir=base_dir, version=version,
                           atol=1e-4)
