"""The `search` servable end to end: gRPC Predict latency at 10k and 100k documents.

    python bench/search_serving.py [--calls 300] [--index-cache DIR]

For each corpus size an index is built from synthetic unit vectors (384-d,
as the encoder's; the auto config: brute force at 10k, tree + AH at 100k),
hosted in the embedded server beside the real `saved_models/encoder`, and
queried over gRPC with real query strings: each call embeds the query with
the encoder in process and searches ScaNN. Printed beside it, the same call
path without the server (encoder signature + `SearchIndex.search_batched`
in this process), so the serving overhead is visible, and the `search`
servable's own work (`SearchServable.run`: ScaNN, BM25, the not-found rule,
packing; the query vectors embedded beforehand, no gRPC). QPS is one caller's:
calls a second, each waiting for the previous answer.

`--index-cache DIR` keeps the built indexes in DIR and reuses them on the
next run (the same seeded vectors), so two builds of the code can be
compared on one index without paying for its build twice.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

import bench_cli

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

QUERIES = ["how do I delete my facebook account", "strikethrough text on github",
           "undo sending an email in gmail", "who unfriended me on facebook"]


def pct(seconds):
    """p50 and p99 latency, and the calls a second one caller makes (batch 1, in turn)."""
    ms = np.array(seconds) * 1e3
    return (f"p50 {np.percentile(ms, 50):7.2f} ms   p99 {np.percentile(ms, 99):7.2f} ms   "
            f"{len(ms) / np.sum(ms) * 1e3:6.1f} QPS")


def build(n: int, dim: int, out: str) -> str:
    from lepton_tf.index import Document, SearchIndex, save_index
    from lepton_tf.index.storage import list_index_versions

    if list_index_versions(out):
        print(f"{n} documents: reusing {out}")
        return os.path.join(out, str(max(list_index_versions(out))))

    x = np.random.default_rng(n).standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    docs = [Document(f"d{i}", f"document {i}", f"title {i}") for i in range(n)]
    start = time.perf_counter()
    index = SearchIndex.build(x, docs)
    print(f"{n} documents: {index.config.kind} built in {time.perf_counter() - start:.1f} s")
    return save_index(index, out)


def main(argv=None) -> int:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--encoder", default=os.path.join("saved_models", "encoder"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--index-cache", help="keep the built indexes here, and reuse them")
    args = parser.parse_args(argv)

    from lepton_tf.client import SearchClient
    from lepton_tf.export import latest_version_path
    from lepton_tf.index.encoding import SavedModelEncoder
    from lepton_tf.index.storage import load_index
    from lepton_tf.search.servable import SearchServable
    from lepton_tf.search.wiring import search_factory
    from lepton_tf.server.app import ModelServer, ServerOptions

    encoder_dir = latest_version_path(os.path.dirname(args.encoder.rstrip("/")) or ".",
                                      os.path.basename(args.encoder.rstrip("/")))
    if encoder_dir is None:
        raise SystemExit(f"No encoder at {args.encoder}: run `lepton-tf main --no-serve` first.")
    encoder = SavedModelEncoder(encoder_dir)
    print(f"search end to end, batch 1, {args.calls} calls, {os.cpu_count()} cores, "
          f"encoder {encoder_dir}")
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            cache = os.path.join(args.index_cache, f"{n}") if args.index_cache else tmp
            index_dir = build(n, encoder.dimension, cache)
            index = load_index(index_dir)
            encoder.encode_queries([QUERIES[0]])  # trace before timing
            local = []
            for i in range(args.calls):
                start = time.perf_counter()
                vector = encoder.encode_queries([QUERIES[i % len(QUERIES)]])
                index.search_batched(vector, 10, parallel=False)
                local.append(time.perf_counter() - start)
            vectors = {q.encode(): v for q, v in zip(QUERIES, encoder.encode_queries(QUERIES))}
            servable = SearchServable(index_dir,
                                      lambda texts: np.stack([vectors[t] for t in texts]))
            alone = []
            for i in range(args.calls):
                query = np.array([QUERIES[i % len(QUERIES)].encode()], object)
                start = time.perf_counter()
                servable.run("search", {"query": query, "k": np.array(10, np.int32)})
                alone.append(time.perf_counter() - start)
            server = ModelServer(ServerOptions(model_name="encoder",
                                               model_base_path=os.path.abspath(args.encoder),
                                               port=0, rest_api_port=0,
                                               file_system_poll_wait_seconds=0),
                                 python_servables={"search": search_factory(index_dir)})
            server.start()
            try:
                client = SearchClient(f"127.0.0.1:{server.grpc_port}", timeout_s=30)
                client.search(QUERIES[0])
                remote = []
                for i in range(args.calls):
                    start = time.perf_counter()
                    client.search(QUERIES[i % len(QUERIES)], k=10)
                    remote.append(time.perf_counter() - start)
            finally:
                server.stop()
            print(f"  in process (encode + ScaNN): {pct(local)}")
            print(f"  SearchServable.run alone:    {pct(alone)}")
            print(f"  gRPC `search` servable:      {pct(remote)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
