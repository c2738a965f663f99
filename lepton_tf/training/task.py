"""What a trainable task provides to the `Trainer`."""

from __future__ import annotations

from typing import Any, Protocol

import keras
import tensorflow as tf

from lepton_tf.training.config import TrainConfig


class Task(Protocol):
    """A model and its data, independent of strategy, precision and resume.

    A task builds its Keras model (inside the strategy's scope, which the
    trainer opens), says how it is compiled, and gives an endless,
    deterministic stream of global batches: the trainer skips into that
    stream to resume at an exact step, so the same seed must give the same
    stream.
    """

    def build_model(self, config: TrainConfig) -> keras.Model:
        """Returns a built (variables created) Keras model."""

    def compile_args(self, config: TrainConfig) -> dict[str, Any]:
        """`loss`, `metrics` and other `Model.compile` arguments except the
        optimizer, which the trainer makes from the config."""

    def train_dataset(self, config: TrainConfig) -> tf.data.Dataset:
        """An endless (`repeat()`ed) dataset of `(features, labels)` global
        batches, shuffled with `config.seed`."""

    def validation_dataset(self, config: TrainConfig) -> tf.data.Dataset | None:
        """A finite dataset evaluated at each epoch end, or None."""
