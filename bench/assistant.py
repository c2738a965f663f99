"""Assistant benchmark: latency per turn and per stage.

    python bench/assistant.py                         # saved_models/ + indexes/stackfaq, 60 turns
    python bench/assistant.py --turns 200 --out bench.json

The routing thresholds are measured by `lepton-tf eval routing` (docs/assistant.md).

Latency: one embedded server (in this process) hosts `encoder`, `intent`,
`chat` (whatever versions `--base-dir` holds), `search` (the index) and the
`assistant`; a scripted mix of turns (web-app questions, task dialogue,
out-of-scope requests; one session per 4 turns) is sent one at a time over
gRPC Predict. Reported: p50/p95/mean wall time per turn as the client sees
it, and the time in each stage the servable measured (intent and the
dialogue score run one after the other in a thread beside search, so
stages overlap; `chat` is 0 on the out-of-scope route). Target:
p95 < 1.5 s on 2 cores.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import time

import numpy as np

import bench_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

TURNS = ["How can I delete my Facebook account?", "strikethrough text in github markdown",
         "Hi! I need a table for two tonight.", "Somewhere in San Jose, Italian food.",
         "How do I change my Gmail password?", "Can I undo sending an email?",
         "My card payment was declined, why?", "Thanks, that's all.",
         "How do I block someone on Facebook?", "I want to book a bus to Fresno.",
         "How to add a collaborator to a GitHub repository?", "What is my account balance?"]


def start_server(base_dir: str, index_dir: str, **assistant_options):
    from lepton_tf.assistant.mount import mount_assistant
    from lepton_tf.commands.product import write_models_config
    from lepton_tf.export import latest_version_path
    from lepton_tf.server.app import ModelServer, ServerOptions
    from lepton_tf.search.wiring import search_factory

    names = [n for n in ("encoder", "intent", "chat") if latest_version_path(base_dir, n)]
    config = write_models_config(base_dir, names, os.path.join("runs", "bench_assistant",
                                                               "models.config"))
    server = ModelServer(ServerOptions(model_config_file=config, port=0, rest_api_port=0,
                                       file_system_poll_wait_seconds=0),
                         python_servables={"search": search_factory(index_dir)})
    mount_assistant(server, **assistant_options)
    return server.start(), names


def percentile_row(name: str, ms) -> str:
    ms = np.asarray(ms, float)
    return (f"| {name} | {np.percentile(ms, 50):.0f} | {np.percentile(ms, 95):.0f} | "
            f"{ms.mean():.0f} | {ms.max():.0f} |")


def bench(args) -> dict:
    from lepton_tf.client.assistant import AssistantClient
    from lepton_tf.client.assistant import TIMING_KEYS

    start = time.time()
    server, names = start_server(args.base_dir, args.index_dir, knowledge_base=args.index_dir)
    print(f"server up in {time.time() - start:.1f} s hosting {names} + search + assistant; "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}", flush=True)
    target = f"127.0.0.1:{server.grpc_port}"
    rows, stages, routes, cited = [], {k: [] for k in TIMING_KEYS}, {}, {}
    try:
        for warm in TURNS[:4]:  # warm up every graph once
            AssistantClient(target, session_id="warmup", timeout_s=60).ask(warm)
        clients = {}
        for i, message in zip(range(args.turns), itertools.cycle(TURNS)):
            session = f"s{i // 4}"
            client = clients.setdefault(session, AssistantClient(target, session_id=session,
                                                                 timeout_s=60))
            t0 = time.perf_counter()
            answer = client.ask(message)
            rows.append((time.perf_counter() - t0) * 1e3)
            routes[answer["route"]] = routes.get(answer["route"], 0) + 1
            if answer["route"] == "search":
                cited[answer["cited_by"]] = cited.get(answer["cited_by"], 0) + 1
            for key in stages:
                stages[key].append(answer["timings_ms"].get(key, 0.0))
    finally:
        server.stop()
    print(f"\n{len(rows)} turns, routes {routes}, search answers cited by {cited}, "
          f"load after {os.getloadavg()[0]:.1f}\n")
    print("| measure (ms) | p50 | p95 | mean | max |\n| --- | --- | --- | --- | --- |")
    print(percentile_row("turn, gRPC Predict (client wall time)", rows))
    for key in TIMING_KEYS:
        print(percentile_row(f"stage: {key}" + (" (in servable)" if key == "total" else ""),
                             stages[key]))
    p95 = float(np.percentile(rows, 95))
    print(f"\np95 {p95:.0f} ms: target < 1500 ms {'met' if p95 < 1500 else 'NOT met'}")
    return {"turn_ms": rows, "stages_ms": stages, "routes": routes, "cited_by": cited,
            "p95_ms": p95}


def main() -> None:
    p = bench_cli.parser(__doc__)
    p.add_argument("--base-dir", default="saved_models")
    p.add_argument("--index-dir", default=os.path.join("indexes", "stackfaq"))
    p.add_argument("--turns", type=int, default=60)
    p.add_argument("--out", help="write the figures as JSON")
    args = p.parse_args()
    result = bench(args)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1, default=str)


if __name__ == "__main__":
    main()
