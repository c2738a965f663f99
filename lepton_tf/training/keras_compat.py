"""Work-arounds for Keras 3 `fit()` under `MultiWorkerMirroredStrategy`.

Keras 3.15 on the TensorFlow backend breaks in two places when the strategy
spans several workers (keras-team/keras#20585, tensorflow/tensorflow#72388):

1. `_maybe_symbolic_build` all-reduces a *data* batch across workers, only to
   read its shapes; the eager collective fails with "Attempt to convert a
   value (PerReplica...)". Taking the local replica's batch gives the same
   shapes without a collective.
2. `reduce_per_replica` means the per-replica logs with `axis=0`, which fails
   on the scalar losses and metrics ("Invalid reduction dimension 0").
   Scalars need `axis=None`.

Both patches are no-ops for every other strategy. Remove this module once a
Keras release fixes them (checked against the pinned keras==3.15.1).
"""

from __future__ import annotations

import tensorflow as tf
from keras.src import tree
from keras.src.backend.tensorflow import trainer as tf_trainer

_PATCHED = False


def _local_symbolic_build(self, iterator=None, data_batch=None):
    if self._distribute_strategy is None:
        return
    strategy = self.distribute_strategy
    if iterator is not None:
        for _, _, it in iterator:
            batch = next(it)
            break
        data_batch = tree.map_structure(
            lambda x: strategy.experimental_local_results(x)[0]
            if isinstance(x, tf.distribute.DistributedValues) else x, batch)
    with strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _make_reduce_per_replica(original):
    def reduce_per_replica(values, strategy, reduction):
        if not (tf_trainer._collective_all_reduce_multi_worker(strategy)
                and reduction in ("auto", "mean")):
            return original(values, strategy, reduction)

        def reduce_one(value):
            local = (strategy.experimental_local_results(value)
                     if tf_trainer._is_per_replica_instance(value) else (value,))
            axis = None if local[0].shape.rank == 0 else 0
            return strategy.reduce("MEAN", value, axis=axis)

        return tree.map_structure(reduce_one, values)

    return reduce_per_replica


def patch_keras_for_multi_worker() -> None:
    """Installs both fixes once per process."""
    global _PATCHED
    if _PATCHED:
        return
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _local_symbolic_build
    tf_trainer.reduce_per_replica = _make_reduce_per_replica(
        tf_trainer.reduce_per_replica)
    _PATCHED = True
