"""What the main job builds and serves, where: one set of defaults for
`lepton-tf main` and `lepton-tf serve` (with no model flags)."""

from __future__ import annotations

import os

from lepton_tf.commands.index import DEFAULT_INDEX_DIR
from lepton_tf.tasks.registry import DEFAULT_BASE_DIR

SERVABLES = ("encoder", "intent", "chat")
# Served when exported: the main job exports `dst` and `reply_generator` from the
# trained weights the package ships (`lepton_tf.tasks.dst_weights`,
# `lepton_tf.tasks.generator_weights`), when it ships them.
OPTIONAL_SERVABLES = ("dst", "reply_generator")
MODELS_CONFIG = os.path.join("runs", "main", "models.config")
# Per-model request limits: the chat decode holds ~9 MB per row and
# TensorFlow keeps the peak, so chat takes at most 64 rows, run 2 at a time.
REQUEST_LIMITS = os.path.join("serving", "request_limits.json")


def default_request_limits() -> str | None:
    """`serving/request_limits.json` when it is there (a clone), else None."""
    return REQUEST_LIMITS if os.path.isfile(REQUEST_LIMITS) else None



def served_names(base_dir: str = DEFAULT_BASE_DIR) -> tuple[str, ...]:
    """`SERVABLES`, plus each optional servable with a version in `base_dir`."""
    from lepton_tf.export import latest_version_path

    return SERVABLES + tuple(n for n in OPTIONAL_SERVABLES if latest_version_path(base_dir, n))


__all__ = ["DEFAULT_BASE_DIR", "DEFAULT_INDEX_DIR", "MODELS_CONFIG", "OPTIONAL_SERVABLES", "REQUEST_LIMITS",
           "SERVABLES", "default_request_limits", "served_names", "write_models_config"]


def write_models_config(base_dir: str = DEFAULT_BASE_DIR, names=SERVABLES,
                        path: str = MODELS_CONFIG) -> str:
    """`server.config.write_models_config` with the main job's defaults."""
    from lepton_tf.server.config import write_models_config as write

    return write(base_dir, names, path)
