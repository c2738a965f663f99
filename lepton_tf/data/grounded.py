"""Grounded reply examples: a question, retrieved passages, a reply citing one.

The chat model learns to answer from passages by reading contexts such as

    [DOC] [1] Strikethrough with GitHub Markdown: Use ~~tildes around ...
    [DOC] [2] How do I delete my Facebook account?: from here : Go ...
    [USER] How can I cross out my text on git hub?

and writing `Use ~~tildes around the words~~. [1]`: the opening sentence of
the relevant passage, cited by its number. Examples come from any BEIR-format
collection (the vendored StackFAQ by default, or a user's own FAQ): each
judged query becomes a user turn, its relevant document the passage to
cite, and the other shown passages are BM25's best non-relevant documents
(hard distractors: the model must pick the passage that answers, not the
first one), in a shuffled order.

Held-out evaluation must not reward memorised answers, so `split_by_answer`
splits queries by their relevant document: no answer of a held-out query
is a reply (or a distractor) in training.
"""

from __future__ import annotations

import dataclasses
import random
import re
import zlib

from lepton_tf.data.beir import BeirCollection
from lepton_tf.data.bm25 import Bm25Index

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclasses.dataclass(frozen=True)
class GroundedExample:
    """One grounded turn.

    Attributes:
        query_id: the BEIR query id.
        question: the user turn.
        passages: `(doc_id, title, text)` shown to the model, numbered from 1.
        cited: 1-based number of the passage the reply draws on (0: none shown).
        reference: the reply without its citation (for BLEU).
        history: `(speaker, text)` turns before the question, oldest first.
    """

    query_id: str
    question: str
    passages: tuple[tuple[str, str, str], ...]
    cited: int
    reference: str
    history: tuple[tuple[str, str], ...] = ()

    @property
    def reply(self) -> str:
        """The training target: the reference with its `[n]` citation."""
        return f"{self.reference} [{self.cited}]" if self.cited else self.reference


def opening_sentence(text: str, max_words: int = 20) -> str:
    """The first sentence of `text`, cut to `max_words` words.

    Example:

    >>> opening_sentence("Use ~~tildes~~. It works on GitHub.")
    'Use ~~tildes~~.'
    """
    text = " ".join(text.split())
    first = _SENTENCE_END.split(text, maxsplit=1)[0]
    words = first.split()
    return " ".join(words[:max_words])


def _relevant(collection: BeirCollection, query_id: str) -> list[str]:
    judged = collection.qrels.get(query_id, {})
    return [d for d, grade in judged.items() if grade > 0 and d in collection.corpus]


def split_by_answer(collection: BeirCollection, held_out_fraction: float = 0.2,
                    salt: str = "grounded") -> tuple[list[str], list[str]]:
    """Splits judged queries so that held-out answers are never trained on.

    A query is held out when its first relevant document's id hashes into
    `held_out_fraction` of the buckets; a training query that shares any
    relevant document with a held-out one moves to the held-out side.

    Returns:
        `(train query ids, held-out query ids)`, each sorted.
    """
    def held(doc_id: str) -> bool:
        return zlib.crc32(f"{salt}:{doc_id}".encode()) % 1000 < held_out_fraction * 1000

    queries = sorted(q for q in collection.qrels if _relevant(collection, q))
    held_docs = {d for q in queries for d in _relevant(collection, q)[:1] if held(d)}
    test = [q for q in queries if set(_relevant(collection, q)) & held_docs]
    test_set = set(test)
    return [q for q in queries if q not in test_set], test


class PassageRetriever:
    """BM25 (`bm25s`) over a collection's documents, for distractors and evaluation.

    Args:
        collection: the corpus to search.
        exclude: doc ids never returned (held-out answers, when training).
    """

    def __init__(self, collection: BeirCollection, exclude=()):
        excluded = set(exclude)
        self.doc_ids = [d for d in collection.corpus if d not in excluded]
        self.index = Bm25Index(
            [f"{collection.corpus[d].get('title', '')} {collection.corpus[d]['text']}"
             for d in self.doc_ids])

    def search(self, questions: list[str], k: int) -> list[list[str]]:
        """The `k` best doc ids for each question, best first."""
        rows, _ = self.index.search(questions, k)
        return [[self.doc_ids[i] for i in row] for row in rows]


def _passage(collection: BeirCollection, doc_id: str) -> tuple[str, str, str]:
    doc = collection.corpus[doc_id]
    return doc_id, doc.get("title", ""), doc["text"]


def training_examples(collection: BeirCollection, query_ids: list[str], *,
                      passages: int = 2, variants: int = 4, distractor_pool: int = 6,
                      max_reply_words: int = 20, exclude=(), seed: int = 0
                      ) -> list[GroundedExample]:
    """Grounded examples for training: the relevant passage among BM25 distractors.

    Args:
        collection: BEIR collection (corpus, queries, qrels).
        query_ids: the queries to use (see `split_by_answer`).
        passages: passages shown per example (one relevant).
        variants: examples per query, each with other distractors and order.
        distractor_pool: BM25 non-relevant documents to draw distractors from.
        max_reply_words: the reply is the relevant passage's opening sentence,
            cut to this many words (what the model can see of it).
        exclude: doc ids never shown (held-out answers).
        seed: shuffling seed.

    Returns:
        `len(query_ids) * variants` examples (fewer for queries without a
        relevant document).
    """
    if passages < 1:
        raise ValueError(f"passages must be >= 1, got {passages}")
    rng = random.Random(seed)
    retriever = PassageRetriever(collection, exclude=exclude)
    questions = [collection.queries[q] for q in query_ids]
    ranked = retriever.search(questions, distractor_pool + 8)
    examples = []
    for query_id, question, hits in zip(query_ids, questions, ranked):
        relevant = _relevant(collection, query_id)
        if not relevant:
            continue
        negatives = [d for d in hits if d not in relevant][:distractor_pool]
        for _ in range(variants):
            gold = rng.choice(relevant)
            shown = [gold] + rng.sample(negatives, min(passages - 1, len(negatives)))
            rng.shuffle(shown)
            reference = opening_sentence(collection.corpus[gold]["text"], max_reply_words)
            examples.append(GroundedExample(
                query_id, question, tuple(_passage(collection, d) for d in shown),
                shown.index(gold) + 1, reference))
    return examples


def evaluation_examples(collection: BeirCollection, query_ids: list[str],
                        retriever: PassageRetriever, *, passages: int = 2,
                        max_reply_words: int = 20) -> list[GroundedExample]:
    """Held-out examples as the assistant meets them: the retriever's top passages.

    The reference is the opening sentence of the best-ranked relevant
    document among those shown (else of the first relevant one, with
    `cited=0`: retrieval missed and the reply cannot be grounded).
    """
    questions = [collection.queries[q] for q in query_ids]
    examples = []
    for query_id, question, hits in zip(query_ids, questions,
                                        retriever.search(questions, passages)):
        relevant = _relevant(collection, query_id)
        shown = [d for d in hits if d in relevant]
        gold = shown[0] if shown else relevant[0]
        examples.append(GroundedExample(
            query_id, question, tuple(_passage(collection, d) for d in hits),
            hits.index(gold) + 1 if shown else 0,
            opening_sentence(collection.corpus[gold]["text"], max_reply_words)))
    return examples


def dialogue_examples(pairs, count: int, *, passages: int = 2, seed: int = 0
                      ) -> list[GroundedExample]:
    """Grounded examples from dialogues: the next system turn shown as a passage.

    Each example shows the system's real reply as one passage (titled by its
    service) among replies from other dialogues, and trains the model to
    say that passage and cite it. FAQ collections are small, and a small
    model memorises their few hundred answers instead of learning to copy;
    tens of thousands of distinct dialogue replies teach the copying that
    the FAQ examples then point at the right passage.

    Args:
        pairs: `ResponsePair`s whose last context turn is the user's.
        count: examples to make (a seeded sample of `pairs`).
        passages: passages shown (one is the reply).
        seed: sampling seed.
    """
    rng = random.Random(seed)
    usable = [p for p in pairs if p.context and p.speakers[-1] == "USER"]
    picked = rng.sample(usable, min(count, len(usable)))
    examples = []
    for i, pair in enumerate(picked):
        gold = (f"{pair.dialogue_id}/{pair.turn_index}", _service_title(pair.services),
                pair.response)
        others = []
        while len(others) < passages - 1:
            other = rng.choice(usable)
            if other.dialogue_id != pair.dialogue_id:
                others.append((f"{other.dialogue_id}/{other.turn_index}",
                               _service_title(other.services), other.response))
        shown = [gold] + others
        rng.shuffle(shown)
        history = tuple(zip(pair.speakers[:-1], pair.context[:-1]))
        examples.append(GroundedExample(
            f"{pair.dialogue_id}/{pair.turn_index}", pair.context[-1], tuple(shown),
            shown.index(gold) + 1, " ".join(pair.response.split()), history))
    return examples


def _service_title(services) -> str:
    """`("Restaurants_1",)` -> `"Restaurants"`."""
    return ", ".join(dict.fromkeys(s.split("_")[0] for s in services)) or "Assistant"
