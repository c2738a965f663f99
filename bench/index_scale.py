"""Index scaling benchmark: Beam pipeline against the in-process build, shards.

    python bench/index_scale.py --encoder saved_models/encoder          # all parts
    python bench/index_scale.py --part shards --vectors 200000          # one part

Parts (all in one run by default, figures in one JSON):
  ingest   passages/s of the in-process build (`lepton-tf index`) against the
           Beam pipeline on the DirectRunner with 1 and 2 worker processes,
           same corpus, same encoder SavedModel, ratios to in-process.
  shards   build time and loaded RSS per shard for N synthetic 384-d vectors
           (clustered unit vectors: a Gaussian mixture, as real embeddings
           are clustered; isotropic noise has no neighbours to find) in 1, 4
           and 8 shards; search latency p50/p99 (one query at a time) and
           recall@10 against exact search, sharded against unsharded.
RSS of a shard is measured in a fresh process: VmRSS after `load_index`
minus before, against the bytes of its float vectors and AH codes.
Needs the `beam` extra: `pip install -e '.[beam]'`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import bench_cli

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K = 10
DIM = 384


def clustered_vectors(n: int, dim: int = DIM, clusters: int | None = None, seed: int = 0):
    """Unit vectors around `clusters` random centres (default sqrt(n) / 2)."""
    rng = np.random.default_rng(seed)
    clusters = clusters or max(8, int(np.sqrt(n) / 2))
    centers = rng.standard_normal((clusters, dim), dtype=np.float32)
    x = centers[rng.integers(0, clusters, n)]
    x += 0.35 * rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def _timed_index(command: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
               TF_CPP_MIN_LOG_LEVEL="2")
    start = time.time()
    subprocess.run([sys.executable, "-m", "lepton_tf.cli", "index", *command], check=True,
                   env=env, stdout=subprocess.DEVNULL)
    return time.time() - start


def bench_ingest(corpus: str, encoder: str, limit: int) -> dict:
    """Passages/s: in process, then Beam DirectRunner with 1 and 2 workers.

    Each figure is the whole command (process start, model load, encoding,
    ScaNN build, publish), as a user runs it.
    """
    from lepton_tf.index.build import read_corpus
    from lepton_tf.index.documents import write_documents

    work = tempfile.mkdtemp(prefix="index-scale-")
    docs = read_corpus(corpus)[:limit]
    path = os.path.join(work, "corpus.jsonl.gz")
    write_documents(docs, path)
    common = ["--corpus", path, "--encoder", encoder]
    runs = {"in_process": _timed_index(common + ["--out", os.path.join(work, "local")]),
            "beam_1_worker": _timed_index(common + [
                "--out", os.path.join(work, "beam1"), "--runner", "direct",
                "--direct_num_workers=1", "--direct_running_mode=in_memory"]),
            "beam_2_workers": _timed_index(common + [
                "--out", os.path.join(work, "beam2"), "--runner", "direct", "--num-shards", "2",
                "--direct_num_workers=2", "--direct_running_mode=multi_processing"])}
    out = {"passages": len(docs), "cpu_cores": os.cpu_count()}
    for name, seconds in runs.items():
        out[name] = {"seconds": round(seconds, 1),
                     "passages_per_s": round(len(docs) / seconds, 2),
                     "ratio_to_in_process": round(runs["in_process"] / seconds, 3)}
    return out


_RSS_SNIPPET = """
import gc, json, os, sys
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
import numpy as np, scann
from lepton_tf.index.storage import load_index
before = rss()
index = load_index(sys.argv[1], verify=False)
gc.collect()
print(json.dumps({"rss_delta": rss() - before}))
"""


def shard_rss(shard_dir: str) -> dict:
    """Loaded RSS of one shard (fresh process) against its vectors + codes."""
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _RSS_SNIPPET, shard_dir], check=True,
                          capture_output=True, text=True, env=env)
    delta = json.loads(proc.stdout.strip().splitlines()[-1])["rss_delta"]
    scann_dir = os.path.join(shard_dir, "scann")
    data = sum(os.path.getsize(os.path.join(scann_dir, f)) for f in os.listdir(scann_dir)
               if f in ("dataset.npy", "hashed_dataset.npy"))
    return {"rss_mb": round(delta / 2**20, 1), "vectors_and_codes_mb": round(data / 2**20, 1),
            "ratio": round(delta / data, 3)}


def _latency_and_recall(index, queries, truth) -> dict:
    index.search_batched(queries[:10], K)  # warm up
    times, found = [], []
    for q in queries:
        start = time.perf_counter()
        ids, _ = index.search(q, K)
        times.append(time.perf_counter() - start)
        found.append(ids)
    recall = np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)])
    return {"p50_ms": round(1e3 * float(np.percentile(times, 50)), 3),
            "p99_ms": round(1e3 * float(np.percentile(times, 99)), 3),
            "recall_at_10": round(float(recall), 4)}


def bench_shards(n: int, shard_counts: list[int], n_queries: int) -> dict:
    from lepton_tf.index.documents import Document
    from lepton_tf.index.exact import ExactIndex
    from lepton_tf.index.sharded import ShardedIndex
    from lepton_tf.index.sharded_storage import save_sharded

    x = clustered_vectors(n + n_queries)
    x, queries = x[:n], x[n:]
    docs = [Document(f"p{i}", "") for i in range(n)]
    truth = ExactIndex(x, [d.doc_id for d in docs]).search_batched(queries, K)[0]
    work = tempfile.mkdtemp(prefix="index-scale-shards-")
    out = {"vectors": n, "dimension": DIM, "queries": n_queries, "cpu_cores": os.cpu_count(),
           "float_mb": round(x.nbytes / 2**20, 1), "by_shards": {}}
    for count in shard_counts:
        start = time.time()
        # Dense only: synthetic vectors have no text (BM25's size is the corpus's).
        index = ShardedIndex.build(x, docs, num_shards=count, k=K, lexical=False)
        build_s = time.time() - start
        path = save_sharded(index, os.path.join(work, f"s{count}"))
        entry = {"build_s": round(build_s, 1),
                 "configs": [dataclass_dict(s.config) for s in index.shards[:1]],
                 # every shard's tuned (leaves, reorder) and tuning recall (`scann_tuning`)
                 "tuned": [dataclass_dict(s.tuned) for s in index.shards
                           if getattr(s, "tuned", None) is not None],
                 **_latency_and_recall(index, queries, truth)}
        entry["shard_rss"] = shard_rss(os.path.join(path, "shard-00000"))
        out["by_shards"][str(count)] = entry
        index.close()
        del index
        print(count, "shards:", json.dumps(entry), flush=True)
    return out


def project_sizing(ingest: dict | None, shards: dict | None, docs: dict | None,
                   passages: int = 100_000_000,
                   shard_budget_gib: float = 16.0, replicas: int = 2,
                   workers=(8, 64, 512)) -> dict:
    """Projects `passages` from the measured figures (linear in the count).

    Memory per passage = (float vector + AH code bytes) x the measured RSS
    ratio of a loaded shard + the measured loaded bytes of one document
    (`document_bytes`, StackFAQ-sized passages) + its BM25 share (`bm25_bytes`). Shards are
    sized to `shard_budget_gib`; each runs `replicas` times, one a machine.
    Encoding hours: passages / (measured passages/s of one Beam worker x
    workers), assuming workers scale linearly (they share nothing but the
    input files).
    """
    out = {"passages": passages, "shard_budget_gib": shard_budget_gib, "replicas": replicas}
    if shards:
        one = shards["by_shards"][min(shards["by_shards"], key=int)]
        rss = one["shard_rss"]
        per_vector = rss["vectors_and_codes_mb"] * 2**20 / (shards["vectors"] /
                                                         int(min(shards["by_shards"], key=int)))
        doc_bytes = docs["bytes_per_document"] if docs else 0
        bm25 = (docs or {}).get("bm25_bytes_per_document", 0)
        doc_bytes += bm25
        per_passage = per_vector * rss["ratio"] + doc_bytes
        total = passages * per_passage
        count = int(np.ceil(total / (shard_budget_gib * 2**30)))
        out.update(bytes_per_passage=round(per_passage), bm25_bytes_per_passage=round(bm25),
                   total_gib=round(total / 2**30, 1),
                   shards=count, passages_per_shard=int(np.ceil(passages / count)),
                   gib_per_shard=round(total / count / 2**30, 1),
                   machines=count * replicas,
                   build_s_per_shard_projected=round(
                       one["build_s"] * passages / count / shards["vectors"], 0))
    if ingest:
        rate = ingest["beam_1_worker"]["passages_per_s"]
        out["encoding_hours"] = {str(n): round(passages / (rate * n) / 3600, 1) for n in workers}
        out["passages_per_s_one_worker"] = rate
    return out


_DOC_SNIPPET = """
import gc, json, os, sys
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
from lepton_tf.index.documents import read_documents
before = rss()
docs = read_documents(sys.argv[1])
store = {d.doc_id: d for d in docs}
row_ids = [d.doc_id for d in docs]
gc.collect()
print(json.dumps({"bytes_per_document": (rss() - before) / len(docs), "count": len(docs)}))
"""


def document_bytes(corpus: str, copies: int = 70) -> dict:
    """Loaded bytes per document of the store (as `load_index` holds it: the
    Document objects, the id -> document dict, the row ids), for `corpus`'s
    documents repeated `copies` times under new ids (a fresh process)."""
    from lepton_tf.index.build import read_corpus
    from lepton_tf.index.documents import Document, write_documents

    docs = read_corpus(corpus)
    path = os.path.join(tempfile.mkdtemp(prefix="index-scale-docs-"), "docs.jsonl.gz")
    write_documents([Document(f"{d.doc_id}-{c}", d.text, d.title, d.metadata)
                     for c in range(copies) for d in docs], path)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", _DOC_SNIPPET, path], check=True,
                          capture_output=True, text=True, env=env)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["mean_text_chars"] = round(float(np.mean([len(d.text) + len(d.title) for d in docs])), 1)
    return out


_BM25_BUILD = """
import sys
from lepton_tf.index.documents import read_documents
from lepton_tf.index.lexical import LexicalIndex
docs = read_documents(sys.argv[1])
LexicalIndex([d.doc_id for d in docs], [d.embedding_text() for d in docs]).save(sys.argv[2])
"""

_BM25_LOAD = """
import gc, json, os, sys
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
from lepton_tf.index.lexical import LexicalIndex
import bm25s
gc.collect()
before = rss()
index = LexicalIndex.load(sys.argv[1])
gc.collect()
s = index.retriever.scores
n = len(index.doc_ids)
print(json.dumps({"bm25_bytes_per_document": (rss() - before) / n,
                  "bm25_matrix_bytes_per_document": sum(s[k].nbytes for k in
                      ("data", "indices", "indptr")) / n, "bm25_count": n}))
"""


def bm25_bytes(corpus: str, copies: int = 70) -> dict:
    """Loaded bytes per document of a shard's BM25 part, as a server holds it
    (`LexicalIndex.load` in a fresh process: matrix, vocabulary, id list and
    row dict), for `corpus`'s documents repeated `copies` times under new ids
    (the vocabulary stays the corpus's: the figure is the per-passage share)."""
    from lepton_tf.index.build import read_corpus
    from lepton_tf.index.documents import Document, write_documents

    docs = read_corpus(corpus)
    work = tempfile.mkdtemp(prefix="index-scale-bm25-")
    path = os.path.join(work, "docs.jsonl.gz")
    write_documents([Document(f"{d.doc_id}-{c}", d.text, d.title, d.metadata)
                     for c in range(copies) for d in docs], path)
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    folder = os.path.join(work, "bm25")
    subprocess.run([sys.executable, "-c", _BM25_BUILD, path, folder], check=True,
                   capture_output=True, env=env)
    proc = subprocess.run([sys.executable, "-c", _BM25_LOAD, folder], check=True,
                          capture_output=True, text=True, env=env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def dataclass_dict(config) -> dict:
    import dataclasses
    return dataclasses.asdict(config)


def main(argv=None) -> int:
    p = bench_cli.parser(__doc__)
    p.add_argument("--part", choices=["all", "ingest", "shards", "documents"], default="all",
                   help="documents: the document store's and BM25's bytes a passage only")
    p.add_argument("--encoder", default=os.path.join("saved_models", "encoder"))
    p.add_argument("--corpus", default=os.path.join("data", "beir", "stackfaq"))
    p.add_argument("--passages", type=int, default=719, help="passages for the ingest part")
    p.add_argument("--vectors", type=int, default=1_000_000)
    p.add_argument("--shards", default="1,4,8")
    p.add_argument("--queries", type=int, default=500)
    p.add_argument("--out", default=os.path.join("runs", "bench", "index_scale.json"))
    p.add_argument("--merge", nargs="*", default=[],
                   help="earlier JSON outputs whose parts this run does not measure")
    args = p.parse_args(argv)
    results = {}
    for path in args.merge:
        with open(path) as f:
            results.update({k: v for k, v in json.load(f).items() if k != "sizing_100m"})
    if args.part in ("all", "ingest"):
        results["ingest"] = bench_ingest(args.corpus, args.encoder, args.passages)
        print(json.dumps(results["ingest"], indent=1), flush=True)
    if args.part in ("all", "shards"):
        results["shards"] = bench_shards(args.vectors, [int(s) for s in args.shards.split(",")],
                                         args.queries)
    if args.part in ("all", "shards", "documents"):
        results["documents"] = document_bytes(args.corpus)
        results["documents"].update(bm25_bytes(args.corpus))
    results["sizing_100m"] = project_sizing(results.get("ingest"), results.get("shards"),
                                            results.get("documents"))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
