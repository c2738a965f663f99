"""Choosing the fusion weight without labels, from held-out pseudo-queries.

When the user gives no (query, positive) pairs, the collection supplies
them: for a seeded sample of documents, a piece of the document becomes a
pseudo-query and is cut out of it (the inverse cloze task of Lee, Chang &
Toutanova, ACL 2019); the document, without that piece, is the positive.
`fusion_tuning.per_query_ndcg` scores every pseudo-query at each dense weight 0,
0.05, ..., 1 exactly as `--tune` does on real pairs, over a copy of the
index in which the sampled documents are replaced by their cut versions
(re-embedded with the index's encoder; BM25 rebuilt). Cutting the piece out
matters: a query copied from a document that still holds it is an exact
lexical match, and BM25 wins every such test (measured: w = 0 to 0.3 on
StackFAQ, where dense is best).

The weight: dense only (w = 1) unless mixing BM25 in is shown to gain on
the pseudo-queries: each weight's per-query gain over dense only is
averaged and its one-sided 95% lower confidence bound taken (mean minus
1.645 standard errors, the normal approximation of a paired test); the
weight with the highest bound wins, dense only when no bound is above 0
(ties: the higher weight). Pseudo-queries are not the user's queries (they
lean lexical or dense by recipe), so a gain within their noise is no
evidence: the argmax alone cost fine-tuned StackFAQ 0.2 points, and up to
1,024 queries resolve a one-point gain (docs/benchmarks.md, `bench/hybrid_selftune.py`).

Recipes:

- `title`: the document's title when it has one that differs from its
  text (every document with that title is a positive and loses it; a
  title that would take the cut documents past `max_cut`, `4 n` by
  default, gives a `span` instead), else a `span`.
- `span`: a seeded run of 4 to 12 words of the text (a quarter of it,
  at most half), cut from the text; documents of under 8 words are skipped.
"""

from __future__ import annotations

import dataclasses
import random
import re

import numpy as np

from lepton_tf.data.pairs import RetrievalPair
from lepton_tf.index.fusion_tuning import per_query_ndcg

RECIPES = ("title", "span")
DEFAULT_RECIPE = "title"
DEFAULT_QUERIES = 1024
CONFIDENCE_Z = 1.645  # one-sided 95%
DENSE_ONLY = 1.0
DEFAULT_SEED = 0
MIN_WORDS, MAX_WORDS, MIN_TEXT_WORDS = 4, 12, 8


def _cut_span(text: str, rng: random.Random) -> tuple[str, str] | None:
    words = re.findall(r"\S+", text)
    if len(words) < MIN_TEXT_WORDS:
        return None
    length = min(MAX_WORDS, max(MIN_WORDS, len(words) // 4), len(words) // 2)
    start = rng.randrange(len(words) - length + 1)
    return (" ".join(words[start:start + length]),
            " ".join(words[:start] + words[start + length:]))


def pseudo_examples(documents, n: int = DEFAULT_QUERIES, seed: int = DEFAULT_SEED,
                    recipe: str = DEFAULT_RECIPE, max_cut: int | None = None):
    """Up to `n` pseudo-queries from a seeded sample of `documents`.

    Args:
        documents: the index's `Document`s.
        n: most pseudo-queries.
        seed: the sampling seed (same seed and documents, same queries).
        recipe: `title` or `span`.
        max_cut: documents cut (and so re-encoded) at most (None: `4 n`).

    Returns:
        `(pairs, cut)`: `RetrievalPair(query, positive doc id)`s, and
        `{doc id: the Document without its piece}`.

    Raises:
        ValueError: for an unknown recipe.
    """
    if recipe not in RECIPES:
        raise ValueError(f"pseudo-query recipe must be one of {RECIPES}, got {recipe!r}.")
    rng = random.Random(seed)
    order = list(documents)
    by_title: dict[str, list] = {}
    for d in order:
        by_title.setdefault((d.title or "").strip(), []).append(d)
    rng.shuffle(order)
    pairs, cut, queries = [], {}, 0
    max_cut = 4 * n if max_cut is None else max_cut
    for d in order:
        if queries >= n:
            break
        if d.doc_id in cut:
            continue
        title = (d.title or "").strip()
        if recipe == "title" and title and title != d.text.strip() \
                and len(cut) + len(by_title[title]) <= max_cut:
            if len(d.text.split()) < MIN_WORDS:
                continue
            for sibling in by_title[title]:
                cut[sibling.doc_id] = dataclasses.replace(sibling, title="")
                pairs.append(RetrievalPair(title, sibling.doc_id))
        else:
            piece = _cut_span(d.text, rng)
            if piece is None or len(cut) >= max_cut:
                continue
            cut[d.doc_id] = dataclasses.replace(d, text=piece[1])
            pairs.append(RetrievalPair(piece[0], d.doc_id))
        queries += 1
    return pairs, cut


def held_out_index(index, cut: dict, encode_documents):
    """A brute-force copy of `index` with the `cut` documents replaced."""
    from lepton_tf.index.scann_config import IndexBuilder
    from lepton_tf.index.search_index import SearchIndex

    documents = [cut.get(d.doc_id, d) for d in index.documents.values()]
    row_of = index.row_of()
    vectors = np.asarray(index.embeddings, np.float32)[[row_of[d.doc_id] for d in documents]]
    changed = [i for i, d in enumerate(documents) if d.doc_id in cut]
    if changed:
        vectors[changed] = np.asarray(encode_documents(
            [documents[i].embedding_text() for i in changed]), np.float32)
    config = IndexBuilder(*vectors.shape).brute_force().config(k=min(100, len(documents)))
    return SearchIndex.build(vectors, documents, config, fusion=index.fusion)


def lower_bounds(per_query: dict, baseline: float = DENSE_ONLY,
                 z: float = CONFIDENCE_Z) -> dict:
    """Each weight's lower confidence bound on its mean gain over `baseline`.

    Args:
        per_query: `{weight: float [Q]}`, each query's nDCG@10 (same order).
        baseline: the weight gains are measured against (0 for itself).
        z: standard errors below the mean (1.645: one-sided 95%).

    Returns:
        `{weight: mean(gain) - z * std(gain) / sqrt(Q)}`; `-inf` for another
        weight when there are fewer than 2 queries.
    """
    base = np.asarray(per_query[baseline], np.float64)
    bounds = {}
    for w, values in per_query.items():
        gain = np.asarray(values, np.float64) - base
        if w == baseline:
            bounds[w] = 0.0
        elif len(gain) < 2:
            bounds[w] = float("-inf")
        else:
            bounds[w] = float(gain.mean() - z * gain.std(ddof=1) / np.sqrt(len(gain)))
    return bounds


def choose_weight(per_query: dict, baseline: float = DENSE_ONLY,
                  z: float = CONFIDENCE_Z) -> float:
    """The weight whose gain over `baseline` has the highest lower bound
    (`lower_bounds`): `baseline` unless some bound is above 0; ties go to
    `baseline`, then to the higher weight."""
    bounds = lower_bounds(per_query, baseline, z)
    return max(bounds, key=lambda w: (round(bounds[w], 9), w == baseline, w))


TUNING_BAR = "Self-tuning: encoding cut passages"


def self_tune(index, encoder, n: int = DEFAULT_QUERIES, seed: int = DEFAULT_SEED,
              recipe: str = DEFAULT_RECIPE, top1: list | None = None,
              max_cut: int | None = None, progress: str | None = TUNING_BAR):
    """Sets `index.fusion` to the weight the pseudo-queries support.

    Args:
        index: a `SearchIndex` with its BM25 part.
        encoder: the index's encoder (`encode_queries`, `encode_documents`).
        n / seed / recipe / max_cut: see `pseudo_examples`.
        top1: when a list, each pseudo-query's best cosine similarity in the
            held-out index is appended to it (what `index.not_found_pseudo_threshold`
            fits an index's not-found rule on, at no extra encoding).
        progress: the label of the bar re-encoding the cut passages (None: no bar).

    Returns:
        `(the chosen FusionConfig, {weight: mean nDCG@10})`; `tuned_on`
        reads `self-tuned: <recipe> pseudo-queries, seed <seed> (<n>
        queries; w <w> gains +g nDCG@10 over dense, 95% lower bound +b)`,
        with `dense only: the best mix, ` before `w` when dense won.

    Raises:
        ValueError: when no document yields a pseudo-query.
    """
    pairs, cut = pseudo_examples(list(index.documents.values()), n, seed, recipe, max_cut)
    if not pairs:
        raise ValueError("No document has text enough for a pseudo-query: nothing to tune on.")
    from lepton_tf.index.encoding import encode_documents_labelled

    tuning = held_out_index(index, cut,
                            lambda texts: encode_documents_labelled(encoder, texts, progress))
    embedded = []

    def embed_queries(texts):
        vectors = np.asarray(encoder.encode_queries(texts), np.float32)
        embedded.append(vectors)
        return vectors
    queries, _, per_query = per_query_ndcg(tuning, pairs, embed_queries)
    if top1 is not None and embedded:
        documents = np.asarray(tuning.embeddings, np.float32)
        top1.extend(float((documents @ q).max()) for q in np.concatenate(embedded))
    weight = choose_weight(per_query)
    bounds = lower_bounds(per_query)
    shown = weight if weight != DENSE_ONLY else max(
        (w for w in bounds if w != DENSE_ONLY), key=lambda w: (bounds[w], w), default=weight)
    gain = float(np.mean(per_query[shown] - per_query[DENSE_ONLY]))
    evidence = f"w {shown:g} gains {gain:+.4f} nDCG@10 over dense, 95% lower bound " \
               f"{bounds[shown]:+.4f}"
    index.fusion = dataclasses.replace(
        index.fusion, dense_weight=weight,
        tuned_on=f"self-tuned: {recipe} pseudo-queries, seed {seed} ({len(queries)} queries; "
                 + ("dense only: the best mix, " if weight == DENSE_ONLY else "") + evidence + ")")
    return index.fusion, {w: float(v.mean()) for w, v in per_query.items()}


def tune_default(index, encoder, log=print, top1: list | None = None,
                 max_cut: int | None = None, progress: str | None = TUNING_BAR):
    """What every index build without `--tune PAIRS` runs: `self_tune` with
    the defaults, keeping the index's weight when the corpus yields no
    pseudo-query. Logs the table and the choice.

    Args:
        index: a `SearchIndex` with its BM25 part.
        encoder: its encoder (`encode_queries`, `encode_documents`).
        log: where messages go.
        top1, max_cut, progress: see `self_tune`.

    Returns:
        The index's `FusionConfig` afterwards.
    """
    try:
        config, table = self_tune(index, encoder, top1=top1, max_cut=max_cut,
                                  progress=progress)
    except ValueError as e:  # no document long enough: keep the weight it has
        log(f"fusion: {e} Keeping dense weight {index.fusion.dense_weight:g} "
            f"({index.fusion.tuned_on}).")
        return index.fusion
    log("fusion: nDCG@10 by dense weight on pseudo-queries: "
        + " ".join(f"{w:g}:{v:.3f}" for w, v in table.items()))
    log(f"fusion: dense weight {config.dense_weight:g} ({config.method}; {config.tuned_on})")
    return config


MAX_SAMPLE = 50_000


def tune_on_sample(documents, vectors, encoder, fusion=None, max_documents: int = MAX_SAMPLE,
                   seed: int = DEFAULT_SEED, log=print, top1: list | None = None,
                   max_cut: int | None = None):
    """`tune_default` over an exact index of (a seeded sample of) passages,
    for builds that never hold the whole index in one process (the Beam
    pipeline: its shards all get the weight chosen here).

    Args:
        documents: `Document`s.
        vectors: float32 `[len(documents), D]`, their embeddings.
        encoder: `encode_queries`, `encode_documents` and `info`.
        fusion: the `FusionConfig` to start from (default `FusionConfig()`).
        max_documents: at most this many passages (a seeded uniform sample).
        seed: the sampling seed.
        log: where messages go.
        top1, max_cut: see `self_tune`.

    Returns:
        The chosen `FusionConfig` (`tuned_on` names the sample when there is one).
    """
    from lepton_tf.index.scann_config import IndexBuilder
    from lepton_tf.index.search_index import SearchIndex

    vectors = np.asarray(vectors, np.float32)
    rows = sorted(random.Random(seed).sample(range(len(documents)), max_documents)) \
        if len(documents) > max_documents else list(range(len(documents)))
    config = IndexBuilder(len(rows), vectors.shape[1]).brute_force().config(
        k=min(100, len(rows)))
    index = SearchIndex.build(vectors[rows], [documents[i] for i in rows], config,
                              encoder=encoder.info, fusion=fusion)
    chosen = tune_default(index, encoder, log, top1=top1, max_cut=max_cut)
    if len(rows) < len(documents) and chosen.tuned_on.startswith("self-tuned"):
        chosen = dataclasses.replace(
            chosen, tuned_on=f"{chosen.tuned_on} on {len(rows)} of {len(documents)} passages")
    return chosen
