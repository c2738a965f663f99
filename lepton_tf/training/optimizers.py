"""Optimizer and learning-rate schedule from a `TrainConfig`."""

from __future__ import annotations

import keras

from lepton_tf.training.config import TrainConfig


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    """AdamW with linear warm-up and cosine decay over the whole run.

    Args:
        config: reads `learning_rate`, `warmup_steps`, `weight_decay`,
            `clipnorm` and the run length.

    Returns:
        A Keras optimizer; its schedule depends only on the optimizer's step
        counter, which the backup restores, so a resumed run continues it.
    """
    total = max(config.total_steps, config.warmup_steps + 1)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if config.warmup_steps else config.learning_rate,
        decay_steps=total - config.warmup_steps,
        warmup_target=config.learning_rate if config.warmup_steps else None,
        warmup_steps=config.warmup_steps,
    )
    kwargs = {"clipnorm": config.clipnorm} if config.clipnorm else {}
    return keras.optimizers.AdamW(learning_rate=schedule,
                                  weight_decay=config.weight_decay, **kwargs)
