"""BM25 over a list of texts (`bm25s`), the lexical baseline and distractor source.

One place sets it up the same way for every user: English stop words, no
progress bars, single-threaded retrieval (deterministic and light on 2 cores).
"""

from __future__ import annotations

import logging


class Bm25Index:
    """BM25 over `texts`; `search` returns row numbers into them.

    Example:

    >>> index = Bm25Index(["bus tickets to Fresno", "hotel rooms in Paris"])
    >>> rows, _ = index.search(["cheap hotel"], k=1)
    >>> rows.tolist()
    [[1]]

    Args:
        texts: the documents, one string each.
    """

    def __init__(self, texts: list[str]):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self._bm25s = bm25s
        self.size = len(texts)
        self.retriever = bm25s.BM25()
        self.retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False),
                             show_progress=False)

    def search(self, queries: list[str], k: int):
        """`(rows int [Q, k'], scores float [Q, k'])`, best first, `k' = min(k, size)`."""
        tokens = self._bm25s.tokenize(queries, stopwords="en", show_progress=False)
        return self.retriever.retrieve(tokens, k=min(k, self.size), show_progress=False,
                                       n_threads=1)
