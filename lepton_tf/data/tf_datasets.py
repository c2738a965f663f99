"""Deterministic `tf.data` datasets from in-memory arrays (training input, not Beam)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

ArrayLike = Sequence[Any] | np.ndarray


def _as_array(name: str, values: ArrayLike) -> np.ndarray:
    try:
        array = np.asarray(values)
    except ValueError as exc:  # ragged nested lists
        raise ValueError(f"{name}: cannot make a rectangular array ({exc}); pad it first") from None
    if array.ndim == 0:
        raise ValueError(f"{name}: expected a sequence of examples, got a scalar")
    if array.dtype == object:
        raise ValueError(f"{name}: values must be numbers or strings of one type and rectangular shape")
    return array


def make_dataset(
    features: Mapping[str, ArrayLike] | ArrayLike,
    labels: ArrayLike | None = None,
    *,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    repeat: bool = False,
    drop_remainder: bool = False,
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """Build a batched, prefetched, deterministic ``tf.data.Dataset``.

    Each element is ``features`` (a dict of tensors, or one tensor when
    ``features`` is a single array), or ``(features, labels)`` when labels are
    given. Order: shuffle (seeded, reshuffled each epoch) -> repeat -> batch ->
    prefetch. For a given seed the whole sequence of batches, across epochs, is
    the same on every build; each epoch's order differs from the previous one.
    Without ``repeat``, each new iteration of the dataset (e.g. each Keras
    epoch) is the next epoch of that sequence. To resume mid-run at an exact
    step, rebuild and skip from the start rather than relying on iterator state.

    Args:
        features: name -> list or array of examples (first axis = examples), or
            a single list/array. Strings and numbers; nested lists must be
            rectangular.
        labels: optional list or array with one label per example.
        batch_size: examples per batch, > 0.
        shuffle: shuffle the examples (with ``seed``) before batching.
        seed: shuffle seed.
        repeat: repeat indefinitely (each repetition reshuffled).
        drop_remainder: drop the last, smaller batch of each pass.
        shuffle_buffer: shuffle buffer size; None = the number of examples
            (a full, uniform shuffle).

    Returns:
        The dataset, with ``tf.data.Options().deterministic = True``.

    Raises:
        ValueError: if ``batch_size`` or ``shuffle_buffer`` is not a positive
            int, ``features`` is empty, a feature is not array-like, or the
            features and labels do not all have the same length (the message
            names the lengths of each).
    """
    for name, value in (("batch_size", batch_size), ("shuffle_buffer", shuffle_buffer)):
        if value is None and name == "shuffle_buffer":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive int, got {value!r}")

    single = not isinstance(features, Mapping)
    named = {"features": features} if single else dict(features)
    if not named:
        raise ValueError("features is empty: give at least one feature")
    arrays = {name: _as_array(name, value) for name, value in named.items()}
    if labels is not None:
        arrays["labels"] = _as_array("labels", labels)

    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        raise ValueError(f"features and labels must have the same length, got {detail}")
    count = next(iter(lengths.values()))
    if count == 0:
        raise ValueError("no examples: features have length 0")

    label_array = arrays.pop("labels", None)
    feature_part = arrays["features"] if single else arrays
    elements = feature_part if label_array is None else (feature_part, label_array)

    ds = tf.data.Dataset.from_tensor_slices(elements)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer or count, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options)
