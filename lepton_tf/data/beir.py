"""BEIR-format collections: `corpus.jsonl`, `queries.jsonl`, `qrels/<split>.tsv`.

The format BEIR (Thakur et al., 2021) uses for every retrieval benchmark, so
`lepton-tf eval search --beir DIR` runs on any of them. Files may be gzipped
(`corpus.jsonl.gz`).
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import os
import random

from lepton_tf.data._io import iter_json_objects, open_text
from lepton_tf.data.errors import DataFormatError


@dataclasses.dataclass
class BeirCollection:
    """A corpus, queries and relevance judgements.

    Attributes:
        corpus: doc id -> {"title": str, "text": str, ...}.
        queries: query id -> text (only the queries that have judgements).
        qrels: query id -> doc id -> relevance grade.
    """

    corpus: dict[str, dict]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def _find(directory: str, name: str) -> str:
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            return path
    raise FileNotFoundError(f"{directory} has no {name} (nor {name}.gz): not a BEIR folder?")


def _read_jsonl(path: str) -> list[dict]:
    records = []
    for line_no, record in iter_json_objects(path):
        if "_id" not in record:
            raise DataFormatError(path, line_no, "expected an object with '_id'")
        records.append(record)
    return records


def read_beir(directory: str | os.PathLike, split: str = "test") -> BeirCollection:
    """Reads a BEIR folder.

    Args:
        directory: folder with `corpus.jsonl`, `queries.jsonl`, `qrels/`.
        split: which `qrels/<split>.tsv` to read.

    Raises:
        FileNotFoundError: for a missing file, naming it.
        DataFormatError: naming the file and line of a bad record.
    """
    directory = os.fspath(directory)
    corpus = {str(r["_id"]): {"title": r.get("title", "") or "", "text": r.get("text", "") or "",
                              "metadata": r.get("metadata", {})}
              for r in _read_jsonl(_find(directory, "corpus.jsonl"))}
    all_queries = {str(r["_id"]): r.get("text", "")
                   for r in _read_jsonl(_find(directory, "queries.jsonl"))}
    qrels_path = _find(os.path.join(directory, "qrels"), f"{split}.tsv")
    qrels: dict[str, dict[str, int]] = {}
    with open_text(qrels_path) as f:
        reader = csv.reader(f, delimiter="\t")
        for line_no, row in enumerate(reader, 1):
            if line_no == 1 and row and row[0] == "query-id":
                continue
            if len(row) != 3:
                raise DataFormatError(qrels_path, line_no, "expected query-id, corpus-id, score")
            try:
                grade = int(row[2])
            except ValueError:
                raise DataFormatError(qrels_path, line_no, f"score {row[2]!r} is no integer") from None
            if row[0] not in all_queries:
                raise DataFormatError(qrels_path, line_no, f"unknown query id {row[0]!r}")
            if row[1] not in corpus:
                raise DataFormatError(qrels_path, line_no, f"unknown corpus id {row[1]!r}")
            qrels.setdefault(row[0], {})[row[1]] = grade
    queries = {q: all_queries[q] for q in qrels}
    return BeirCollection(corpus, queries, qrels)


def write_beir(directory: str | os.PathLike, corpus: dict[str, dict],
               queries: dict[str, str], qrels: dict[str, dict[str, dict[str, int]]]) -> None:
    """Writes a gzipped BEIR folder (`qrels` maps split -> query -> doc -> grade)."""
    directory = os.fspath(directory)
    os.makedirs(os.path.join(directory, "qrels"), exist_ok=True)

    def dump(name, rows):
        # mtime=0: the same content gives the same bytes (stable checksums).
        with gzip.GzipFile(os.path.join(directory, name + ".gz"), "wb", mtime=0) as raw:
            raw.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode())

    dump("corpus.jsonl", [{"_id": k, **v} for k, v in corpus.items()])
    dump("queries.jsonl", [{"_id": k, "text": v} for k, v in queries.items()])
    for split, judged in qrels.items():
        with open(os.path.join(directory, "qrels", f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("query-id\tcorpus-id\tscore\n")
            for q, docs in judged.items():
                for d, grade in docs.items():
                    f.write(f"{q}\t{d}\t{grade}\n")


def stackfaq_beir(test_fraction: float = 0.3, seed: int = 13) -> tuple:
    """StackFAQ as BEIR: corpus = the 719 answers (titled by their thread's
    question), queries = the paraphrases, split per thread into train/test.

    Returns:
        `(corpus, queries, {"train": qrels, "test": qrels})`.
    """
    from lepton_tf.data.stackfaq import read_stackfaq

    corpus, queries, qrels = {}, {}, {"train": {}, "test": {}}
    for thread in read_stackfaq():
        answer_ids = []
        for i, answer in enumerate(thread.answers):
            doc_id = f"t{thread.thread_id}-a{i}"
            corpus[doc_id] = {"title": thread.question, "text": answer}
            answer_ids.append(doc_id)
        paraphrases = list(thread.queries)
        random.Random(seed * 1000 + thread.thread_id).shuffle(paraphrases)
        n_test = max(1, round(len(paraphrases) * test_fraction))
        for j, text in enumerate(paraphrases):
            query_id = f"t{thread.thread_id}-q{j}"
            queries[query_id] = text
            split = "test" if j < n_test else "train"
            qrels[split][query_id] = {d: 1 for d in answer_ids}
    return corpus, queries, qrels


def sgd_intents_beir(split: str = "test", max_queries: int = 1000, seed: int = 0) -> tuple:
    """SGD user turns -> intent descriptions, as BEIR (split `test` holds
    services never seen in SGD train: a held-out collection)."""
    from lepton_tf.data.pairs import sgd_intent_corpus, sgd_intent_pairs

    docs = sgd_intent_corpus(split)
    doc_ids = {text: key for key, text in docs.items()}
    pairs = sgd_intent_pairs(split, seed=seed, max_per_intent=None)[:max_queries]
    corpus = {key: {"title": "", "text": text} for key, text in docs.items()}
    queries = {f"q{i}": p.query for i, p in enumerate(pairs)}
    qrels = {"test": {f"q{i}": {doc_ids[p.positive]: 1} for i, p in enumerate(pairs)}}
    return corpus, queries, qrels


def beir_training_pairs(collection: BeirCollection):
    """Every judged (query, relevant document) as a `RetrievalPair`."""
    from lepton_tf.data.pairs import RetrievalPair

    pairs = []
    for q, docs in collection.qrels.items():
        for d, grade in docs.items():
            if grade > 0:
                doc = collection.corpus[d]
                text = f"{doc['title']}\n{doc['text']}" if doc["title"] else doc["text"]
                pairs.append(RetrievalPair(collection.queries[q], text))
    return pairs
