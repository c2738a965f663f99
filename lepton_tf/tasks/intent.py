"""Intent classification on (text, label) examples, Banking77 by default.

Config `data` keys (all optional):
    train: a CSV/JSONL file of (text, label) (`lepton_tf.data.labeled_text`);
        default Banking77 train.
    labels: a JSON list of label names in logit order; default Banking77's
        77 for the default data, else the sorted labels of `train`.
    holdout_labels: an integer N (N labels drawn with the seed) or a list of
        labels left out of training entirely; at evaluation their examples
        are out of scope.
    calibration_fraction: share of each label's training examples held out
        (seeded) for validation and for calibrating the out-of-scope
        threshold (default 0.1).
    accept_fraction: share of in-scope calibration examples the threshold
        accepts (default 0.95).
    oos_score: the in-scope score thresholded, `energy` (default) or `msp`
        (see `lepton_tf.export.intent_servable`), or `centroid` (with
        `model.backbone: frozen_encoder`, see `lepton_tf.tasks.intent_head`).
    limit: train on the first N examples only (smoke runs).
Config `model`: see `lepton_tf.models.intent.build_intent_model`, or
`backbone: frozen_encoder` for a head on frozen all-MiniLM-L6-v2 embeddings
(`lepton_tf.tasks.intent_head`, the default `configs/intent.yaml`).
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from lepton_tf.data import IntentExample, banking77_labels, read_banking77
from lepton_tf.data.labeled_text import read_labeled_text
from lepton_tf.data.stream import epoch_shuffled_stream
from lepton_tf.models.intent import build_intent_model
from lepton_tf.export.intent_servable import OOS_SCORES
from lepton_tf.text import MiniLMTokenizer
from lepton_tf.tasks.sections import intent_data
from lepton_tf.training.config import TrainConfig


def stratified_split(examples: list[IntentExample], fraction: float, seed: int
                     ) -> tuple[list[IntentExample], list[IntentExample]]:
    """Splits off `fraction` of each label's examples (at least one of a label with two).

    Args:
        examples: the examples.
        fraction: share to hold out, in [0, 1).
        seed: the shuffle seed; the split depends on it and the data only.

    Returns:
        `(kept, held_out)`, each in the original order.

    Raises:
        ValueError: for a fraction outside [0, 1).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"calibration_fraction must be in [0, 1), got {fraction}")
    by_label: dict[str, list[int]] = {}
    for i, e in enumerate(examples):
        by_label.setdefault(e.label, []).append(i)
    rng = np.random.RandomState(seed)
    held = set()
    for label in sorted(by_label):
        rows = by_label[label]
        count = int(round(fraction * len(rows)))
        if fraction > 0 and len(rows) >= 2:
            count = max(count, 1)
        held.update(rng.permutation(rows)[:count].tolist())
    return ([e for i, e in enumerate(examples) if i not in held],
            [e for i, e in enumerate(examples) if i in held])


def choose_holdout_labels(labels: list[str], holdout, seed: int) -> list[str]:
    """The labels to leave out: a list as given, or `holdout` labels drawn with `seed`.

    Raises:
        ValueError: for unknown labels or a count that leaves fewer than two.
    """
    if not holdout:
        return []
    if isinstance(holdout, int):
        if not 0 < holdout <= len(labels) - 2:
            raise ValueError(f"holdout_labels={holdout} must leave at least 2 of "
                             f"{len(labels)} labels.")
        picked = np.random.RandomState(seed).choice(len(labels), holdout, replace=False)
        return sorted(labels[i] for i in picked)
    unknown = sorted(set(holdout) - set(labels))
    if unknown:
        raise ValueError(f"holdout_labels names unknown labels {unknown[:5]}.")
    return sorted(holdout)


class IntentTask:
    """Trains an intent classifier; holds out a calibration split for the OOS threshold.

    Args:
        train: training examples (default: `config.data["train"]` or Banking77 train).
        labels: label names in logit order (see the module docstring).
        config: the run's config (data options); may be None for defaults.
    """

    def __init__(self, train: list[IntentExample] | None = None, labels=None,
                 config: TrainConfig | None = None):
        data = intent_data(config if config is not None else {"data": {}})
        seed = config.seed if config is not None else 0
        if train is None:
            train = read_labeled_text(data.train) if data.train else read_banking77("train")
        if labels is None:
            if data.labels:
                with open(data.labels, encoding="utf-8") as f:
                    labels = json.load(f)
            elif data.train:
                labels = sorted({e.label for e in train})
            else:
                labels = banking77_labels()
        unknown = {e.label for e in train} - set(labels)
        if unknown:
            raise ValueError(f"Examples use labels not in the label list: {sorted(unknown)[:5]}")
        self.holdout_labels = choose_holdout_labels(list(labels), data.holdout_labels, seed)
        held = set(self.holdout_labels)
        self.labels = [label for label in labels if label not in held]
        in_scope = [e for e in train if e.label not in held]
        self.train, self.calibration = stratified_split(
            in_scope, float(data.calibration_fraction), seed)
        self.accept_fraction = float(data.accept_fraction)
        self.oos_score = data.oos_score
        if self.oos_score not in OOS_SCORES:
            raise ValueError(f"data.oos_score must be one of {OOS_SCORES}, "
                             f"got {self.oos_score!r}.")
        self._index = {label: i for i, label in enumerate(self.labels)}
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

    def build_model(self, config: TrainConfig):
        return build_intent_model(config.model, self._tokenizer(config).vocabulary_size,
                                  len(self.labels))

    def compile_args(self, config: TrainConfig) -> dict:
        import keras
        return {"loss": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "metrics": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}

    def train_dataset(self, config: TrainConfig) -> tf.data.Dataset:
        limit = intent_data(config).limit
        features, labels = self._arrays(config, self.train[:limit] if limit else self.train)
        return epoch_shuffled_stream((features, labels), batch_size=config.batch_size,
                                     seed=config.seed)

    def validation_dataset(self, config: TrainConfig) -> tf.data.Dataset | None:
        if not self.calibration:
            return None
        features, labels = self._arrays(config, self.calibration)
        return tf.data.Dataset.from_tensor_slices((features, labels)).batch(128)

    def calibrate(self, model, config: TrainConfig) -> float:
        """The OOS threshold accepting `accept_fraction` of the calibration split.

        Returns:
            The threshold on the `oos_score`; -inf (accept all) with no
            calibration split.
        """
        from lepton_tf.export.intent_servable import (calibrate_threshold, in_scope_scores,
                                                      predict_logits)
        if not self.calibration:
            return float("-inf")
        features, labels = self._arrays(config, self.calibration)
        logits = predict_logits(model, features)
        threshold = calibrate_threshold(in_scope_scores(logits, self.oos_score),
                                        self.accept_fraction)
        accuracy = float(np.mean(logits.argmax(1) == labels))
        print(f"Calibration split: {len(labels)} examples, accuracy {accuracy:.4f}; "
              f"OOS threshold ({self.oos_score}) {threshold:.4f} accepts "
              f"{self.accept_fraction:.0%}")
        return threshold


def _make_task(config: TrainConfig) -> IntentTask:
    from lepton_tf.tasks.intent_head import EmbeddingIntentTask, is_frozen_encoder

    if is_frozen_encoder(config):
        return EmbeddingIntentTask(config)
    if intent_data(config).oos_score == "centroid":
        raise ValueError("data.oos_score centroid needs model.backbone frozen_encoder.")
    return IntentTask(config=config)


def _export(model, task: IntentTask, config: TrainConfig, base_dir: str, version) -> str:
    from lepton_tf.export.intent_servable import export_intent
    from lepton_tf.tasks.intent_head import EmbeddingIntentTask, export_embedding_intent

    if isinstance(task, EmbeddingIntentTask):
        return export_embedding_intent(model, task, config, base_dir, version)
    threshold = task.calibrate(model, config)
    return export_intent(model, task._tokenizer(config), task.labels,
                         oos_threshold=threshold, oos_score=task.oos_score,
                         base_dir=base_dir, name=config.name, version=version)


def _trainable():
    from lepton_tf.tasks.registry import Trainable
    return Trainable(config=os.path.join("configs", "intent.yaml"), make_task=_make_task,
                     export=_export)


TRAINABLE = _trainable()
