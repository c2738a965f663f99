"""The not-found rule's BM25 signals over only what a caller may read.

The rule (`index.not_found_rule`) reads the query's top cosines, BM25 signals and
known-question cosines. Over the whole index, a document the caller may not
read would move them (a close hidden passage lowers the flag's odds), so a
caller could infer it exists from the flag. For a caller with a permission
every signal is computed over the permitted passages alone: the search pass
returns their top cosines, BM25 scores and known-question cosines
(`hybrid.QuerySignals`); this module gives the rule the BM25 index those
passages form (the share of query words they contain, `cover`).
"""

from __future__ import annotations

import numpy as np

from lepton_tf.index.permitted_lexical import PERMITTED_BELOW, permitted_bm25


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
        self.lexical, self.index, self.allowed = index.lexical, index, allowed
        mask = np.ones(len(index.row_ids), bool)
        if allowed is not None:
            mask[:] = False
            mask[allowed] = True
        self._rows_mask, self._size = mask, None  # embedding row order
        self.mask = mask[index.lexical_rows()]  # BM25 row order
        self.retriever = self  # query_features reads retriever.vocab_dict
        self.vocab_dict = _PermittedVocabulary(self.lexical, self.mask)

    def tokens(self, text: str) -> list[str]:
        return self.lexical.tokens(text)

    def scores(self, text: str) -> np.ndarray:
        """BM25 in BM25 row order, with the permitted passages' statistics."""
        if self.allowed is None:
            return np.where(self.mask, self.lexical.scores(text), 0.0).astype(np.float32)
        from lepton_tf.index.permitted_bm25_exact import term_counts

        if self._size is None:
            self._size = term_counts(self.index).size(self._rows_mask)
        return term_counts(self.index).scores(text, self._rows_mask, None, self._size)[
            self.index.lexical_rows()]

    def __len__(self) -> int:
        return int(self.mask.sum())


def permitted_lexical(index, rows: np.ndarray):
    """What `not_found.query_features` reads as the BM25 index of a caller who
    may read `rows` (sorted, of a `SearchIndex` with BM25): an index of those
    passages alone when they are few (`permitted_lexical.permitted_bm25`, the
    one the search scored them with), else the whole index's BM25 seen through
    the permission (`PermittedLexical`)."""
    if not len(rows) or len(rows) > PERMITTED_BELOW:
        return PermittedLexical(index, rows)
    return permitted_bm25(index, rows)
