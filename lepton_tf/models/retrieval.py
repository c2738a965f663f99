"""Dual encoder for retrieval, trained with an in-batch softmax loss."""

from __future__ import annotations

import math

import keras
from keras import ops

from lepton_tf.models.sentence_encoder import SentenceEncoder

_MASKED = -1e9


@keras.saving.register_keras_serializable(package="lepton_tf")
class DualEncoder(keras.Model):
    """A query tower and a document tower; score = dot product of embeddings.

    Training (`fit`) takes features `query_token_ids`, `query_padding_mask`,
    `document_token_ids`, `document_padding_mask`, optionally
    `negative_token_ids` / `negative_padding_mask` (one hard negative per
    query) and `document_key` (int64 id of each positive; two rows with the
    same key are the same document). The loss is softmax cross-entropy of
    each query against every document of the replica's batch (and every
    hard negative), with the query's own positive as the label, like
    TFRS' `tasks.Retrieval`. A batch that holds the same document twice
    would otherwise teach that document to be a negative of itself: those
    accidental hits are masked out.

    Example:

    ```python
    towers = SentenceEncoder.from_scratch(vocabulary_size=100, num_layers=1,
                                          hidden_dim=16, num_heads=2)
    model = DualEncoder(towers)                  # shared towers
    model.compile(optimizer="adam")              # the loss is built in
    ```

    Args:
        query_encoder: the query tower (a `SentenceEncoder`).
        document_encoder: the document tower; default: the query tower
            (shared weights).
        temperature: softmax temperature (initial value if learnable).
        learn_temperature: learn the temperature (as a log scale).
    """

    def __init__(self, query_encoder: SentenceEncoder,
                 document_encoder: SentenceEncoder | None = None,
                 temperature: float = 0.05, learn_temperature: bool = False, **kwargs):
        # The scores, the temperature and the loss stay float32 under a mixed
        # policy (the towers follow the policy they were built with).
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        self.query_encoder = query_encoder
        self.document_encoder = document_encoder or query_encoder
        self.shared = document_encoder is None or document_encoder is query_encoder
        self.temperature = float(temperature)
        self.learn_temperature = bool(learn_temperature)
        self.log_scale = self.add_weight(
            shape=(), name="log_scale", trainable=self.learn_temperature,
            initializer=keras.initializers.Constant(math.log(1.0 / temperature)))

    def encode_queries(self, token_ids, padding_mask, training=False):
        return self.query_encoder({"token_ids": token_ids, "padding_mask": padding_mask},
                                  training=training)

    def encode_documents(self, token_ids, padding_mask, training=False):
        return self.document_encoder({"token_ids": token_ids, "padding_mask": padding_mask},
                                     training=training)

    def call(self, inputs, training=False):
        queries = self.encode_queries(inputs["query_token_ids"],
                                      inputs["query_padding_mask"], training)
        documents = self.encode_documents(inputs["document_token_ids"],
                                          inputs["document_padding_mask"], training)
        scores = ops.matmul(queries, ops.transpose(documents))
        if "document_key" in inputs:
            keys = inputs["document_key"]
            same = ops.equal(keys[:, None], keys[None, :])
            own = ops.eye(ops.shape(keys)[0], dtype="bool")
            scores = ops.where(ops.logical_and(same, ops.logical_not(own)), _MASKED, scores)
        if "negative_token_ids" in inputs:
            negatives = self.encode_documents(inputs["negative_token_ids"],
                                              inputs["negative_padding_mask"], training)
            scores = ops.concatenate(
                [scores, ops.matmul(queries, ops.transpose(negatives))], axis=1)
        return scores * ops.exp(self.log_scale)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Labels are the diagonal of each replica's own batch, so they are
        # made here from y_pred rather than shipped (and split) with the data.
        labels = ops.arange(ops.shape(y_pred)[0])
        loss = keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=True)
        return ops.mean(loss)

    def get_config(self):
        config = {"query_encoder": keras.saving.serialize_keras_object(self.query_encoder),
                  "temperature": self.temperature,
                  "learn_temperature": self.learn_temperature, "name": self.name}
        if not self.shared:
            config["document_encoder"] = keras.saving.serialize_keras_object(
                self.document_encoder)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["query_encoder"] = keras.saving.deserialize_keras_object(config["query_encoder"])
        if "document_encoder" in config:
            config["document_encoder"] = keras.saving.deserialize_keras_object(
                config["document_encoder"])
        return cls(**config)
