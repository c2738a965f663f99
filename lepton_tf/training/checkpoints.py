"""Step-exact backup and restore, and kept epoch checkpoints.

Keras' own `BackupAndRestore` resumes at the start of the interrupted epoch
(its saved batch number is never read back), so a run killed mid-epoch
replays batches and ends with other weights than an uninterrupted run. Here
the backup records the global step; the trainer skips exactly that many
batches of its deterministic input stream, so a resumed run reproduces the
uninterrupted one.

Both use `tf.train.CheckpointManager`, which writes the data files first and
then atomically replaces the `checkpoint` index: a kill during a save leaves
the previous backup usable.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import keras
import tensorflow as tf


class TrainingState:
    """The variables that define where a run is: model, optimizer, step.

    `model.variables` includes the random-seed generator states (dropout), so
    a restored run draws the same dropout masks as an uninterrupted one.

    Args:
        model: a built, compiled Keras model.
        output_dir: the run's folder; holds `backup/` and `checkpoints/`.
        chief: whether this worker writes the real files. Other workers of a
            multi-worker run must still save (the save is collective), into a
            temporary folder that is then deleted.
        keep_checkpoints: how many epoch checkpoints to keep.
    """

    def __init__(self, model: keras.Model, output_dir: str, *, chief: bool = True,
                 keep_checkpoints: int = 2):
        self.model = model
        self.chief = chief
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.checkpoint = tf.train.Checkpoint(
            model_variables=list(model.variables),
            optimizer_variables=list(model.optimizer.variables),
            step=self.step)
        self.backup_dir = os.path.join(output_dir, "backup")
        self.checkpoint_dir = os.path.join(output_dir, "checkpoints")
        self._scratch = None
        if not chief:
            self._scratch = tempfile.mkdtemp(prefix="lepton-worker-")
        self.backup = tf.train.CheckpointManager(
            self.checkpoint, self._dir(self.backup_dir), max_to_keep=2)
        self.epochs = tf.train.CheckpointManager(
            self.checkpoint, self._dir(self.checkpoint_dir),
            max_to_keep=keep_checkpoints, checkpoint_name="epoch")

    def _dir(self, path: str) -> str:
        if self.chief:
            return path
        return os.path.join(self._scratch, os.path.basename(path))

    def restore_backup(self) -> int:
        """Restores the latest backup if there is one.

        Returns:
            The global step to resume from (0 for a fresh run).
        """
        latest = self.backup.latest_checkpoint
        if latest is None:
            return 0
        self.checkpoint.restore(latest).assert_existing_objects_matched()
        return int(self.step.numpy())

    def save_backup(self, step: int) -> None:
        self.step.assign(step)
        self.backup.save(checkpoint_number=step)

    def save_epoch(self, epoch: int, step: int) -> None:
        self.step.assign(step)
        self.epochs.save(checkpoint_number=epoch)

    def clear_backup(self) -> None:
        """Drops the backup once training finished, as Keras does."""
        shutil.rmtree(self._dir(self.backup_dir), ignore_errors=True)
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)


class StepBackupCallback(keras.callbacks.Callback):
    """Saves `TrainingState` every `every_steps` steps and at each epoch end.

    Args:
        state: the run's `TrainingState`.
        every_steps: backup interval in global steps.
        steps_per_epoch: to turn (epoch, batch) into a global step.
    """

    def __init__(self, state: TrainingState, every_steps: int, steps_per_epoch: int,
                 first_step: int = 0):
        super().__init__()
        self.state = state
        self.every_steps = every_steps
        self.steps_per_epoch = steps_per_epoch
        self.global_step = first_step

    def on_train_batch_end(self, batch, logs=None):
        self.global_step += 1
        if self.global_step % self.every_steps == 0:
            self.state.save_backup(self.global_step)

    def on_epoch_end(self, epoch, logs=None):
        # An epoch of a resumed run may be a partial one: the global step,
        # not the batch count, says whether the epoch is really complete.
        if self.global_step % self.steps_per_epoch == 0:
            self.state.save_backup(self.global_step)
            self.state.save_epoch(epoch + 1, self.global_step)
