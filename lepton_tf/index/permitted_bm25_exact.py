"""BM25 with the statistics of any set of permitted passages, at query time.

BM25 (bm25s's Lucene variant, `lexical`) scores a passage `d` for a query as

    sum over query tokens t of  idf(t) * tf(t, d) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    idf(t) = log(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

where only `N` (passages), `avgdl` (their mean length) and `df(t)` (passages
holding `t`) depend on the corpus. Rebuilding BM25 over a caller's
permitted passages (`permitted_lexical`) gives exactly those statistics, but
costs seconds for a large set. Here the raw term counts of every passage
(`TermCounts`, tokenized as the index's BM25 was: same pattern, stop words
and stems) are kept once per index, and a query is scored over any rows with
statistics counted over those rows only (`PermittedStatistics`), so the
scores equal those of an index of the permitted passages alone, whatever
their number. Statistics are additive, so for shards the front sums each
shard's (`merge`) and every shard scores with the sum: one remote round trip
more (`search.shards`), and the same scores as one index of every shard's
permitted passages.
"""

from __future__ import annotations

import dataclasses

import numpy as np

K1, B = 1.5, 0.75  # bm25s.BM25's defaults, which `lexical.LexicalIndex` uses


@dataclasses.dataclass
class PermittedStatistics:
    """What BM25 needs of a set of passages for one batch of queries.

    Attributes:
        num_docs: passages in the set.
        total_tokens: their tokens (after stop words).
        doc_freq: query token -> passages of the set holding it.
    """

    num_docs: int = 0
    total_tokens: int = 0
    doc_freq: dict = dataclasses.field(default_factory=dict)

    def merge(self, other: "PermittedStatistics") -> "PermittedStatistics":
        """Both sets' statistics together (disjoint sets: shards)."""
        freq = dict(self.doc_freq)
        for token, count in other.doc_freq.items():
            freq[token] = freq.get(token, 0) + count
        return PermittedStatistics(self.num_docs + other.num_docs,
                                   self.total_tokens + other.total_tokens, freq)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, doc: dict) -> "PermittedStatistics":
        """Raises ValueError on a malformed document."""
        try:
            stats = cls(int(doc["num_docs"]), int(doc["total_tokens"]),
                        {str(t): int(n) for t, n in dict(doc["doc_freq"]).items()})
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValueError("BM25 statistics must be {num_docs, total_tokens, doc_freq: "
                             "{token: count}} with integer counts.") from None
        if stats.num_docs < 0 or stats.total_tokens < 0 or \
                any(n < 0 for n in stats.doc_freq.values()):
            raise ValueError("BM25 statistics cannot be negative.")
        return stats


class TermCounts:
    """Each passage's raw token counts and length (embedding row order).

    Args:
        index: a `SearchIndex` with its BM25 part (its tokenizer settings).
    """

    def __init__(self, index):
        import scipy.sparse as sp

        from lepton_tf.index.lexical import _stemmer, _tokenize

        texts = [index.documents[d].embedding_text() for d in index.row_ids]
        tokenized = _tokenize(texts, _stemmer(index.lexical.language))
        self.vocab = dict(tokenized.vocab)
        rows = np.repeat(np.arange(len(texts)), [len(ids) for ids in tokenized.ids])
        cols = np.fromiter((i for ids in tokenized.ids for i in ids), np.int64, len(rows))
        # CSC: a token's postings (rows and counts) are one contiguous slice.
        self.counts = sp.csc_matrix((np.ones(len(rows), np.float64), (rows, cols)),
                                    shape=(len(texts), max(len(self.vocab), 1)))
        self.counts.sum_duplicates()
        self.lengths = np.asarray([len(ids) for ids in tokenized.ids], np.float64)
        self._tf = self.counts.data.astype(np.float32)
        self._norms: dict = {}
        self.tokens = index.lexical.tokens  # a query's tokens, as BM25 reads them

    def _postings(self, token: str):
        col = self.vocab.get(token)
        if col is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        start, end = self.counts.indptr[col], self.counts.indptr[col + 1]
        return self.counts.indices[start:end], self._tf[start:end]

    def _count(self, token: str, mask: np.ndarray) -> int:
        """Passages of `mask` holding `token`."""
        return int(np.count_nonzero(mask[self._postings(token)[0]]))

    def _length_norm(self, average: float) -> np.ndarray:
        """`k1 * (1 - b + b * |d| / avgdl)` of every row (float32; the last few
        averages' kept: one per permission or summed shard statistics)."""
        norm = self._norms.get(average)
        if norm is None:
            if len(self._norms) >= 8:
                self._norms.pop(next(iter(self._norms)))
            norm = self._norms[average] = (K1 * (1 - B + B * self.lengths / average)
                                           ).astype(np.float32)
        return norm

    def size(self, mask: np.ndarray) -> tuple[int, int]:
        """`(passages, tokens)` of the rows `mask`."""
        return int(np.count_nonzero(mask)), int(self.lengths[mask].sum())

    def statistics(self, mask: np.ndarray, texts: list[str],
                   size: tuple[int, int] | None = None) -> PermittedStatistics:
        """The statistics of the rows `mask` (bool `[N]`) for the tokens of `texts`
        (`size`: their `size(mask)`, when known)."""
        freq = {}
        for text in texts:
            for token in self.tokens(text):
                if token not in freq:
                    freq[token] = self._count(token, mask)
        return PermittedStatistics(*(size or self.size(mask)), freq)

    def scores(self, text: str, mask: np.ndarray, stats: PermittedStatistics | None = None,
               size: tuple[int, int] | None = None) -> np.ndarray:
        """BM25 of every row for `text`; 0 outside `mask` (float32 `[N]`).

        Args:
            text: the query.
            mask: the rows to score (bool `[N]`).
            stats: the statistics to score with; None: those of `mask`'s rows
                (`size`: their `size(mask)`, when known).

        Raises:
            ValueError: `stats` lacks a query token or counts fewer passages than
                hold it here (statistics of another corpus).
        """
        out = np.zeros(len(self.lengths), np.float32)
        tokens = self.tokens(text)
        here = {t: self._count(t, mask) for t in set(tokens)}
        if stats is None:
            stats = PermittedStatistics(*(size or self.size(mask)), here)
        if not stats.num_docs:
            return out
        norm = self._length_norm(stats.total_tokens / stats.num_docs)
        for token in tokens:  # a repeated word counts again, as in bm25s
            if not here[token]:
                continue
            df = stats.doc_freq.get(token)
            if df is None or df < here[token]:
                raise ValueError(f"The BM25 statistics lack the query token {token!r} or "
                                 "count fewer passages than hold it.")
            idf = np.float32(np.log(1.0 + (stats.num_docs - df + 0.5) / (df + 0.5)))
            # Every passage holding the word is scored (one pass, no compaction);
            # those outside the mask are zeroed once at the end.
            rows, tf = self._postings(token)
            out[rows] += idf * tf / (tf + norm[rows])
        out[~mask] = 0.0
        return out


def term_counts(index) -> TermCounts:
    """The index's `TermCounts`, built on first use and kept until it changes."""
    counts = index._derived.get("term_counts")
    if counts is None:
        counts = index._derived["term_counts"] = TermCounts(index)
    return counts


def permitted_mask(index, readers: list) -> tuple[np.ndarray, tuple[int, int]]:
    """The rows `readers` may read as a mask, and their `(passages, tokens)`
    (the last few permissions' kept until the index changes)."""
    import json

    from lepton_tf.index.filters import READERS_FIELD

    cache = index._derived.setdefault("permitted_masks", {})
    key = json.dumps(sorted(readers))
    if key not in cache:
        if len(cache) >= 16:
            cache.pop(next(iter(cache)))
        mask = row_mask(index, index.field_index().rows({READERS_FIELD: list(readers)}))
        cache[key] = mask, term_counts(index).size(mask)
    return cache[key]


def row_mask(index, rows: np.ndarray | None) -> np.ndarray:
    """A bool mask of `rows` (None: every row) over the index's rows."""
    if rows is None:
        return np.ones(len(index.row_ids), bool)
    mask = np.zeros(len(index.row_ids), bool)
    mask[rows] = True
    return mask
