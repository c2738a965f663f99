"""Choosing the fusion weight without labels, from held-out pseudo-queries.

When the user gives no (query, positive) pairs, the collection supplies
them: for a seeded sample of documents, a piece of the document becomes a
pseudo-query and is cut out of it (the inverse cloze task of Lee, Chang &
Toutanova, ACL 2019); the document, without that piece, is the positive.
`tuning.tune_fusion` then sweeps the dense weight by nDCG@10 exactly as
`--tune` does on real pairs, over a copy of the index in which the sampled
documents are replaced by their cut versions (re-embedded with the index's
encoder; BM25 rebuilt). Cutting the piece out matters: a query copied from
a document that still holds it is an exact lexical match, and BM25 wins
every such test (measured: w = 0 to 0.3 on StackFAQ, where dense is best).

Recipes:

- `title`: the document's title when it has one that differs from its
  text (every document with that title is a positive and loses it; a
  title that would take the cut documents past `4 n` is passed over), else
  a `span`.
- `span`: a seeded run of 4 to 12 words of the text (a quarter of it,
  at most half), cut from the text; documents of under 8 words are skipped.
"""

from __future__ import annotations

import dataclasses
import random
import re

import numpy as np

from lepton_tf.data.pairs import RetrievalPair
from lepton_tf.index.tuning import tune_fusion

RECIPES = ("title", "span")
DEFAULT_RECIPE = "title"
DEFAULT_QUERIES = 256
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
                    recipe: str = DEFAULT_RECIPE):
    """Up to `n` pseudo-queries from a seeded sample of `documents`.

    Args:
        documents: the index's `Document`s.
        n: most pseudo-queries.
        seed: the sampling seed (same seed and documents, same queries).
        recipe: `title` or `span`.

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
    for d in order:
        if queries >= n:
            break
        if d.doc_id in cut:
            continue
        title = (d.title or "").strip()
        if recipe == "title" and title and title != d.text.strip():
            if len(d.text.split()) < MIN_WORDS or len(cut) + len(by_title[title]) > 4 * n:
                continue
            for sibling in by_title[title]:
                cut[sibling.doc_id] = dataclasses.replace(sibling, title="")
                pairs.append(RetrievalPair(title, sibling.doc_id))
        else:
            piece = _cut_span(d.text, rng)
            if piece is None:
                continue
            cut[d.doc_id] = dataclasses.replace(d, text=piece[1])
            pairs.append(RetrievalPair(piece[0], d.doc_id))
        queries += 1
    return pairs, cut


def held_out_index(index, cut: dict, encode_documents):
    """A brute-force copy of `index` with the `cut` documents replaced."""
    from lepton_tf.index.builder import IndexBuilder
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


def self_tune(index, encoder, n: int = DEFAULT_QUERIES, seed: int = DEFAULT_SEED,
              recipe: str = DEFAULT_RECIPE):
    """Sets `index.fusion` to the best weight on held-out pseudo-queries.

    Args:
        index: a `SearchIndex` with its BM25 part.
        encoder: the index's encoder (`encode_queries`, `encode_documents`).
        n / seed / recipe: see `pseudo_examples`.

    Returns:
        `(the chosen FusionConfig, {weight: mean nDCG@10})`; `tuned_on`
        reads `self-tuned: <recipe> pseudo-queries, seed <seed> (<n> queries)`.

    Raises:
        ValueError: when no document yields a pseudo-query.
    """
    pairs, cut = pseudo_examples(list(index.documents.values()), n, seed, recipe)
    if not pairs:
        raise ValueError("No document has text enough for a pseudo-query: nothing to tune on.")
    tuning = held_out_index(index, cut, encoder.encode_documents)
    config, table = tune_fusion(tuning, pairs, encoder.encode_queries,
                                source=f"self-tuned: {recipe} pseudo-queries, seed {seed}")
    index.fusion = config
    return config, table
