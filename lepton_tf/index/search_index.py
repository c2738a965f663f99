"""Nearest-neighbour search over document embeddings: ScaNN, or exact."""

from __future__ import annotations

import dataclasses

import numpy as np

from lepton_tf.index.scann_config import IndexBuilder, IndexConfig
from lepton_tf.index.documents import Document, check_unique
from lepton_tf.index.exact import ExactIndex, as_matrix
from lepton_tf.index.filters import FieldIndex
from lepton_tf.index.fusion import FusionConfig
from lepton_tf.index.lexical import LANGUAGE

TUNING_QUERIES = 500


@dataclasses.dataclass
class EncoderInfo:
    """Which encoder made the embeddings (checked when an index is loaded)."""

    name: str = ""
    version: int = 0
    fingerprint: str = ""


class SearchIndex:
    """A ScaNN searcher over document embeddings, with its documents.

    Example:

    ```python
    index = SearchIndex.build(embeddings, documents)        # auto config
    ids, scores = index.search_batched(query_vectors, k=10)
    index.upsert([Document("new", "text")], new_vectors)    # no rebuild
    index.delete(["old-id"])
    ```

    Use `SearchIndex.build`, or `lepton_tf.index.storage.load_index`.
    """

    sharded = False  # one index: its BM25 and size are the whole corpus's
    not_found_rule = None  # the version folder's `not_found.json` holds it

    def __init__(self, searcher, config: IndexConfig, documents: list[Document],
                 embeddings: np.ndarray, encoder: EncoderInfo | None = None,
                 lexical=None, fusion: FusionConfig | None = None, known_questions=None):
        self.searcher = searcher
        self.config = config
        self.documents = {d.doc_id: d for d in documents}
        self.embeddings = embeddings
        self.row_ids = [d.doc_id for d in documents]  # embedding row -> id
        self.encoder = encoder or EncoderInfo()
        # A LexicalIndex (BM25), a () -> LexicalIndex loader (read on first
        # use: a dense-only caller never pays its memory), or None.
        self._lexical = lexical
        self.fusion = fusion or FusionConfig()
        self._derived: dict = {}
        # The documents' embedded questions (`known_questions.KnownQuestions`) or None.
        self.known_questions = known_questions

    @property
    def known_questions(self):
        """The documents' embedded known questions (None: none)."""
        return self._known_questions

    @known_questions.setter
    def known_questions(self, value) -> None:
        self._known_questions = value
        self._derived.pop("question_pairs", None)

    def question_cosines(self, queries) -> np.ndarray | None:
        """Each query's cosine to every known question: float32 `[B, Q]`, or
        None for an index without any. Known questions are scored
        exhaustively (a FAQ's tens of thousands take milliseconds)."""
        known = self._known_questions
        if known is None or not len(known):
            return None
        return as_matrix(queries, self.dimension, "queries") @ known.vectors.T

    def question_scores(self, queries, cosines: np.ndarray | None = None) -> np.ndarray | None:
        """Each document's best cosine to one of its known questions, per query.

        Args:
            queries: float32 `[B, D]`.
            cosines: their `question_cosines`, when already computed.

        Returns:
            float32 `[B, N]` in row order (-inf for a document without known
            questions), or None for an index without any.
        """
        known = self._known_questions
        if known is None or not len(known):
            return None
        if "question_pairs" not in self._derived:
            row_of = self.row_of()
            self._derived["question_pairs"] = np.array(
                [(j, row_of[d]) for j, ids in enumerate(known.doc_ids) for d in ids
                 if d in row_of], np.int64).reshape(-1, 2)
        pairs = self._derived["question_pairs"]
        if cosines is None:
            cosines = self.question_cosines(queries)
        out = np.full((len(cosines), len(self.row_ids)), -np.inf, np.float32)
        for row, scores in zip(out, cosines):
            np.maximum.at(row, pairs[:, 1], scores[pairs[:, 0]])
        return out

    @property
    def lexical(self):
        """The stemmed BM25 part (None: a dense-only index)."""
        if callable(self._lexical):
            self._lexical = self._lexical()
        return self._lexical

    @lexical.setter
    def lexical(self, value) -> None:
        self._lexical = value

    def row_of(self) -> dict[str, int]:
        """doc id -> embedding row (cached until the next upsert/delete)."""
        if "row_of" not in self._derived:
            self._derived["row_of"] = {d: i for i, d in enumerate(self.row_ids)}
        return self._derived["row_of"]

    def id_rank(self) -> np.ndarray:
        """Each row's place in doc-id order: how exactly tied BM25 scores are
        ordered (a shard of a sharded index orders its ties the same way)."""
        if "id_rank" not in self._derived:
            order = sorted(range(len(self.row_ids)), key=self.row_ids.__getitem__)
            rank = np.empty(len(order), np.int64)
            rank[order] = np.arange(len(order))
            self._derived["id_rank"] = rank
        return self._derived["id_rank"]

    def lexical_rows(self) -> np.ndarray:
        """Embedding row of each BM25 row."""
        if "lexical_rows" not in self._derived:
            row_of = self.row_of()
            self._derived["lexical_rows"] = np.asarray(
                [row_of[d] for d in self.lexical.doc_ids], np.int64)
        return self._derived["lexical_rows"]

    def field_index(self) -> FieldIndex:
        """Rows by metadata value, for filters (built per field on first use)."""
        if "fields" not in self._derived:
            self._derived["fields"] = FieldIndex([self.documents[d] for d in self.row_ids])
        return self._derived["fields"]

    def lexical_texts(self) -> list[str]:
        """What BM25 matches of each row (title and passage)."""
        return [self.documents[d].embedding_text() for d in self.row_ids]

    def rebuild_lexical(self, stats=None) -> None:
        """BM25 over the current documents (after upserts and deletes: bm25s
        has no incremental update, and rebuilding 100k passages takes seconds).

        Args:
            stats: the whole corpus's `lexical_stats.CorpusStats` when this
                index is one shard of it (None: this index's own).
        """
        from lepton_tf.index.lexical import LexicalIndex

        language = self.lexical.language if self.lexical is not None else LANGUAGE
        self.lexical = LexicalIndex(self.row_ids, self.lexical_texts(), language, stats=stats)
        self._derived.clear()

    def hybrid_search(self, queries, texts, k: int | None = None, mode: str = "hybrid",
                      filter=None, fusion: FusionConfig | None = None, signals: int = 0):
        """Dense, BM25 or hybrid top-k with an optional filter, and with
        `signals` the not-found signals of the same pass: see `index.hybrid.search`."""
        from lepton_tf.index import hybrid

        return hybrid.search(self, queries, list(texts), self._k(k), mode, filter, fusion,
                             signals)

    @property
    def dimension(self) -> int:
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return len(self.documents)

    @staticmethod
    def scann_builder(embeddings: np.ndarray, config: IndexConfig):
        import scann

        builder = scann.scann_ops_pybind.builder(embeddings, config.k, "dot_product")
        if config.kind == "brute_force":
            return builder.score_brute_force()
        return (builder.tree(num_leaves=config.num_leaves,
                             num_leaves_to_search=config.num_leaves_to_search,
                             training_sample_size=config.training_sample_size)
                .score_ah(config.dimensions_per_block,
                          anisotropic_quantization_threshold=config.anisotropic_threshold)
                .reorder(config.reorder))

    @classmethod
    def build(cls, embeddings, documents: list[Document], config: IndexConfig | None = None,
              encoder: EncoderInfo | None = None, num_threads: int = 0, lexical: bool = True,
              fusion: FusionConfig | None = None, lexical_stats=None) -> "SearchIndex":
        """Builds the searcher.

        Args:
            embeddings: float32 `[N, D]`, row `i` for `documents[i]`.
            documents: the documents (unique ids).
            config: an `IndexConfig`; default `IndexBuilder(...).auto()`.
            encoder: which encoder made the embeddings.
            num_threads: ScaNN search threads (0: all cores).
            lexical: also build the stemmed BM25 index (for `bm25` and
                `hybrid` search).
            fusion: how `hybrid` fuses (default `FusionConfig()`).
            lexical_stats: the whole corpus's `CorpusStats` when these
                documents are one shard of it (BM25 then scores as unsharded).

        Raises:
            ValueError: for mismatched sizes, duplicate ids, NaNs, or an
                invalid configuration.
        """
        embeddings = as_matrix(embeddings, None, "embeddings")
        documents = list(documents)
        if len(documents) != len(embeddings):
            raise ValueError(f"{len(documents)} documents but {len(embeddings)} embeddings.")
        check_unique(documents)
        config = config or IndexBuilder(*embeddings.shape).auto().config()
        searcher = cls.scann_builder(embeddings, config).build(
            docids=[d.doc_id for d in documents])
        if num_threads:
            searcher.set_num_threads(num_threads)
        index = cls(searcher, config, documents, embeddings, encoder, fusion=fusion)
        if lexical:
            index.rebuild_lexical(lexical_stats)
        if config.kind == "tree_ah" and config.target_recall:
            index.tune_leaves(config.target_recall)
        return index

    def tune_leaves(self, target_recall: float, num_queries: int = TUNING_QUERIES) -> int:
        """Finds the fewest leaves to search (and, where more leaves stop
        helping, the candidates to re-rank) that reach `target_recall`@k
        (`scann_tuning.tune_search`).

        Queries are database vectors (a seeded sample), each searched for
        k + 1 neighbours with itself then dropped: what a search must find
        is known exactly, at no labelling cost, and dropping the trivial
        self-match keeps the estimate honest for unseen queries.

        Returns:
            The chosen `num_leaves_to_search` (it and `reorder` are stored in
            `config`; what was measured in `tuned`).
        """
        from lepton_tf.index.scann_tuning import recall_at_k, tune_search

        rng = np.random.default_rng(0)
        sample = rng.choice(len(self.embeddings), min(num_queries, len(self.embeddings)),
                            replace=False)
        queries = self.embeddings[sample]
        k = self.config.k

        def without_self(rows):
            return [[d for d in row if d != self.row_ids[i]][:k] for i, row in zip(sample, rows)]

        exact = ExactIndex(self.embeddings, self.row_ids)
        truth = without_self(exact.search_batched(queries, k + 1)[0])

        def measure(leaves: int, reorder: int) -> float:
            found = without_self(self.searcher.search_batched(
                queries, k + 1, max(k + 1, reorder), leaves)[0])
            return recall_at_k(found, truth, k)

        self.tuned = tune_search(measure, self.config.num_leaves,
                                 max(1, self.config.num_leaves // 100), self.config.reorder,
                                 target_recall)
        self.config = dataclasses.replace(self.config, num_leaves_to_search=self.tuned.leaves,
                                          reorder=self.tuned.reorder)
        return self.tuned.leaves

    def _pre_reorder(self, k: int):
        """Candidates scored by AH before exact re-ranking (None: no re-ranking)."""
        return max(k, self.config.reorder) if self.config.kind == "tree_ah" else None

    def _leaves(self):
        return self.config.num_leaves_to_search if self.config.kind == "tree_ah" else None

    def search(self, query, k: int | None = None):
        """Top-k documents for one query vector: `(doc_ids, scores)`."""
        query = as_matrix(np.asarray(query)[None], self.dimension, "query")[0]
        k = self._k(k)
        ids, scores = self.searcher.search(query, k, self._pre_reorder(k) or -1,
                                           self._leaves() or -1)
        return list(ids), np.asarray(scores)

    def search_batched(self, queries, k: int | None = None, parallel: bool = True):
        """Top-k for each row of `queries`: `(list of id lists, scores [B, k])`."""
        queries = as_matrix(queries, self.dimension, "queries")
        k = self._k(k)
        pre = self._pre_reorder(k)
        search = self.searcher.search_batched_parallel if parallel else \
            self.searcher.search_batched
        ids, scores = search(queries, k, pre, self._leaves())
        return [list(row) for row in ids], np.asarray(scores)

    def _k(self, k):
        k = self.config.k if k is None else int(k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}.")
        return min(k, len(self.row_ids))

    def upsert(self, documents: list[Document], embeddings, lexical: bool = True) -> None:
        """Adds documents, or replaces those whose id exists, without a rebuild.

        The tree's partitions stay as trained: after many additions from a
        new distribution, rebuild (see docs/index-your-documents.md) for the best recall.

        Args:
            documents / embeddings: what to add.
            lexical: rebuild BM25 now (False: the caller does, as a sharded
                index does with the whole corpus's statistics).

        Documents' new `questions` are embedded by `refresh_questions` (saving
        the index refuses questions that are not).
        """
        embeddings = as_matrix(embeddings, self.dimension, "embeddings")
        documents = list(documents)
        if len(documents) != len(embeddings):
            raise ValueError(f"{len(documents)} documents but {len(embeddings)} embeddings.")
        check_unique(documents)
        self.searcher.upsert([d.doc_id for d in documents], embeddings)
        if not self.embeddings.flags.writeable:  # memory-mapped by load_index
            self.embeddings = np.array(self.embeddings)
        rows = {doc_id: i for i, doc_id in enumerate(self.row_ids)}
        new_rows = []
        for d, vector in zip(documents, embeddings):
            if d.doc_id in rows:
                self.embeddings[rows[d.doc_id]] = vector
            else:
                self.row_ids.append(d.doc_id)
                new_rows.append(vector)
            self.documents[d.doc_id] = d
        if new_rows:
            self.embeddings = np.concatenate([self.embeddings, np.stack(new_rows)])
        self._derived.clear()
        if lexical and self._lexical is not None:
            self.rebuild_lexical()

    def delete(self, doc_ids: list[str], lexical: bool = True) -> None:
        """Removes documents by id (`lexical`: as in `upsert`).

        Raises:
            KeyError: naming an id that is not in the index (nothing deleted).
        """
        missing = [i for i in doc_ids if i not in self.documents]
        if missing:
            raise KeyError(f"Not in the index: {missing[:5]}")
        self.searcher.delete(list(doc_ids))
        gone = set(doc_ids)
        keep = [i for i, doc_id in enumerate(self.row_ids) if doc_id not in gone]
        self.embeddings = self.embeddings[keep]
        self.row_ids = [self.row_ids[i] for i in keep]
        for doc_id in gone:
            del self.documents[doc_id]
        if self.known_questions is not None:
            self.known_questions = self.known_questions.keep_documents(self.documents) or None
        self._derived.clear()
        if lexical and self._lexical is not None:
            self.rebuild_lexical()

    def replace_documents(self, documents) -> None:
        """Replaces stored documents by id, vectors untouched (a permission or
        metadata change: nothing is re-encoded, nor re-indexed for BM25).

        Raises:
            KeyError: naming an id that is not in the index (nothing replaced).
        """
        documents = list(documents)
        missing = [d.doc_id for d in documents if d.doc_id not in self.documents]
        if missing:
            raise KeyError(f"Not in the index: {missing[:5]}")
        for d in documents:
            self.documents[d.doc_id] = d
        for derived in ("fields", "permitted_bm25", "permitted_masks"):  # they follow the ACL
            self._derived.pop(derived, None)

    def refresh_questions(self, encode) -> None:
        """Embeds the documents' known questions that are new (after `upsert`;
        `encode`: the query tower, list of str -> float32 `[Q, D]`)."""
        from lepton_tf.index.known_questions import KnownQuestions

        self.known_questions = KnownQuestions.of_documents(self.documents.values(), encode,
                                                           previous=self.known_questions)

    def close(self) -> None:
        """Nothing to release (a `ShardedIndex` stops its threads)."""

    def exact(self) -> ExactIndex:
        """The exact baseline over the same vectors."""
        return ExactIndex(self.embeddings, self.row_ids)
