"""The questions an index's documents are known to answer, embedded: FAQ "alternative phrasings".

A knowledge base often knows more than its answers: the ways users have
asked for each one (QnA Maker's and Azure Question Answering's "alternate
questions", a FAQ's logged paraphrases, StackFAQ's rephrasings of a thread's
question). A `Document` lists them in `questions`; the index embeds each
distinct one with the query tower (they are queries) and keeps them beside
the documents (`questions.json` + `questions.npy` in the version).

They rank (`index.hybrid`: a document's dense score is the best of its own
cosine and its known questions'), and they tell the not-found rule
(`index.not_found_rule`) what the document cosines cannot: a new question that
asks what a known question asks is close to it (query-to-query similarity is
what the encoder is best at), while a question about something the knowledge
base never answers is far from every known question. On StackFAQ with zero-shot all-MiniLM-L6-v2,
adding `question_top1`, `question_margin` and `question_top3` to the rule
takes held-out false flags from 14.0% to 5.4% at 90% of the unanswerable
questions flagged (`lepton-tf eval not-found`, mean over 10 fold rotations).

Example:

>>> import numpy as np
>>> from lepton_tf.index.documents import Document
>>> docs = [Document("a", "Use ~~tildes~~.", questions=("strikethrough on github?",)),
...         Document("b", "Settings > Delete.", questions=("delete my account",))]
>>> encode = lambda texts: np.eye(4, dtype=np.float32)[:len(texts)]
>>> known = KnownQuestions.of_documents(docs, encode)
>>> len(known), known.doc_ids[1]
(2, ('b',))
>>> round(known.features(np.eye(4, dtype=np.float32)[:1])[0]["question_top1"], 3)
1.0
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable

import numpy as np

TEXTS_FILE = "questions.json"
VECTORS_FILE = "questions.npy"
# The not-found rule's signals from known questions (`not_found.QUESTION_FEATURES`).
FEATURES = ("question_top1", "question_margin", "question_top3")
TOP = 3  # known questions `question_top3` averages


class KnownQuestions:
    """Distinct known questions, their vectors and the documents each one is known for.

    Args:
        texts: the distinct questions.
        vectors: float32 `[len(texts), D]`, L2-normalised (query tower).
        doc_ids: per question, the ids of the documents that list it.
    """

    def __init__(self, texts: list[str], vectors: np.ndarray, doc_ids: list[tuple]):
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or len(vectors) != len(texts) or len(doc_ids) != len(texts):
            raise ValueError(f"{len(texts)} questions, vectors {vectors.shape}, "
                             f"{len(doc_ids)} document lists.")
        self.texts, self.vectors, self.doc_ids = list(texts), vectors, [tuple(d) for d in doc_ids]

    def __len__(self) -> int:
        return len(self.texts)

    @staticmethod
    def owners_of(documents: Iterable) -> dict[str, tuple]:
        """Question text -> ids of the documents listing it (first-listed order)."""
        owners: dict[str, list] = {}
        for d in documents:
            for q in d.questions:
                owners.setdefault(q, []).append(d.doc_id)
        return {q: tuple(ids) for q, ids in owners.items()}

    @classmethod
    def of_documents(cls, documents: Iterable, encode: Callable[[list], np.ndarray],
                     previous: KnownQuestions | None = None) -> KnownQuestions | None:
        """The documents' questions, embedded by `encode` (vectors of `previous`
        reused for texts it has: an update encodes only new questions).

        Returns:
            None when no document lists a question.
        """
        owners = cls.owners_of(documents)
        if not owners:
            return None
        texts = list(owners)
        known = {t: i for i, t in enumerate(previous.texts)} if previous is not None else {}
        new = [t for t in texts if t not in known]
        fresh = np.asarray(encode(new), np.float32) if new else None
        rows, fresh_row = [], {t: i for i, t in enumerate(new)}
        for t in texts:
            rows.append(previous.vectors[known[t]] if t in known else fresh[fresh_row[t]])
        return cls(texts, np.stack(rows), [owners[t] for t in texts])

    def matches(self, documents: Iterable) -> bool:
        """Whether these are exactly the documents' questions (same owners)."""
        return self.owners_of(documents) == dict(zip(self.texts, self.doc_ids))

    def keep_documents(self, doc_ids) -> KnownQuestions:
        """Only what is known for `doc_ids` (a question known for none of them goes)."""
        keep = set(doc_ids)
        rows = [(i, tuple(d for d in ids if d in keep)) for i, ids in enumerate(self.doc_ids)]
        rows = [(i, ids) for i, ids in rows if ids]
        index = [i for i, _ in rows]
        return KnownQuestions([self.texts[i] for i in index],
                              self.vectors[index] if index else self.vectors[:0],
                              [ids for _, ids in rows])

    def features(self, query_vectors: np.ndarray,
                 readable: set | None = None) -> list[dict[str, float]]:
        """Per query: `question_top1` (best cosine to a known question),
        `question_margin` (minus the best question known for none of the top
        question's documents) and `question_top3` (mean of the best `TOP`).

        Args:
            query_vectors: float32 `[B, D]`.
            readable: the doc ids a caller may read (None: all): only their
                questions count, owned by them alone.
        """
        q = np.asarray(query_vectors, np.float32).reshape(len(query_vectors), -1)
        if not len(self):
            return [dict(zip(FEATURES, (-1.0, 0.0, -1.0))) for _ in range(len(q))]
        return self.features_of(q @ self.vectors.T, readable)

    def features_of(self, cosines: np.ndarray,
                    readable: set | None = None) -> list[dict[str, float]]:
        """`features` from the queries' cosines to every question (`[B, Q]`,
        as the search pass computed them); `readable` as in `features`."""
        cosines = np.asarray(cosines, np.float32).reshape(len(cosines), -1)
        question_owners = self.doc_ids
        if readable is not None and len(self):
            keep = [j for j, ids in enumerate(self.doc_ids) if not readable.isdisjoint(ids)]
            cosines = cosines[:, keep]
            question_owners = [tuple(d for d in self.doc_ids[j] if d in readable) for j in keep]
        if not len(self) or not len(question_owners):
            return [dict(zip(FEATURES, (-1.0, 0.0, -1.0))) for _ in range(len(cosines))]
        order = np.argsort(-cosines, axis=1, kind="stable")
        out = []
        for row, ranked in zip(cosines, order):
            owners = set(question_owners[ranked[0]])
            other = next((row[j] for j in ranked[1:] if owners.isdisjoint(question_owners[j])),
                         row[ranked[-1]] if len(ranked) > 1 else row[ranked[0]])
            out.append(dict(zip(FEATURES, (float(row[ranked[0]]),
                                           float(row[ranked[0]] - other),
                                           float(row[ranked[:TOP]].mean())))))
        return out

    def save(self, folder: str) -> None:
        """Writes `questions.json` (texts) and `questions.npy` (vectors) into `folder`."""
        with open(os.path.join(folder, TEXTS_FILE), "w", encoding="utf-8") as f:
            json.dump(self.texts, f, ensure_ascii=False)
        np.save(os.path.join(folder, VECTORS_FILE), self.vectors)

    @classmethod
    def load(cls, folder: str, documents: Iterable) -> KnownQuestions | None:
        """What `save` wrote, owned by `documents` (None: the version has none).

        Raises:
            ValueError: the files disagree with each other or with the documents.
        """
        path = os.path.join(folder, TEXTS_FILE)
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            texts = json.load(f)
        vectors = np.load(os.path.join(folder, VECTORS_FILE))
        owners = cls.owners_of(documents)
        if not isinstance(texts, list) or set(texts) != set(owners) or len(vectors) != len(texts):
            raise ValueError(f"{folder}: the known questions and the documents disagree.")
        return cls(texts, vectors, [owners[t] for t in texts])


def attach_split_questions(documents: list, collection_dir: str, split: str) -> list:
    """The documents with the queries of a BEIR split as their known questions
    (each query known for the documents its qrels judge relevant).

    Args:
        documents: the collection's `Document`s.
        collection_dir: the BEIR folder.
        split: a `qrels/<split>.tsv` there (e.g. `train`; never the split you
            evaluate on).

    Raises:
        FileNotFoundError / ValueError: no such split (as `read_beir`).
    """
    import dataclasses

    from lepton_tf.data.beir import read_beir

    collection = read_beir(collection_dir, split)
    known: dict[str, list] = {}
    for qid in sorted(collection.qrels):
        text = collection.queries.get(qid, "").strip()
        for doc_id, grade in sorted(collection.qrels[qid].items()):
            if text and grade > 0 and text not in known.setdefault(doc_id, []):
                known[doc_id].append(text)
    return [dataclasses.replace(d, questions=tuple(d.questions) + tuple(
        q for q in known.get(d.doc_id, ()) if q not in d.questions)) for d in documents]
