"""The registry of trainable models: `train()` and `export_run()`.

A trainable model is a module `lepton_tf/tasks/<name>.py` with a
`TRAINABLE = Trainable(...)` attribute: its default config, a task factory
(config -> task) and an exporter ((model, task, config, base_dir, version)
-> version path). Adding a model is adding such a module.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import pkgutil
from typing import Callable

DEFAULT_BASE_DIR = "saved_models"
# The precisions an export computes in, as the Keras policy its model is built
# under. `bfloat16` keeps the variables, pooling, normalisation and signatures
# in float32 (SentenceEncoder declares them) and runs the matrix products in
# bfloat16: measured for the encoder only (docs/benchmarks.md), so only it.
EXPORT_PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
REDUCED_PRECISION_MODELS = ("encoder",)
_NOT_TASKS = {"registry", "sections", "intent_head", "chat_restore", "dst_examples", "dst_weights"}  # parts of tasks


@dataclasses.dataclass(frozen=True)
class Trainable:
    config: str
    make_task: Callable
    export: Callable


def discover() -> list[str]:
    """Names of the task modules in `lepton_tf.tasks` (not imported yet)."""
    import lepton_tf.tasks

    return sorted(info.name for info in pkgutil.iter_modules(lepton_tf.tasks.__path__)
                  if info.name not in _NOT_TASKS)


def load(name: str) -> Trainable:
    module = importlib.import_module(f"lepton_tf.tasks.{name}")
    if not hasattr(module, "TRAINABLE"):
        raise ValueError(f"lepton_tf.tasks.{name} defines no TRAINABLE.")
    return module.TRAINABLE


def check_export_precision(name: str, precision: str) -> str:
    """The Keras policy that exports `name` in `precision`.

    Raises:
        ValueError: for an unknown precision, or a reduced one for a model
            other than `REDUCED_PRECISION_MODELS`.
    """
    if precision not in EXPORT_PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(EXPORT_PRECISIONS)}, "
                         f"not {precision!r}.")
    if precision != "float32" and name not in REDUCED_PRECISION_MODELS:
        raise ValueError(f"--precision {precision} exports {', '.join(REDUCED_PRECISION_MODELS)}"
                         f" only, not {name}: the others are exported in float32.")
    return EXPORT_PRECISIONS[precision]


@contextlib.contextmanager
def export_policy(name: str, precision: str):
    """Builds and exports `name` under `precision`'s Keras policy, then puts
    back the policy that was global before (a model's layers keep theirs).

    Raises:
        ValueError: as `check_export_precision`.
    """
    import keras

    policy = check_export_precision(name, precision)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def train(name: str, *, config_path=None, base_dir=DEFAULT_BASE_DIR, export=False,
          version=None, **overrides) -> str | None:
    """Trains a registered model from its config; optionally exports it.

    Returns:
        The exported version folder, or None when not exported (or not chief).
    """
    from lepton_tf.training import Trainer, load_config

    trainable = load(name)
    config = load_config(config_path or trainable.config, **overrides)
    task = trainable.make_task(config)
    trainer = Trainer(config)  # step lines with an ETA when not on a terminal
    model = trainer.fit(task)
    if not trainer.chief:
        return None
    weights = os.path.join(config.output_dir, "final.weights.h5")
    model.save_weights(weights)
    print(f"Trained {name}: weights in {weights}")
    return export_run(name, config.output_dir, base_dir, version) if export else None


def restore_run(name: str, run_dir: str, checkpoint: str | None = None,
                precision: str = "float32"):
    """A fresh, never-compiled model of a run, with its trained weights.

    Args:
        name: the task.
        run_dir: the run's output_dir.
        checkpoint: a step backup or epoch checkpoint of the run (e.g.
            ``runs/dst/backup/ckpt-400``) instead of its ``final.weights.h5``.
        precision: an `EXPORT_PRECISIONS` key: the global Keras policy the
            model is built under (and left set, for its export).

    Returns:
        ``(model, task, config)``.
    """
    import keras
    import tensorflow as tf

    from lepton_tf.training import load_config

    trainable = load(name)
    config = load_config(os.path.join(run_dir, "config.yaml"))
    keras.mixed_precision.set_global_policy(check_export_precision(name, precision))
    task = trainable.make_task(config)
    model = task.build_model(config)
    if checkpoint:
        # The backup holds the model's variables in order, then the optimizer's.
        tf.train.Checkpoint(model_variables=list(model.variables)).restore(checkpoint).expect_partial()
    else:
        model.load_weights(os.path.join(run_dir, "final.weights.h5"))
    return model, task, config


def export_run(name: str, run_dir: str, base_dir: str = DEFAULT_BASE_DIR,
               version: int | None = None, checkpoint: str | None = None,
               precision: str = "float32") -> str:
    """Exports a run's `final.weights.h5` (or ``checkpoint``) into a fresh model.

    Exporting a fresh, never-compiled copy keeps the optimizer's slots (2x
    the weights for Adam) out of the SavedModel. By default the copy
    computes in float32 whatever precision trained it (a `mixed_bfloat16`
    run's variables are float32), so a servable answers the same on every
    CPU; `precision="bfloat16"` (the encoder only) trades that for speed on
    CPUs with bfloat16 kernels, its signatures still float32.

    Raises:
        ValueError: as `check_export_precision`.
    """
    with export_policy(name, precision):
        model, task, config = restore_run(name, run_dir, checkpoint, precision)
        path = load(name).export(model, task, config, base_dir, version)
    print(f"Exported {name} -> {path}" if precision == "float32"
          else f"Exported {name} ({precision}) -> {path}")
    return path
