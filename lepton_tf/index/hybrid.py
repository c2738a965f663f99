"""Dense, BM25 and hybrid search over a `SearchIndex`, with metadata filters.

Per query: the candidate pool is ScaNN's top passages and BM25's top
passages (`FusionConfig.pool` each in `hybrid`, k in `dense` / `bm25`),
both restricted to the filter; every candidate gets its exact cosine
similarity and its BM25 score; `fusion.rank_pool` orders them.

Known questions (`index.known_questions`): outside `bm25` the pool also
holds the documents whose known questions are closest to the query, and a
document's dense score is its own cosine or, when higher, its best known
question's (FAQ retrieval's query-to-question match: a user's phrasing is
nearer to how others asked than to the answer's wording).

Filters are exact: a small filtered set (at most `EXACT_BELOW` rows) is
searched exhaustively (a `[n, D]` product: 1,000 x 384 takes well under a
millisecond); a larger one is over-fetched from ScaNN by the inverse of its
selectivity (more candidates and more ScaNN leaves), and when fewer than
needed survive, searched exhaustively too.
So whenever at least k passages match, k come back.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lepton_tf.contracts.search import check_mode
from lepton_tf.index.filters import READERS_FIELD, parse_filter
from lepton_tf.index.fusion import FusionConfig, rank_pool
from lepton_tf.index.lexical import top_rows
from lepton_tf.index.permitted_lexical import lexical_scorer

EXACT_BELOW = 20_000
OVERFETCH = 2.0


@dataclasses.dataclass
class Hits:
    """One query's hits, best first.

    Attributes:
        doc_ids: the passages' ids.
        scores: the mode's scores (cosine, BM25 or fused).
        dense_scores: cosine similarity of each hit (or, when higher, of
            its best known question).
        bm25_scores: BM25 score of each hit (0: no query term).
    """

    doc_ids: list[str]
    scores: np.ndarray
    dense_scores: np.ndarray
    bm25_scores: np.ndarray
    signals: QuerySignals | None = None


@dataclasses.dataclass
class QuerySignals:
    """What the not-found rule reads of one query (`index.not_found_rule`), taken
    from the search pass that ranked its hits rather than a second one.

    Every signal is over the passages the caller may read (`readable_rows`;
    the whole index without a permission), whatever else the filter asks: a
    passage the caller may not read must not move the not-found flag.

    Attributes:
        top_cosines: the best cosines over the readable rows (any mode), best
            first: `top` of them when as many are readable.
        bm25: every row's BM25 score, 0 for unreadable rows (None: the index
            has no BM25).
        question_cosines: the query's cosine to every known question (None:
            the index has none); `readable_rows` says whose count.
        readable_rows: sorted rows the caller may read (None: every row).
    """

    top_cosines: np.ndarray
    bm25: np.ndarray | None = None
    question_cosines: np.ndarray | None = None
    readable_rows: np.ndarray | None = None


def _exact_top(index, query: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    scores = index.embeddings[rows] @ query
    return rows[top_rows(scores, n)]


def dense_candidates(index, queries: np.ndarray, n: int, allowed: np.ndarray | None):
    """Index rows of the top-`n` passages by embedding for each query.

    Args:
        index: a `SearchIndex`.
        queries: float32 `[B, D]`.
        n: candidates wanted a query.
        allowed: sorted rows passing the filter, or None (no filter).

    Returns:
        a list of int arrays, one per query.
    """
    row_of = index.row_of()
    size = len(index.row_ids)
    if allowed is None:
        ids, _ = index.search_batched(queries, min(n, size))
        return [np.asarray([row_of[d] for d in row], np.int64) for row in ids]
    n = min(n, len(allowed))
    if n == 0:
        return [np.zeros(0, np.int64) for _ in queries]
    if len(allowed) <= EXACT_BELOW or index.config.kind == "brute_force":
        return [_exact_top(index, q, allowed, n) for q in queries]
    # With selectivity s, a leaf holds s times fewer matching passages: fetch
    # and visit 1/s times more, so as many matches are scored as unfiltered.
    ratio = size / len(allowed)
    fetch = min(size, int(np.ceil(n * OVERFETCH * ratio)))
    leaves = min(index.config.num_leaves, int(np.ceil(index.config.num_leaves_to_search * ratio)))
    ids, _ = index.searcher.search_batched(queries, fetch, max(fetch, index.config.reorder),
                                           leaves)
    keep = np.zeros(size, bool)
    keep[allowed] = True
    out = []
    for q, row in zip(queries, ids):
        rows = np.asarray([row_of[d] for d in row], np.int64)
        rows = rows[keep[rows]][:n]
        out.append(rows if len(rows) >= n else _exact_top(index, q, allowed, n))
    return out


def bm25_scores(index, text: str) -> np.ndarray:
    """BM25 score of every index row (index row order)."""
    lexical = index.lexical
    if lexical is None:
        raise ValueError("This index was built without its BM25 part: "
                         "rebuild it with `lepton-tf index`, or search with mode=dense.")
    scores = np.zeros(len(index.row_ids), np.float32)
    scores[index.lexical_rows()] = lexical.scores(text)
    return scores


def check_search(mode: str, k: int) -> None:
    check_mode(mode)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}.")


def pool_size(k: int, mode: str, fusion: FusionConfig) -> int:
    """Candidates each retriever proposes: the fusion pool in `hybrid`, else k."""
    return max(k, fusion.pool) if mode == "hybrid" else k


def candidate_parts(index, queries, texts: list[str], k: int, pool: int, mode: str = "hybrid",
                    filter=None, own_statistics: bool = True, permitted_stats=None):
    """Each query's candidate rows by retriever, before they are pooled.

    Args:
        index: a `SearchIndex`.
        queries / texts / k / mode / filter: as `search`.
        pool: candidates each retriever proposes (`pool_size`).
        own_statistics: BM25 of a caller who may read few passages uses their
            statistics alone (`permitted_lexical`); False for a shard.
        permitted_stats: for a shard, the statistics of every shard's permitted
            passages (`permitted_lexical.permitted_stats`).

    Returns:
        a list of `(dense rows, bm25 rows, fill rows, bm25 scores [N] or None)`:
        the top-`pool` rows by embedding (none in `bm25`), by BM25 with a
        score above 0 (none in `dense`), and in `bm25` with fewer than k
        keyword matches the top-k rows by embedding that fill the answer;
        each list best first, all restricted to the filter.
    """
    return candidate_parts_and_signals(index, queries, texts, k, pool, mode, filter,
                                       own_statistics=own_statistics,
                                       permitted_stats=permitted_stats)[0]


def _unfiltered_dense(index, queries: np.ndarray, n: int):
    """One ScaNN search for every query: `(rows per query, cosines [B, n'])`."""
    row_of = index.row_of()
    ids, cosines = index.search_batched(queries, min(n, len(index.row_ids)))
    return [np.asarray([row_of[d] for d in row], np.int64) for row in ids], cosines


def _nearest(index, queries: np.ndarray, n: int, rows: np.ndarray | None):
    """Each query's top-`n` rows among `rows` (None: all) and their cosines,
    best first: one ScaNN search for the batch, or the filtered search."""
    if not len(index.row_ids):  # an empty index: nothing to ask ScaNN
        return ([np.zeros(0, np.int64) for _ in queries],
                [np.zeros(0, np.float32) for _ in queries])
    if rows is None:
        nearest, cosines = _unfiltered_dense(index, queries, n)
        return nearest, [np.asarray(c, np.float32) for c in cosines]
    nearest = dense_candidates(index, queries, n, rows)
    return nearest, [np.sort(index.embeddings[r] @ q)[::-1] for r, q in zip(nearest, queries)]


def readable_rows(index, parsed: dict, allowed: np.ndarray | None) -> np.ndarray | None:
    """The rows the filter's permission alone leaves (None: every row), which
    the not-found signals are computed over: what the caller may read, not
    what the rest of its filter narrows the hits to."""
    if READERS_FIELD not in parsed:
        return None
    if set(parsed) == {READERS_FIELD}:
        return allowed
    return index.field_index().rows({READERS_FIELD: parsed[READERS_FIELD]})


def candidate_parts_and_signals(index, queries, texts: list[str], k: int, pool: int,
                                mode: str, filter, top: int = 0, own_statistics: bool = True,
                                permitted_stats=None):
    """`candidate_parts`, and with `top` each query's signal part
    `(best top cosines, BM25 scores [N] or None)` over the rows the caller may
    read (`readable_rows`), with those rows; else `(None, None)`.

    The signals come from the search that ranked the hits whenever they are
    over the same rows (no filter, or only a permission): one pass.
    """
    check_search(mode, k)
    queries = np.asarray(queries, np.float32).reshape(len(texts), -1)
    parsed = parse_filter(filter)
    allowed = index.field_index().rows(parsed)
    readable = readable_rows(index, parsed, allowed) if top else None
    # One search serves the dense pool (or bm25's fill) and the signals when
    # both are over the same rows.
    shared = bool(top) and (readable is allowed)
    wanted = pool if mode != "bm25" else 0
    if shared:
        wanted = max(wanted, top, k if mode == "bm25" else 0)
    nearest, cosines = _nearest(index, queries, wanted, allowed) if wanted else (None, None)
    dense_pool = [rows[:pool] for rows in nearest] if mode != "bm25" else \
        [np.zeros(0, np.int64)] * len(texts)
    if top and not shared:
        cosines = _nearest(index, queries, top, readable)[1]
    mask = None
    if top and readable is not None:
        mask = np.zeros(len(index.row_ids), bool)
        mask[readable] = True
    scorer = lexical_scorer(index, parsed, own_statistics, permitted_stats) \
        if (mode != "dense" or index.lexical) else None
    parts, signals = [], []
    for b, (query, text, dense_rows) in enumerate(zip(queries, texts, dense_pool)):
        lexical = scorer(text) if scorer is not None else None
        lexical_rows = fill = np.zeros(0, np.int64)
        if mode != "dense":
            rank = index.id_rank()  # exact ties: lower doc id first
            if allowed is None:
                lexical_rows = top_rows(lexical, pool, rank)
            else:
                lexical_rows = allowed[top_rows(lexical[allowed], pool, rank[allowed])]
            lexical_rows = lexical_rows[lexical[lexical_rows] > 0]
            if mode == "bm25" and len(lexical_rows) < k:
                # Fewer keyword matches than k: fill with the best dense rows.
                fill = nearest[b][:k] if nearest is not None else \
                    dense_candidates(index, query[None], k, allowed)[0]
        parts.append((dense_rows, lexical_rows, fill, lexical))
        if top:  # BM25 of a passage the caller may not read is no signal
            signals.append((cosines[b][:top], lexical if lexical is None or mask is None
                            else np.where(mask, lexical, np.float32(0))))
    return parts, (signals if top else None), readable


def _question_rows(scores: np.ndarray, n: int, passes: np.ndarray | None) -> np.ndarray:
    """The top-`n` rows by known-question score that have one (and pass the filter:
    `passes`, a bool row mask, None for no filter)."""
    if passes is not None:
        scores = np.where(passes, scores, -np.inf)
    rows = top_rows(scores, min(n, len(scores)))
    return rows[np.isfinite(scores[rows])]


def first_occurrences(keys) -> list:
    """`keys` without repeats, each where it first appears (a pool's order)."""
    return list(dict.fromkeys(keys))


def candidate_pools(index, queries, texts: list[str], k: int, mode: str = "hybrid",
                    filter=None, fusion: FusionConfig | None = None):
    """Each query's candidates with both scores, before ranking.

    Args: as `search`.

    Returns:
        a list of `(rows int [C], dense float32 [C], bm25 float32 [C])`.
    """
    return _candidate_pools(index, queries, texts, k, mode, filter, fusion)[0]


def _candidate_pools(index, queries, texts: list[str], k: int, mode: str, filter,
                     fusion: FusionConfig | None, top: int = 0):
    """`candidate_pools`, and with `top` each query's `QuerySignals` (else None)."""
    check_search(mode, k)
    fusion = fusion or index.fusion
    queries = np.asarray(queries, np.float32).reshape(len(texts), -1)
    pool = pool_size(k, mode, fusion)
    question_cosines = index.question_cosines(queries) \
        if hasattr(index, "question_cosines") else None
    known = None if question_cosines is None else \
        index.question_scores(queries, question_cosines)
    passes = None  # the filter's rows as a mask, built once for every query's questions
    if known is not None and mode != "bm25":
        allowed = index.field_index().rows(parse_filter(filter))
        if allowed is not None:
            passes = np.zeros(known.shape[1], bool)
            passes[allowed] = True
    parts, signal_parts, readable = candidate_parts_and_signals(index, queries, texts, k, pool,
                                                                mode, filter, top)
    pools, signals = [], []
    for b, (query, (dense_rows, lexical_rows, fill, lexical)) in enumerate(zip(queries, parts)):
        asked = _question_rows(known[b], pool, passes) if known is not None and \
            mode != "bm25" else np.zeros(0, np.int64)
        rows = np.asarray(first_occurrences(np.concatenate(
            [dense_rows, asked, lexical_rows, fill]).tolist()), np.int64)
        dense = index.embeddings[rows] @ query if len(rows) else np.zeros(0, np.float32)
        if known is not None:
            dense = np.maximum(dense, known[b][rows])
        bm25 = lexical[rows] if lexical is not None else np.zeros(len(rows), np.float32)
        pools.append((rows, np.asarray(dense, np.float32), np.asarray(bm25, np.float32)))
        if top:
            cosines, bm25_signal = signal_parts[b]
            signals.append(QuerySignals(cosines, bm25_signal, None if question_cosines is None
                                        else question_cosines[b], readable))
    return pools, (signals if top else None)


def rank(index, pool, mode: str, k: int, fusion: FusionConfig) -> Hits:
    """One pool ranked for `mode`: the top-k `Hits`."""
    rows, dense, bm25 = pool
    order, scores = rank_pool(dense, bm25, mode, k, fusion)
    return Hits([index.row_ids[r] for r in rows[order]], scores, dense[order], bm25[order])


def search(index, queries, texts: list[str], k: int, mode: str = "hybrid",
           filter=None, fusion: FusionConfig | None = None, signals: int = 0) -> list[Hits]:
    """Top-k passages of each query.

    Args:
        index: a `SearchIndex` (with its `lexical` part for bm25/hybrid).
        queries: float32 `[B, D]` query embeddings (also in `bm25` mode:
            they score the hits' `dense_scores`).
        texts: the `B` query strings (for BM25).
        k: hits a query.
        mode: `dense`, `bm25` or `hybrid`.
        filter: a filter (JSON text, dict or None); see `filters`.
        fusion: fusion settings (default: the index's).
        signals: when above 0, each `Hits` also carries the query's
            `QuerySignals` with its best `signals` cosines, from the same
            ScaNN and BM25 pass.

    Returns:
        one `Hits` per query (fewer than k only when fewer passages match).

    Raises:
        ValueError / FilterError: bad mode, k or filter; BM25 asked of an
            index without it.
    """
    fusion = fusion or index.fusion
    pools, found = _candidate_pools(index, queries, texts, k, mode, filter, fusion, signals)
    hits = [rank(index, pool, mode, k, fusion) for pool in pools]
    for h, s in zip(hits, found or []):
        h.signals = s
    return hits
