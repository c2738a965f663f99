"""The `intent` task on frozen sentence-encoder embeddings (`model.backbone: frozen_encoder`).

The training texts are embedded once by all-MiniLM-L6-v2 (cached under
`model.feature_cache`, text -> vector per encoder, so a rerun, a new head or
a new split of the same data encodes only texts it has not seen), a linear head trains on the
embeddings in seconds, and the export joins encoder and head into one
`intent` SavedModel that takes raw strings. Out of scope: the largest cosine
similarity to a class centroid (`data.oos_score: centroid`), calibrated on
the held-out split like the other scores. The data options are the intent
task's (`data: {train: my.csv}` for your own intents).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np
import tensorflow as tf

from lepton_tf.data.stream import epoch_shuffled_stream
from lepton_tf.models.embedding_intent import (build_embedding_head, centroid_scores,
                                               class_centroids)
from lepton_tf.tasks.intent import IntentTask
from lepton_tf.tasks.sections import intent_data
from lepton_tf.training.config import TrainConfig, parse_section


@dataclasses.dataclass
class IntentHeadModelSection:
    """`model:` of the frozen-encoder intent task.

    Attributes:
        backbone: `frozen_encoder`.
        encoder: `minilm` (all-MiniLM-L6-v2, offline) or `scratch` (a random
            BERT of `num_layers`/`hidden_dim`/`num_heads`: tests).
        sequence_length: tokens per text at most (the servable pads to it).
        dropout: dropout on the embeddings while training the head.
        feature_cache: folder of cached embeddings.
        num_layers, hidden_dim, num_heads: sizes for `encoder: scratch`.
    """

    backbone: str = "frozen_encoder"
    encoder: str = "minilm"
    sequence_length: int = 64
    dropout: float = 0.0
    feature_cache: str = os.path.join("runs", "cache", "intent_features")
    num_layers: int = 1
    hidden_dim: int = 16
    num_heads: int = 2

    def __post_init__(self):
        if self.encoder not in ("minilm", "scratch"):
            raise ValueError(f"model.encoder must be minilm or scratch, got {self.encoder!r}.")


def is_frozen_encoder(config) -> bool:
    """Whether a config asks for this task (`model.backbone: frozen_encoder`)."""
    return (config.model or {}).get("backbone") == "frozen_encoder"


class EmbeddingIntentTask(IntentTask):
    """`IntentTask` whose model is a head on cached frozen-encoder embeddings.

    Args:
        config: the run's config.
    """

    def __init__(self, config: TrainConfig):
        super().__init__(config=config)
        self.data = intent_data(config)
        self.section = parse_section(IntentHeadModelSection, config.model, "model")
        self.seed = config.seed
        self._encoder = None

    def encoder(self):
        """The frozen `SentenceEncoder` (built once; seeded for `scratch`)."""
        if self._encoder is None:
            import keras

            from lepton_tf.models.sentence_encoder import SentenceEncoder
            s = self.section
            if s.encoder == "minilm":
                self._encoder = SentenceEncoder.from_minilm()
            else:
                keras.utils.set_random_seed(self.seed)
                self._encoder = SentenceEncoder.from_scratch(
                    self._tokenizer(None).vocabulary_size, num_layers=s.num_layers,
                    hidden_dim=s.hidden_dim, num_heads=s.num_heads, dropout=0.0)
            self._encoder.trainable = False
        return self._encoder

    def _tokenizer(self, config):
        if self.tokenizer is None:
            from lepton_tf.text import MiniLMTokenizer
            self.tokenizer = MiniLMTokenizer(sequence_length=self.section.sequence_length)
        return self.tokenizer

    def _cache_path(self) -> str:
        """One cache file per encoder (kind, length, sizes, seed), holding text -> vector."""
        s = self.section
        key = hashlib.sha256(f"{s.encoder}:{s.sequence_length}:{self.seed}:{s.num_layers}:"
                             f"{s.hidden_dim}:{s.num_heads}".encode()).hexdigest()[:16]
        return os.path.join(s.feature_cache, f"{s.encoder}-{key}.npz")

    def embeddings(self, texts) -> np.ndarray:
        """`[N, D]` unit embeddings of the texts; only texts not in the cache are encoded.

        The cache maps texts to vectors, so a new split of the same data (a
        held-out label, a new calibration fraction) or a test set reuses the
        vectors already computed.
        """
        from lepton_tf.models.embed_texts import embed_texts

        if not texts:
            return np.zeros((0, int(self.encoder().embedding_dim)), np.float32)
        path = self._cache_path()
        cached: dict[str, np.ndarray] = {}
        if os.path.exists(path):
            with np.load(path, allow_pickle=False) as f:
                cached = dict(zip(f["texts"].tolist(), f["vectors"]))
        missing = sorted({t for t in texts if t not in cached})
        if missing:
            vectors = embed_texts(self.encoder(), self._tokenizer(None), missing,
                                  desc=f"{self.section.encoder} embeddings")
            cached.update(zip(missing, vectors))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.tmp-{os.getpid()}.npz"
            np.savez(tmp, texts=np.array(list(cached), dtype=str),
                     vectors=np.stack(list(cached.values())).astype(np.float32))
            os.replace(tmp, path)  # a killed run leaves no half-written cache
        return np.stack([cached[t] for t in texts]).astype(np.float32)

    def _arrays(self, config, examples):
        labels = np.array([self._index[e.label] for e in examples], np.int32)
        return self.embeddings([e.text for e in examples]), labels

    def build_model(self, config: TrainConfig):
        dim = int(self.encoder().embedding_dim)
        return build_embedding_head(dim, len(self.labels), dropout=self.section.dropout)

    def train_dataset(self, config: TrainConfig) -> tf.data.Dataset:
        # Encode the training and the held-out texts in one pass (one trace, one bar).
        self.embeddings([e.text for e in self.train + self.calibration])
        limit = self.data.limit
        features, labels = self._arrays(config, self.train[:limit] if limit else self.train)
        return epoch_shuffled_stream((features, labels), batch_size=config.batch_size,
                                     seed=config.seed)

    def centroids(self) -> np.ndarray:
        features, labels = self._arrays(None, self.train)
        return class_centroids(features, labels, len(self.labels))

    def calibrate(self, model, config: TrainConfig) -> float:
        """The OOS threshold (on `oos_score`) accepting `accept_fraction` of the held-out split."""
        from lepton_tf.export.intent_servable import calibrate_threshold, in_scope_scores

        if not self.calibration:
            return float("-inf")
        features, labels = self._arrays(config, self.calibration)
        logits = np.asarray(model.predict(features, batch_size=1024, verbose=0))
        scores = (centroid_scores(features, self.centroids()) if self.oos_score == "centroid"
                  else in_scope_scores(logits, self.oos_score))
        threshold = calibrate_threshold(scores, self.accept_fraction)
        print(f"Calibration split: {len(labels)} examples, accuracy "
              f"{np.mean(logits.argmax(1) == labels):.4f}; OOS threshold ({self.oos_score}) "
              f"{threshold:.4f} accepts {self.accept_fraction:.0%}")
        return threshold


def export_embedding_intent(head, task: EmbeddingIntentTask, config: TrainConfig,
                            base_dir: str, version) -> str:
    """Exports encoder + trained head as one `intent` servable (raw strings in).

    Returns:
        The version folder written.
    """
    from lepton_tf.export.intent_servable import export_intent
    from lepton_tf.models.embedding_intent import EmbeddingIntentClassifier

    threshold = task.calibrate(head, config)
    model = EmbeddingIntentClassifier(task.encoder(), head, task.centroids(),
                                      sequence_length=task.section.sequence_length)
    return export_intent(model, task._tokenizer(config), task.labels,
                         oos_threshold=threshold, oos_score=task.oos_score,
                         base_dir=base_dir, name=config.name, version=version)
