"""Exact maximum-inner-product search in NumPy, and the checks on vectors
every index applies."""

from __future__ import annotations

import numpy as np


def as_matrix(vectors, dimension: int | None, what: str) -> np.ndarray:
    """`vectors` as a contiguous float32 `[N, D]` array.

    Raises:
        ValueError: naming `what`, for another shape or dimension, NaN or infinity.
    """
    array = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if array.ndim != 2:
        raise ValueError(f"{what} must be a 2-D [N, D] array, got shape {array.shape}.")
    if dimension is not None and array.shape[1] != dimension:
        raise ValueError(f"{what} have dimension {array.shape[1]}; the index has {dimension}.")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contain NaN or infinity.")
    return array


class ExactIndex:
    """Exact maximum-inner-product search in NumPy: the baseline ScaNN is
    measured against, with the same `search` / `search_batched` signatures."""

    def __init__(self, embeddings: np.ndarray, doc_ids: list[str]):
        self.embeddings = as_matrix(embeddings, None, "embeddings")
        self.doc_ids = list(doc_ids)
        if len(self.doc_ids) != len(self.embeddings):
            raise ValueError("One id per embedding row is needed.")

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    def search(self, query, k: int = 10):
        ids, scores = self.search_batched(np.asarray(query)[None], k)
        return ids[0], scores[0]

    def search_batched(self, queries, k: int = 10):
        queries = as_matrix(queries, self.dimension, "queries")
        k = min(k, len(self.doc_ids))
        scores = queries @ self.embeddings.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        return ([[self.doc_ids[j] for j in row] for row in top],
                np.take_along_axis(top_scores, order, axis=1))
