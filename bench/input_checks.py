"""What the in-graph input checks cost: p50/p99 latency of a signature of two
exports of the same model, one without the checks and one with, called in
process in alternating rounds (so load drifts hit both alike).

    python bench/input_checks.py --old OLD_VERSION_DIR --new NEW_VERSION_DIR
    python bench/input_checks.py --old OLD_INTENT_DIR --new NEW_INTENT_DIR \
        --signature serving_default

An export without the checks comes from the code before them, e.g. a
worktree of an older commit running `ensure_encoder(BASE)` of
`lepton_tf.commands.main_job`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

QUERIES = [b"how do I reset my password", b"my card was stolen what now",
           b"can I close my account online", b"why was my transfer declined"]


def timed_calls(servable, signature: str, batch: np.ndarray, calls: int) -> list[float]:
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        servable.run(signature, {"text": batch})
        seconds.append(time.perf_counter() - start)
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--old", required=True, help="version folder exported without the checks")
    p.add_argument("--new", required=True, help="version folder exported with them")
    p.add_argument("--signature", default="encode_query")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--calls", type=int, default=50, help="calls per round and batch size")
    args = p.parse_args()

    from lepton_tf.server.saved_model_servable import SavedModelServable

    servables = {name: SavedModelServable(path, name)
                 for name, path in (("old", args.old), ("new", args.new))}
    batches = {1: np.array(QUERIES[:1], dtype=object),
               32: np.array(QUERIES * 8, dtype=object)}
    times = {(name, size): [] for name in servables for size in batches}
    for servable in servables.values():  # warm up both
        for batch in batches.values():
            timed_calls(servable, args.signature, batch, 3)
    for round_number in range(args.rounds):
        order = list(servables) if round_number % 2 == 0 else list(reversed(servables))
        for name in order:
            for size, batch in batches.items():
                times[(name, size)] += timed_calls(servables[name], args.signature, batch,
                                                   args.calls)
    report = {}
    for size in batches:
        old = np.array(times[("old", size)]) * 1e3
        new = np.array(times[("new", size)]) * 1e3
        report[f"batch {size}"] = {
            "old p50 ms": round(float(np.percentile(old, 50)), 3),
            "new p50 ms": round(float(np.percentile(new, 50)), 3),
            "p50 new/old": round(float(np.percentile(new, 50) / np.percentile(old, 50)), 3),
            "old p99 ms": round(float(np.percentile(old, 99)), 3),
            "new p99 ms": round(float(np.percentile(new, 99)), 3),
            "calls each": len(old)}
    print(json.dumps({"signature": args.signature, "cores": os.cpu_count(),
                      "load": [round(x, 2) for x in os.getloadavg()], **report}, indent=1))


if __name__ == "__main__":
    main()
