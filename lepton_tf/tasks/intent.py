"""Intent classification on (text, label) examples, Banking77 by default."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lepton_tf.data import IntentExample, banking77_labels, read_banking77
from lepton_tf.data.stream import epoch_shuffled_stream
from lepton_tf.models.intent import IntentClassifier
from lepton_tf.text import MiniLMTokenizer
from lepton_tf.training.config import TrainConfig


class IntentTask:
    """Trains `IntentClassifier` on intent examples.

    Config `data` keys: `limit` (use only the first N training examples, for
    smoke runs). Config `model` keys: the `IntentClassifier` arguments.

    Args:
        train: training examples (default: Banking77 train).
        validation: evaluation examples (default: Banking77 test).
        labels: label names in logit order (default: Banking77's 77).
    """

    def __init__(self, train: list[IntentExample] | None = None,
                 validation: list[IntentExample] | None = None, labels=None):
        self.labels = list(labels) if labels is not None else banking77_labels()
        self.train = train if train is not None else read_banking77("train")
        self.validation = validation if validation is not None else read_banking77("test")
        self._index = {label: i for i, label in enumerate(self.labels)}
        unknown = {e.label for e in self.train + self.validation} - set(self._index)
        if unknown:
            raise ValueError(f"Examples use labels not in the label list: {sorted(unknown)[:5]}")
        self.tokenizer = None

    def _tokenizer(self, config: TrainConfig) -> MiniLMTokenizer:
        if self.tokenizer is None:
            self.tokenizer = MiniLMTokenizer(
                sequence_length=config.model.get("sequence_length", 32))
        return self.tokenizer

    def _arrays(self, config, examples):
        tokenizer = self._tokenizer(config)
        features = tokenizer.tokenize_fixed([e.text for e in examples])
        labels = np.array([self._index[e.label] for e in examples], np.int32)
        return features, labels

    def build_model(self, config: TrainConfig) -> IntentClassifier:
        return IntentClassifier(vocabulary_size=self._tokenizer(config).vocabulary_size,
                                num_classes=len(self.labels), name="intent_classifier",
                                **config.model)

    def compile_args(self, config: TrainConfig) -> dict:
        import keras
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}

    def train_dataset(self, config: TrainConfig) -> tf.data.Dataset:
        limit = config.data.get("limit")
        features, labels = self._arrays(config, self.train[:limit] if limit else self.train)
        return epoch_shuffled_stream((features, labels), batch_size=config.batch_size,
                                     seed=config.seed)

    def validation_dataset(self, config: TrainConfig) -> tf.data.Dataset | None:
        if not self.validation:
            return None
        features, labels = self._arrays(config, self.validation)
        return tf.data.Dataset.from_tensor_slices((features, labels)).batch(256)


def _make_task(config: TrainConfig) -> IntentTask:
    return IntentTask()


def _export(model, task: IntentTask, config: TrainConfig, base_dir: str, version) -> str:
    from lepton_tf.models.intent_servable import export_intent
    return export_intent(model, task._tokenizer(config), task.labels, base_dir=base_dir,
                         name=config.name, version=version)


def _trainable():
    import os

    from lepton_tf.commands.train import Trainable
    return Trainable(config=os.path.join("configs", "intent.yaml"), make_task=_make_task,
                     export=_export)


TRAINABLE = _trainable()
