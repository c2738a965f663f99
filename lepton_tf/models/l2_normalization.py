"""L2 normalisation as a serialisable layer."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="lepton_tf")
class L2Normalization(keras.layers.Layer):
    """Scales each vector to unit length (in float32, whatever the policy).

    Example:

    >>> import numpy as np
    >>> L2Normalization()(np.array([[3.0, 4.0]])).numpy().astype(float).round(6).tolist()
    [[0.6, 0.8]]
    """

    def call(self, inputs):
        return ops.normalize(ops.cast(inputs, "float32"), axis=-1, order=2)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype="float32")
