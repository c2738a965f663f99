"""Weighted fusion of dense and BM25 scores over a shared candidate pool.

Both retrievers propose their top `pool` passages; every candidate then has
both of its real scores (its cosine similarity and its BM25 score, not a 0
for "not retrieved"), and the fused score ranks the pool.

Methods (Bruch, Gai & Ingber, "An Analysis of Fusion Functions for Hybrid
Retrieval", TOIS 2023):

- `convex` (default): `w * mm(dense) + (1 - w) * mm(bm25)`, `mm` min-max
  normalising over the pool. Scores keep their spread, so one retriever's
  confident lead survives, unlike rank fusion.
- `rrf`: weighted reciprocal rank fusion, `w / (60 + rank_dense) + (1 - w) /
  (60 + rank_bm25)` (Cormack et al. 2009 with weights).

`w` is the dense weight: 1 is dense only, 0 BM25 only.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lepton_tf.contracts.search import check_mode

METHODS = ("convex", "rrf")
# The weight of an index whose weight nobody chose: `--dense-weight` not given
# and no pseudo-query to tune on (every build without pairs self-tunes:
# index.fusion_selftune.tune_default), an index saved before fusion was recorded,
# and `lepton-tf eval search`'s fixed hybrid row. Of all fixed weights it has
# the smallest worst loss against the better of dense and stemmed BM25 on
# StackFAQ, SGD intents and CACM (-0.65 / -0.37 points, StackFAQ), but no
# fixed weight loses nothing there (docs/benchmarks.md); the self-tuned one does not.
DEFAULT_DENSE_WEIGHT = 0.85
DEFAULT_POOL = 100
RRF_K = 60


@dataclasses.dataclass(frozen=True)
class FusionConfig:
    """How `hybrid` search fuses; stored in the index manifest.

    Attributes:
        method: `convex` or `rrf`.
        dense_weight: `w` in [0, 1].
        pool: candidates each retriever proposes (at least k).
        tuned_on: what chose `dense_weight` (`"default"`, or the pairs
            file and its size).
    """

    method: str = "convex"
    dense_weight: float = DEFAULT_DENSE_WEIGHT
    pool: int = DEFAULT_POOL
    tuned_on: str = "default"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"fusion method must be one of {METHODS}, got {self.method!r}.")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise ValueError(f"dense_weight must be in [0, 1], got {self.dense_weight}.")
        if self.pool < 1:
            raise ValueError(f"pool must be >= 1, got {self.pool}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict | None) -> "FusionConfig":
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in (d or {}).items() if k in fields})


def _min_max(scores: np.ndarray) -> np.ndarray:
    low, high = float(scores.min()), float(scores.max())
    if high - low <= 1e-12:
        # All equal: no evidence either way, the retriever adds nothing.
        return np.zeros_like(scores)
    return (scores - low) / (high - low)


def _ranks(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each entry (ties: earlier entry first)."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    ranks = np.empty(len(scores), np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    return ranks


def fuse(dense: np.ndarray, bm25: np.ndarray, method: str = "convex",
         dense_weight: float = DEFAULT_DENSE_WEIGHT) -> np.ndarray:
    """Fused scores of a candidate pool (higher is better).

    Args:
        dense: float `[C]`, each candidate's cosine similarity.
        bm25: float `[C]`, each candidate's BM25 score.
        method: `convex` or `rrf`.
        dense_weight: `w` in [0, 1].

    Returns:
        float32 `[C]`.

    Raises:
        ValueError: for an unknown method or mismatched lengths.
    """
    dense = np.asarray(dense, np.float64)
    bm25 = np.asarray(bm25, np.float64)
    if dense.shape != bm25.shape:
        raise ValueError(f"dense {dense.shape} and bm25 {bm25.shape} scores differ in shape.")
    if not len(dense):
        return np.zeros(0, np.float32)
    w = float(dense_weight)
    if method == "convex":
        fused = w * _min_max(dense) + (1 - w) * _min_max(bm25)
    elif method == "rrf":
        fused = w / (RRF_K + _ranks(dense)) + (1 - w) / (RRF_K + _ranks(bm25))
    else:
        raise ValueError(f"fusion method must be one of {METHODS}, got {method!r}.")
    return fused.astype(np.float32)


def rank_pool(dense: np.ndarray, bm25: np.ndarray, mode: str, k: int,
              config: FusionConfig) -> tuple[np.ndarray, np.ndarray]:
    """The top-k of a pool for a search mode.

    Args:
        dense / bm25: the pool's scores.
        mode: `dense`, `bm25` or `hybrid`.
        k: hits wanted.
        config: the fusion settings (`hybrid` only).

    Returns:
        `(positions into the pool int [k'], scores float32 [k'])`, best
        first; `scores` are the mode's own (cosine, BM25 or fused).
    """
    check_mode(mode)
    if mode == "dense":
        score = np.asarray(dense, np.float32)
    elif mode == "bm25":
        score = np.asarray(bm25, np.float32)
    else:
        score = fuse(dense, bm25, config.method, config.dense_weight)
    order = np.lexsort((np.arange(len(score)), -score))[:k]
    return order, score[order]
