"""Optimizer and learning-rate schedule from a `TrainConfig`."""

from __future__ import annotations

import keras

from lepton_tf.training.config import TrainConfig
from lepton_tf.training.scaled_adamw import ScaledAdamW


def make_optimizer(config: TrainConfig,
                   learning_rate_multipliers: dict[str, float] | None = None) -> keras.optimizers.Optimizer:
    """AdamW with linear warm-up and cosine decay over the whole run.

    Args:
        config: reads `learning_rate`, `warmup_steps`, `weight_decay`,
            `clipnorm` and the run length.
        learning_rate_multipliers: variable-path substring -> learning-rate
            multiplier (see `ScaledAdamW`); none: one rate for every variable.

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
    if learning_rate_multipliers:
        return ScaledAdamW(learning_rate_multipliers, learning_rate=schedule,
                           weight_decay=config.weight_decay, **kwargs)
    return keras.optimizers.AdamW(learning_rate=schedule,
                                  weight_decay=config.weight_decay, **kwargs)
