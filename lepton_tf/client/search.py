"""`SearchClient`: top-k documents from the `search` servable."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from lepton_tf.client.base import PredictClient

OPTIONS_SIGNATURE = "search_options"


@dataclasses.dataclass(frozen=True)
class SearchHit:
    """One hit.

    Attributes:
        doc_id / title / text: the passage.
        score: the mode's score (fused in `hybrid`, cosine in `dense`, BM25
            in `bm25`).
        metadata: the passage's metadata (source file, page, ...).
        dense_score / bm25_score: the two retrievers' own scores (None
            when the server does not return them).
    """

    doc_id: str
    score: float
    title: str
    text: str
    metadata: dict = dataclasses.field(default_factory=dict)
    dense_score: float | None = None
    bm25_score: float | None = None

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


def _filter_text(filter) -> str:
    if filter is None:
        return ""
    return filter if isinstance(filter, str) else json.dumps(filter, ensure_ascii=False)


class SearchClient(PredictClient):
    """Queries model `search`: signature `search` (`query` [B], `k`), or
    `search_options` (also `mode` and `filter` string scalars) when a mode
    or a filter is given.

    Example:

    ```python
    client = SearchClient("localhost:8500")
    client.search("reset my password", k=5)                          # hybrid
    client.search("error E1234", mode="bm25", filter={"source": ["a.md", "b.md"]})
    ```

    Args:
        model: the model name (default `search`).
        **kwargs: `PredictClient` options (target, timeout_s, tls, token, ...).
    """

    def __init__(self, target: str = "localhost:8500", *, model: str = "search", **kwargs):
        super().__init__(target, **kwargs)
        self.model = model

    def search_batch(self, queries: list[str], k: int = 10, mode: str | None = None,
                     filter: dict | str | None = None) -> list[list[SearchHit]]:
        """The top `k` hits of each query.

        Args:
            queries: query strings.
            k: hits a query.
            mode: `dense`, `bm25` or `hybrid` (None: the server's default,
                hybrid).
            filter: `{field: value or [values]}` (or its JSON text): only
                passages whose `doc_id`, `title` or metadata field matches.
        """
        inputs = {"query": np.array([q.encode("utf-8") for q in queries], dtype=object),
                  "k": np.array(k, dtype=np.int32)}
        signature = "search"
        if mode is not None or filter is not None:
            signature = OPTIONS_SIGNATURE
            inputs["mode"] = np.array((mode or "hybrid").encode(), dtype=object)
            inputs["filter"] = np.array(_filter_text(filter).encode("utf-8"), dtype=object)
        outputs = self.predict(self.model, inputs, signature_name=signature)
        return [self._hits(outputs, row) for row in range(len(outputs["doc_ids"]))]

    @staticmethod
    def _hits(outputs: dict, row: int) -> list[SearchHit]:
        decode = lambda b: b.decode("utf-8", "replace")  # noqa: E731
        hits = []
        for j, doc_id in enumerate(outputs["doc_ids"][row]):
            if not doc_id:
                continue  # padding: fewer passages matched the filter than k
            get = lambda name: outputs[name][row][j] if name in outputs else None  # noqa: E731
            dense, bm25, meta = get("dense_score"), get("bm25_score"), get("metadata")
            hits.append(SearchHit(
                decode(doc_id), float(outputs["scores"][row][j]),
                decode(get("titles") or b""), decode(outputs["texts"][row][j]),
                json.loads(decode(meta)) if meta else {},
                None if dense is None else float(dense), None if bm25 is None else float(bm25)))
        return hits

    def search(self, query: str, k: int = 10, mode: str | None = None,
               filter: dict | str | None = None) -> list[SearchHit]:
        """The top `k` hits of one query (see `search_batch`)."""
        return self.search_batch([query], k, mode, filter)[0]
