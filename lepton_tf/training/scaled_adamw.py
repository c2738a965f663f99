"""AdamW whose learning rate is scaled per variable, by the variable's path.

Fresh heads on a pretrained encoder need a larger step than the encoder's
fine-tuned layers: with one learning rate either the heads crawl or the
pretrained weights are wrecked. Scaling gradients instead would not help, as
Adam's update does not depend on the gradient's scale.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="lepton_tf")
class ScaledAdamW(keras.optimizers.AdamW):
    """AdamW with ``learning_rate * multiplier`` for variables whose path contains a key.

    Args:
        learning_rate_multipliers: substring of a variable's path (e.g. ``"schema_heads/"``)
            -> multiplier of the learning rate; the first key found wins, others get 1.
        **kwargs: AdamW's arguments.
    """

    def __init__(self, learning_rate_multipliers: dict[str, float] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.learning_rate_multipliers = {str(k): float(v) for k, v in (learning_rate_multipliers or {}).items()}

    def multiplier(self, variable) -> float:
        """The learning-rate multiplier of one variable."""
        path = getattr(variable, "path", variable.name)
        for key, value in self.learning_rate_multipliers.items():
            if key in path:
                return value
        return 1.0

    def build(self, var_list):
        super().build(var_list)
        # update_step sees the backend's variable (a tf.Variable, without the
        # Keras path), so the multipliers are looked up by the variable's index.
        self._scales = [self.multiplier(v) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        scale = self._scales[self._get_variable_index(variable)]
        return super().update_step(gradient, variable, learning_rate * scale if scale != 1.0 else learning_rate)

    def get_config(self):
        config = super().get_config()
        config["learning_rate_multipliers"] = dict(self.learning_rate_multipliers)
        return config
