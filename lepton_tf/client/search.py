"""`SearchClient`: top-k documents from the `search` servable."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from lepton_tf.client.base import PredictClient


@dataclasses.dataclass(frozen=True)
class SearchHit:
    doc_id: str
    score: float
    title: str
    text: str
    metadata: dict = dataclasses.field(default_factory=dict)

    @property
    def source(self) -> str:
        """Where the passage comes from (`file`, `file p. 3`, `file > Section`)."""
        m = self.metadata
        where = m.get("source", "")
        if "page" in m:
            where += f" p. {m['page']}"
        if m.get("section") and m.get("section") != m.get("record"):
            where += f" > {m['section']}"
        return where


class SearchClient(PredictClient):
    """Queries model `search` (signature `search`: `query` [B], `k` int32 scalar).

    Args:
        model: the model name (default `search`).
        **kwargs: `PredictClient` options (target, timeout_s, tls, token, ...).
    """

    def __init__(self, target: str = "localhost:8500", *, model: str = "search", **kwargs):
        super().__init__(target, **kwargs)
        self.model = model

    def search_batch(self, queries: list[str], k: int = 10) -> list[list[SearchHit]]:
        """The top `k` hits of each query."""
        outputs = self.predict(self.model, {
            "query": np.array([q.encode("utf-8") for q in queries], dtype=object),
            "k": np.array(k, dtype=np.int32)}, signature_name="search")
        decode = lambda b: b.decode("utf-8", "replace")  # noqa: E731
        titles = outputs.get("titles", np.full_like(outputs["doc_ids"], b""))
        metadata = outputs.get("metadata", np.full_like(outputs["doc_ids"], b"{}"))
        return [[SearchHit(decode(d), float(s), decode(t), decode(x), json.loads(decode(m) or "{}"))
                 for d, s, t, x, m in zip(*rows)]
                for rows in zip(outputs["doc_ids"], outputs["scores"], titles, outputs["texts"],
                                metadata)]

    def search(self, query: str, k: int = 10) -> list[SearchHit]:
        return self.search_batch([query], k)[0]
