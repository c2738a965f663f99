"""Batches of texts of similar length, so a batch pads to little more than its texts.

The in-graph tokenizers pad every row to the longest row of its batch. In
corpus order a batch of 32 documents nearly always holds one that reaches
the token budget, so most rows are mostly padding: the encoder then spends
its time on `[PAD]`. Batching texts sorted by length removes most of it;
the padding mask keeps padded positions out of attention and pooling, so
every vector is the one the text gets alone (within float round-off).
"""

from __future__ import annotations

import numpy as np


def length_sorted_batches(texts, batch_size: int) -> list[np.ndarray]:
    """Row indices of `texts` in batches of similar character length.

    Characters stand in for tokens (no tokenizer needed, and the order of
    lengths is nearly the same); the sort is stable, so equal lengths keep
    their order and the batches depend on the texts alone.

    Args:
        texts: the texts (any sequence of `str` or `bytes`).
        batch_size: rows per batch.

    Returns:
        Index arrays, shortest texts first; together they hold every row
        once.

    Raises:
        ValueError: if `batch_size` is not positive.

    Example:

    >>> [b.tolist() for b in length_sorted_batches(["long text", "a", "abc"], 2)]
    [[1, 2], [0]]
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}.")
    order = np.argsort(np.array([len(t) for t in texts], dtype=np.int64), kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def encode_in_length_batches(embed, texts, batch_size: int, dimension: int,
                             desc: str | None = None) -> np.ndarray:
    """`embed` over `texts` in `length_sorted_batches`, rows back in the texts' order.

    Args:
        embed: a list of texts -> a `[len(list), dimension]` array.
        texts: the texts.
        batch_size: texts per call.
        dimension: the vectors' width (the shape of an empty result).
        desc: a progress bar's label (`lepton_tf.progress_bars`); None: no bar.

    Returns:
        float32 `[len(texts), dimension]`.
    """
    texts = list(texts)
    out = np.zeros((len(texts), dimension), np.float32)
    bar = None
    if desc is not None:
        from lepton_tf.progress_bars import progress
        bar = progress(desc=f"{desc} ({len(texts)} texts)", total=len(texts), unit="text")
    for rows in length_sorted_batches(texts, batch_size):
        out[rows] = np.asarray(embed([texts[i] for i in rows]), np.float32)
        if bar is not None:
            bar.update(len(rows))
    if bar is not None:
        bar.close()
    return out
