"""The not-found rule's signals over only what a caller may read.

The rule (`index.not_found`) reads the query's top cosines, BM25 signals and
known-question cosines. Over the whole index, a document the caller may not
read would move them (a close hidden passage lowers the flag's odds), so a
caller could infer it exists from the flag. For a caller with a permission
filter every signal is computed over the permitted passages alone: their top
cosines (exact over the permitted rows), BM25 over them, the share of query
words they contain, and the known questions they own.
"""

from __future__ import annotations

import numpy as np

from lepton_tf.index import not_found
from lepton_tf.index.hybrid import dense_candidates
from lepton_tf.index.permitted_lexical import permitted_bm25, permitted_rows


def permitted_cosines(index, vectors: np.ndarray, texts: list[str], parsed_filter: dict):
    """Each query's best `not_found.TOP_K` passage cosines among the permitted rows.

    Args:
        index: a `SearchIndex` or a `ShardedIndex` (local or remote shards).
        vectors: float32 `[B, D]` query embeddings.
        texts: the query strings.
        parsed_filter: the caller's filter with its permission (`permitted_filter`).

    Returns:
        a list of float arrays, best first (empty: nothing permitted).
    """
    if hasattr(index, "shards"):  # sharded: no known questions, dense scores are cosines
        hits = index.hybrid_search(vectors, texts, not_found.TOP_K, "dense", parsed_filter)
        return [np.sort(np.asarray(h.dense_scores, np.float64))[::-1] for h in hits]
    allowed = index.field_index().rows(parsed_filter)
    rows = dense_candidates(index, vectors, not_found.TOP_K, allowed)
    return [np.sort(np.asarray(index.embeddings[r] @ q, np.float64))[::-1]
            for r, q in zip(rows, vectors)]


class _PermittedVocabulary:
    """`token in vocabulary`: whether a permitted passage holds the token."""

    def __init__(self, lexical, mask: np.ndarray):
        self.lexical, self.mask = lexical, mask

    def __contains__(self, token) -> bool:
        if token not in self.lexical.retriever.vocab_dict:
            return False
        scores = np.asarray(self.lexical.retriever.get_scores([token]))
        return bool(np.any(scores[self.mask] > 0))


class PermittedLexical:
    """A `LexicalIndex` seen through a permission: what `not_found.query_features`
    reads (`tokens`, `retriever.vocab_dict`, `scores`, `len`), over permitted rows.

    Args:
        index: a `SearchIndex` with its BM25 part.
        allowed: sorted permitted rows (embedding row order), None for all.
    """

    def __init__(self, index, allowed: np.ndarray | None):
        self.lexical = index.lexical
        mask = np.ones(len(index.row_ids), bool)
        if allowed is not None:
            mask[:] = False
            mask[allowed] = True
        self.mask = mask[index.lexical_rows()]  # BM25 row order
        self.retriever = self  # query_features reads retriever.vocab_dict
        self.vocab_dict = _PermittedVocabulary(self.lexical, self.mask)

    def tokens(self, text: str) -> list[str]:
        return self.lexical.tokens(text)

    def scores(self, text: str) -> np.ndarray:
        return np.where(self.mask, self.lexical.scores(text), 0.0).astype(np.float32)

    def __len__(self) -> int:
        return int(self.mask.sum())


def permitted_flags(index, rule, vectors: np.ndarray, texts: list[str],
                    parsed_filter: dict) -> np.ndarray:
    """The rule's flag per query with every signal over the permitted passages.

    Args:
        index / vectors / texts / parsed_filter: as `permitted_cosines`.
        rule: the servable's `NotFoundRule`.

    Returns:
        bool `[B]` (True where nothing is permitted).
    """
    cosines = permitted_cosines(index, vectors, texts, parsed_filter)
    allowed = None if hasattr(index, "shards") else index.field_index().rows(parsed_filter)
    lexical = None
    if rule.needs_lexical():
        rows = permitted_rows(index, parsed_filter)
        # Few permitted passages: their own BM25 (`permitted_lexical`), as an index of them.
        lexical = PermittedLexical(index, allowed) if rows is None or not len(rows) \
            else permitted_bm25(index, rows)
    questions = [None] * len(texts)
    if rule.needs_questions():
        readable = None if allowed is None else {index.row_ids[r] for r in allowed}
        questions = index.known_questions.features(vectors, readable)
    return np.array([len(c) == 0 or rule.flags(not_found.query_features(c, t, lexical, q))
                     for c, t, q in zip(cosines, texts, questions)], bool)
