"""Mean over the non-padding positions of a sequence."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="lepton_tf")
class MaskedMeanPooling(keras.layers.Layer):
    """Averages `[B, L, D]` vectors over positions where `padding_mask` is True.

    This is the sentence-transformers pooling of all-MiniLM-L6-v2. A row with
    no real token gives zeros rather than NaN.

    Example:

    >>> import numpy as np
    >>> x = np.ones((1, 3, 2)); mask = np.array([[True, True, False]])
    >>> tuple(MaskedMeanPooling()(x, mask).shape)
    (1, 2)
    """

    def call(self, sequence, padding_mask):
        mask = ops.cast(ops.expand_dims(padding_mask, -1), sequence.dtype)
        total = ops.sum(sequence * mask, axis=1)
        count = ops.maximum(ops.sum(mask, axis=1), 1.0)
        return total / count

    def compute_output_shape(self, sequence_shape, padding_mask_shape=None):
        return (sequence_shape[0], sequence_shape[-1])
