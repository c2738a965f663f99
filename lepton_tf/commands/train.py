"""`lepton-tf train MODEL` and `lepton-tf export MODEL`.

A trainable model is a module `lepton_tf/tasks/<name>.py` with a
`TRAINABLE = Trainable(...)` attribute: its default config, a task factory
(config -> task) and an exporter ((model, task, config, base_dir, version)
-> version path). Adding a model is adding such a module.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import pkgutil
from typing import Callable

DEFAULT_BASE_DIR = "saved_models"


@dataclasses.dataclass(frozen=True)
class Trainable:
    config: str
    make_task: Callable
    export: Callable


def discover() -> list[str]:
    """Names of the task modules in `lepton_tf.tasks` (not imported yet)."""
    import lepton_tf.tasks

    return sorted(info.name for info in pkgutil.iter_modules(lepton_tf.tasks.__path__))


def load(name: str) -> Trainable:
    module = importlib.import_module(f"lepton_tf.tasks.{name}")
    if not hasattr(module, "TRAINABLE"):
        raise ValueError(f"lepton_tf.tasks.{name} defines no TRAINABLE.")
    return module.TRAINABLE


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


def export_run(name: str, run_dir: str, base_dir: str = DEFAULT_BASE_DIR,
               version: int | None = None) -> str:
    """Exports a finished run's `final.weights.h5` into a fresh model.

    Exporting a fresh, never-compiled copy keeps the optimizer's slots (2x
    the weights for Adam) out of the SavedModel.
    """
    from lepton_tf.training import load_config

    trainable = load(name)
    config = load_config(os.path.join(run_dir, "config.yaml"))
    task = trainable.make_task(config)
    model = task.build_model(config)
    model.load_weights(os.path.join(run_dir, "final.weights.h5"))
    path = trainable.export(model, task, config, base_dir, version)
    print(f"Exported {name} -> {path}")
    return path


def run_train(args) -> int:
    train(args.model, config_path=args.config, base_dir=args.base_dir, export=args.export,
          output_dir=args.output_dir, strategy=args.strategy, epochs=args.epochs,
          seed=args.seed)
    return 0


def run_export(args) -> int:
    export_run(args.model, args.run, args.base_dir, args.version)
    return 0


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model through the tf.distribute trainer")
    p.add_argument("model", choices=discover(), help="the model to train")
    p.add_argument("--config", help="YAML config (default configs/<model>.yaml)")
    p.add_argument("--output-dir", help="run folder (default: the config's output_dir)")
    p.add_argument("--strategy", choices=["default", "mirrored", "multi_worker", "tpu"],
                   help="tf.distribute strategy (default: the config's)")
    p.add_argument("--epochs", type=int, help="epochs to train (default: the config's)")
    p.add_argument("--seed", type=int, help="random seed (default: the config's)")
    p.add_argument("--export", action="store_true", help="export the trained servable")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR,
                   help=f"model base folder to export into (default {DEFAULT_BASE_DIR})")
    p.set_defaults(fn=run_train)

    p = sub.add_parser("export", help="export a trained run as a TF Serving version")
    p.add_argument("model", choices=discover(), help="the model to export")
    p.add_argument("--run", required=True, help="the run's output_dir")
    p.add_argument("--base-dir", default=DEFAULT_BASE_DIR,
                   help=f"model base folder (default {DEFAULT_BASE_DIR})")
    p.add_argument("--version", type=int, help="version number (default: the next free one)")
    p.set_defaults(fn=run_export)
