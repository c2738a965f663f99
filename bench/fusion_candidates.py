"""Every fusion candidate tried for the default hybrid weight, on the judged test
queries of StackFAQ, SGD intents and CACM, for both encoders.

    PYTHONPATH=$PWD nice python bench/fusion_candidates.py [--encoder saved_models/encoder]

Two groups (docs/benchmarks.md, "The self-tuned weight"):

- fixed fusions of the same candidate pools (top 100 of each retriever):
  min-max, z-score over the pool or over the whole corpus (each retriever's
  own score distribution), theoretical-min, RRF, and weight-free ones;
- selection rules over the title pseudo-queries of `index.fusion_selftune` (256
  and 1,024 of them): argmax, the largest w within one standard error of
  the best, the argmax only if a paired t-test says it beats dense
  (p < 0.05), and the highest 95% lower bound (the shipped rule).

Embeddings come from the cache `bench/hybrid_selftune.py` and `lepton-tf
eval search` write (`runs/embeddings`). The judged queries only score.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

COLLECTIONS = ("stackfaq", "sgd-intents-test", "cacm")


def _mm(x):
    low, high = x.min(), x.max()
    return np.zeros_like(x) if high - low <= 1e-12 else (x - low) / (high - low)


def _z(x, mean, std):
    return np.zeros_like(x) if std <= 1e-12 else (x - mean) / std


def _rank(x):
    r = np.empty(len(x))
    r[np.lexsort((np.arange(len(x)), -x))] = np.arange(1, len(x) + 1)
    return r


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def fixed_candidates():
    """name -> f(dense, bm25, full dense, full bm25) -> fused pool scores."""
    out = {}
    for w in (0.85, 0.9, 0.95):
        out[f"min-max w={w}"] = lambda d, b, fd, fb, w=w: w * _mm(d) + (1 - w) * _mm(b)
        out[f"z pool w={w}"] = lambda d, b, fd, fb, w=w: (
            w * _z(d, d.mean(), d.std()) + (1 - w) * _z(b, b.mean(), b.std()))
        out[f"z corpus w={w}"] = lambda d, b, fd, fb, w=w: (
            w * _z(d, fd.mean(), fd.std()) + (1 - w) * _z(b, fb.mean(), fb.std()))
        out[f"theoretical-min w={w}"] = lambda d, b, fd, fb, w=w: (
            w * d / max(d.max(), 1e-9) + (1 - w) * b / max(b.max(), 1e-9))
        out[f"rrf w={w}"] = lambda d, b, fd, fb, w=w: w / (60 + _rank(d)) + (1 - w) / (60 + _rank(b))
    out["sum of corpus z"] = lambda d, b, fd, fb: (_z(d, fd.mean(), fd.std())
                                                   + _z(b, fb.mean(), fb.std()))
    out["max of corpus z"] = lambda d, b, fd, fb: np.maximum(_z(d, fd.mean(), fd.std()),
                                                             _z(b, fb.mean(), fb.std()))
    out["softmax sum, pool z"] = lambda d, b, fd, fb: (_softmax(_z(d, d.mean(), d.std()))
                                                       + _softmax(_z(b, b.mean(), b.std())))
    out["geometric mean"] = lambda d, b, fd, fb: np.sqrt(_mm(d) * _mm(b))
    out["min rank"] = lambda d, b, fd, fb: -np.minimum(_rank(d), _rank(b)) - 1e-3 * _rank(d)
    out["dense-gated bm25"] = lambda d, b, fd, fb: _mm(d) + _mm(b) * _mm(d) ** 4
    return out


def rules(per_query):
    """Selection rules over `{w: per-query nDCG@10}` of pseudo-queries."""
    from scipy import stats

    from lepton_tf.index.fusion_selftune import choose_weight

    mean = {w: float(v.mean()) for w, v in per_query.items()}
    argmax = max(mean, key=lambda w: (round(mean[w], 6), w))
    se = {w: float(np.std(v - per_query[argmax], ddof=1) / np.sqrt(len(v)))
          for w, v in per_query.items()}
    within = max(w for w in mean if mean[w] >= mean[argmax] - se[w])
    p = stats.ttest_rel(per_query[argmax], per_query[1.0], alternative="greater").pvalue \
        if argmax != 1.0 and np.any(per_query[argmax] != per_query[1.0]) else 1.0
    return {"argmax": argmax, "within 1 SE": within,
            "argmax if t-test p<0.05": argmax if p < 0.05 else 1.0,
            "95% lower bound": choose_weight(per_query)}


def evaluate(name, encoder, cache_dir, sizes):
    from hybrid_selftune import judged_pools

    from lepton_tf.evaluation.embedding_cache import CachedEncoder

    from lepton_tf.evaluation import fusion_runs
    from lepton_tf.evaluation.retrieval_metrics import ranked_to_run, score_run
    from lepton_tf.index import hybrid
    from lepton_tf.index.fusion import FusionConfig
    from lepton_tf.index.fusion_selftune import held_out_index, pseudo_examples
    from lepton_tf.index.fusion_tuning import per_query_ndcg

    collection, qids, qvec, index, k, pools = judged_pools(
        os.path.join("data", "beir", name), encoder, cache_dir)
    texts = [collection.queries[q] for q in qids]
    full_dense = qvec @ np.asarray(index.embeddings).T
    full_bm25 = [hybrid.bm25_scores(index, t) for t in texts]

    def score(fn):
        ranked, scores = [], []
        for (rows, d, b), fd, fb in zip(pools, full_dense, full_bm25):
            s = fn(d.astype(np.float64), b.astype(np.float64), fd, fb)
            order = np.lexsort((np.arange(len(s)), -s))[:k]
            ranked.append([index.row_ids[r] for r in rows[order]])
            scores.append(s[order])
        return score_run(collection.qrels, ranked_to_run(qids, ranked, scores))["nDCG@10"]

    def at(w):
        return score_run(collection.qrels, fusion_runs.run_from_pools(
            index, pools, qids, k, FusionConfig("convex", w, k)))["nDCG@10"]

    bm25 = score_run(collection.qrels, fusion_runs.stemmed_bm25_run(index, qids, texts, k))
    row = {"target": max(at(1.0), bm25["nDCG@10"])}
    row.update({c: score(fn) for c, fn in fixed_candidates().items()})
    for n in sizes:
        cached = CachedEncoder(encoder, cache_dir, f"{name}-pseudo-title-0")
        pairs, cut = pseudo_examples(list(index.documents.values()), n, 0, "title")
        held = held_out_index(index, cut, cached.encode_documents)
        _, _, per_query = per_query_ndcg(held, pairs, cached.encode_queries)
        for rule, w in rules(per_query).items():
            row[f"{rule}, {n}"] = (w, at(w))
    return row


def main() -> int:
    from hybrid_selftune import encoders

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--encoder", default=os.path.join("saved_models", "encoder"))
    p.add_argument("--cache-dir", default=os.path.join("runs", "embeddings"))
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    args = p.parse_args()
    table = {(label, c): evaluate(c, enc, args.cache_dir, args.sizes)
             for label, enc in encoders(args.encoder).items() for c in COLLECTIONS}
    columns = list(table)
    print("| candidate | " + " | ".join(f"{c} {label.split()[0]}" for label, c in columns)
          + " |   (x: below max(dense, BM25); rules: chosen w)")
    for name in [n for n in next(iter(table.values())) if n != "target"]:
        cells = []
        for key in columns:
            value = table[key][name]
            w, v = value if isinstance(value, tuple) else (None, value)
            cell = f"{v:.4f}{'' if v >= table[key]['target'] else ' x'}"
            cells.append(cell + (f" ({w:.2f})" if w is not None else ""))
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
