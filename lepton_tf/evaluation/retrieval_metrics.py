"""nDCG@10, Recall@10/100, MRR@10 with `ir_measures` (pytrec_eval inside)."""

from __future__ import annotations

import ir_measures
from ir_measures import RR, R, nDCG

MEASURES = {"nDCG@10": nDCG @ 10, "Recall@10": R @ 10, "Recall@100": R @ 100,
            "MRR@10": RR @ 10}


def score_run(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> dict:
    """Averages each measure over the judged queries (a query the run misses
    counts as 0, as BEIR does)."""
    run = {q: run.get(q, {}) for q in qrels}
    results = ir_measures.calc_aggregate(list(MEASURES.values()), qrels,
                                         {q: docs or {"__none__": 0.0} for q, docs in run.items()})
    return {name: float(results[measure]) for name, measure in MEASURES.items()}


def ranked_to_run(query_ids, ranked_ids, scores) -> dict[str, dict[str, float]]:
    """Per-query result lists -> the `{query: {doc: score}}` form."""
    run = {}
    for q, ids, s in zip(query_ids, ranked_ids, scores):
        run[q] = {d: float(x) for d, x in zip(ids, s)}
    return run
