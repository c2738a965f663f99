"""A fluent ScaNN configuration that fails fast and can choose by itself."""

from __future__ import annotations

import dataclasses
import math

BRUTE_FORCE_BELOW = 20_000


@dataclasses.dataclass(frozen=True)
class IndexConfig:
    """What `SearchIndex` builds; stored in the index manifest.

    Attributes:
        kind: `brute_force` (exact dot product) or `tree_ah` (partitioning +
            anisotropic hashing + exact re-ranking).
        num_leaves / num_leaves_to_search: tree partitions and how many a
            query visits.
        dimensions_per_block: AH block size.
        anisotropic_threshold: AH anisotropic quantization threshold.
        reorder: candidates re-scored exactly.
        training_sample_size: vectors the tree and AH train on.
        k: default number of neighbours.
        target_recall: with `tree_ah`, the build tunes
            `num_leaves_to_search` (at most a quarter of the leaves) and,
            where more leaves stop gaining recall, `reorder` to reach this
            recall@k on held-out database vectors (`scann_tuning`; None:
            keep the given values).
    """

    kind: str = "brute_force"
    num_leaves: int = 0
    num_leaves_to_search: int = 0
    dimensions_per_block: int = 2
    anisotropic_threshold: float = 0.2
    reorder: int = 0
    training_sample_size: int = 100_000
    k: int = 10
    target_recall: float | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class IndexBuilder:
    """Configures a ScaNN index the way ScaNN's own builder does, checked early.

    Example:

    ```python
    config = IndexBuilder(num_vectors=400_000, dimension=50).auto().config()
    config = (IndexBuilder(400_000, 50).tree(num_leaves=632, num_leaves_to_search=40)
              .score_ah(dimensions_per_block=2).reorder(100).config())
    index = SearchIndex.build(embeddings, documents, config)
    ```

    Args:
        num_vectors: database size (for sanity checks and `auto`).
        dimension: embedding size.

    Raises:
        ValueError: as soon as a setting cannot work, saying why.
    """

    def __init__(self, num_vectors: int, dimension: int):
        if num_vectors < 1 or dimension < 1:
            raise ValueError(f"Need at least one vector of one dimension, got "
                             f"{num_vectors} x {dimension}.")
        self.num_vectors = int(num_vectors)
        self.dimension = int(dimension)
        self._params: dict = {"kind": "brute_force"}

    def auto(self, target_recall: float = 0.95) -> "IndexBuilder":
        """Exact search below 20k vectors; else a tree of about sqrt(n)
        leaves, AH with 2 dimensions a block, re-ranking 100 candidates and
        the leaves to search tuned to `target_recall`."""
        if self.num_vectors < BRUTE_FORCE_BELOW:
            return self.brute_force()
        leaves = int(round(math.sqrt(self.num_vectors)))
        return (self.tree(leaves, max(1, leaves // 20), target_recall=target_recall)
                .score_ah(2, anisotropic_threshold=0.2).reorder(100))

    def brute_force(self) -> "IndexBuilder":
        self._params = {"kind": "brute_force"}
        return self

    def tree(self, num_leaves: int, num_leaves_to_search: int,
             training_sample_size: int = 100_000,
             target_recall: float | None = None) -> "IndexBuilder":
        if num_leaves < 2:
            raise ValueError(f"num_leaves must be >= 2, got {num_leaves}.")
        if num_leaves > self.num_vectors // 2:
            raise ValueError(f"num_leaves={num_leaves} leaves fewer than 2 vectors a leaf "
                             f"for {self.num_vectors} vectors; use about "
                             f"sqrt(n) = {int(math.sqrt(self.num_vectors))}, or brute_force().")
        if not 1 <= num_leaves_to_search <= num_leaves:
            raise ValueError(f"num_leaves_to_search must be in [1, {num_leaves}], "
                             f"got {num_leaves_to_search}.")
        if target_recall is not None and not 0 < target_recall <= 1:
            raise ValueError(f"target_recall must be in (0, 1], got {target_recall}.")
        self._params.update(kind="tree_ah", num_leaves=num_leaves,
                            num_leaves_to_search=num_leaves_to_search,
                            training_sample_size=min(training_sample_size, self.num_vectors),
                            target_recall=target_recall)
        return self

    def score_ah(self, dimensions_per_block: int = 2,
                 anisotropic_threshold: float = 0.2) -> "IndexBuilder":
        if self._params.get("kind") != "tree_ah":
            raise ValueError("score_ah() needs tree() first (ScaNN scores partitions).")
        if not 1 <= dimensions_per_block <= self.dimension:
            raise ValueError(f"dimensions_per_block must be in [1, {self.dimension}].")
        self._params.update(dimensions_per_block=dimensions_per_block,
                            anisotropic_threshold=anisotropic_threshold)
        return self

    def reorder(self, num_candidates: int) -> "IndexBuilder":
        if self._params.get("kind") != "tree_ah":
            raise ValueError("reorder() re-ranks AH candidates: call tree().score_ah() first.")
        if num_candidates < 1:
            raise ValueError(f"reorder needs >= 1 candidate, got {num_candidates}.")
        self._params["reorder"] = num_candidates
        return self

    def config(self, k: int = 10) -> IndexConfig:
        """The checked configuration."""
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}.")
        params = dict(self._params)
        if params["kind"] == "tree_ah":
            params.setdefault("dimensions_per_block", 2)
            params.setdefault("reorder", max(100, k))
            if params["reorder"] < k:
                raise ValueError(f"reorder={params['reorder']} re-ranks fewer candidates "
                                 f"than the k={k} asked for.")
        return IndexConfig(k=k, **params)
