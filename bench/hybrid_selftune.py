"""The default fusion weight (self-tuned on pseudo-queries, no labels) against
dense, stemmed BM25, fixed weights and the best weight in hindsight, on the
judged test queries of BEIR collections.

    nice python bench/hybrid_selftune.py [--collections cacm stackfaq sgd-intents-test]
        [--recipes title span] [--queries 1024] [--encoder /path/to/saved_models/encoder]

The weight is chosen only on pseudo-queries made from the documents
(`lepton_tf.index.fusion_selftune`), by the shipped rule (`self_tune`: the highest
95% lower bound of the gain over dense only) and, for comparison, by the
plain argmax of mean nDCG@10 (the rule before); the judged queries are used
for scoring only. `best w` is the weight the judged queries like best: a
ceiling, not a setting anyone can ship.
Document and query embeddings come from the cache (`runs/embeddings`, as
written by `lepton-tf eval search`); pseudo-queries are embedded with the
same encoder (cached there too).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Lazy:
    """An encoder built on first use (cached vectors need no model)."""

    def __init__(self, make, info):
        self._make, self._enc, self.info = make, None, info

    def _get(self):
        if self._enc is None:
            self._enc = self._make()
        return self._enc

    def encode_queries(self, texts):
        return self._get().encode_queries(texts)

    def encode_documents(self, texts):
        return self._get().encode_documents(texts)


def encoders(encoder_path):
    from lepton_tf.evaluation.search import _InProcessMiniLM
    from lepton_tf.index.encoding import (
        SavedModelEncoder,
        read_encoder_info,
        resolve_encoder_path,
    )

    out = {"MiniLM zero-shot": _InProcessMiniLM()}
    if encoder_path:
        path = resolve_encoder_path(encoder_path)
        out["fine-tuned encoder"] = _Lazy(lambda: SavedModelEncoder(path),
                                           read_encoder_info(path))
    return out


def judged_pools(beir_dir, encoder, cache_dir):
    """A collection's judged test queries, its exact index (with BM25) and each
    query's fusion pool (top 100 of each retriever), embeddings from the cache.

    Returns:
        `(collection, query ids, query vectors, index, depth, pools)`.
    """
    from lepton_tf.data.beir import read_beir
    from lepton_tf.evaluation import fusion_runs
    from lepton_tf.evaluation.embedding_cache import cached_encode
    from lepton_tf.index.documents import Document

    collection = read_beir(beir_dir, "test")
    name = os.path.basename(os.path.normpath(beir_dir))
    qids = sorted(collection.queries)
    texts = [collection.queries[q] for q in qids]
    documents = [Document(i, d["text"], d["title"]) for i, d in collection.corpus.items()]
    dvec = cached_encode(encoder.encode_documents, [d.embedding_text() for d in documents],
                         encoder.info, f"{name}-documents", cache_dir)
    qvec = cached_encode(encoder.encode_queries, texts, encoder.info, f"{name}-queries", cache_dir)
    index = fusion_runs.build_index(documents, dvec)
    k = min(100, len(documents))
    return collection, qids, qvec, index, k, fusion_runs.hybrid_pools(index, qvec, texts, k)


def evaluate(beir_dir, encoder, recipes, n, seed, cache_dir):
    from lepton_tf.evaluation import fusion_runs
    from lepton_tf.evaluation.embedding_cache import CachedEncoder
    from lepton_tf.evaluation.retrieval_metrics import score_run
    from lepton_tf.index.fusion import FusionConfig
    from lepton_tf.index.fusion_selftune import self_tune

    name = os.path.basename(os.path.normpath(beir_dir))
    collection, qids, _, index, k, pools = judged_pools(beir_dir, encoder, cache_dir)
    texts = [collection.queries[q] for q in qids]

    def hybrid(w):
        run = fusion_runs.run_from_pools(index, pools, qids, k, FusionConfig("convex", w, k))
        return score_run(collection.qrels, run)["nDCG@10"]

    sweep = {w: hybrid(w) for w in fusion_runs.SWEEP_WEIGHTS}
    best = max(sweep, key=sweep.get)
    row = {"dense": sweep[1.0],
           "bm25": score_run(collection.qrels, fusion_runs.stemmed_bm25_run(
               index, qids, texts, k))["nDCG@10"],
           "fixed 0.85": sweep[0.85], "best": (best, sweep[best])}
    base = index.fusion
    for recipe in recipes:
        index.fusion = base
        cached = CachedEncoder(encoder, cache_dir, f"{name}-pseudo-{recipe}-{seed}")
        config, table = self_tune(index, cached, n, seed, recipe)
        argmax = max(table, key=lambda w: (round(table[w], 6), w))
        row[f"{recipe} rule"] = (config.dense_weight, sweep[config.dense_weight], config.tuned_on)
        row[f"{recipe} argmax"] = (argmax, sweep[argmax])
    return row


def _cell(label, w, v, target):
    return f"{label} w={w:g} {v:.4f}{'' if v >= target else ' MISS'}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--beir-root", default=os.path.join("data", "beir"))
    p.add_argument("--collections", nargs="+", default=["stackfaq", "sgd-intents-test", "cacm"])
    p.add_argument("--recipes", nargs="+", default=["title", "span"])
    p.add_argument("--queries", type=int, default=1024)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--encoder", default=os.path.join("saved_models", "encoder"),
                   help="fine-tuned encoder SavedModel ('' to skip)")
    p.add_argument("--cache-dir", default=os.path.join("runs", "embeddings"))
    args = p.parse_args()
    for label, encoder in encoders(args.encoder).items():
        print(f"\n{label}: nDCG@10 on the judged test queries (MISS: below max(dense, BM25))")
        for c in args.collections:
            row = evaluate(os.path.join(args.beir_root, c), encoder, args.recipes,
                           args.queries, args.seed, args.cache_dir)
            target = max(row["dense"], row["bm25"])
            cells = [f"dense {row['dense']:.4f}", f"bm25 {row['bm25']:.4f}",
                     _cell("fixed", 0.85, row["fixed 0.85"], target)]
            for r in args.recipes:
                cells.append(_cell(f"{r} (default rule)" if r == "title" else r,
                                   *row[f"{r} rule"][:2], target))
                cells.append(_cell(f"{r} argmax", *row[f"{r} argmax"], target))
            cells.append(f"best w={row['best'][0]:g} {row['best'][1]:.4f}")
            print(f"  {c:18s} " + " | ".join(cells), flush=True)
            for r in args.recipes:
                print(f"  {'':18s} {r}: {row[f'{r} rule'][2]}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
