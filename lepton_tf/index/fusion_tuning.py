"""Choosing the fusion weight from the user's own (query, positive) pairs.

`lepton-tf index --tune PAIRS` runs every pair's query through the index in
`hybrid` mode once (the candidate pool does not depend on the weight), then
ranks the pools for each dense weight 0, 0.05, ..., 1 and keeps the weight
with the best mean nDCG@10 (ties: the one nearest 0.85). Without pairs,
`index.fusion_selftune` makes pseudo-pairs from the corpus and chooses among the
same per-query figures (`per_query_ndcg`) by a lower confidence bound. The choice
and what it was tuned on go into the index manifest.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from lepton_tf.index.fusion import DEFAULT_DENSE_WEIGHT, FusionConfig

WEIGHTS = tuple(round(w, 2) for w in np.arange(0.0, 1.0001, 0.05))
DEPTH = 10


def ndcg_at_10(ranked: list[str], relevant: set[str]) -> float:
    """Binary-gain nDCG@10 of one ranking."""
    gain = sum(1.0 / np.log2(i + 2) for i, d in enumerate(ranked[:DEPTH]) if d in relevant)
    ideal = sum(1.0 / np.log2(i + 2) for i in range(min(len(relevant), DEPTH)))
    return gain / ideal if ideal else 0.0


def match_pairs(index, pairs) -> tuple[list[str], list[set[str]], int]:
    """Each pair's query and the documents its `positive` names.

    A positive names a document by its id, its text, or its title and text
    (what the document tower reads).

    Returns:
        `(queries, relevant id sets, pairs skipped)`; pairs sharing a query
        are merged.
    """
    by_text: dict[str, set[str]] = {}
    for d in index.documents.values():
        for key in (d.doc_id, d.text.strip(), d.embedding_text().strip()):
            by_text.setdefault(key, set()).add(d.doc_id)
    relevant: dict[str, set[str]] = {}
    skipped = 0
    for p in pairs:
        ids = by_text.get(p.positive.strip())
        if not ids:
            skipped += 1
            continue
        relevant.setdefault(p.query, set()).update(ids)
    return list(relevant), list(relevant.values()), skipped


def per_query_ndcg(index, pairs, embed_queries, method: str | None = None):
    """Each query's nDCG@10 at every dense weight of `WEIGHTS`.

    Every query runs through the index once (the candidate pool does not
    depend on the weight); its pool is then ranked once per weight.

    Args:
        index: a `SearchIndex` with its BM25 part, or a `ShardedIndex`
            (each weight is one scatter of every query: the shards rank
            their candidates at the front, `sharded_hybrid`).
        pairs: `RetrievalPair`s whose positives are documents of the index.
        embed_queries: list of str -> float32 `[B, D]`.
        method: fusion method (default: the index's).

    Returns:
        `(queries, pairs skipped, {weight: float64 [len(queries)]})`.

    Raises:
        ValueError: if no pair's positive is a document of the index.
    """
    from lepton_tf.index import hybrid

    queries, relevant, skipped = match_pairs(index, pairs)
    if not queries:
        raise ValueError(f"None of the {len(pairs)} pairs has a positive that is a document "
                         "of the index (by id, text, or title + text): nothing to tune on.")
    base = dataclasses.replace(index.fusion, method=method or index.fusion.method)
    vectors = np.asarray(embed_queries(queries), np.float32)
    if getattr(index, "sharded", False):
        return queries, skipped, _sharded_ndcg(index, vectors, queries, relevant, base)
    pools = hybrid.candidate_pools(index, vectors, queries, DEPTH, "hybrid", fusion=base)
    table = {}
    for w in WEIGHTS:
        config = dataclasses.replace(base, dense_weight=w)
        table[w] = np.asarray([
            ndcg_at_10(hybrid.rank(index, pool, "hybrid", DEPTH, config).doc_ids, rel)
            for pool, rel in zip(pools, relevant)], np.float64)
    return queries, skipped, table


def _sharded_ndcg(index, vectors, queries: list[str], relevant: list[set[str]], base):
    """`per_query_ndcg`'s table on a `ShardedIndex`: the front merges the
    shards' candidates and ranks them as one index would, once a weight."""
    table = {}
    for w in WEIGHTS:
        hits = index.hybrid_search(vectors, queries, DEPTH, "hybrid",
                                   fusion=dataclasses.replace(base, dense_weight=w))
        table[w] = np.asarray([ndcg_at_10(h.doc_ids, rel) for h, rel in zip(hits, relevant)],
                              np.float64)
    return table


def tune_fusion(index, pairs, embed_queries, source: str = "pairs",
                method: str | None = None) -> tuple[FusionConfig, dict]:
    """The best dense weight on `pairs`, set on `index.fusion`.

    Args:
        index: a `SearchIndex` with its BM25 part, or a `ShardedIndex`.
        pairs: `RetrievalPair`s whose positives are documents of the index.
        embed_queries: list of str -> float32 `[B, D]`.
        source: what to record as `tuned_on` (the pairs file name).
        method: fusion method to tune (default: the index's).

    Returns:
        `(the chosen FusionConfig, {weight: mean nDCG@10})`.

    Raises:
        ValueError: if no pair's positive is a document of the index.
    """
    queries, skipped, per_query = per_query_ndcg(index, pairs, embed_queries, method)
    table = {w: float(v.mean()) for w, v in per_query.items()}
    best = max(WEIGHTS, key=lambda w: (round(table[w], 6), -abs(w - DEFAULT_DENSE_WEIGHT)))
    tuned_on = f"{os.path.basename(source)} ({len(queries)} queries"
    tuned_on += f", {skipped} pairs skipped)" if skipped else ")"
    index.fusion = dataclasses.replace(index.fusion, method=method or index.fusion.method,
                                       dense_weight=best, tuned_on=tuned_on)
    return index.fusion, table
