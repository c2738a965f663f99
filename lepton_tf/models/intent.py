"""A small Transformer intent classifier trained from scratch."""

from __future__ import annotations

import keras
import keras_hub

from lepton_tf.models.masked_mean_pooling import MaskedMeanPooling


@keras.saving.register_keras_serializable(package="lepton_tf")
class IntentClassifier(keras.Model):
    """Token ids -> intent logits: embedding, Transformer encoder, mean pool.

    Built from keras-hub layers (`TokenAndPositionEmbedding`,
    `TransformerEncoder`). It reads the ids of the MiniLM WordPiece
    tokenizer, so the same in-graph tokenizer serves it.

    Example:

    ```python
    model = IntentClassifier(vocabulary_size=30522, num_classes=77,
                             sequence_length=32, hidden_dim=64)
    logits = model({"token_ids": np.ones((2, 32), "int32"),
                    "padding_mask": np.ones((2, 32), bool)})
    ```

    Args:
        vocabulary_size: tokenizer vocabulary size.
        num_classes: number of intents.
        sequence_length: maximum tokens per input.
        hidden_dim: embedding and model width.
        intermediate_dim: feed-forward width.
        num_layers: Transformer encoder layers.
        num_heads: attention heads.
        dropout: dropout rate.
    """

    def __init__(self, vocabulary_size: int, num_classes: int, sequence_length: int = 32,
                 hidden_dim: int = 64, intermediate_dim: int = 128, num_layers: int = 1,
                 num_heads: int = 2, dropout: float = 0.1, **kwargs):
        token_ids = keras.Input((sequence_length,), dtype="int32", name="token_ids")
        padding_mask = keras.Input((sequence_length,), dtype="bool", name="padding_mask")
        x = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size, sequence_length, hidden_dim, name="embedding")(token_ids)
        for i in range(num_layers):
            x = keras_hub.layers.TransformerEncoder(
                intermediate_dim, num_heads, dropout=dropout, name=f"encoder_{i}")(
                    x, padding_mask=padding_mask)
        pooled = MaskedMeanPooling(name="pool")(x, padding_mask)
        pooled = keras.layers.Dropout(dropout)(pooled)
        logits = keras.layers.Dense(num_classes, dtype="float32", name="logits")(pooled)
        super().__init__(inputs={"token_ids": token_ids, "padding_mask": padding_mask},
                         outputs=logits, **kwargs)
        self.vocabulary_size = vocabulary_size
        self.num_classes = num_classes
        self.sequence_length = sequence_length
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.dropout = dropout

    def get_config(self):
        return {"vocabulary_size": self.vocabulary_size, "num_classes": self.num_classes,
                "sequence_length": self.sequence_length, "hidden_dim": self.hidden_dim,
                "intermediate_dim": self.intermediate_dim, "num_layers": self.num_layers,
                "num_heads": self.num_heads, "dropout": self.dropout,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
