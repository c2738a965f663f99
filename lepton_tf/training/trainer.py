"""The training loop every lepton-tf model goes through."""

from __future__ import annotations

import logging
import os
import sys

import keras
import tensorflow as tf

from lepton_tf.training.checkpoints import StepBackupCallback, TrainingState
from lepton_tf.training.config import TrainConfig, save_config
from lepton_tf.training.optimizers import make_optimizer
from lepton_tf.training.step_progress import StepProgress
from lepton_tf.training.strategy import is_chief, make_strategy
from lepton_tf.training.task import Task

log = logging.getLogger(__name__)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seeds Python, NumPy and TensorFlow; optionally makes ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


class Trainer:
    """Runs `Model.fit` for a `Task` under the strategy a config names.

    What it adds to a bare `fit`: the `tf.distribute` strategy from config,
    mixed precision and XLA by flag, AdamW with warm-up and cosine decay,
    a step-exact backup so a killed run resumes where it stopped (also in
    the middle of an epoch), kept epoch checkpoints, TensorBoard logs and a
    progress bar, with only the chief worker writing files.

    Example:

    >>> from lepton_tf.tasks.intent import IntentTask
    >>> from lepton_tf.training import Trainer, TrainConfig
    >>> config = TrainConfig(name="intent", output_dir="runs/intent", epochs=1,
    ...                      steps_per_epoch=50, model={"hidden_dim": 64})
    >>> model = Trainer(config).fit(IntentTask())  # doctest: +SKIP

    (Skipped in the doctests: it trains on Banking77 for minutes.)

    Args:
        config: the run's `TrainConfig`.
        strategy: an existing strategy; by default made from
            `config.strategy` (create the trainer before other TF work).
        verbose: progress display: `auto` (Keras' bar on a terminal, else
            `StepProgress` lines), 1 (the bar), 2 (`StepProgress` lines only,
            with the last validation metrics), 0 (none).
        progress_every_seconds: how often `StepProgress` prints a line.
    """

    def __init__(self, config: TrainConfig, strategy: tf.distribute.Strategy | None = None,
                 verbose: int | str = "auto", progress_every_seconds: float = 15.0):
        self.config = config
        self.verbose = verbose
        self.progress_every_seconds = progress_every_seconds
        seed_everything(config.seed, config.deterministic)
        self.strategy = strategy or make_strategy(config.strategy, config.tpu)
        self.chief = is_chief(self.strategy)
        keras.mixed_precision.set_global_policy(config.precision)
        if self.chief:
            save_config(config, os.path.join(config.output_dir, "config.yaml"))

    def build(self, task: Task) -> keras.Model:
        """Builds and compiles the task's model inside the strategy scope."""
        with self.strategy.scope():
            model = task.build_model(self.config)
            if not model.built:
                raise ValueError(
                    f"{type(task).__name__}.build_model must return a built model "
                    "(create it with keras.Input or call it once on a batch).")
            # A task may give its fresh layers a larger step than its pretrained ones.
            multipliers = getattr(task, "learning_rate_multipliers", None)
            model.compile(optimizer=make_optimizer(self.config, multipliers(self.config) if multipliers else None),
                          jit_compile=self.config.jit_compile,
                          **task.compile_args(self.config))
            model.optimizer.build(model.trainable_variables)
        return model

    def fit(self, task: Task, model: keras.Model | None = None) -> keras.Model:
        """Trains (or resumes training of) the task's model.

        Args:
            task: what to train.
            model: an already built model to train (default: `build(task)`).

        Returns:
            The trained Keras model.
        """
        config = self.config
        model = model or self.build(task)
        state = TrainingState(model, config.output_dir, chief=self.chief,
                              keep_checkpoints=config.keep_checkpoints)
        step = state.restore_backup()
        if step:
            log.info("Resuming %s from step %d of %d.", config.name, step,
                     config.total_steps)
        stream = task.train_dataset(config)
        validation = task.validation_dataset(config)
        spe = config.steps_per_epoch
        while step < config.total_steps:
            epoch, done_in_epoch = divmod(step, spe)
            # A run resumed mid-epoch first finishes that epoch's remaining
            # steps, so epochs keep their boundaries and the data its order.
            steps = spe - done_in_epoch
            callbacks = [StepBackupCallback(state, config.backup_every_steps, spe,
                                            first_step=step)]
            if self.chief:
                callbacks.append(keras.callbacks.TensorBoard(
                    os.path.join(config.output_dir, "logs"), update_freq="epoch"))
            verbose = self._keras_verbose()
            if verbose == 2:
                callbacks.append(StepProgress(config.name, config.total_steps, first_step=step,
                                              every_seconds=self.progress_every_seconds))
                # A log gets our lines only: Keras' own (one "Epoch n/N" block per
                # epoch) would repeat them, 40 times for a 40-epoch head.
                verbose = 0
            last_epoch = config.epochs if done_in_epoch == 0 else epoch + 1
            model.fit(stream.skip(step), initial_epoch=epoch, epochs=last_epoch,
                      steps_per_epoch=steps if done_in_epoch else spe,
                      validation_data=validation, callbacks=callbacks,
                      shuffle=False, verbose=verbose)
            step = callbacks[0].global_step
        state.clear_backup()
        return model

    def _keras_verbose(self) -> int:
        """1: Keras' bar (a terminal); 2: `StepProgress` lines only (a log); 0: silent."""
        if not self.chief or self.verbose == 0:
            return 0
        if self.verbose == "auto":
            return 1 if sys.stdout.isatty() else 2
        return int(self.verbose)
