"""Stemmed BM25 beside the dense searcher, stored in every index version.

`bm25s` (a maintained, sparse-matrix BM25 with on-disk save/load and no
pickles) scores the passages; `PyStemmer` (the Snowball stemmers) reduces
words to stems, so "indexing" matches "indexes". Stemming gains on technical
collections where queries and abstracts use different word forms.

On disk (`<version>/bm25/`): bm25s's own `.npy` / `.json` files plus
`doc_ids.json` (row -> doc id) and `lexical.json` (tokenizer settings), all
listed with their sha256 in the index manifest like every other file.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re

import numpy as np

LANGUAGE = "english"
STOPWORDS = "en"
_SETTINGS = "lexical.json"
_DOC_IDS = "doc_ids.json"


_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's default token_pattern


@functools.lru_cache(maxsize=1)
def _stopwords() -> frozenset:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


def _tokenize(texts: list[str], stem):
    """`bm25s.tokenize` with our stop words and stemmer: `Tokenized(ids, vocab)`."""
    import bm25s

    return bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=stem, show_progress=False)


def _stemmer(language: str | None):
    if not language:
        return None
    import Stemmer

    return Stemmer.Stemmer(language).stemWords


class LexicalIndex:
    """BM25 (Lucene variant, k1 = 1.5, b = 0.75) over stemmed, stop-worded tokens.

    Example:

    >>> index = LexicalIndex(["d1", "d2"], ["indexing passages", "hotel rooms"])
    >>> ids, _ = index.search(["index"], k=1)
    >>> ids
    [['d1']]

    Args:
        doc_ids: one id per text (the row order of `scores`).
        texts: what is matched (title and passage).
        language: Snowball stemmer language, or None for no stemming.
        stats: the whole corpus's `CorpusStats` when these passages are one
            shard of it (IDF and average length from the corpus, so scores
            equal the unsharded index's; see `lexical_stats`); None: these
            passages' own.
    """

    def __init__(self, doc_ids: list[str], texts: list[str], language: str | None = LANGUAGE,
                 _retriever=None, stats=None):
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        if len(doc_ids) != len(texts):
            raise ValueError(f"{len(doc_ids)} ids but {len(texts)} texts.")
        self._bm25s = bm25s
        self.language = language
        self.doc_ids = list(doc_ids)
        self.rows = {d: i for i, d in enumerate(self.doc_ids)}
        self._stem = _stemmer(language)
        if _retriever is None:
            from lepton_tf.index.lexical_stats import global_stats_bm25

            _retriever = bm25s.BM25() if stats is None else global_stats_bm25(stats)
            # allow_empty: a passage of only stop words still has a row.
            with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 lengths: no term
                _retriever.index(_with_vocabulary(self._tokenize(list(texts))),
                                 show_progress=False)
        self.retriever = _retriever

    def __len__(self) -> int:
        return len(self.doc_ids)

    def _tokenize(self, texts: list[str]):
        return _tokenize(texts, self._stem)

    @classmethod
    def corpus_stats(cls, texts: list[str], language: str | None = LANGUAGE):
        """The `CorpusStats` of `texts`, tokenized as an index of them would be
        (sum them over shards with `lexical_stats.merge_all`)."""
        from lepton_tf.index.lexical_stats import CorpusStats

        return CorpusStats.of_tokenized(_tokenize(list(texts), _stemmer(language)))

    def tokens(self, query: str) -> list[str]:
        """What `bm25s.tokenize` makes of one query (same pattern, stop words and
        stems), without its per-call setup: a query costs microseconds. Tokens
        the index never saw are kept (`_query_tokens` drops them)."""
        tokens = [t for t in _TOKEN.findall(query.lower()) if t not in _stopwords()]
        if self._stem is not None and tokens:
            tokens = self._stem(tokens)
        return list(tokens)

    def _query_tokens(self, query: str) -> list[str]:
        vocab = self.retriever.vocab_dict
        return [t for t in self.tokens(query) if t in vocab]

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every row for `query` (float32 `[N]`; 0 where no term matches)."""
        tokens = self._query_tokens(query)
        if not tokens or not self.doc_ids:
            return np.zeros(len(self.doc_ids), np.float32)
        return np.asarray(self.retriever.get_scores(tokens), np.float32)

    def search(self, queries: list[str], k: int, allowed: np.ndarray | None = None):
        """The top-k rows of each query by BM25, best first.

        Args:
            queries: query strings.
            k: hits a query (fewer when fewer rows score above 0).
            allowed: optional bool `[N]`: only these rows may be returned.

        Returns:
            `(ids: list of id lists, scores: list of float32 arrays)`; a row
            scoring 0 (no query term) is never a hit.
        """
        ids, scores = [], []
        for q in queries:
            s = self.scores(q)
            if allowed is not None:
                s = np.where(allowed, s, 0.0)
            top = top_rows(s, k)
            top = top[s[top] > 0]
            ids.append([self.doc_ids[j] for j in top])
            scores.append(s[top])
        return ids, scores

    def save(self, folder: str) -> None:
        """Writes the BM25 matrices, ids and settings into `folder`."""
        os.makedirs(folder, exist_ok=True)
        self.retriever.save(folder, show_progress=False)
        with open(os.path.join(folder, _DOC_IDS), "w", encoding="utf-8") as f:
            json.dump(self.doc_ids, f)
        with open(os.path.join(folder, _SETTINGS), "w", encoding="utf-8") as f:
            json.dump({"language": self.language, "stopwords": STOPWORDS,
                       "library": "bm25s", "method": self.retriever.method}, f)

    @classmethod
    def load(cls, folder: str) -> "LexicalIndex":
        """Reads what `save` wrote (no pickles: `.npy` without objects and JSON).

        Raises:
            FileNotFoundError: if `folder` holds no lexical index.
        """
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        with open(os.path.join(folder, _SETTINGS), encoding="utf-8") as f:
            settings = json.load(f)
        with open(os.path.join(folder, _DOC_IDS), encoding="utf-8") as f:
            doc_ids = json.load(f)
        retriever = bm25s.BM25.load(folder, load_corpus=False, mmap=False, show_progress=False)
        return cls(doc_ids, [""] * len(doc_ids), settings.get("language"), _retriever=retriever)


def _with_vocabulary(tokenized):
    """`tokenized`, or, when no passage has a token (only stop words,
    punctuation, one-letter words or empty strings), the same rows over a
    vocabulary of bm25s's empty token `""` alone: bm25s cannot index an empty
    vocabulary (`max()` of no ids), and no query yields `""` (`_TOKEN` needs
    two word characters), so the index is a working BM25 that matches
    nothing and bm25 / hybrid search fall back to dense (`hybrid`)."""
    if tokenized.vocab:
        return tokenized
    return type(tokenized)(ids=[[] for _ in tokenized.ids], vocab={"": 0})


def top_rows(scores: np.ndarray, k: int, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Row numbers of the `k` highest scores, best first.

    Ties are broken by `tiebreak[row]` (lowest first; default the row
    number), at the cut too: which of several passages tied at the k-th score
    are kept is decided by it, not left to the selection algorithm, so a
    sharded index (which passes each row's document-id rank) keeps the same
    passages as an unsharded one.
    """
    k = min(int(k), len(scores))
    if k <= 0:
        return np.zeros(0, np.int64)
    if k < len(scores):
        kth = -np.partition(-scores, k - 1)[k - 1]
        top = np.flatnonzero(scores >= kth)
    else:
        top = np.arange(len(scores))
    key = top if tiebreak is None else tiebreak[top]
    return top[np.lexsort((key, -scores[top]))[:k]]
