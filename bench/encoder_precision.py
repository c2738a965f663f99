"""A bfloat16 encoder for CPU indexing: its speed and its retrieval quality, beside float32.

    python bench/encoder_precision.py --float32 ENCODER --out runs/encoder-precision.json

Exports zero-shot all-MiniLM-L6-v2 under Keras' `mixed_bfloat16` policy
(matrix products in bfloat16, pooling and normalisation in float32, as
`SentenceEncoder` declares) through the same `export_encoder` as the
float32 one, then, side by side in one run:

- the SavedModel's ops: none may be an XLA op, and the ops the float32
  export does not use are listed (stock TF Serving must load it);
- documents encoded per second, float32 and bfloat16 alternately (twice
  each: the machine is shared), on StackFAQ's answers;
- the cosine of each answer's two embeddings;
- dense nDCG@10 on StackFAQ's test queries (`evaluation.search`,
  no fusion), and on CACM's with `--cacm`.

On a CPU with AVX512_BF16 the bfloat16 products run on oneDNN's bfloat16
kernels; without it they are emulated and slower.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

import bench_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def export_bfloat16(base_dir: str) -> str:
    """Zero-shot all-MiniLM-L6-v2 exported in bfloat16 (`lepton-tf export encoder
    --zero-shot --precision bfloat16`): its version folder."""
    from lepton_tf.tasks.encoder import export_zero_shot

    return export_zero_shot(base_dir, precision="bfloat16")


def graph_ops(version_dir: str) -> set[str]:
    """The op types in a SavedModel's graph and its functions."""
    from tensorflow.core.protobuf import saved_model_pb2

    model = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
        model.ParseFromString(f.read())
    ops = set()
    for graph in model.meta_graphs:
        ops.update(n.op for n in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            ops.update(n.op for n in function.node_def)
    return ops


def main(argv=None) -> int:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--float32", required=True, help="the float32 encoder SavedModel")
    parser.add_argument("--bfloat16", help="a bfloat16 export (default: export one now)")
    parser.add_argument("--texts", type=int, default=256, help="answers timed per pass")
    parser.add_argument("--cacm", action="store_true", help="also nDCG@10 on CACM")
    parser.add_argument("--out", default=os.path.join("runs", "encoder-precision.json"))
    args = parser.parse_args(argv)
    import numpy as np

    from lepton_tf.data.beir import read_beir
    from lepton_tf.evaluation.search import evaluate_search
    from lepton_tf.index.encoding import SavedModelEncoder

    bf16_path = args.bfloat16 or export_bfloat16(tempfile.mkdtemp(prefix="bf16-encoder-"))
    encoders = {"float32": SavedModelEncoder(args.float32),
                "bfloat16": SavedModelEncoder(bf16_path)}
    stackfaq = os.path.join(ROOT, "data", "beir", "stackfaq")
    corpus = read_beir(stackfaq, "test").corpus
    texts = [f"{d.get('title', '')}\n{d['text']}" for d in list(corpus.values())[:args.texts]]
    for encoder in encoders.values():
        encoder.encode_documents(texts[:8], progress=False)  # warm up
    rates = {name: [] for name in encoders}
    vectors = {}
    for _ in range(2):
        for name, encoder in encoders.items():
            start = time.perf_counter()
            vectors[name] = encoder.encode_documents(texts, progress=False)
            rates[name].append(len(texts) / (time.perf_counter() - start))
    cosines = (vectors["float32"] * vectors["bfloat16"]).sum(axis=1)
    result = {"float32": args.float32, "bfloat16": bf16_path, "cpus": os.cpu_count(),
              "load_average": round(os.getloadavg()[0], 1),
              "xla_ops": sorted(op for op in graph_ops(bf16_path) if "xla" in op.lower()),
              "ops_not_in_float32": sorted(graph_ops(bf16_path) - graph_ops(args.float32)),
              "documents_per_s": {n: [round(r, 1) for r in v] for n, v in rates.items()},
              "cosine_float32_bfloat16": {"min": float(cosines.min()),
                                          "mean": float(cosines.mean())},
              "ndcg@10": {}}
    collections = [("stackfaq", stackfaq)] + \
        ([("cacm", os.path.join(ROOT, "data", "beir", "cacm"))] if args.cacm else [])
    for name, path in collections:
        for precision, encoder_path in (("float32", args.float32), ("bfloat16", bf16_path)):
            scored = evaluate_search(path, encoder_path, zero_shot=False, bm25=False,
                                     hybrid=False)["systems"]
            dense = next(v for k, v in scored.items() if k.startswith("lepton encoder"))
            result["ndcg@10"].setdefault(name, {})[precision] = round(dense["nDCG@10"], 4)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
