"""`lepton-tf eval search --beir DIR`: our encoder + ScaNN against exact search,
zero-shot MiniLM and BM25, side by side, on any BEIR-format collection."""

from __future__ import annotations

import json
import os
import time

import numpy as np

from lepton_tf.evaluation.retrieval_metrics import MEASURES, ranked_to_run, score_run

DEPTH = 100


class _InProcessMiniLM:
    """Zero-shot all-MiniLM-L6-v2 through the same servable code as exports."""

    def __init__(self):
        from lepton_tf.index.search_index import EncoderInfo
        from lepton_tf.models.encoder_servable import EncoderServable
        from lepton_tf.models.retrieval import DualEncoder
        from lepton_tf.models.sentence_encoder import SentenceEncoder

        self.servable = EncoderServable(DualEncoder(SentenceEncoder.from_minilm()))
        self.info = EncoderInfo(name="all-MiniLM-L6-v2", version=0)

    def _run(self, fn, texts, batch_size):
        import tensorflow as tf
        return np.concatenate([fn(tf.constant(list(texts[i:i + batch_size])))["embedding"].numpy()
                               for i in range(0, len(texts), batch_size)])

    def encode_queries(self, texts, batch_size=64, progress=False):
        return self._run(self.servable.encode_query, texts, batch_size)

    def encode_documents(self, texts, batch_size=32, progress=False):
        return self._run(self.servable.encode_document, texts, batch_size)


def _bm25_run(collection, query_ids):
    from lepton_tf.data.bm25 import Bm25Index

    doc_ids = list(collection.corpus)
    texts = [f"{d['title']} {d['text']}" for d in collection.corpus.values()]
    rows, scores = Bm25Index(texts).search([collection.queries[q] for q in query_ids], DEPTH)
    return ranked_to_run(query_ids, [[doc_ids[j] for j in r] for r in rows], scores)


def _dense_runs(encoder, collection, query_ids, label, with_scann: bool,
                cache_dir: str | None = None, name: str = "collection"):
    from lepton_tf.evaluation.embedding_cache import cached_encode
    from lepton_tf.index.builder import IndexBuilder
    from lepton_tf.index.documents import Document
    from lepton_tf.index.search_index import ExactIndex, SearchIndex

    documents = [Document(i, d["text"], d["title"]) for i, d in collection.corpus.items()]
    doc_vectors = cached_encode(encoder.encode_documents, [d.embedding_text() for d in documents],
                                encoder.info, f"{name}-documents", cache_dir)
    query_vectors = cached_encode(encoder.encode_queries,
                                  [collection.queries[q] for q in query_ids],
                                  encoder.info, f"{name}-queries", cache_dir)
    k = min(DEPTH, len(documents))
    runs = {}
    exact = ExactIndex(doc_vectors, [d.doc_id for d in documents])
    runs[f"{label} + exact"] = ranked_to_run(query_ids, *exact.search_batched(query_vectors, k))
    if with_scann:
        config = IndexBuilder(*doc_vectors.shape).auto().config(k=k)
        index = SearchIndex.build(doc_vectors, documents, config)
        runs[f"{label} + ScaNN ({config.kind})"] = ranked_to_run(
            query_ids, *index.search_batched(query_vectors, k))
    return runs


def evaluate_search(beir_dir: str, encoder_path: str | None, split: str = "test",
                    zero_shot: bool = True, bm25: bool = True) -> dict:
    """Runs every system on a BEIR collection.

    Returns:
        `{"collection", "queries", "documents", "systems": {name: {metric: value}}}`.
    """
    from lepton_tf.data.beir import read_beir
    from lepton_tf.index.encoding import SavedModelEncoder

    collection = read_beir(beir_dir, split)
    query_ids = sorted(collection.queries)
    runs, seconds = {}, {}
    if encoder_path:
        encoder = SavedModelEncoder(encoder_path)
        start = time.time()
        runs.update(_dense_runs(encoder, collection, query_ids,
                                f"lepton encoder v{encoder.info.version}", True))
        seconds["encoder"] = time.time() - start
    if zero_shot:
        start = time.time()
        runs.update(_dense_runs(_InProcessMiniLM(), collection, query_ids,
                                "MiniLM zero-shot", False))
        seconds["zero_shot"] = time.time() - start
    if bm25:
        runs["BM25 (bm25s)"] = _bm25_run(collection, query_ids)
    return {"collection": os.path.abspath(beir_dir), "split": split,
            "queries": len(query_ids), "documents": len(collection.corpus),
            "systems": {name: score_run(collection.qrels, run) for name, run in runs.items()},
            "seconds": seconds}


def format_table(result: dict) -> str:
    names = list(MEASURES)
    width = max(len(s) for s in result["systems"]) + 2
    lines = [f"{os.path.basename(result['collection'])} ({result['split']}): "
             f"{result['queries']} queries, {result['documents']} documents",
             "system".ljust(width) + "".join(n.rjust(12) for n in names)]
    for system, scores in result["systems"].items():
        lines.append(system.ljust(width) + "".join(f"{scores[n]:12.4f}" for n in names))
    return "\n".join(lines)


def run(args) -> int:
    encoder = None if args.no_encoder else args.encoder
    result = evaluate_search(args.beir, encoder, args.split, zero_shot=not args.no_zero_shot,
                             bm25=not args.no_bm25)
    print(json.dumps(result, indent=1) if args.json else format_table(result))
    return 0


def register(sub) -> None:
    p = sub.add_parser("search", help="retrieval metrics on a BEIR collection")
    p.add_argument("--beir", required=True, help="folder with corpus/queries/qrels")
    p.add_argument("--split", default="test")
    p.add_argument("--encoder", default=os.path.join("saved_models", "encoder"),
                   help="encoder SavedModel (base folder: latest version)")
    p.add_argument("--no-encoder", action="store_true")
    p.add_argument("--no-zero-shot", action="store_true", help="skip zero-shot MiniLM")
    p.add_argument("--no-bm25", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=run)
