"""`SearchClient`: top-k documents from the `search` servable."""

from __future__ import annotations

import numpy as np

from lepton_tf.client.base import PredictClient
from lepton_tf.contracts import search as contract
from lepton_tf.contracts.search import SearchHit

__all__ = ["SearchClient", "SearchHit"]


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

    def __init__(self, target: str = "localhost:8500", *, model: str = contract.MODEL,
                 **kwargs):
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

        Returns:
            each query's hits, best first.
        """
        inputs = {contract.QUERY: np.array([q.encode("utf-8") for q in queries], dtype=object),
                  contract.K: np.array(k, dtype=np.int32)}
        signature = contract.K_SIGNATURE
        if mode is not None or filter is not None:
            signature = contract.OPTIONS_SIGNATURE
            inputs[contract.MODE] = np.array((mode or contract.DEFAULT_MODE).encode(),
                                             dtype=object)
            inputs[contract.FILTER] = np.array(contract.filter_text(filter).encode("utf-8"),
                                               dtype=object)
        outputs = self.predict(self.model, inputs, signature_name=signature)
        return contract.unpack_hits(outputs)

    def search(self, query: str, k: int = 10, mode: str | None = None,
               filter: dict | str | None = None) -> list[SearchHit]:
        """The top `k` hits of one query (see `search_batch`)."""
        return self.search_batch([query], k, mode, filter)[0]
