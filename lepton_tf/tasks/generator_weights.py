"""The trained reply generator as a small file the package ships.

Every variable of the generator's `ChatModel` as float16 in a compressed ``.npz``
(`training.weights_archive`), with its model section, its vocabulary (so the file
alone rebuilds it) and its export options; `load_generator` rebuilds the model
offline and `lepton-tf main` exports the `reply_generator` servable from it.

    lepton-tf export reply_generator --run runs/reply_generator \\
        --checkpoint runs/reply_generator/backup/ckpt-2000 \\
        --weights-file data/reply_generator/generator_weights.npz
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from lepton_tf.data.paths import data_dir
from lepton_tf.models.chat import ChatModel
from lepton_tf.tasks.sections import chat_model, generator_data
from lepton_tf.text import ChatTokenizer
from lepton_tf.training.weights_archive import read_archive, write_archive

FORMAT = "lepton_tf.reply_generator_weights.v1"
SHIPPED = ("reply_generator", "generator_weights.npz")


def shipped_weights_path() -> str:
    """The trained weights the package ships (``data/reply_generator/generator_weights.npz``)."""
    return os.path.join(data_dir(), *SHIPPED)


def save_generator_weights(model: ChatModel, tokenizer: ChatTokenizer, config, path: str,
                           made_by: str = "") -> str:
    """Write the model's variables (float16), model section, vocabulary and export
    options to ``path``.

    Args:
        model: the trained generator.
        tokenizer: its tokenizer (the vocabulary is stored with the weights).
        config: the run's `TrainConfig`.
        path: the ``.npz`` file to write.
        made_by: the command that wrote it (kept in the file, for provenance).

    Returns:
        ``path``.
    """
    meta = {"format": FORMAT, "model": dataclasses.asdict(chat_model(config)),
            "vocabulary": list(tokenizer.get_vocabulary()),
            "export": dict(generator_data(config).export), "made_by": made_by,
            "variables": [[v.path, list(v.shape)] for v in model.weights]}
    write_archive(path, [v.numpy() for v in model.weights], meta)
    return path


def load_generator(path: str) -> tuple[ChatModel, ChatTokenizer, dict]:
    """`(model, tokenizer, export options)` rebuilt from a file of `save_generator_weights`.

    Raises:
        ValueError: not such a file, or one that does not fit the architecture it
            names (a variable missing, extra, or of another shape).
    """
    from lepton_tf.tasks.chat_restore import build

    meta, stored = read_archive(path, FORMAT)
    tokenizer = ChatTokenizer(meta["vocabulary"])
    model = ChatModel(vocabulary_size=tokenizer.vocabulary_size, name="chat_model",
                      **meta["model"])
    build(model)
    if len(stored) != len(model.weights):
        raise ValueError(f"{path}: {len(stored)} variables, the model has {len(model.weights)}")
    for i, (variable, value) in enumerate(zip(model.weights, stored)):
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{path}: variable {i} ({meta['variables'][i][0]}) has shape "
                             f"{tuple(value.shape)}, the model's {tuple(variable.shape)}")
        variable.assign(value.astype(np.float32))
    return model, tokenizer, meta["export"]
