"""Choosing how many ScaNN leaves to search, and how many candidates to re-rank.

A tree-AH search misses a true neighbour for one of two reasons: its leaf
was not searched, or AH's approximate score ranked it below the `reorder`
candidates that are re-scored exactly. More leaves only help the first.
Where many neighbours are nearly equidistant (dense clusters in high
dimensions), AH's error is larger than the gaps between them and recall
stops improving long before every leaf is searched: the 1M-vector bench's
shard 0 walked to all 500 of its leaves (p99 1.2 s) without reaching 0.95.

`tune_search` therefore raises leaves while each step still gains recall,
and raises `reorder` when it does not (exact re-ranking of a few hundred
more candidates costs far less than scanning more leaves), and never
searches more than `MAX_LEAF_FRACTION` of the leaves: past that a tree
search costs about what a brute-force one does. When neither helps, it stops
below the target and says so (`TunedSearch.reached`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

MAX_LEAF_FRACTION = 0.25  # of the leaves; a quarter of the vectors scanned with AH
MAX_REORDER = 1600  # 16x the default 100 re-ranked candidates
MIN_GAIN = 0.002  # recall@k a step must add to be kept (1 hit in 500 for 500 queries at k=10)
LEAF_STEP = 1.15  # each leaf step searches 15% more leaves (at least one)


@dataclasses.dataclass(frozen=True)
class TunedSearch:
    """What the tuner chose and the recall@k it measured there."""

    leaves: int
    reorder: int
    recall: float
    reached: bool


def tune_search(measure, num_leaves: int, start_leaves: int, reorder: int,
                target_recall: float) -> TunedSearch:
    """The cheapest `(leaves, reorder)` found that reaches `target_recall`.

    Args:
        measure: `(leaves, reorder) -> recall@k` on the tuning queries.
        num_leaves: the tree's leaves.
        start_leaves: the leaves to search first.
        reorder: the re-ranked candidates to start with (the config's).
        target_recall: in (0, 1].

    Returns:
        a `TunedSearch`: leaves at most `max(start_leaves, MAX_LEAF_FRACTION
        * num_leaves)`, reorder at most `max(reorder, MAX_REORDER)`.
    """
    cap = min(num_leaves, max(start_leaves, math.ceil(num_leaves * MAX_LEAF_FRACTION)))
    leaves = min(start_leaves, cap)
    recall = measure(leaves, reorder)
    while recall < target_recall:
        steps = []
        if leaves < cap:
            steps.append((min(cap, max(leaves + 1, int(leaves * LEAF_STEP))), reorder))
        if reorder < MAX_REORDER:
            steps.append((leaves, min(MAX_REORDER, 2 * reorder)))
        for step in steps:  # more leaves first; more re-ranking when they gain nothing
            got = measure(*step)
            if got >= recall + MIN_GAIN or got >= target_recall:
                (leaves, reorder), recall = step, got
                break
        else:
            break
    return TunedSearch(leaves, reorder, float(recall), recall >= target_recall)


def recall_at_k(found: list[list[str]], truth: list[list[str]], k: int) -> float:
    """Mean share of each query's true top-k that was found."""
    return float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))
