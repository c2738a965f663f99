"""Dense, BM25 and hybrid search with filters over shards, answered as unsharded.

Every shard proposes, for each query, its own candidates by retriever with
both exact scores (`shard_candidates`: `hybrid.candidate_parts` on the
shard): its top-`pool` by embedding, its top-`pool` by BM25, and in `bm25`
mode, when it has fewer than k keyword matches, its top-k by embedding to
fill with. The front (`merge_candidates`) keeps the global top-`pool` of
each list (the top of the union of every shard's top is the global top),
pools them in the unsharded order (dense, then BM25, then fill) and ranks
the pool with `fusion.rank_pool`: the same pool, the same min-max
normalisation, the same fused scores as one unsharded index.

That holds when each shard's BM25 is built with the whole corpus's
statistics (`lexical_stats`; `ShardedIndex.build` and the Beam pipeline do)
and each shard's dense candidates are exact (brute force, or a filtered set
small enough to be searched exhaustively); with ScaNN shards the dense lists
are as approximate as in dense search. One difference remains: passages
with exactly equal *cosine* scores (duplicate vectors) are ordered by shard,
then by row, where one index orders them as ScaNN returns them. Exact BM25
ties, common among short passages, are ordered by doc id in both, at the
pool's cut too (`lexical.top_rows`), so they keep the same passages.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lepton_tf.index.filters import READERS_FIELD, parse_filter
from lepton_tf.index.permitted_bm25_exact import (PermittedStatistics, permitted_mask,
                                                  term_counts)
from lepton_tf.index.permitted_lexical import permitted_stats
from lepton_tf.index.fusion import FusionConfig, rank_pool
from lepton_tf.index.hybrid import (Hits, QuerySignals, candidate_parts_and_signals,
                                    check_search, first_occurrences, pool_size)


@dataclasses.dataclass
class Part:
    """Candidates of one retriever for one query, best first, with both scores."""

    doc_ids: list
    dense: np.ndarray
    bm25: np.ndarray

    @classmethod
    def empty(cls) -> "Part":
        return cls([], np.zeros(0, np.float32), np.zeros(0, np.float32))


@dataclasses.dataclass
class Candidates:
    """One query's candidates from one shard: by embedding, by BM25, fill, and
    (when asked) the best cosines over the passages the caller may read, which
    the not-found rule reads (`hybrid.QuerySignals`): from the same pass."""

    dense: Part
    lexical: Part
    fill: Part
    top_cosines: np.ndarray = dataclasses.field(
        default_factory=lambda: np.zeros(0, np.float32))


def shard_candidates(index, queries, texts: list[str], k: int, pool: int, mode: str,
                     filter=None, permitted_stats=None, signals: int = 0) -> list[Candidates]:
    """What one local shard (a `SearchIndex`) proposes for each query.

    Args: as `hybrid.candidate_parts`, and `signals`: how many of each
        query's best cosines over the passages the caller may read to add
        (`Candidates.top_cosines`; 0: none).

    Returns:
        one `Candidates` per query.
    """
    queries = np.asarray(queries, np.float32).reshape(len(texts), -1)
    out = []
    # A shard's BM25 already scores with the whole corpus's statistics (or, for a
    # caller who may read few passages, with those of every shard's permitted ones).
    found, tops, _ = candidate_parts_and_signals(index, queries, texts, k, pool, mode, filter,
                                                 top=signals, own_statistics=False,
                                                 permitted_stats=permitted_stats)
    for b, (query, parts) in enumerate(zip(queries, found)):
        lexical = parts[3]

        def part(rows):
            if not len(rows):
                return Part.empty()
            bm25 = lexical[rows] if lexical is not None else np.zeros(len(rows), np.float32)
            return Part([index.row_ids[r] for r in rows],
                        np.asarray(index.embeddings[rows] @ query, np.float32),
                        np.asarray(bm25, np.float32))
        top = np.asarray(tops[b][0], np.float32) if tops else np.zeros(0, np.float32)
        out.append(Candidates(*(part(rows) for rows in parts[:3]), top_cosines=top))
    return out


def _top(parts: list[Part], by: str, n: int) -> Part:
    """The `n` best of several shards' parts by `by` (`dense` or `bm25`)."""
    parts = [p for p in parts if p.doc_ids]
    if not parts or n <= 0:
        return Part.empty()
    dense = np.concatenate([p.dense for p in parts])
    bm25 = np.concatenate([p.bm25 for p in parts])
    ids = sum((list(p.doc_ids) for p in parts), [])
    if by == "dense":
        order = np.argsort(-dense, kind="stable")[:n]
    else:  # exact ties by doc id, as `hybrid.candidate_parts` orders them
        order = np.asarray(sorted(range(len(ids)), key=lambda i: (-bm25[i], ids[i]))[:n])
    return Part([ids[i] for i in order], dense[order], bm25[order])


def merge_candidates(per_shard: list[list[Candidates]], k: int, pool: int, mode: str):
    """Every shard's candidates -> each query's pool, as one index would pool them.

    Args:
        per_shard: for each shard, its `Candidates` for each query.
        k / pool / mode: as the shards were asked.

    Returns:
        a list of `(doc ids [C], dense float32 [C], bm25 float32 [C])`.
    """
    pools = []
    for q in range(len(per_shard[0])):
        mine = [shard[q] for shard in per_shard]
        dense = _top([c.dense for c in mine], "dense", pool)
        lexical = _top([c.lexical for c in mine], "bm25", pool)
        fill = Part.empty()
        if mode == "bm25" and len(lexical.doc_ids) < k:
            fill = _top([c.fill for c in mine], "dense", k)
        scores = {}
        for part in (fill, lexical, dense):  # any part's copy: the scores are the same
            scores.update({d: (s, b) for d, s, b in zip(part.doc_ids, part.dense, part.bm25)})
        ids = first_occurrences(dense.doc_ids + lexical.doc_ids + fill.doc_ids)
        pools.append((ids, np.asarray([scores[d][0] for d in ids], np.float32),
                      np.asarray([scores[d][1] for d in ids], np.float32)))
    return pools


def top_cosines(per_shard: list[list[Candidates]], n: int) -> list[np.ndarray]:
    """Each query's best `n` cosines over every shard's (the global top of the
    union of each shard's top), best first.

    Args:
        per_shard: for each shard, its `Candidates` for each query.
        n: cosines kept a query.

    Returns:
        one float32 array per query.
    """
    out = []
    for q in range(len(per_shard[0])):
        cosines = np.concatenate([shard[q].top_cosines for shard in per_shard])
        out.append(np.sort(cosines.astype(np.float32))[::-1][:n])
    return out


def local_statistics(shard, texts: list[str], parsed: dict) -> PermittedStatistics:
    """The BM25 statistics of the passages of a local shard (a `SearchIndex`) that
    the parsed filter's permission leaves, for the tokens of `texts`."""
    if shard.lexical is None:
        return PermittedStatistics()
    mask, size = permitted_mask(shard, parsed[READERS_FIELD])
    return term_counts(shard).statistics(mask, texts, size)


def gather_statistics(sharded, texts: list[str], parsed: dict, filter) -> PermittedStatistics:
    """Every shard's permitted passages' BM25 statistics, summed: each shard then
    scores its own with them, as one index of all of them would (remote shards
    count theirs on their server: `RemoteShard.term_statistics`)."""
    def count(shard):
        remote = getattr(shard, "term_statistics", None)
        return remote(texts, filter) if remote is not None else \
            local_statistics(shard, texts, parsed)
    total = PermittedStatistics()
    for stats in sharded.scatter(count):
        total = total.merge(stats)
    return total


def sharded_search(sharded, queries, texts: list[str], k: int, mode: str = "hybrid",
                   filter=None, fusion: FusionConfig | None = None,
                   signals: int = 0) -> list[Hits]:
    """Top-k passages of each query over a `ShardedIndex`'s shards, in one
    scatter: with `signals`, each `Hits` carries the query's best `signals`
    cosines over the passages the caller may read (`hybrid.QuerySignals`,
    without BM25 or known questions: no shard has the whole corpus's).

    Args: as `hybrid.search`, with a `ShardedIndex` (local or remote shards).

    Returns:
        one `Hits` per query.

    Raises:
        ValueError / FilterError: as `hybrid.search` (raised by a shard).
    """
    check_search(mode, k)
    parsed = parse_filter(filter)  # a bad filter is refused here, not by every shard
    fusion = fusion or sharded.fusion
    pool = pool_size(k, mode, fusion)
    texts = list(texts)
    stats = permitted_stats(sharded.shards, parsed) if mode != "dense" else None
    if stats is None and mode != "dense" and READERS_FIELD in parsed:
        stats = gather_statistics(sharded, texts, parsed, filter)

    def ask(shard):
        ask_shard = getattr(shard, "candidates", None)
        if ask_shard is not None:  # a remote shard
            return ask_shard(queries, texts, k, pool, mode, filter, signals,
                             statistics=stats if isinstance(stats, PermittedStatistics)
                             else None)
        return shard_candidates(shard, queries, texts, k, pool, mode, filter, stats, signals)

    per_shard = sharded.scatter(ask)
    hits = []
    for ids, dense, bm25 in merge_candidates(per_shard, k, pool, mode):
        order, scores = rank_pool(dense, bm25, mode, k, fusion)
        hits.append(Hits([ids[i] for i in order], scores, dense[order], bm25[order]))
    if signals:
        for h, top in zip(hits, top_cosines(per_shard, signals)):
            h.signals = QuerySignals(top)
    return hits
