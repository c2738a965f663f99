"""Fine-tuning the dual encoder on (query, positive[, negative]) pairs."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import tensorflow as tf

from lepton_tf.data.pairs import RetrievalPair, read_pairs
from lepton_tf.data.stream import epoch_shuffled_stream
from lepton_tf.models.retrieval import DualEncoder
from lepton_tf.models.sentence_encoder import SentenceEncoder
from lepton_tf.text import MiniLMTokenizer
from lepton_tf.tasks.sections import encoder_data, encoder_model
from lepton_tf.training.config import TrainConfig

BUILTIN_PAIRS = ("stackfaq", "sgd")


def load_training_pairs(source: str) -> list[RetrievalPair]:
    """Pairs from a JSONL file, or a built-in converter (`stackfaq`, `sgd`).

    `stackfaq` uses only the train queries of the shipped BEIR split, so the
    test queries stay unseen.
    """
    if source == "stackfaq":
        from lepton_tf.data.beir import beir_training_pairs, read_beir
        from lepton_tf.data.paths import data_dir
        return beir_training_pairs(read_beir(os.path.join(data_dir(), "beir", "stackfaq"),
                                             "train"))
    if source == "sgd":
        from lepton_tf.data.pairs import sgd_intent_pairs
        return sgd_intent_pairs("train")
    return read_pairs(source)


def _key(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


class EncoderTask:
    """Trains a `DualEncoder` from pairs.

    Config `model`: `init` (`minilm` or `scratch`), `shared` (one tower for
    both sides, default true), `temperature`, `learn_temperature`,
    `query_length`, `document_length`, `frozen_layers` (embeddings and the
    lowest N layers kept as they are); for `scratch` also `num_layers`,
    `hidden_dim`, `num_heads`. Config `data`: `pairs` (a list of JSONL paths
    or built-in names), `hard_negatives` (use the pairs' `negative`).

    Args:
        pairs: training pairs; default: read from `config.data["pairs"]`.
    """

    def __init__(self, pairs: list[RetrievalPair] | None = None):
        self.pairs = pairs
        self._tokenizers: dict[int, MiniLMTokenizer] = {}
        self._cached = None

    def tokenizer(self, length: int) -> MiniLMTokenizer:
        """The MiniLM tokenizer truncating at `length` tokens."""
        if length not in self._tokenizers:
            self._tokenizers[length] = MiniLMTokenizer(sequence_length=length)
        return self._tokenizers[length]

    def _pairs(self, config: TrainConfig) -> list[RetrievalPair]:
        if self.pairs is None:
            sources = encoder_data(config).pairs
            self.pairs = [p for s in sources for p in load_training_pairs(s)]
        if not self.pairs:
            raise ValueError("No training pairs.")
        return self.pairs

    def _tower(self, config: TrainConfig, name: str) -> SentenceEncoder:
        m = encoder_model(config)
        if m.init == "minilm":
            tower = SentenceEncoder.from_minilm(name=name)
        else:
            tower = SentenceEncoder.from_scratch(
                self.tokenizer(2).vocabulary_size, num_layers=m.num_layers,
                hidden_dim=m.hidden_dim, num_heads=m.num_heads, name=name)
        tower.freeze_lower_layers(m.frozen_layers)
        return tower

    def build_model(self, config: TrainConfig) -> DualEncoder:
        m = encoder_model(config)
        query = self._tower(config, "query_encoder")
        document = None if m.shared else self._tower(config, "document_encoder")
        model = DualEncoder(query, document, temperature=m.temperature,
                            learn_temperature=m.learn_temperature)
        model(self._build_sample(config))  # creates the variables
        return model

    def _build_sample(self, config: TrainConfig) -> dict[str, np.ndarray]:
        """Two short rows of each input: enough to create the variables, so
        building a model to export does not tokenize the whole training set."""
        texts = ["a query", "a document"]
        m = encoder_model(config)
        q = self.tokenizer(m.query_length).tokenize_fixed(texts)
        d = self.tokenizer(m.document_length).tokenize_fixed(texts)
        return {"query_token_ids": q["token_ids"], "query_padding_mask": q["padding_mask"],
                "document_token_ids": d["token_ids"], "document_padding_mask": d["padding_mask"]}

    def compile_args(self, config: TrainConfig) -> dict:
        return {}  # DualEncoder.compute_loss holds the in-batch softmax

    def _features(self, config: TrainConfig) -> dict[str, np.ndarray]:
        if self._cached is not None:
            return self._cached
        pairs = self._pairs(config)
        m = encoder_model(config)
        queries = self.tokenizer(m.query_length)
        documents = self.tokenizer(m.document_length)
        q = queries.tokenize_fixed([p.query for p in pairs])
        d = documents.tokenize_fixed([p.positive for p in pairs])
        features = {"query_token_ids": q["token_ids"], "query_padding_mask": q["padding_mask"],
                    "document_token_ids": d["token_ids"],
                    "document_padding_mask": d["padding_mask"],
                    "document_key": np.array([_key(p.positive) for p in pairs], np.int64)}
        if encoder_data(config).hard_negatives and all(p.negative for p in pairs):
            n = documents.tokenize_fixed([p.negative for p in pairs])
            features["negative_token_ids"] = n["token_ids"]
            features["negative_padding_mask"] = n["padding_mask"]
        self._cached = features
        return features

    def train_dataset(self, config: TrainConfig) -> tf.data.Dataset:
        return epoch_shuffled_stream(self._features(config), batch_size=config.batch_size,
                                     seed=config.seed)

    def validation_dataset(self, config: TrainConfig):
        return None


def _export(model, task: EncoderTask, config: TrainConfig, base_dir: str, version) -> str:
    from lepton_tf.export.encoder_servable import export_encoder
    return export_encoder(model, base_dir=base_dir, name=config.name, version=version,
                          query_length=encoder_model(config).query_export_length,
                          document_length=encoder_model(config).document_export_length)


def export_zero_shot(base_dir: str, version: int | None = None,
                     precision: str = "float32") -> str:
    """All-MiniLM-L6-v2 as it is (no training) as an `encoder` version.

    Args:
        base_dir: the model base folder.
        version: version number (default: the next free one).
        precision: `float32`, or `bfloat16` (`registry.EXPORT_PRECISIONS`).

    Returns:
        The version folder written.

    Raises:
        ValueError: for an unknown precision.
    """
    from lepton_tf.export.encoder_servable import export_encoder
    from lepton_tf.tasks.registry import export_policy

    with export_policy("encoder", precision):
        return export_encoder(DualEncoder(SentenceEncoder.from_minilm()), base_dir=base_dir,
                              version=version)


def _make_task(config: TrainConfig) -> EncoderTask:
    encoder_model(config), encoder_data(config)  # a typo in either fails here, not hours in
    return EncoderTask()


def _trainable():
    from lepton_tf.tasks.registry import Trainable
    return Trainable(config=os.path.join("configs", "encoder.yaml"),
                     make_task=_make_task, export=_export)


TRAINABLE = _trainable()
