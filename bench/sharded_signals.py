"""Sharded search with the not-found signals: scatters and latency per query batch.

    python bench/sharded_signals.py --passages 30000 --shards 3 --queries 200

Local shards (`ShardedIndex.build`, random unit vectors, words from a small
vocabulary, a third of the passages readable by a `staff` group) answer
`hybrid_search(..., signals=not_found.TOP_K)` as the search servable asks it,
one query at a time, unrestricted and as a `staff` caller. Prints the
scatters a query costs and p50 / p99 milliseconds.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

WORDS = ("index shard search passage query vector hotel room booking train ticket "
         "station python error install package network server latency memory").split()


def main(argv=None) -> None:
    from lepton_tf.index import Document
    from lepton_tf.index.not_found_rule import TOP_K
    from lepton_tf.index.sharded import ShardedIndex

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=30000)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dimension", type=int, default=384)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.passages, args.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = [Document(f"p{i}", " ".join(rng.choice(WORDS, 12)),
                     readers=("staff",) if i % 3 == 0 else ("board",))
            for i in range(args.passages)]
    sharded = ShardedIndex.build(vectors, docs, args.shards)
    scatters = []
    scatter = sharded.scatter
    sharded.scatter = lambda call: scatters.append(1) or scatter(call)
    queries = rng.standard_normal((args.queries, args.dimension)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    texts = [" ".join(rng.choice(WORDS, 3)) for _ in range(args.queries)]
    for name, filter in (("unrestricted", None), ("staff caller", {"$readers": ["staff"]})):
        scatters.clear()
        times = []
        for q, t in zip(queries, texts):
            start = time.perf_counter()
            sharded.hybrid_search(q[None], [t], 10, "hybrid", filter, signals=TOP_K)
            times.append((time.perf_counter() - start) * 1000)
        print(f"{name}: {len(scatters) / args.queries:g} scatters a query, p50 "
              f"{np.percentile(times, 50):.2f} ms, p99 {np.percentile(times, 99):.2f} ms")
    sharded.close()


if __name__ == "__main__":
    main()
