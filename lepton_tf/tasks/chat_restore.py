"""A `ChatModel` rebuilt from an exported `chat` SavedModel (its Keras weights lost).

The `chat` servable (`export.chat_servable.ChatServable`) tracks its Keras
model as the attribute `model`, so the SavedModel's variables are a
TensorFlow object-graph checkpoint whose `model/...` entries are the
model's weights. A `ChatModel` built with the same sizes (the training
config's `model:` section and vocabulary) restores them with
`tf.train.Checkpoint(model=...)`, and every one of its weights must be
matched: a wrong size or a missing weight fails instead of exporting a
half-random model. This is how the shipped chat weights (trained by
`configs/chat_continued.yaml`, whose run is not in git) are re-exported when
the servable changes (`chat/5`: the same weights, inputs checked in the graph):

    lepton-tf export chat --from-saved-model saved_models/chat/4 \\
        --config configs/chat_continued.yaml --version 5
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import tensorflow as tf


def build(model) -> None:
    """Creates the model's weights with one forward pass on `[PAD]`s."""
    ids = np.zeros((1, model.context_length), np.int32)
    reply = np.zeros((1, model.reply_length), np.int32)
    model({"encoder_token_ids": ids, "encoder_padding_mask": ids != 0,
           "decoder_token_ids": reply, "decoder_padding_mask": reply != 0}, training=False)


def restore_from_saved_model(model, saved_model_dir: str) -> None:
    """Loads `saved_model_dir`'s `model/...` variables into the built `model`.

    Raises:
        AssertionError: a weight of `model` is not in the SavedModel, or its
            shape differs.
        ValueError: a shape mismatch while restoring.
    """
    build(model)
    path = os.path.join(saved_model_dir, "variables", "variables")
    # `read`, not `restore`: a SavedModel has no checkpoint `save_counter`.
    status = tf.train.Checkpoint(model=model).read(path)
    status.assert_existing_objects_matched()
    reader = tf.train.load_checkpoint(path)
    stored = {k for k in reader.get_variable_to_shape_map() if k.startswith("model/")}
    if len(model.weights) > len(stored):
        raise AssertionError(f"{saved_model_dir} holds {len(stored)} model weights, the "
                             f"model has {len(model.weights)}")


def restore_with_fewer_positions(model, saved_model_dir: str) -> None:
    """Like `restore_from_saved_model`, for a `model` whose position table is shorter
    than the SavedModel's (a shorter context: the reply generator reads acts, not
    dialogues): the stored model is rebuilt at its own length, and its weights are
    copied over, the position table cut to the first positions.

    Raises:
        AssertionError: the two models' weights differ other than in positions.
    """
    from lepton_tf.models.chat import ChatModel

    reader = tf.train.load_checkpoint(os.path.join(saved_model_dir, "variables", "variables"))
    positions = max(shape[0] for key, shape in reader.get_variable_to_shape_map().items()
                    if key.startswith("model/") and "position_embedding" in key)
    config = {k: v for k, v in model.get_config().items() if k not in ("name", "trainable", "dtype")}
    donor = ChatModel(**{**config, "context_length": positions}, name="chat_model")
    restore_from_saved_model(donor, saved_model_dir)
    build(model)
    if len(model.weights) != len(donor.weights):
        raise AssertionError(f"{len(model.weights)} weights, the stored model has "
                             f"{len(donor.weights)}")
    for mine, stored in zip(model.weights, donor.weights):
        value = stored.numpy()
        if tuple(mine.shape) != value.shape:
            if tuple(mine.shape[1:]) != value.shape[1:] or mine.shape[0] > value.shape[0]:
                raise AssertionError(f"{mine.path}: {tuple(mine.shape)} against {value.shape}")
            value = value[:mine.shape[0]]
        mine.assign(value)


def chat_model_from_saved_model(saved_model_dir: str, config_path: str):
    """`(model, task, config)`: the config's `ChatModel` with the SavedModel's weights."""
    from lepton_tf.models.chat import ChatModel
    from lepton_tf.tasks.chat import ChatTask, chat_model
    from lepton_tf.training import load_config

    config = load_config(config_path)
    task = ChatTask()
    model = ChatModel(vocabulary_size=task.get_tokenizer(config).vocabulary_size,
                      name="chat_model", **dataclasses.asdict(chat_model(config)))
    restore_from_saved_model(model, saved_model_dir)
    return model, task, config
