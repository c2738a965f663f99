"""Filtered search latency at 100k passages: dense, BM25 and hybrid, with and
without a metadata filter that keeps 1% of the passages.

    python bench/filtered_search.py [--passages 100000] [--calls 300] [--keep 0.01]

Synthetic passages: 384-d unit vectors in 1,000 clusters (the encoder's
size; the index's auto config, tree + AH at 100k) and 40 words each drawn from a Zipf-distributed
vocabulary of 20,000 words (so BM25 sees realistic posting-list lengths);
metadata `source` = one of 100 files, so `{"source": "file7.md"}` keeps 1%.
Each call is one query through `SearchIndex.hybrid_search` (what the
`search` servable runs after embedding the query: add the encoder's time,
about 7 ms at batch 1 here, for the servable). Queries are held-out vectors
near database rows and 3 words of that row's text. Also checks, for the
filtered dense calls, that the hits are those of exact search over the
filtered passages.

Then document permissions (`index.permissions`): every passage is readable by
one of 100 groups, and the `search` servable answers (query embedding looked
up, so the encoder is not timed) an unrestricted caller and a caller in one
group (1% of the passages) in every mode: the permission is a filter key plus
the not-found rule over the permitted passages. Also checks the permitted
dense hits equal exact search over the permitted passages. Then a caller in
half the groups (50%: more passages than BM25 is rebuilt for, so BM25 is
scored at query time with the permitted passages' statistics,
`index.permitted_bm25_exact`), against the same unrestricted p99.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

import bench_cli

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def corpus(n: int, dim: int, files: int, seed: int = 0):
    from lepton_tf.index import Document

    rng = np.random.default_rng(seed)
    # Clustered like sentence embeddings (topics), not uniform on the sphere,
    # where no partitioning helps and ScaNN would have to visit every leaf.
    centers = rng.standard_normal((max(1, n // 100), dim)).astype(np.float32)
    x = centers[rng.integers(0, len(centers), n)] + \
        0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    vocabulary = np.array([f"w{i}" for i in range(20_000)])
    ranks = np.minimum(rng.zipf(1.2, size=(n, 40)) - 1, len(vocabulary) - 1)
    docs = [Document(f"p{i}", " ".join(vocabulary[ranks[i]]), f"title {i}",
                     {"source": f"file{i % files}.md", "page": int(i // files) % 20},
                     readers=(f"g{i % files}",))
            for i in range(n)]
    return x, docs


def pct(ms):
    return f"p50 {np.percentile(ms, 50):6.2f} ms   p99 {np.percentile(ms, 99):6.2f} ms"


def main(argv=None) -> int:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--keep", type=float, default=0.01, help="fraction the filter keeps")
    parser.add_argument("--threads", type=int, default=1, help="ScaNN threads")
    args = parser.parse_args(argv)

    from lepton_tf.index import SearchIndex
    from lepton_tf.index.filters import matches, parse_filter

    files = max(1, round(1 / args.keep))
    x, docs = corpus(args.passages, 384, files)
    start = time.perf_counter()
    index = SearchIndex.build(x, docs, num_threads=args.threads)
    print(f"{args.passages} passages: {index.config.kind} "
          f"({index.config.num_leaves} leaves, {index.config.num_leaves_to_search} searched) "
          f"+ stemmed BM25 built in {time.perf_counter() - start:.1f} s")
    rng = np.random.default_rng(1)
    rows = rng.choice(args.passages, args.calls, replace=False)
    queries = x[rows] + 0.05 * rng.standard_normal((args.calls, 384)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    texts = [" ".join(docs[r].text.split()[:3]) for r in rows]
    spec = {"source": "file7.md"}
    parsed = parse_filter(spec)
    kept = [i for i, d in enumerate(docs) if matches(d, parsed)]
    print(f"filter {spec}: keeps {len(kept)} passages ({len(kept) / args.passages:.1%})")
    index.hybrid_search(queries[:2], texts[:2], 10, "hybrid", spec)  # first use builds the field index
    exact_ok = 0
    for mode in ("dense", "bm25", "hybrid"):
        for filter in (None, spec):
            ms = []
            for q, t in zip(queries, texts):
                start = time.perf_counter()
                hits = index.hybrid_search(q[None], [t], 10, mode, filter)[0]
                ms.append((time.perf_counter() - start) * 1e3)
                if mode == "dense" and filter:
                    scores = x[kept] @ q
                    truth = [docs[kept[j]].doc_id for j in np.argsort(-scores)[:10]]
                    exact_ok += hits.doc_ids == truth
            label = f"{mode:6s} {'1% filter' if filter else 'no filter':9s}"
            print(f"{label}  {pct(ms)}")
    print(f"filtered dense hits equal exact search over the filtered set: "
          f"{exact_ok}/{args.calls} queries")
    permissions(index, x, docs, queries, texts, kept)
    return 0


def permissions(index, x, docs, queries, texts, kept) -> None:
    """The `search` servable for an unrestricted caller and one reading 1%."""
    from lepton_tf.search.servable import SearchServable
    from lepton_tf.server import identity

    texts = [f"{t} q{i}" for i, t in enumerate(texts)]  # unique: the embedding is looked up
    by_text = {t: q for q, t in zip(queries, texts)}
    servable = SearchServable(None, lambda ts: np.stack([by_text[t.decode()] for t in ts]),
                              index=index)
    reader = identity.Principal("u7", frozenset({"g7"}))  # file7.md's passages: 1%
    groups = sorted({r for d in docs for r in d.readers})
    half = identity.Principal("u50", frozenset(groups[::2]))
    print(f"permissions: caller in g7 reads {len(kept)} passages "
          f"({len(kept) / len(docs):.1%}), u50 in {len(half.groups)} of {len(groups)} groups; "
          "search servable, encoder not timed")
    ratios, half_ratios, exact_ok = {}, {}, 0
    for mode in ("dense", "bm25", "hybrid"):
        p99 = {}
        for who in (identity.SERVER, reader, half):
            ms = []
            with identity.acting_as(who):
                servable.run("search_options", _inputs(texts[0], mode))  # warm
                for q, t in zip(queries, texts):
                    start = time.perf_counter()
                    out = servable.run("search_options", _inputs(t, mode))
                    ms.append((time.perf_counter() - start) * 1e3)
                    if mode == "dense" and who is reader:
                        truth = [docs[kept[j]].doc_id for j in np.argsort(-(x[kept] @ q))[:10]]
                        exact_ok += [d.decode() for d in out["doc_ids"][0]] == truth
            p99[who.name] = np.percentile(ms, 99)
            who_label = {"server": "unrestricted", "u7": "reads 1%", "u50": "reads 50%"}
            print(f"{mode:6s} {who_label[who.name]:12s}  {pct(ms)}")
        ratios[mode] = p99["u7"] / p99["server"]
        half_ratios[mode] = p99["u50"] / p99["server"]
    print("p99 with permissions / unrestricted p99: " +
          ", ".join(f"{m} {r:.2f}x" for m, r in ratios.items()))
    print("p99 reading 50% (BM25 statistics at query time) / unrestricted p99: " +
          ", ".join(f"{m} {r:.2f}x" for m, r in half_ratios.items()))
    print(f"permitted dense hits equal exact search over the permitted set: "
          f"{exact_ok}/{len(queries)} queries")


def _inputs(text: str, mode: str) -> dict:
    return {"query": np.array([text.encode()], object), "k": np.int32(10),
            "mode": np.array(mode.encode(), object), "filter": np.array(b"", object)}


if __name__ == "__main__":
    sys.exit(main())
