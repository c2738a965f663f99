"""`lepton-tf train dst`: the schema-guided dialogue state tracker, trained on SGD.

Config ``model`` (``DSTModelSection``): ``backbone`` ``minilm`` (all-MiniLM-L6-v2,
offline) or ``scratch`` (a random BERT of ``bert_layers``/``bert_hidden``/``bert_heads``,
for tests), ``trainable_layers`` (top layers fine-tuned), ``hidden_dim``/``dropout``
of the heads, ``status_weights`` (loss weight per slot status) and
``head_learning_rate_multiplier``, the token budgets and the padded schema sizes.
Config ``data`` (``DSTDataSection``): ``train`` / ``validation`` folders in SGD's
layout, and ``limit_dialogues`` / ``validation_dialogues`` caps.

The schema descriptions are embedded once by the frozen schema path and cached
in the run folder, so a step only encodes turns.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
from typing import Any

import numpy as np
import tensorflow as tf

from lepton_tf.data.sgd_full import dialogue_paths, read_dialogue_file, schema_path
from lepton_tf.data.stream import epoch_shuffled_stream
from lepton_tf.models.dst import DSTBackbone, DSTPreprocessor, ServiceElements, StateTrackerModel
from lepton_tf.tasks.dst_examples import ElementTable, build_arrays
from lepton_tf.training.config import TrainConfig, parse_section

LABELS = ("intent", "requested", "status", "value", "span_start", "span_end")


@dataclasses.dataclass
class DSTModelSection:
    backbone: str = "minilm"
    trainable_layers: int = 2
    hidden_dim: int = 256
    dropout: float = 0.1
    # Loss weights of the slot statuses none, dontcare, active, carryover.
    status_weights: tuple = (1.0, 1.0, 1.0, 1.0)
    # The fresh heads' learning rate over the fine-tuned encoder layers'.
    head_learning_rate_multiplier: float = 1.0
    user_length: int = 40
    system_length: int = 37
    schema_length: int = 24
    max_intents: int = 4
    max_slots: int = 20
    max_values: int = 12
    bert_layers: int = 2
    bert_hidden: int = 32
    bert_heads: int = 2


@dataclasses.dataclass
class DSTDataSection:
    train: str = "../shared/data/sgd/full/train"
    validation: str | None = None
    limit_dialogues: int | None = None
    validation_dialogues: int | None = 200
    # Every Nth dialogue of each split: a sample spread over all services and
    # files (SGD's files go single-domain first), cheaper to build on a CPU.
    every: int = 1


def model_section(config) -> DSTModelSection:
    return parse_section(DSTModelSection, (config.model if hasattr(config, "model") else config) or {}, "model")


def data_section(config) -> DSTDataSection:
    return parse_section(DSTDataSection, config.data or {}, "data")


def build_backbone(section: DSTModelSection) -> DSTBackbone:
    """The backbone a config names (pretrained MiniLM, or a small random BERT)."""
    if section.backbone == "minilm":
        return DSTBackbone.from_minilm(trainable_layers=section.trainable_layers)
    if section.backbone == "scratch":
        import keras_hub
        from lepton_tf.text.wordpiece_offsets import minilm_vocab_path
        with open(minilm_vocab_path(), encoding="utf-8") as f:
            vocabulary_size = sum(1 for _ in f)
        bert = keras_hub.models.BertBackbone(
            vocabulary_size=vocabulary_size, num_layers=section.bert_layers, num_heads=section.bert_heads,
            hidden_dim=section.bert_hidden, intermediate_dim=4 * section.bert_hidden, max_sequence_length=128)
        return DSTBackbone(bert, trainable_layers=min(section.trainable_layers, section.bert_layers))
    raise ValueError(f"model.backbone must be minilm or scratch, got {section.backbone!r}")


def load_split(folder: str, limit: int | None,
               every: int = 1) -> tuple[list[dict], dict[str, ServiceElements]]:
    """Every ``every``-th dialogue of an SGD folder, the first ``limit`` of those, and its services' elements.

    Raises:
        ValueError: for ``every`` below 1.
    """
    if every < 1:
        raise ValueError(f"data.every must be at least 1, got {every}")
    data = schema_path(folder).read_bytes()
    raw_schema = json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    dialogues: list[dict] = []
    for path in dialogue_paths(folder):
        dialogues += read_dialogue_file(path)
        if limit is not None and len(dialogues) >= limit * every:
            break
    dialogues = dialogues[::every]
    services = {s["service_name"]: ServiceElements.from_sgd(s) for s in raw_schema}
    return dialogues[:limit] if limit is not None else dialogues, services


class DSTTask:
    """Trains ``StateTrackerModel`` on SGD dialogues (see the module docstring).

    Args:
        config: the run's config.
    """

    def __init__(self, config: TrainConfig):
        self.section = model_section(config)
        self.data = data_section(config)
        self.preprocessor = DSTPreprocessor(user_length=self.section.user_length,
                                            system_length=self.section.system_length,
                                            schema_length=self.section.schema_length)
        self.model: StateTrackerModel | None = None
        self._embeddings: dict[str, np.ndarray] = {}

    def build_model(self, config: TrainConfig) -> StateTrackerModel:
        s = self.section
        model = StateTrackerModel(build_backbone(s), hidden_dim=s.hidden_dim, dropout=s.dropout,
                                  status_weights=s.status_weights, name="dst")
        model(dummy_features(s, self.preprocessor.sequence_length, model.backbone.hidden_dim))
        self.model = model
        return model

    def compile_args(self, config: TrainConfig) -> dict[str, Any]:
        return {}

    def learning_rate_multipliers(self, config: TrainConfig) -> dict[str, float]:
        """The heads' learning-rate multiplier (read by the Trainer's optimizer)."""
        return {"schema_heads/": self.section.head_learning_rate_multiplier}

    def schema_embeddings(self, table: ElementTable, cache_dir: str | None) -> np.ndarray:
        """Vectors of the table's texts (cached by content in ``cache_dir``), plus a zero padding row."""
        digest = hashlib.sha256(json.dumps([table.texts, self.model.backbone.get_config()["trainable_layers"],
                                            self.section.backbone, self.section.schema_length]).encode()).hexdigest()
        path = os.path.join(cache_dir, f"schema_embeddings_{digest[:16]}.npy") if cache_dir else None
        if path and os.path.exists(path):
            vectors = np.load(path)
        else:
            vectors = encode_texts(self.model.backbone, self.preprocessor, table.texts)
            if path:
                os.makedirs(cache_dir, exist_ok=True)
                np.save(path, vectors)
        return np.concatenate([vectors, np.zeros((1, vectors.shape[1]), np.float32)])

    def _dataset_arrays(self, folder: str, limit: int | None, config: TrainConfig):
        dialogues, services = load_split(folder, limit, self.data.every)
        table = ElementTable.of(services.values())
        s = self.section
        arrays = build_arrays(dialogues, services, table, self.preprocessor, s.max_intents, s.max_slots,
                              s.max_values)
        return arrays, self.schema_embeddings(table, config.output_dir)

    def train_dataset(self, config: TrainConfig) -> tf.data.Dataset:
        arrays, table = self._dataset_arrays(self.data.train, self.data.limit_dialogues, config)
        stream = epoch_shuffled_stream(arrays, batch_size=config.batch_size, seed=config.seed)
        return stream.map(lambda batch: to_model_inputs(batch, tf.constant(table)))

    def validation_dataset(self, config: TrainConfig) -> tf.data.Dataset | None:
        if not self.data.validation:
            return None
        arrays, table = self._dataset_arrays(self.data.validation, self.data.validation_dialogues, config)
        data = tf.data.Dataset.from_tensor_slices(arrays).batch(config.batch_size)
        return data.map(lambda batch: to_model_inputs(batch, tf.constant(table)))


def encode_texts(backbone: DSTBackbone, preprocessor: DSTPreprocessor, texts: list[str],
                 batch_size: int = 256) -> np.ndarray:
    """Schema-path vectors ``[N, H]`` of texts."""
    parts = []
    for start in range(0, len(texts), batch_size):
        packed = preprocessor.pack_schema(tf.constant(texts[start:start + batch_size]))
        parts.append(np.asarray(backbone.encode_schema(packed["token_ids"], packed["padding_mask"])))
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, backbone.hidden_dim), np.float32)


def to_model_inputs(batch: dict, table: tf.Tensor) -> tuple[dict, dict]:
    """Arrays (element indices) -> model features (element vectors) and labels.

    The turn is cut to the batch's longest one (span labels point inside it).
    """
    def vectors(index):
        return tf.gather(table, tf.where(index >= 0, index, tf.shape(table)[0] - 1))

    # Cut the batch to its longest turn: most turns are far shorter than the
    # token budget, and the encoder's cost grows with the padded length.
    length = tf.reduce_max(tf.reduce_sum(tf.cast(batch["padding_mask"], tf.int32), axis=1))
    features = {k: batch[k][:, :length] for k in ("token_ids", "segment_ids", "padding_mask", "span_mask")}
    features.update(intents=vectors(batch["intent_index"]), intent_mask=batch["intent_index"] >= 0,
                    slots=vectors(batch["slot_index"]), slot_mask=batch["slot_index"] >= 0,
                    values=vectors(batch["value_index"]), value_mask=batch["value_index"] >= 0)
    return features, {k: batch[k] for k in LABELS}


def dummy_features(s: DSTModelSection, length: int, dim: int, batch: int = 1) -> dict:
    """All-padding features of the model's shapes (to build it)."""
    ids = np.zeros((batch, length), np.int32)
    return {"token_ids": ids, "segment_ids": ids, "padding_mask": ids == 0, "span_mask": ids == 0,
            "intents": np.zeros((batch, s.max_intents, dim), np.float32),
            "intent_mask": np.ones((batch, s.max_intents), bool),
            "slots": np.zeros((batch, s.max_slots, dim), np.float32),
            "slot_mask": np.ones((batch, s.max_slots), bool),
            "values": np.zeros((batch, s.max_slots, s.max_values, dim), np.float32),
            "value_mask": np.ones((batch, s.max_slots, s.max_values), bool)}


def _make_task(config: TrainConfig) -> DSTTask:
    return DSTTask(config)


def _export(model, task: DSTTask, config: TrainConfig, base_dir: str, version) -> str:
    from lepton_tf.export.dst_servable import export_dst

    return export_dst(model, task.preprocessor, base_dir=base_dir, name="dst", version=version)


def _trainable():
    from lepton_tf.tasks.registry import Trainable
    return Trainable(config=os.path.join("configs", "dst.yaml"), make_task=_make_task, export=_export)


TRAINABLE = _trainable()
