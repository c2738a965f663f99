"""Stemmed BM25 and hybrid runs of an evaluation, and the fusion-weight sweep.

Everything goes through the index's own code (`SearchIndex.build` with its
BM25 part, `index.hybrid`), so the figures are those `search` serves.
"""

from __future__ import annotations

import numpy as np

from lepton_tf.evaluation.retrieval_metrics import ranked_to_run, score_run
from lepton_tf.index.fusion import METHODS, FusionConfig

SWEEP_WEIGHTS = tuple(round(w, 2) for w in np.arange(0.0, 1.0001, 0.05))


def build_index(documents, doc_vectors):
    """An exact (brute-force) index with its stemmed BM25 part."""
    from lepton_tf.index.scann_config import IndexBuilder
    from lepton_tf.index.search_index import SearchIndex

    config = IndexBuilder(*doc_vectors.shape).brute_force().config(k=min(100, len(documents)))
    return SearchIndex.build(doc_vectors, documents, config)


def stemmed_bm25_run(index, query_ids, texts, depth: int) -> dict:
    """The index's own stemmed BM25, alone (no dense fill-in)."""
    ids, scores = index.lexical.search(texts, depth)
    return ranked_to_run(query_ids, ids, scores)


def hybrid_pools(index, query_vectors, texts, depth: int):
    """Each query's fusion pool (computed once, ranked per weight)."""
    from lepton_tf.index import hybrid

    return hybrid.candidate_pools(index, query_vectors, texts, depth, "hybrid",
                                  fusion=FusionConfig(pool=depth))


def run_from_pools(index, pools, query_ids, depth: int, fusion: FusionConfig) -> dict:
    from lepton_tf.index import hybrid

    hits = [hybrid.rank(index, pool, "hybrid", depth, fusion) for pool in pools]
    return ranked_to_run(query_ids, [h.doc_ids for h in hits], [h.scores for h in hits])


def sweep(index, pools, query_ids, qrels, depth: int, metric: str = "nDCG@10",
          weights=SWEEP_WEIGHTS) -> dict:
    """`{method: {dense_weight: metric}}` over the sweep weights."""
    return {method: {w: score_run(qrels, run_from_pools(
                index, pools, query_ids, depth, FusionConfig(method, w, depth)))[metric]
                for w in weights}
            for method in METHODS}


def format_sweep(label: str, table: dict) -> str:
    weights = list(next(iter(table.values())))
    lines = [f"fusion sweep, {label}: nDCG@10 by dense weight (0 = BM25 only, 1 = dense only)",
             "method".ljust(8) + "".join(f"{w:>7.2f}" for w in weights)]
    for method, row in table.items():
        best = max(row, key=row.get)
        lines.append(method.ljust(8) + "".join(f"{row[w]:7.4f}" for w in weights)
                     + f"   best w={best:.2f}")
    return "\n".join(lines)
