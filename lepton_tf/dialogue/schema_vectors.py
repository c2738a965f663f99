"""Schema texts -> their vectors from the `dst` servable's ``encode_schema``, each computed once.

A service's descriptions are the same on every turn, so a tracker that keeps their
vectors sends only the turn (``track_turn_encoded``) and the servable encodes only the
utterances. The vectors belong to the model version that made them: a new version
empties the cache. A changed description is a new text, so it is encoded afresh.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

import numpy as np

# Requests' string inputs -> the vector inputs of ``track_turn_encoded``.
VECTOR_INPUTS = (("intent_embeddings", "intents"), ("slot_embeddings", "slots"),
                 ("value_embeddings", "slot_values"))


class SchemaVectors:
    """Caches ``encode_schema`` vectors per text, for one model version at a time.

    Args:
        max_texts: the most texts kept; past it the cache starts again (schemas are
            small and few, so this bounds a client that sends ever-new texts).
    """

    def __init__(self, max_texts: int = 50_000):
        self.max_texts = int(max_texts)
        self._vectors: dict[bytes, np.ndarray] = {}
        self._version: Hashable = None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._vectors)

    def add_to(self, rows: dict[str, np.ndarray], encode: Callable[[np.ndarray], np.ndarray],
               version: Hashable = None) -> dict[str, np.ndarray]:
        """``rows`` (string request inputs) with the vectors of its schema texts added.

        Args:
            rows: the request's inputs (``intents``, ``slots``, ``slot_values`` among them).
            encode: texts ``[N]`` -> ``embeddings [N, H]`` (the servable's ``encode_schema``).
            version: the model version ``encode`` runs; a different one than last time
                drops the cached vectors.

        Returns:
            ``rows`` with ``intent_embeddings``, ``slot_embeddings`` and ``value_embeddings``.
        """
        texts = [rows[name].reshape(-1) for _, name in VECTOR_INPUTS]
        with self._lock:
            if version != self._version:
                self._vectors.clear()
                self._version = version
            missing = sorted({t for part in texts for t in part.tolist() if t not in self._vectors})
            if missing:
                if len(self._vectors) + len(missing) > self.max_texts:
                    self._vectors.clear()
                    missing = sorted({t for part in texts for t in part.tolist()})
                for text, vector in zip(missing, encode(np.array(missing, dtype=object))):
                    self._vectors[text] = np.asarray(vector, np.float32)
            for key, name in VECTOR_INPUTS:
                flat = [self._vectors[t] for t in rows[name].reshape(-1).tolist()]
                rows[key] = np.stack(flat).reshape(rows[name].shape + (-1,))
        return rows

    def vector(self, text: str) -> np.ndarray | None:
        """The cached vector of a schema text, or None."""
        return self._vectors.get(text.encode("utf-8"))
