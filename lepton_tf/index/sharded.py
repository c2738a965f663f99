"""Sharded search: one `SearchIndex` per shard, searched in parallel, top-k merged.

A document lives in shard `shard_of(doc_id, num_shards)` (a stable hash of its
id, the same in every process and on every worker), so a lookup or an update
by id goes to one shard and a search goes to all of them (scatter-gather):
each shard returns its own top-k and the merge keeps the k best scores. With
exact shards this is exactly the unsharded answer: the global top-k is the
top-k of the union of every shard's top-k. `hybrid_search` (BM25, hybrid,
filters) gathers every shard's candidates the same way (`sharded_hybrid`);
each shard's BM25 is built with the whole corpus's statistics
(`lexical_stats`), so its scores are the unsharded index's.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lepton_tf.index.lexical_stats import merge_all
from lepton_tf.index.exact import ExactIndex, as_matrix


def shard_of(doc_id: str, num_shards: int) -> int:
    """The shard holding `doc_id`: blake2b of its UTF-8 bytes, modulo the count
    (Python's `hash` differs between processes, so it cannot be used)."""
    digest = hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % num_shards


def merge_top_k(results, k: int):
    """Merges per-shard `(ids [B][k_s], scores [B, k_s])` into the global top-k.

    Args:
        results: one `(id lists, scores)` pair per shard, same queries.
        k: results kept per query.

    Returns:
        `(list of id lists, float32 scores [B, k'])`, best first; ties keep
        shard order (stable sort), so the merge is deterministic.
    """
    scores = np.concatenate([np.asarray(s, np.float32).reshape(len(ids), -1)
                             for ids, s in results], axis=1)
    ids = [sum((list(r[0][b]) for r in results), []) for b in range(scores.shape[0])]
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return ([[row[j] for j in o] for row, o in zip(ids, order)],
            np.take_along_axis(scores, order, axis=1))


class ShardedDocuments(Mapping):
    """The document store of all shards, looked up in the one that holds an id."""

    def __init__(self, shards):
        self._shards = shards

    def __getitem__(self, doc_id: str):
        return self._shards[shard_of(doc_id, len(self._shards))].documents[doc_id]

    def __contains__(self, doc_id) -> bool:
        return doc_id in self._shards[shard_of(doc_id, len(self._shards))].documents

    def __iter__(self):
        for shard in self._shards:
            yield from shard.documents

    def __len__(self) -> int:
        return sum(len(shard.documents) for shard in self._shards)


@dataclasses.dataclass(frozen=True)
class ShardedConfig:
    """What a sharded index answers with by default, and its shards' configs."""

    k: int
    num_shards: int
    shards: tuple = ()

    @property
    def kind(self) -> str:
        return "sharded:" + ",".join(sorted({c.kind for c in self.shards}))


class ShardedIndex:
    """Scatter-gather over shards with `SearchIndex`'s search API.

    Example:

    ```python
    index = ShardedIndex.build(vectors, documents, num_shards=4)
    ids, scores = index.search_batched(query_vectors, k=10)
    ```

    Args:
        shards: one object per shard with `search_batched(queries, k)`,
            `documents`, `dimension` and `__len__` (a `SearchIndex`, or a
            remote shard), shard `i` holding the ids with `shard_of(id) == i`.
        k: default number of results.
        max_workers: threads searching shards at once (default: one a shard).
        fusion: how `hybrid` fuses (default: shard 0's, as written in its
            manifest; a remote shard reports its own, `info`).

    Raises:
        ValueError: no shards, shards of different dimensions, or (without
            `fusion`) shards whose fusion configs or not-found rules differ
            from shard 0's, naming the shard.
    """

    sharded = True
    known_questions = None  # shards answer by vector: no shard embeds the corpus's questions

    def __init__(self, shards, k: int = 10, max_workers: int | None = None, fusion=None):
        from lepton_tf.index.fusion import FusionConfig

        self.shards = list(shards)
        if not self.shards:
            raise ValueError("A sharded index needs at least one shard.")
        dims = {shard.dimension for shard in self.shards}
        if len(dims) != 1:
            raise ValueError(f"Shards have different dimensions {sorted(dims)}.")
        self.config = ShardedConfig(k, len(self.shards),
                                    tuple(getattr(s, "config", None) for s in self.shards))
        self.encoder = getattr(self.shards[0], "encoder", None)
        self.fusion = fusion or agreed(self.shards, "fusion") or FusionConfig()
        # Remote shards report their version's rule; a local version's is in its folder.
        self.not_found_rule = agreed(self.shards, "not_found_rule")
        self.documents = ShardedDocuments(self.shards)
        self._pool = ThreadPoolExecutor(max_workers or len(self.shards),
                                        thread_name_prefix="shard-search")

    @classmethod
    def build(cls, embeddings, documents, num_shards: int, k: int = 10, encoder=None,
              num_threads: int = 0, fusion=None, lexical: bool = True) -> "ShardedIndex":
        """Splits documents by `shard_of` and builds each shard (auto config),
        with BM25 from the whole corpus's statistics (`lexical`; False: dense
        only).

        Raises:
            ValueError: a shard would be empty (fewer documents than shards).
        """
        from lepton_tf.index.scann_config import IndexBuilder
        from lepton_tf.index.lexical import LexicalIndex
        from lepton_tf.index.search_index import SearchIndex

        embeddings = as_matrix(embeddings, None, "embeddings")
        rows = split_rows([d.doc_id for d in documents], num_shards)
        stats = LexicalIndex.corpus_stats([d.embedding_text() for d in documents]) \
            if lexical else None
        shards = []
        for s, members in enumerate(rows):
            config = IndexBuilder(len(members), embeddings.shape[1]).auto().config(k=k)
            shards.append(SearchIndex.build(embeddings[members], [documents[i] for i in members],
                                            config, encoder=encoder, num_threads=num_threads,
                                            fusion=fusion, lexical=lexical,
                                            lexical_stats=stats))
        return cls(shards, k)

    @property
    def dimension(self) -> int:
        return int(self.shards[0].dimension)

    def __len__(self) -> int:
        return sum(len(shard) for shard in self.shards)

    def search(self, query, k: int | None = None):
        """Top-k documents for one query vector: `(doc_ids, scores)`."""
        ids, scores = self.search_batched(np.asarray(query)[None], k)
        return ids[0], scores[0]

    def search_batched(self, queries, k: int | None = None, parallel: bool = True):
        """Top-k for each row of `queries` over all shards: `(id lists, scores [B, k])`."""
        queries = as_matrix(queries, self.dimension, "queries")
        k = self.config.k if k is None else int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}.")
        if len(self.shards) == 1:
            return self.shards[0].search_batched(queries, k, parallel)
        return merge_top_k(self.scatter(lambda shard: shard.search_batched(queries, k, parallel)),
                           k)

    def scatter(self, call) -> list:
        """`call(shard)` on every shard in parallel: the results in shard order."""
        futures = [self._pool.submit(call, shard) for shard in self.shards]
        return [f.result() for f in futures]

    @property
    def lexical(self):
        """Truthy when every shard has BM25 (remote shards: assumed; a shard
        without it refuses bm25 and hybrid itself)."""
        return all(getattr(s, "lexical", True) is not None for s in self.shards) or None

    def hybrid_search(self, queries, texts, k: int | None = None, mode: str = "hybrid",
                      filter=None, fusion=None, signals: int = 0):
        """Dense, BM25 or hybrid top-k with an optional filter, as one unsharded
        index answers (`sharded_hybrid`); the hits' documents are then in
        `documents` (fetched from remote shards).

        With `signals`, each `Hits` carries the query's best `signals` cosines
        over all shards (`hybrid.QuerySignals`, without BM25 or known
        questions: no shard has the whole corpus's), over the passages the
        filter's permission leaves (exact), else all: every shard adds its
        own to the candidates it returns, so a query is one scatter.
        """
        from lepton_tf.index.sharded_hybrid import sharded_search

        queries = as_matrix(queries, self.dimension, "queries")
        k = self.config.k if k is None else int(k)
        hits = sharded_search(self, queries, list(texts), k, mode, filter, fusion, signals)
        wanted = [[] for _ in self.shards]
        for h in hits:
            for doc_id in h.doc_ids:
                wanted[shard_of(doc_id, len(self.shards))].append(doc_id)
        futures = [self._pool.submit(shard.fetch_documents, ids)  # remote shards only
                   for shard, ids in zip(self.shards, wanted)
                   if ids and hasattr(shard, "fetch_documents")]
        for f in futures:
            f.result()
        return hits

    def rebuild_lexical(self) -> None:
        """Every local shard's BM25 from the whole corpus's statistics again
        (after upserts and deletes: they change every passage's IDF)."""
        from lepton_tf.index.lexical import LANGUAGE, LexicalIndex

        stats = merge_all(LexicalIndex.corpus_stats(
            s.lexical_texts(), s.lexical.language if s.lexical is not None else LANGUAGE)
            for s in self.shards)
        for shard in self.shards:
            shard.rebuild_lexical(stats)

    def upsert(self, documents, embeddings) -> None:
        """Adds or replaces documents in the shards that hold their ids."""
        embeddings = as_matrix(embeddings, self.dimension, "embeddings")
        documents = list(documents)
        for s, members in enumerate(split_rows([d.doc_id for d in documents], len(self.shards),
                                               allow_empty=True)):
            if members:
                self.shards[s].upsert([documents[i] for i in members], embeddings[members],
                                      lexical=False)
        if self.lexical:
            self.rebuild_lexical()

    def replace_documents(self, documents) -> None:
        """Replaces stored documents by id in the shards that hold them, vectors
        untouched (a permission change re-encodes nothing)."""
        documents = list(documents)
        for s, members in enumerate(split_rows([d.doc_id for d in documents], len(self.shards),
                                               allow_empty=True)):
            if members:
                self.shards[s].replace_documents([documents[i] for i in members])

    def delete(self, doc_ids) -> None:
        """Removes documents by id.

        Raises:
            KeyError: naming an id that is not in the index (nothing deleted).
        """
        missing = [i for i in doc_ids if i not in self.documents]
        if missing:
            raise KeyError(f"Not in the index: {missing[:5]}")
        for s, members in enumerate(split_rows(list(doc_ids), len(self.shards),
                                               allow_empty=True)):
            if members:
                self.shards[s].delete([doc_ids[i] for i in members], lexical=False)
        if self.lexical:
            self.rebuild_lexical()

    def exact(self) -> ExactIndex:
        """Exact search over every shard's vectors (local shards only)."""
        return ExactIndex(np.concatenate([s.embeddings for s in self.shards]),
                          sum((list(s.row_ids) for s in self.shards), []))

    def close(self) -> None:
        self._pool.shutdown(wait=False)


def agreed(shards, attribute: str):
    """Shard 0's `attribute` (None when it has none), checked on every shard.

    Raises:
        ValueError: a shard's differs, naming it (its gRPC target if remote).
    """
    first = getattr(shards[0], attribute, None)
    for s, shard in enumerate(shards[1:], 1):
        theirs = getattr(shard, attribute, None)
        if theirs != first:
            where = f" ({shard.target})" if hasattr(shard, "target") else ""
            raise ValueError(f"Shard {s}{where} has {attribute} {theirs}, shard 0 has {first}: "
                             "its index was built apart from the others (rebuild or roll "
                             "every shard to one index version).")
    return first


def split_rows(doc_ids, num_shards: int, allow_empty: bool = False) -> list[list[int]]:
    """Row numbers of `doc_ids` for each shard, in their original order.

    Raises:
        ValueError: `num_shards < 1`, or an empty shard unless `allow_empty`.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}.")
    rows: list[list[int]] = [[] for _ in range(num_shards)]
    for i, doc_id in enumerate(doc_ids):
        rows[shard_of(doc_id, num_shards)].append(i)
    empty = [s for s, r in enumerate(rows) if not r]
    if empty and not allow_empty:
        raise ValueError(f"{len(doc_ids)} documents leave shard(s) {empty[:5]} of "
                         f"{num_shards} empty: use fewer shards.")
    return rows
