"""The `search` servable: the ScaNN index behind the TF Serving Predict API."""

from __future__ import annotations

from typing import Callable

import numpy as np

from lepton_tf.index.search_index import SearchIndex
from lepton_tf.index.storage import list_index_versions, load_index, resolve_index_dir
from lepton_tf.server.servable import Servable, Signature, TensorSpec

MAX_K = 1000

_OUTPUTS = {"doc_ids": TensorSpec("doc_ids", "string", (None, None)),
            "scores": TensorSpec("scores", "float32", (None, None)),
            "texts": TensorSpec("texts", "string", (None, None)),
            "titles": TensorSpec("titles", "string", (None, None))}


class SearchServable(Servable):
    """Answers `query` strings with the top-k documents of a ScaNN index.

    Signatures: `serving_default` (input `query` string `[B]`, the index's
    default k) and `search` (also `k`, int32 scalar). Outputs `doc_ids`,
    `texts`, `titles` (string `[B, k]`) and `scores` (float32 `[B, k]`,
    cosine similarity). ScaNN ops are not in stock TF Serving, so this
    servable lives in the lepton-tf server; queries are embedded by the
    `encoder` servable (in process or on a remote TF Serving).

    Args:
        index_dir: an index version folder or the base holding versions.
        embed_queries: list of UTF-8 `bytes` -> float32 `[B, D]` embeddings.
        name: the model name clients use.
        expected_encoder: refuse an index built by another encoder.
    """

    def __init__(self, index_dir: str, embed_queries: Callable[[list], np.ndarray],
                 name: str = "search", expected_encoder=None):
        self.path = resolve_index_dir(index_dir)
        self.index: SearchIndex = load_index(self.path, expected_encoder=expected_encoder)
        self.embed_queries = embed_queries
        self.name = name
        self.version = int(self.path.rstrip("/").split("/")[-1])
        self._signatures = {
            "serving_default": Signature({"query": TensorSpec("query", "string", (None,))},
                                         _OUTPUTS),
            "search": Signature({"query": TensorSpec("query", "string", (None,)),
                                 "k": TensorSpec("k", "int32", ())}, _OUTPUTS)}

    @staticmethod
    def available_versions(index_dir: str) -> list[int]:
        return list_index_versions(index_dir)

    @property
    def signatures(self) -> dict[str, Signature]:
        return self._signatures

    def run(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        queries = np.asarray(inputs["query"]).reshape(-1)
        k = self.index.config.k
        if signature_name == "search":
            k = int(np.asarray(inputs["k"]).reshape(()))
            if not 1 <= k <= MAX_K:
                raise ValueError(f"k must be in [1, {MAX_K}], got {k}.")
        texts = []
        for q in queries:
            raw = q if isinstance(q, bytes) else str(q).encode()
            try:
                decoded = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError("query is not valid UTF-8.") from None
            if not decoded.strip():
                raise ValueError("query is empty.")
            texts.append(raw)
        if not texts:
            empty = np.zeros((0, k))
            return {"doc_ids": empty.astype(object), "texts": empty.astype(object),
                    "titles": empty.astype(object), "scores": empty.astype(np.float32)}
        vectors = np.asarray(self.embed_queries(texts), dtype=np.float32)
        ids, scores = self.index.search_batched(vectors, k)
        docs = [[self.index.documents[i] for i in row] for row in ids]
        return {"doc_ids": np.array([[d.doc_id.encode() for d in row] for row in docs], object),
                "texts": np.array([[d.text.encode() for d in row] for row in docs], object),
                "titles": np.array([[d.title.encode() for d in row] for row in docs], object),
                "scores": scores.astype(np.float32)}
