"""An endless training stream whose order depends on the seed alone.

`Dataset.shuffle(seed=s, reshuffle_each_iteration=True)` reshuffles per
*iterator*: each `iter()` of the same dataset in one process gives another
order. Keras opens several iterators (one to build the model, one per `fit`
call), so a resumed run would read other batches than an uninterrupted one.
Here epoch `e` is the stateless permutation keyed by `(seed, e)`: the stream
is a pure function of the seed, and skipping `n` batches of it lands exactly
where an uninterrupted run was after `n` steps.
"""

from __future__ import annotations

import tensorflow as tf


def epoch_shuffled_stream(elements, *, batch_size: int, seed: int,
                          drop_remainder: bool = True) -> tf.data.Dataset:
    """Endless batches, reshuffled each epoch, reproducible from `seed`.

    Args:
        elements: a tensor, or a nested structure (tuple/dict) of tensors or
            arrays sharing their first dimension: one row per example.
        batch_size: global batch size.
        seed: the shuffle seed; epoch `e` uses the permutation of `(seed, e)`.
        drop_remainder: drop each epoch's last partial batch (keeps every
            batch the same shape, which distributed training wants).

    Returns:
        A `tf.data.Dataset` of batches, never ending.

    Raises:
        ValueError: for an empty input, a bad batch size, or rows that differ
            in length between the structure's members.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    tensors = tf.nest.map_structure(tf.convert_to_tensor, elements)
    lengths = {int(t.shape[0]) for t in tf.nest.flatten(tensors)}
    if len(lengths) != 1:
        raise ValueError(f"All members need the same number of rows; got {sorted(lengths)}.")
    (num_rows,) = lengths
    if num_rows == 0:
        raise ValueError("Cannot stream an empty dataset.")
    if drop_remainder and num_rows < batch_size:
        raise ValueError(f"{num_rows} rows make no full batch of {batch_size}.")

    def epoch(e):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(num_rows, dtype=tf.int64),
            seed=tf.stack([tf.constant(seed, tf.int64), e]))
        return tf.data.Dataset.from_tensor_slices(order)

    rows = tf.data.Dataset.counter().flat_map(epoch)
    gather = lambda i: tf.nest.map_structure(lambda t: tf.gather(t, i), tensors)
    batches = rows.batch(batch_size, drop_remainder=drop_remainder)
    # Epoch boundaries stay inside a batch when the remainder is kept; that
    # is what an endless stream means, and it is still seed-determined.
    return batches.map(gather, num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=True).prefetch(tf.data.AUTOTUNE)
