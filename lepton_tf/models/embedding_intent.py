"""Intent classification on a frozen sentence encoder: a linear head + centroids.

The head is trained on precomputed sentence embeddings (seconds, not the
minutes of fine-tuning the encoder); `EmbeddingIntentClassifier` then joins
encoder and head into one model from token ids, for the `intent` servable.
Out-of-scope texts are told apart by `centroid_score`: the largest cosine
similarity of the text's embedding to the mean embedding of a class, which
separates in-scope from other texts much better than the head's logits do.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def build_embedding_head(embedding_dim: int, num_classes: int, dropout: float = 0.0,
                         name: str = "intent_head") -> keras.Model:
    """`embedding [B, D] -> logits [B, C]`: dropout and one dense layer.

    Args:
        embedding_dim: the encoder's output width.
        num_classes: number of intents.
        dropout: dropout on the embedding while training.
        name: model name.

    Returns:
        A built Keras model.
    """
    embedding = keras.Input((embedding_dim,), name="embedding")
    x = keras.layers.Dropout(dropout)(embedding) if dropout else embedding
    logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(x)
    return keras.Model(embedding, logits, name=name)


def class_centroids(embeddings, labels, num_classes: int) -> np.ndarray:
    """The L2-normalised mean embedding of each class.

    Args:
        embeddings: `[N, D]` (unit length or not).
        labels: `[N]` class ids in `[0, num_classes)`.
        num_classes: number of classes.

    Returns:
        float32 `[C, D]`, unit rows.

    Raises:
        ValueError: if a class has no example.
    """
    embeddings, labels = np.asarray(embeddings, np.float64), np.asarray(labels)
    counts = np.bincount(labels, minlength=num_classes)
    if (counts == 0).any():
        raise ValueError(f"classes {np.flatnonzero(counts == 0)[:5].tolist()} have no example")
    sums = np.zeros((num_classes, embeddings.shape[1]))
    np.add.at(sums, labels, embeddings)
    means = sums / counts[:, None]
    return (means / np.linalg.norm(means, axis=1, keepdims=True)).astype(np.float32)


def centroid_scores(embeddings, centroids) -> np.ndarray:
    """The largest cosine similarity of each unit embedding to a centroid, `[N]`."""
    return (np.asarray(embeddings, np.float32) @ np.asarray(centroids, np.float32).T).max(1)


class CentroidSimilarity(keras.layers.Layer):
    """`unit embedding [B, D] -> [B]`: the largest cosine similarity to a centroid.

    Args:
        centroids: `[C, D]` unit rows (`class_centroids`), kept as a
            non-trainable weight.
    """

    def __init__(self, centroids, **kwargs):
        super().__init__(**kwargs)
        self._initial = np.asarray(centroids, np.float32)

    def build(self, input_shape):
        self.centroids = self.add_weight(
            shape=self._initial.shape, trainable=False, name="centroids",
            initializer=keras.initializers.Constant(self._initial))

    def call(self, embedding):
        similarity = ops.matmul(embedding, ops.transpose(ops.cast(self.centroids,
                                                                  embedding.dtype)))
        return ops.max(similarity, axis=-1)


class EmbeddingIntentClassifier(keras.Model):
    """Token ids -> `{logits, centroid_score}` through a frozen encoder and a head.

    Example:

    ```python
    encoder = SentenceEncoder.from_minilm()
    head = build_embedding_head(encoder.embedding_dim, num_classes=77)
    model = EmbeddingIntentClassifier(encoder, head, centroids, sequence_length=64)
    ```

    Args:
        encoder: a `SentenceEncoder` (token ids -> unit embedding), kept frozen.
        head: embedding -> logits (`build_embedding_head`), trained.
        centroids: `[C, D]` unit class centroids (`class_centroids`).
        sequence_length: the most tokens a text gets (the tokenizer's
            budget). The model itself takes any length: the encoder masks
            padding, so a batch needs no padding beyond its longest text.
    """

    def __init__(self, encoder: keras.Model, head: keras.Model, centroids,
                 sequence_length: int = 64, **kwargs):
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
        embedding = encoder({"token_ids": token_ids, "padding_mask": padding_mask})
        score = CentroidSimilarity(centroids, name="centroid_score")(embedding)
        super().__init__(inputs={"token_ids": token_ids, "padding_mask": padding_mask},
                         outputs={"logits": head(embedding), "centroid_score": score},
                         name=kwargs.pop("name", "embedding_intent"), **kwargs)
        encoder.trainable = False
        self.encoder = encoder
        self.head = head
        self.sequence_length = sequence_length
