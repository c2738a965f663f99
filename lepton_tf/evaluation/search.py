"""`lepton-tf eval search --beir DIR`: our encoder + ScaNN against exact search,
zero-shot MiniLM, BM25 (plain and stemmed) and each encoder fused with stemmed
BM25 (hybrid), side by side, on any BEIR-format collection; `--sweep` adds
nDCG@10 for every fusion method and weight; `--questions train` adds each
encoder with the train split's queries as the documents' known questions
(`index.known_questions`: matched query to question, FAQ style). Embeddings
are cached under `runs/embeddings` (keyed by encoder fingerprint and text
hash)."""

from __future__ import annotations

import json
import os
import time

import numpy as np

from lepton_tf.contracts import encoder as encoder_contract
from lepton_tf.evaluation.retrieval_metrics import MEASURES, ranked_to_run, score_run
from lepton_tf.index.fusion import METHODS, FusionConfig

DEPTH = 100


class _InProcessMiniLM:
    """Zero-shot all-MiniLM-L6-v2 through the same servable code as exports
    (built on first use: cached embeddings need no model)."""

    def __init__(self):
        from lepton_tf.index.search_index import EncoderInfo

        self._servable = None
        self.info = EncoderInfo(name="all-MiniLM-L6-v2", version=0)

    @property
    def servable(self):
        if self._servable is None:
            from lepton_tf.export.encoder_servable import EncoderServable
            from lepton_tf.models.retrieval import DualEncoder
            from lepton_tf.models.sentence_encoder import SentenceEncoder

            self._servable = EncoderServable(DualEncoder(SentenceEncoder.from_minilm()))
        return self._servable

    def _run(self, name, texts, batch_size, desc):
        import tensorflow as tf

        from lepton_tf.text.length_batches import encode_in_length_batches
        fn = self.servable.signatures()[name]
        return encode_in_length_batches(lambda batch: fn(tf.constant(batch))
                                        [encoder_contract.EMBEDDING].numpy(),
                                        texts, batch_size, self.servable.model.query_encoder
                                        .embedding_dim, desc)

    def encode_queries(self, texts, batch_size=64, progress=True):
        return self._run(encoder_contract.QUERY_SIGNATURE, texts, batch_size, "MiniLM queries")

    def encode_documents(self, texts, batch_size=32, progress=True):
        return self._run(encoder_contract.DOCUMENT_SIGNATURE, texts, batch_size,
                         "MiniLM documents")


def _bm25_run(collection, query_ids):
    from lepton_tf.data.bm25 import Bm25Index

    doc_ids = list(collection.corpus)
    texts = [f"{d['title']} {d['text']}" for d in collection.corpus.values()]
    rows, scores = Bm25Index(texts).search([collection.queries[q] for q in query_ids], DEPTH)
    return ranked_to_run(query_ids, [[doc_ids[j] for j in r] for r in rows], scores)


def _embed(encoder, collection, query_ids, cache_dir, name):
    from lepton_tf.evaluation.embedding_cache import cached_encode
    from lepton_tf.index.documents import Document

    documents = [Document(i, d["text"], d["title"]) for i, d in collection.corpus.items()]
    doc_vectors = cached_encode(encoder.encode_documents, [d.embedding_text() for d in documents],
                                encoder.info, f"{name}-documents", cache_dir)
    query_vectors = cached_encode(encoder.encode_queries,
                                  [collection.queries[q] for q in query_ids],
                                  encoder.info, f"{name}-queries", cache_dir)
    return documents, doc_vectors, query_vectors


def _dense_runs(encoder, collection, query_ids, label, with_scann: bool,
                cache_dir: str | None = None, name: str = "collection", fusion=None,
                sweep_out: dict | None = None, questions: tuple | None = None):
    """Exact (and ScaNN) runs of one encoder, and its hybrid with stemmed BM25;
    with `questions` (`(beir_dir, split)`), both again with known questions."""
    from lepton_tf.evaluation import fusion_runs
    from lepton_tf.index.scann_config import IndexBuilder
    from lepton_tf.index.exact import ExactIndex
    from lepton_tf.index.search_index import SearchIndex

    documents, doc_vectors, query_vectors = _embed(encoder, collection, query_ids, cache_dir, name)
    k = min(DEPTH, len(documents))
    runs = {}
    exact = ExactIndex(doc_vectors, [d.doc_id for d in documents])
    runs[f"{label} + exact"] = ranked_to_run(query_ids, *exact.search_batched(query_vectors, k))
    if with_scann:
        config = IndexBuilder(*doc_vectors.shape).auto().config(k=k)
        index = SearchIndex.build(doc_vectors, documents, config, lexical=False)
        runs[f"{label} + ScaNN ({config.kind})"] = ranked_to_run(
            query_ids, *index.search_batched(query_vectors, k))
    if fusion is not None:
        texts = [collection.queries[q] for q in query_ids]
        index = fusion_runs.build_index(documents, doc_vectors)
        pools = fusion_runs.hybrid_pools(index, query_vectors, texts, k)
        if fusion.tuned_on == SELF_TUNED:
            fusion = _self_tuned(index, encoder, fusion, cache_dir, name)
            run_name = f"{label} + BM25 hybrid (default: self-tuned, w={fusion.dense_weight:g})"
        else:
            run_name = f"{label} + BM25 hybrid ({fusion.method} w={fusion.dense_weight:g})"
        runs[run_name] = fusion_runs.run_from_pools(index, pools, query_ids, k,
                                                FusionConfig(fusion.method, fusion.dense_weight, k))
        if sweep_out is not None:
            sweep_out[label] = fusion_runs.sweep(index, pools, query_ids, collection.qrels, k)
        if "BM25 stemmed (bm25s + PyStemmer)" not in runs:
            runs["BM25 stemmed (bm25s + PyStemmer)"] = fusion_runs.stemmed_bm25_run(
                index, query_ids, texts, k)
    if questions is not None:
        runs.update(_known_question_runs(encoder, documents, doc_vectors, query_vectors,
                                         collection, query_ids, label, questions, cache_dir,
                                         name, fusion))
    return runs


def _known_question_runs(encoder, documents, doc_vectors, query_vectors, collection, query_ids,
                         label, questions, cache_dir, name, fusion):
    """Dense (and hybrid, at the weight of the hybrid row) with known questions."""
    from lepton_tf.evaluation import fusion_runs
    from lepton_tf.evaluation.embedding_cache import CachedEncoder
    from lepton_tf.index.known_questions import attach_split_questions

    beir_dir, split = questions
    index = fusion_runs.build_index(attach_split_questions(documents, beir_dir, split),
                                    doc_vectors)
    index.refresh_questions(CachedEncoder(encoder, cache_dir, f"{name}-known-{split}")
                            .encode_queries)
    k = min(DEPTH, len(documents))
    texts = [collection.queries[q] for q in query_ids]
    pools = fusion_runs.hybrid_pools(index, query_vectors, texts, k)
    known = f"{label} + known questions ({split}, {len(index.known_questions or ())})"
    runs = {f"{known}, dense": fusion_runs.run_from_pools(index, pools, query_ids, k,
                                                          FusionConfig("convex", 1.0, k))}
    if fusion is not None and fusion.dense_weight is not None:
        runs[f"{known}, hybrid w={fusion.dense_weight:g}"] = fusion_runs.run_from_pools(
            index, pools, query_ids, k, FusionConfig(fusion.method, fusion.dense_weight, k))
    return runs


SELF_TUNED = "self-tune"  # `FusionConfig.tuned_on` asking for the index builds' default


def _self_tuned(index, encoder, fusion, cache_dir, name):
    """The weight every index build without `--tune` chooses
    (`fusion_selftune.self_tune`, on pseudo-queries of this corpus only: the judged
    queries only score it); pseudo-query vectors cached like the rest."""
    from lepton_tf.evaluation.embedding_cache import CachedEncoder
    from lepton_tf.index.fusion_selftune import DEFAULT_SEED, self_tune

    index.fusion = FusionConfig(fusion.method, pool=fusion.pool)
    cached = CachedEncoder(encoder, cache_dir, f"{name}-pseudo-title-{DEFAULT_SEED}")
    return self_tune(index, cached)[0]


def evaluate_search(beir_dir: str, encoder_path: str | None, split: str = "test",
                    zero_shot: bool = True, bm25: bool = True, hybrid: bool = True,
                    sweep: bool = False, cache_dir: str | None = None,
                    fusion: FusionConfig | None = None, questions: str | None = None) -> dict:
    """Runs every system on a BEIR collection.

    Args:
        beir_dir: the BEIR folder.
        encoder_path: our encoder SavedModel (None: skip it).
        split: the qrels split.
        zero_shot / bm25: also zero-shot MiniLM / BM25 (plain and stemmed).
        hybrid: each dense system fused with stemmed BM25 (`fusion`).
        sweep: also nDCG@10 for every fusion method and weight.
        cache_dir: embeddings cache folder (None: no cache).
        fusion: the hybrid setting (default: the weight every index build
            chooses, self-tuned on pseudo-queries; `tuned_on=SELF_TUNED`).
        questions: a split whose queries are the documents' known questions
            in extra rows (never `split`).

    Raises:
        ValueError: `questions` is the scored split.

    Returns:
        `{"collection", "queries", "documents", "systems": {name: {metric:
        value}}, "seconds", "sweep": {system: {method: {weight: nDCG@10}}}}`.
    """
    from lepton_tf.data.beir import read_beir
    from lepton_tf.index.encoding import SavedModelEncoder

    if questions and questions == split:
        raise ValueError(f"--questions {questions} is the split being scored: its queries "
                         "would find themselves. Use another split (e.g. train).")
    collection = read_beir(beir_dir, split)
    known = (beir_dir, questions) if questions else None
    query_ids = sorted(collection.queries)
    name = os.path.basename(os.path.normpath(beir_dir))
    fusion = (fusion or FusionConfig(tuned_on=SELF_TUNED)) if hybrid else None
    runs, seconds, sweeps = {}, {}, ({} if sweep else None)
    if encoder_path:
        encoder = SavedModelEncoder(encoder_path)
        start = time.time()
        runs.update(_dense_runs(encoder, collection, query_ids,
                                f"lepton encoder v{encoder.info.version}", True, cache_dir, name,
                                fusion, sweeps, known))
        seconds["encoder"] = time.time() - start
    if zero_shot:
        start = time.time()
        runs.update(_dense_runs(_InProcessMiniLM(), collection, query_ids, "MiniLM zero-shot",
                                False, cache_dir, name, fusion, sweeps, known))
        seconds["zero_shot"] = time.time() - start
    if bm25:
        runs["BM25 (bm25s)"] = _bm25_run(collection, query_ids)
    else:
        runs.pop("BM25 stemmed (bm25s + PyStemmer)", None)
    result = {"collection": os.path.abspath(beir_dir), "split": split,
              "queries": len(query_ids), "documents": len(collection.corpus),
              "systems": {n: score_run(collection.qrels, run) for n, run in runs.items()},
              "seconds": seconds}
    if sweeps is not None:
        result["sweep"] = sweeps
    return result


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
    from lepton_tf.evaluation.fusion_runs import format_sweep

    encoder = None if args.no_encoder else args.encoder
    result = evaluate_search(args.beir, encoder, args.split, zero_shot=not args.no_zero_shot,
                             bm25=not args.no_bm25, hybrid=not args.no_hybrid, sweep=args.sweep,
                             cache_dir=args.cache_dir or None,
                             fusion=FusionConfig(args.fusion, args.dense_weight)
                             if args.dense_weight is not None
                             else FusionConfig(args.fusion, tuned_on=SELF_TUNED),
                             questions=args.questions)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(format_table(result))
    for label, table in result.get("sweep", {}).items():
        print("\n" + format_sweep(label, table))
    return 0


def register(sub) -> None:
    p = sub.add_parser("search", help="retrieval metrics on a BEIR collection")
    p.add_argument("--beir", required=True, help="folder with corpus/queries/qrels")
    p.add_argument("--split", default="test", help="qrels split to score (default test)")
    p.add_argument("--encoder", default=os.path.join("saved_models", "encoder"),
                   help="encoder SavedModel (base folder: latest version)")
    p.add_argument("--no-encoder", action="store_true", help="skip our encoder (+ ScaNN)")
    p.add_argument("--no-zero-shot", action="store_true", help="skip zero-shot MiniLM")
    p.add_argument("--no-bm25", action="store_true", help="skip the BM25 baselines")
    p.add_argument("--no-hybrid", action="store_true", help="skip the dense + BM25 hybrid rows")
    p.add_argument("--fusion", choices=METHODS, default="convex",
                   help="hybrid fusion: convex combination of min-max scores, or weighted RRF")
    p.add_argument("--dense-weight", type=float, default=None,
                   help="a fixed hybrid dense weight (0: BM25 only, 1: dense only; default: "
                        "self-tuned on pseudo-queries, as `lepton-tf index` chooses it)")
    p.add_argument("--sweep", action="store_true",
                   help="also nDCG@10 for every fusion method and dense weight 0..1")
    p.add_argument("--cache-dir", default=os.path.join("runs", "embeddings"),
                   help="reuse query/document embeddings from here ('' for none)")
    p.add_argument("--questions", metavar="SPLIT",
                   help="also each encoder with this split's queries (e.g. train) as the "
                        "documents' known questions (`lepton-tf index --questions`)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(fn=run)
