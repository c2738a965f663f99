"""BM25 over only the passages a caller may read.

BM25's IDF and average length are corpus statistics: scored over the whole
index, a passage the caller may read would score differently depending on
how many unreadable passages hold the same word, and a caller could infer
those passages from the scores. For a caller whose permission leaves at most
`PERMITTED_BELOW` passages, BM25 is built over exactly those passages
(cached per set of passages; 1,000 passages index in milliseconds), so every
BM25 score, the fusion and the not-found rule's `bm25` / `cover` are what an
index of the readable passages alone would give. Over local shards, each
shard's permitted passages are scored with the statistics of every shard's
permitted passages together (`permitted_stats`), as one index of them would.
Larger permitted sets, and shards when some are remote or their permitted
passages are many, score at query time with the statistics counted over the
permitted passages (`permitted_bm25_exact`): the same scores again.
"""

from __future__ import annotations

import collections
import hashlib

import numpy as np

from lepton_tf.index.filters import READERS_FIELD

PERMITTED_BELOW = 20_000  # passages; above, BM25 keeps the corpus statistics
_CACHED = 16  # permitted sets whose BM25 is kept


def permitted_rows(index, parsed_filter: dict) -> np.ndarray | None:
    """The rows the filter's permission alone (not its other fields) leaves,
    when BM25 is rebuilt for them; None: score with the index's own BM25."""
    if READERS_FIELD not in parsed_filter or index.lexical is None:
        return None
    rows = index.field_index().rows({READERS_FIELD: parsed_filter[READERS_FIELD]})
    if rows is None or len(rows) > PERMITTED_BELOW:
        return None
    return rows


def _key(rows: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(rows, np.int64).tobytes()).hexdigest()


def permitted_bm25(index, rows: np.ndarray, stats=None, stats_key: str = ""):
    """A `LexicalIndex` over `rows` of `index` (cached until the index changes).

    Args:
        stats: the `CorpusStats` to score with (a shard: every shard's permitted
            passages'); None: these rows' own.
        stats_key: what identifies `stats` in the cache.
    """
    from lepton_tf.index.lexical import LexicalIndex

    cache = index._derived.setdefault("permitted_bm25", collections.OrderedDict())
    key = _key(rows) + stats_key
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    ids = [index.row_ids[r] for r in rows]
    lexical = LexicalIndex(ids, [index.documents[d].embedding_text() for d in ids],
                           index.lexical.language, stats=stats)
    cache[key] = lexical
    while len(cache) > _CACHED:
        cache.popitem(last=False)
    return lexical


def permitted_stats(shards, parsed_filter: dict):
    """`(CorpusStats, key)` of every local shard's permitted passages together
    (None when a shard is remote, or the permission leaves too many passages)."""
    from lepton_tf.index.lexical import LexicalIndex
    from lepton_tf.index.lexical_stats import merge_all

    if READERS_FIELD not in parsed_filter or \
            not all(hasattr(s, "field_index") and s.lexical is not None for s in shards):
        return None
    rows = [s.field_index().rows({READERS_FIELD: parsed_filter[READERS_FIELD]})
            for s in shards]
    rows = [np.arange(len(s.row_ids)) if r is None else r for s, r in zip(shards, rows)]
    if sum(len(r) for r in rows) > PERMITTED_BELOW:
        return None
    key = hashlib.sha256("".join(_key(r) for r in rows).encode()).hexdigest()
    cache = shards[0]._derived.setdefault("permitted_stats", {})
    if key not in cache:
        cache.clear()  # one permitted set's statistics at a time
        cache[key] = merge_all([LexicalIndex.corpus_stats(
            [s.documents[s.row_ids[i]].embedding_text() for i in r], s.lexical.language)
            for s, r in zip(shards, rows)])
    return cache[key], key


def _exact_scorer(index, parsed_filter: dict, stats):
    """`text -> BM25 of every row`, the permitted rows scored with `stats` (a
    `PermittedStatistics` of every shard's permitted passages) or, None, with
    the statistics of this index's permitted passages; 0 elsewhere."""
    from lepton_tf.index.permitted_bm25_exact import permitted_mask, term_counts

    counts = term_counts(index)
    mask, size = permitted_mask(index, parsed_filter[READERS_FIELD])
    return lambda text: counts.scores(text, mask, stats, size)


def lexical_scorer(index, parsed_filter: dict, own_statistics: bool = True, stats=None):
    """`text -> BM25 score of every row` for a search under `parsed_filter`.

    Args:
        index: a `SearchIndex`.
        parsed_filter: the parsed filter (with the caller's permission).
        own_statistics: score the permitted set with its own statistics
            (False for a shard, unless `stats` gives every shard's).
        stats: for a shard, the statistics of the permitted passages of every
            shard: `(CorpusStats, key)` (`permitted_stats`), or a
            `PermittedStatistics` (`permitted_bm25_exact`).
    """
    from lepton_tf.index.hybrid import bm25_scores
    from lepton_tf.index.permitted_bm25_exact import PermittedStatistics

    permitted = READERS_FIELD in parsed_filter and index.lexical is not None
    if permitted and isinstance(stats, PermittedStatistics):
        return _exact_scorer(index, parsed_filter, stats)
    if permitted and own_statistics and not stats and \
            permitted_rows(index, parsed_filter) is None and \
            index.field_index().rows({READERS_FIELD: parsed_filter[READERS_FIELD]}) is not None:
        return _exact_scorer(index, parsed_filter, None)  # many permitted passages
    if stats:  # a shard: its permitted rows, every one of them (the others' are counted)
        rows = index.field_index().rows({READERS_FIELD: parsed_filter[READERS_FIELD]})
        rows = np.arange(len(index.row_ids)) if rows is None else rows
    else:
        rows = permitted_rows(index, parsed_filter) if own_statistics else None
    if rows is None:
        return lambda text: bm25_scores(index, text)
    corpus, key = stats if stats else (None, "")
    lexical = permitted_bm25(index, rows, corpus, key) if len(rows) else None

    def score(text: str) -> np.ndarray:
        out = np.zeros(len(index.row_ids), np.float32)
        if lexical is not None:
            out[rows] = lexical.scores(text)
        return out
    return score
