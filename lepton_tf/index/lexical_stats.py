"""Corpus statistics for BM25 over shards: one corpus, one IDF, whatever the split.

BM25 scores a term of a passage with the term's IDF (from its document
frequency and the number of passages) and the passage's length against the
average length. Built shard by shard, each shard would count only its own
passages, so the same passage would score differently in a sharded and an
unsharded index (and shards would rank against each other unfairly). Here
the statistics of the whole corpus (`CorpusStats`: passages, tokens,
document frequency of every token, summed over shards) are gathered first,
then every shard's BM25 matrix is built with them (`GlobalStatsBM25`): each
shard's scores are then exactly the unsharded index's for its passages.

`GlobalStatsBM25` overrides `bm25s.BM25.build_index_from_ids`, the hook
bm25s documents for building the matrix another way, and reuses bm25s's own
IDF and term-frequency scorers, so the formula stays bm25s's (Lucene).
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np


@dataclasses.dataclass
class CorpusStats:
    """What BM25 needs of a whole corpus.

    Attributes:
        num_docs: passages.
        total_tokens: tokens of all passages (after stop words).
        doc_freq: stemmed token -> passages containing it.
    """

    num_docs: int = 0
    total_tokens: int = 0
    doc_freq: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def of_tokenized(cls, tokenized) -> "CorpusStats":
        """The statistics of a `bm25s.tokenize` result (its `ids` and `vocab`)."""
        token = {i: t for t, i in tokenized.vocab.items()}
        counts: collections.Counter = collections.Counter()
        for ids in tokenized.ids:
            counts.update(token[i] for i in set(ids))
        return cls(len(tokenized.ids), sum(len(ids) for ids in tokenized.ids), dict(counts))

    def merge(self, other: "CorpusStats") -> "CorpusStats":
        """The statistics of both corpora together (a new object)."""
        counts = collections.Counter(self.doc_freq)
        counts.update(other.doc_freq)
        return CorpusStats(self.num_docs + other.num_docs,
                           self.total_tokens + other.total_tokens, dict(counts))

    @property
    def average_length(self) -> float:
        return self.total_tokens / self.num_docs if self.num_docs else 0.0


def merge_all(stats) -> CorpusStats:
    """The sum of an iterable of `CorpusStats`."""
    total = CorpusStats()
    for s in stats:
        total = total.merge(s)
    return total


def global_stats_bm25(stats: CorpusStats, **kwargs):
    """A `bm25s.BM25` (same kwargs) whose `index` uses `stats` for IDF and
    average length instead of the indexed passages' own."""
    import bm25s
    from bm25s import scoring

    class GlobalStatsBM25(bm25s.BM25):
        def build_index_from_ids(self, unique_token_ids, corpus_token_ids, show_progress=True,
                                 leave_progress=False):
            if self.method in self.methods_requiring_nonoccurrence:
                raise ValueError(f"Global statistics are implemented for {self.method!r}'s "
                                 "family without non-occurrence terms only.")
            local_df = scoring._calculate_doc_freqs(corpus_token_ids, unique_token_ids,
                                                    show_progress=False)
            token = {i: t for t, i in self._vocab.items()}
            global_df = {i: stats.doc_freq.get(token.get(i, ""), 0) for i in local_df}
            missing = [token.get(i) for i, df in local_df.items() if df and not global_df[i]]
            if missing:
                raise ValueError(f"Corpus statistics lack tokens of these passages "
                                 f"({missing[:5]}): they were gathered over another corpus.")
            idf = scoring._build_idf_array(global_df, n_docs=stats.num_docs,
                                           compute_idf_fn=scoring._select_idf_scorer(
                                               self.idf_method), dtype=self.dtype)
            # avg_doc_len a NumPy float64 as bm25s's own `.mean()` gives: a Python
            # float would keep the term frequencies in float32 (NEP 50), 1 ulp off.
            flat, doc_idx, vocab_idx = scoring._build_scores_and_indices_for_matrix(
                corpus_token_ids=corpus_token_ids, idf_array=idf,
                avg_doc_len=np.float64(stats.average_length), doc_frequencies=local_df, k1=self.k1,
                b=self.b, delta=self.delta, nonoccurrence_array=None, method=self.method,
                dtype=self.dtype, int_dtype=self.int_dtype, show_progress=False)
            shape = (len(corpus_token_ids), len(local_df))
            if self.csc_backend == "scipy":
                import scipy.sparse as sp

                matrix = sp.csc_matrix((flat, (doc_idx, vocab_idx)), shape=shape,
                                       dtype=self.dtype)
                data, indices, indptr = matrix.data, matrix.indices, matrix.indptr
            else:
                data, indices, indptr = self._np_csc(data=flat, rows=doc_idx, cols=vocab_idx,
                                                     shape=shape)
            self.nonoccurrence_array = None
            return {"data": data.astype(self.dtype), "indices": indices, "indptr": indptr,
                    "num_docs": len(corpus_token_ids)}

        def index(self, corpus, **kw):
            self._vocab = corpus.vocab  # the token of each id, for the global counts
            return super().index(corpus, **kw)

    return GlobalStatsBM25(**kwargs)

