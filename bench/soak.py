"""Soak: N clients for M minutes mixing valid and hostile requests against one server.

    python bench/soak.py --tiny --clients 16 --minutes 5 --out runs/soak.json
    python bench/soak.py --clients 16 --minutes 5 -- --model_config_file=models.config \
        --search_index=indexes/stackfaq --assistant
    python bench/soak.py --tiny --minutes 2 --conversation-store temp-postgresql
    python bench/soak.py --tiny --clients 3 --minutes 2 --conversation-store temp-sqlite \
        --beside-no-store

The server runs as a child process (`--tiny`: the test suite's tiny SavedModels,
fake encoder/search/chat/intent and the assistant; otherwise `lepton-tf serve`
with the arguments after `--`). Each client loops over: a valid request to a
hosted servable (gRPC Predict or REST :predict, inputs built from the
servable's metadata), a hostile REST request and a hostile gRPC call (the fuzz
test's corpora), an assistant stream cancelled after its first event (gRPC)
or dropped after its first line (REST), and a valid request with a short
deadline (1 to 200 ms). Reported: the valid-request error rate and p50/p99
per servable and front, hostile answers that were not clean (5xx, INTERNAL,
UNKNOWN, HTML, missing), the server's RSS and threads after warm-up and at
the end, the load average, and (with `--monitoring_config_file`) the most
seconds any model computed past a request's deadline, from the server's
`:lepton:serving:compute_past_deadline_*` series. With `--conversation-store`,
the assistant logs its turns there, and every valid assistant turn answered
(its `turn_id`) is looked up in the log at the end: `lost` must be 0.
`--beside-no-store` (tiny only) runs a second server with no store, and sends
each valid assistant request to it too, right after: `assistant/*` and
`assistant-no-store/*` are the same turns under the same load, with and
without the store.
"""

from __future__ import annotations

import collections
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

import bench_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

import grpc
import hostile_corpus
import hostile_grpc
import numpy as np
import requests

TINY_SERVER = """
import sys, time
sys.path[:0] = [{repo!r}, {tests!r}]
from assistant_fakes import fake_models
from lepton_tf.assistant.mount import mount_assistant
from lepton_tf.server.app import ModelServer, ServerOptions
import os, serving_models, string_model
base = {base!r}
serving_models.export_half_plus_two(os.path.join(base, "half"), 1)
serving_models.export_half_plus_two(os.path.join(base, "half"), 2, b=3.0)
serving_models.export_tf1_classifier(os.path.join(base, "tf1"), 1)
string_model.export(base, version=1, validate=False)
open(os.path.join(base, "models.config"), "w").write(serving_models.MODELS_CONFIG.format(base=base))
open(os.path.join(base, "monitoring.config"), "w").write(
    'prometheus_config {{ enable: true path: "/monitoring/prometheus/metrics" }}')
srv = ModelServer(ServerOptions(port={grpc_port}, rest_api_port={rest_port},
                                model_config_file=os.path.join(base, "models.config"),
                                monitoring_config_file=os.path.join(base, "monitoring.config"),
                                file_system_poll_wait_seconds=0), python_servables=fake_models())
mount_assistant(srv, dialogue_turns=["hello there"], search_k=3, store_url={store_url!r})
srv.start()
print("READY", flush=True)
srv.wait()
"""
NAMES = ["half", "words", "tf1", "chat", "intent", "search", "encoder", "assistant"]
TEXT = "how do I reset my password"
SHORT_DEADLINES_S = (0.001, 0.02, 0.05, 0.2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int) -> dict:
    """RSS (MiB) and threads of a process, from /proc, and the machine's load average."""
    out = {"loadavg_1m": round(os.getloadavg()[0], 2)}
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key == "VmRSS":
                out["rss_mib"] = round(int(value.split()[0]) / 1024, 1)
            elif key == "Threads":
                out["threads"] = int(value)
    return out


def start_server(args, grpc_port: int, rest_port: int,
                 store_url: str | None = "given") -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    given = getattr(args, "store_url", None)  # bench/deadlines.py keeps no store
    store_url = given if store_url == "given" else store_url
    if args.tiny:
        code = TINY_SERVER.format(repo=REPO, tests=os.path.join(REPO, "tests"),
                                  base=tempfile.mkdtemp(prefix="soak-"), grpc_port=grpc_port,
                                  rest_port=rest_port, store_url=store_url)
        command = [sys.executable, "-c", code]
    else:
        store = [f"--conversation_store={store_url}"] if store_url else []
        command = [sys.executable, "-m", "lepton_tf.cli", "serve", f"--port={grpc_port}",
                   f"--rest_api_port={rest_port}", *store, *args.server_args]
    # The server's output goes to a file: a pipe nobody reads would stall it once full.
    log_path = (getattr(args, "server_log", None) if store_url == given
                else None) or os.path.join(
        tempfile.mkdtemp(prefix="soak-log-"), "server.log")
    log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - the child's, for its life
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    proc.log_path = log_path
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{rest_port}/v1/models/x", timeout=2)
            return proc
        except requests.ConnectionError:
            if proc.poll() is not None:
                with open(log_path, encoding="utf-8", errors="replace") as f:
                    raise RuntimeError("server exited:\n" + f.read()[-3000:])
            time.sleep(1)
    raise RuntimeError("server did not start in 600 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _example_input(spec: dict):
    dtype = spec.get("dtype", "DT_FLOAT")
    dims = [int(d.get("size", -1)) for d in spec.get("tensor_shape", {}).get("dim", [])]
    shape = [1 if d < 0 else d for d in dims]
    if dtype == "DT_STRING":
        return np.full(shape, TEXT.encode(), dtype=object) if shape else np.array(TEXT.encode(),
                                                                                    object)
    np_type = {"DT_FLOAT": np.float32, "DT_DOUBLE": np.float64, "DT_INT32": np.int32,
               "DT_INT64": np.int64, "DT_BOOL": np.bool_}.get(dtype, np.float32)
    return np.ones(shape, np_type)


def valid_requests(rest: str) -> dict:
    """servable -> its serving_default inputs (numpy), from REST metadata."""
    found = {}
    for name in NAMES:
        r = requests.get(f"{rest}/v1/models/{name}/metadata", timeout=30)
        if r.status_code != 200:
            continue
        defs = r.json()["metadata"]["signature_def"]["signature_def"]
        sig = defs.get("serving_default")
        if sig is None or sig.get("method_name", "").endswith(("classify", "regress")):
            continue
        found[name] = {alias: _example_input(spec) for alias, spec in sig["inputs"].items()}
    return found


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency = collections.defaultdict(list)
        self.errors = collections.Counter()
        self.examples = []
        self.hostile = collections.Counter()
        self.bad_hostile = []
        self.deadline_late_s = []
        self.turn_ids = []  # of the assistant's answered valid turns

    def valid(self, key, seconds, error=None):
        with self.lock:
            self.latency[key].append(seconds)
            if error:
                self.errors[key] += 1
                if len(self.examples) < 20:
                    self.examples.append(f"{key}: {error}"[:300])


def _rest_json(inputs: dict):
    def plain(v):
        return [x.decode() for x in v.ravel()] if v.dtype == object else v.tolist()
    return {"inputs": {k: (plain(v) if v.ndim else (v.item().decode() if v.dtype == object
                                                     else v.item()))
                       for k, v in inputs.items()}}


def _valid(args, stub, session, rest: str, models: dict, name: str, front: str,
           turn_ids: list | None) -> str | None:
    """Sends one valid request; the error, or None. An assistant turn's id goes to
    `turn_ids` (None: not kept)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    try:
        if front == "grpc":
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            for alias, value in models[name].items():
                request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
            response = stub.Predict(request, timeout=args.timeout_s)
            if "turn_id" in response.outputs and turn_ids is not None:
                turn_ids.append(response.outputs["turn_id"].string_val[0].decode())
        else:
            r = session.post(f"{rest}/v1/models/{name}:predict",
                             json=_rest_json(models[name]), timeout=args.timeout_s)
            if r.status_code != 200:
                return f"HTTP {r.status_code} {r.text[:200]}"
            if name == "assistant" and turn_ids is not None:
                turn_id = r.json()["outputs"]["turn_id"]
                turn_ids.append(turn_id[0] if isinstance(turn_id, list) else turn_id)
    except (grpc.RpcError, requests.RequestException) as e:
        detail = e.details() if isinstance(e, grpc.RpcError) else str(e)
        return f"{type(e).__name__}: {detail}"
    return None


def client(worker: int, args, ports, models: dict, stop: threading.Event, stats: Stats):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
    rng = random.Random(1000 + worker)
    rest = f"http://127.0.0.1:{ports[1]}"
    channel = grpc.insecure_channel(f"127.0.0.1:{ports[0]}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    session = requests.Session()
    beside = None
    if len(ports) > 2:  # the server with no store (`--beside-no-store`)
        beside = (prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{ports[2]}")), f"http://127.0.0.1:{ports[3]}")
    names = sorted(models)
    while not stop.is_set():
        pick = rng.random()
        name = rng.choice(names)
        if pick < 0.45:  # valid
            front = "grpc" if rng.random() < 0.5 else "rest"
            start = time.monotonic()
            error = _valid(args, stub, session, rest, models, name, front, stats.turn_ids)
            stats.valid(f"{name}/{front}", time.monotonic() - start, error)
            if beside is not None and name == "assistant":
                start = time.monotonic()
                error = _valid(args, beside[0], session, beside[1], models, name, front, None)
                stats.valid(f"{name}-no-store/{front}", time.monotonic() - start, error)
        elif pick < 0.65:
            kind, data = hostile_corpus.rest_request(rng)
            raw = hostile_corpus.send_raw("127.0.0.1", ports[1], data, timeout=30)
            problem = hostile_corpus.judge_rest(raw, data.startswith(b"HEAD "))
            _hostile(stats, f"rest/{kind}", problem)
        elif pick < 0.85:
            method, data, timeout = hostile_grpc.grpc_call(rng)
            code, details = hostile_grpc.send_call(channel, method, data, timeout)
            _hostile(stats, "grpc/" + method.rsplit("/", 1)[1],
                     hostile_grpc.judge_grpc(method, data, code, details))
        elif pick < 0.93 and "assistant" in models:
            _cancelled_stream(rng, channel, rest, stats)
        else:  # a short deadline (1 ms to 200 ms) on a valid request
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            for alias, value in models[name].items():
                request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
            limit = rng.choice(SHORT_DEADLINES_S)
            start = time.monotonic()
            try:
                stub.Predict(request, timeout=limit)
                code = grpc.StatusCode.OK
            except grpc.RpcError as e:
                code = e.code()
            _hostile(stats, f"grpc/{limit * 1000:g}ms-deadline", None if code in (
                grpc.StatusCode.OK, grpc.StatusCode.DEADLINE_EXCEEDED) else code.name)
            if limit == SHORT_DEADLINES_S[0]:
                with stats.lock:
                    stats.deadline_late_s.append(time.monotonic() - start - limit)
    channel.close()


def _hostile(stats: Stats, key: str, problem):
    with stats.lock:
        stats.hostile[key] += 1
        if problem is not None:
            stats.bad_hostile.append(f"{key}: {problem}"[:300])


def _cancelled_stream(rng, channel, rest, stats):
    from google.protobuf import struct_pb2

    from lepton_tf.client.assistant import stream_call
    if rng.random() < 0.5:
        request = struct_pb2.Struct()
        request.update({"session_id": f"soak-{rng.randrange(100)}", "message": TEXT})
        call = stream_call(channel)(request, timeout=30)
        try:
            next(call)
        except (grpc.RpcError, StopIteration):
            pass
        call.cancel()
        _hostile(stats, "grpc/cancelled-stream", None)
        return
    body = json.dumps({"session_id": f"soak-{rng.randrange(100)}", "message": TEXT}).encode()
    data = hostile_corpus.http("POST", "/v1/assistant:stream", body)
    with socket.create_connection(("127.0.0.1", int(rest.rsplit(":", 1)[1])), timeout=30) as s:
        s.sendall(data)
        first = s.recv(4096)  # headers (and maybe the first event), then hang up
    _hostile(stats, "rest/dropped-stream", hostile_corpus.judge_rest(first))


def past_deadline(rest: str, path: str = "/monitoring/prometheus/metrics") -> dict | None:
    """Model -> {runs past a deadline, max s, p99 s (a bucket's upper bound)}, from the
    server's Prometheus page (None without `--monitoring_config_file`)."""
    r = requests.get(rest + path, timeout=30)
    if r.status_code != 200:
        return None
    return parse_past_deadline(r.text)


def parse_past_deadline(text: str) -> dict:
    """`:lepton:serving:compute_past_deadline_*` series -> per model figures."""
    import re
    buckets, found = collections.defaultdict(list), {}
    for line in text.splitlines():
        m = re.match(r':lepton:serving:compute_past_deadline_(\w+)\{(.*)\} (\S+)$', line)
        if not m:
            continue
        kind, labels, value = m.group(1), dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))), \
            float(m.group(3))
        model = labels.get("model_name")
        entry = found.setdefault(model, {"runs": 0, "max": 0.0, "p99": 0.0})
        if kind == "max_seconds":
            entry["max"] = round(value, 4)
        elif kind == "seconds_count":
            entry["runs"] = int(value)
        elif kind == "seconds_bucket":
            buckets[model].append((float(labels["le"]), value))
    for model, pairs in buckets.items():
        pairs.sort()
        total = pairs[-1][1] if pairs else 0
        found[model]["p99"] = next((le for le, n in pairs if total and n >= 0.99 * total), 0.0)
    return found


def store_turn_ms(rest: str, path: str = "/monitoring/prometheus/metrics") -> dict | None:
    """What the store added to each turn, from the server's `:lepton:store:turn_seconds`
    histogram: turns, mean, and p50/p95/p99 interpolated within buckets (None
    without monitoring or a store)."""
    from prometheus_client.parser import text_string_to_metric_families

    r = requests.get(rest + path, timeout=30)
    if r.status_code != 200:
        return None
    for family in text_string_to_metric_families(r.text):
        if family.name != ":lepton:store:turn_seconds":
            continue
        values = {s.name.rsplit("_", 1)[-1]: s.value for s in family.samples
                  if not s.name.endswith("_bucket")}
        buckets = sorted((float(s.labels["le"]), s.value) for s in family.samples
                         if s.name.endswith("_bucket"))
        count = values.get("count", 0)
        if not count:
            return None
        return {"turns": int(count), "mean": round(1e3 * values["sum"] / count, 3),
                **{f"p{q}": round(1e3 * bucket_quantile(buckets, q / 100), 3)
                   for q in (50, 95, 99)}}
    return None


def bucket_quantile(buckets: list, q: float) -> float:
    """Prometheus' `histogram_quantile`: linear within the bucket holding rank q."""
    total = buckets[-1][1]
    rank, below, lower = q * total, 0.0, 0.0
    for upper, cumulative in buckets:
        if cumulative >= rank:
            if upper == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (upper - lower) * ((rank - below) / inside if inside else 0.0)
        below, lower = cumulative, upper
    return lower


def percentile(values, q):
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def main(argv=None) -> int:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--warmup-s", type=float, default=30.0,
                        help="RSS and threads are first read this long after the start")
    parser.add_argument("--timeout-s", type=float, default=30.0, help="valid requests' deadline")
    parser.add_argument("--tiny", action="store_true", help="tiny test models (no artifacts)")
    parser.add_argument("--out", help="write the report as JSON here")
    parser.add_argument("--server-log", help="the server's output (default: a temp file)")
    parser.add_argument("--conversation-store", metavar="URL|temp-sqlite|temp-postgresql",
                        help="the assistant's conversation store (temp-*: a new SQLite file, or "
                             "a throwaway PostgreSQL cluster); reports turns lost from the log")
    parser.add_argument("--beside-no-store", action="store_true",
                        help="(--tiny) also send each valid assistant turn to a server with "
                             "no store: the turn's latency with and without, in one run")
    parser.add_argument("server_args", nargs="*", help="after --: `lepton-tf serve` arguments")
    args = parser.parse_args(argv)
    import contextlib

    with contextlib.ExitStack() as stack:
        args.store_url = conversation_store(args.conversation_store, stack)
        return soak(args)


def conversation_store(given: str | None, stack) -> str | None:
    """The store URL for the server (None: the tiny server keeps none)."""
    if given == "temp-sqlite":
        from lepton_tf.store import sqlite_url

        return sqlite_url(os.path.join(tempfile.mkdtemp(prefix="soak-store-"), "c.sqlite"))
    if given == "temp-postgresql":
        import pg_cluster

        why = pg_cluster.missing()
        if why:
            raise SystemExit(f"--conversation-store temp-postgresql: {why}")
        return stack.enter_context(pg_cluster.temporary_cluster()).url
    return given


def lost_turns(url: str | None, turn_ids: list) -> dict | None:
    """How many answered turns the log lacks (None without a store)."""
    if not url:
        return None
    from lepton_tf.store import ConversationStore

    store = ConversationStore.open(url)
    logged = {t["turn_id"] for t in store.turns()}
    store.close()
    return {"answered": len(turn_ids), "logged": len(logged),
            "lost": sum(t not in logged for t in turn_ids)}


def soak(args) -> int:
    ports = (free_port(), free_port())
    proc = start_server(args, *ports)
    beside = None
    if getattr(args, "beside_no_store", False):
        if not args.tiny:
            raise SystemExit("--beside-no-store needs --tiny")
        beside_ports = (free_port(), free_port())
        beside = start_server(args, *beside_ports, store_url=None)
        ports += beside_ports
    try:
        models = valid_requests(f"http://127.0.0.1:{ports[1]}")
        stats, stop = Stats(), threading.Event()
        threads = [threading.Thread(target=client, args=(i, args, ports, models, stop, stats),
                                    daemon=True) for i in range(args.clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        time.sleep(min(args.warmup_s, args.minutes * 60))
        warm = proc_status(proc.pid)
        time.sleep(max(0.0, args.minutes * 60 - (time.monotonic() - started)))
        stop.set()
        for t in threads:
            t.join(timeout=60)
        time.sleep(2)
        end = proc_status(proc.pid)
        report = summarise(args, models, stats, warm, end, time.monotonic() - started)
        report["compute_past_deadline_s"] = past_deadline(f"http://127.0.0.1:{ports[1]}")
        store_time = store_turn_ms(f"http://127.0.0.1:{ports[1]}")
    finally:
        stop_server(proc)
        if beside is not None:
            stop_server(beside)
    report["conversation_store"] = lost_turns(args.store_url, stats.turn_ids)
    if report["conversation_store"] is not None:
        report["conversation_store"]["store_ms_per_turn"] = store_time
    bench_cli.write_report(report, args.out)
    lost = (report["conversation_store"] or {}).get("lost", 0)
    return 0 if not report["valid"]["errors"] and not report["hostile"]["bad"] and not lost \
        else 1


def summarise(args, models, stats: Stats, warm: dict, end: dict, wall_s: float) -> dict:
    total = sum(len(v) for v in stats.latency.values())
    errors = sum(stats.errors.values())
    return {
        "clients": args.clients, "minutes": args.minutes, "wall_s": round(wall_s, 1),
        "servables": sorted(models),
        "valid": {"requests": total, "errors": errors,
                  "error_rate": round(errors / total, 5) if total else None,
                  "error_examples": stats.examples,
                  "per_servable_ms": {k: {"n": len(v), "p50": percentile(v, 50),
                                          "p95": percentile(v, 95),
                                          "p99": percentile(v, 99),
                                          "errors": stats.errors.get(k, 0)}
                                      for k, v in sorted(stats.latency.items())}},
        "hostile": {"requests": sum(stats.hostile.values()), "by_class": dict(stats.hostile),
                    "bad": len(stats.bad_hostile), "bad_examples": stats.bad_hostile[:20]},
        "one_ms_deadline_client_wait_ms": {"p50": percentile(stats.deadline_late_s, 50),
                                           "p99": percentile(stats.deadline_late_s, 99)},
        "server": {"after_warmup": warm, "end": end,
                   "rss_change": round(end["rss_mib"] / warm["rss_mib"] - 1, 3)},
    }


if __name__ == "__main__":
    sys.exit(main())
