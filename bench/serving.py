"""Serving benchmark: gRPC overhead over in-process calls, and batching throughput.

    python bench/serving.py                       # saved_models/encoder, 10 s per throughput run
    python bench/serving.py --seconds 30 --latency-calls 1000
    python bench/serving.py --model-base-path saved_models/intent --model-name intent \
        --signature serving_default --input text

1. Latency at batch 1: p50/p99 of `encode_query` called in process on the
   loaded SavedModel, against gRPC Predict to `lepton-tf serve` (a separate
   process, same machine), in alternating rounds; the overhead is the p50
   ratio minus one.
2. Throughput: 32 client threads sending batch-1 Predicts for `--seconds`,
   against the server with `--enable_batching` off and on.
The server runs as `lepton-tf serve` in a child process so client and server
do not share a GIL; both share this machine's cores, which the report prints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

import bench_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

QUERIES = [b"how do I reset my password", b"my card was stolen what now",
           b"can I close my account online", b"why was my transfer declined"]


def percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1e3
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "n": len(ms)}


def in_process_caller(version_dir: str, signature: str, input_name: str):
    """A batch-1 call of the SavedModel signature in this process."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - registers the tokenizer ops

    fn = tf.saved_model.load(version_dir).signatures[signature]
    return lambda i: fn(**{input_name: tf.constant([QUERIES[i % len(QUERIES)]])})


def interleaved_latency(callers: dict, calls: int, rounds: int = 5) -> dict:
    """Batch-1 latency of each caller, measured in alternating rounds.

    Alternating cancels most of the drift of a shared machine (other
    processes, CPU frequency) that would bias one side measured after the other.
    """
    times = {name: [] for name in callers}
    for name, call in callers.items():  # warm up: tracing, caches, connections
        for i in range(20):
            call(i)
    for _ in range(rounds):
        for name, call in callers.items():
            for i in range(max(1, calls // rounds)):
                start = time.perf_counter()
                call(i)
                times[name].append(time.perf_counter() - start)
    return {name: percentiles(t) for name, t in times.items()}


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """`lepton-tf serve` in a child process, waited on until the model is AVAILABLE."""

    def __init__(self, args, batching: bool, workdir: str):
        self.port, self.rest_port = free_port(), free_port()
        monitoring = os.path.join(workdir, "monitoring.config")
        with open(monitoring, "w") as f:
            f.write("prometheus_config { enable: true }\n")
        cmd = [sys.executable, "-m", "lepton_tf.cli", "serve", f"--port={self.port}",
               f"--rest_api_port={self.rest_port}", f"--monitoring_config_file={monitoring}",
               f"--model_name={args.model_name}",
               f"--model_base_path={os.path.abspath(args.model_base_path)}",
               "--file_system_poll_wait_seconds=0", *args.server_arg]
        if batching:
            params = os.path.join(workdir, "batching.txt")
            with open(params, "w") as f:
                f.write(f"max_batch_size {{ value: {args.max_batch_size} }}\n"
                        f"batch_timeout_micros {{ value: {args.batch_timeout_micros} }}\n"
                        f"num_batch_threads {{ value: {args.num_batch_threads} }}\n"
                        "max_enqueued_batches { value: 1000 }\n")
            cmd += ["--enable_batching", f"--batching_parameters_file={params}"]
        cpus = args.server_cpus
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL,
                                     env=dict(os.environ, PYTHONPATH=REPO),
                                     preexec_fn=(lambda: os.sched_setaffinity(0, cpus))
                                     if cpus else None)
        self.target = f"127.0.0.1:{self.port}"
        self._wait(args.model_name)

    def _wait(self, name: str, timeout: float = 180) -> None:
        import grpc
        from tensorflow_serving.apis import get_model_status_pb2, model_service_pb2_grpc

        stub = model_service_pb2_grpc.ModelServiceStub(grpc.insecure_channel(self.target))
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = name
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("lepton-tf serve exited")
            try:
                rows = stub.GetModelStatus(request, timeout=2).model_version_status
                if any(r.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE for r in rows):
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.5)
        raise TimeoutError("server did not load the model")

    def mean_batch_size(self) -> float | None:
        """Mean rows per batch run, from the server's Prometheus metrics."""
        import urllib.request

        url = f"http://127.0.0.1:{self.rest_port}/monitoring/prometheus/metrics"
        values = {}
        for line in urllib.request.urlopen(url, timeout=10).read().decode().splitlines():
            for kind in ("sum", "count"):
                if line.startswith(f":tensorflow:serving:batching_session:processed_batch_size_"
                                   f"{kind}{{"):
                    values[kind] = values.get(kind, 0.0) + float(line.split()[-1])
        return round(values["sum"] / values["count"], 2) if values.get("count") else None

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def throughput(client, requests_, clients: int, seconds: float) -> dict:
    stop, counts, errors, latencies = threading.Event(), [0] * clients, [0] * clients, []
    lock = threading.Lock()

    def worker(i):
        local = []
        while not stop.is_set():
            start = time.perf_counter()
            try:
                client.call("Predict", requests_[i % len(requests_)])
                counts[i] += 1
                local.append(time.perf_counter() - start)
            except Exception:  # noqa: BLE001 - counted, reported
                errors[i] += 1
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    result = {"requests_per_s": round(sum(counts) / seconds, 1), "errors": sum(errors)}
    result.update(percentiles(latencies) if latencies else {})
    return result


def main(argv=None) -> int:
    p = bench_cli.parser(__doc__)
    p.add_argument("--model-base-path", default=os.path.join(REPO, "saved_models", "encoder"))
    p.add_argument("--model-name", default="encoder")
    p.add_argument("--signature", default="encode_query")
    p.add_argument("--input", default="text")
    p.add_argument("--latency-calls", type=int, default=1000)
    p.add_argument("--seconds", type=float, default=10.0, help="per throughput run")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--max-batch-size", type=int, default=32)
    p.add_argument("--batch-timeout-micros", type=int, default=10000)
    # TF Serving's batching guide: num_batch_threads = CPU cores, so one batch is
    # formed while the other runs (2 cores: 3.2x against 2.6-3.0x with 1 thread).
    p.add_argument("--num-batch-threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--server-arg", action="append", default=[],
                   help="extra `lepton-tf serve` flag for an A/B run, "
                        "e.g. --server-arg=--tensorflow_intra_op_parallelism=1")
    p.add_argument("--split-cores", action="store_true",
                   help="run the server on half the cores and this process (clients and "
                        "the in-process baseline) on the other half, as with clients on "
                        "another machine; both sides' TensorFlow then get the same cores")
    p.add_argument("--out", help="also write the results as JSON here")
    args = p.parse_args(argv)
    args.server_cpus = None
    if args.split_cores:
        # Before TensorFlow starts here: its pools size themselves to the affinity.
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            raise SystemExit("--split-cores needs at least 2 cores.")
        os.sched_setaffinity(0, cpus[:len(cpus) // 2])
        args.server_cpus = cpus[len(cpus) // 2:]

    from lepton_tf.client import PredictClient
    from lepton_tf.server.version_policy import version_dirs

    versions = version_dirs(args.model_base_path)
    if not versions:
        raise SystemExit(f"No SavedModel versions in {args.model_base_path}")
    report = {"model": args.model_name, "version": max(versions), "cpus": os.cpu_count(),
              "signature": args.signature, "server_args": args.server_arg,
              "split_cores": args.split_cores}
    local = in_process_caller(versions[max(versions)], args.signature, args.input)
    with tempfile.TemporaryDirectory() as workdir:
        for batching in (False, True):
            server = ServerProcess(args, batching, workdir)
            try:
                client = PredictClient(server.target, timeout_s=30, retries=0)
                requests_ = [client.predict_request(args.model_name, {args.input: np.array([q])},
                                                    signature_name=args.signature)
                             for q in QUERIES]
                key = "batching_on" if batching else "batching_off"
                if not batching:
                    latency = interleaved_latency(
                        {"in_process_batch1": local,
                         "grpc_batch1": lambda i: client.call("Predict", requests_[i % 4])},
                        args.latency_calls)
                    report.update(latency)
                result = throughput(client, requests_, args.clients, args.seconds)
                if batching:
                    result["mean_batch_size"] = server.mean_batch_size()
                report[f"throughput_{args.clients}_clients_{key}"] = result
                client.close()
            finally:
                server.stop()
    local, remote = report["in_process_batch1"], report["grpc_batch1"]
    report["grpc_overhead_p50"] = round(remote["p50_ms"] / local["p50_ms"] - 1, 3)
    off = report[f"throughput_{args.clients}_clients_batching_off"]["requests_per_s"]
    on = report[f"throughput_{args.clients}_clients_batching_on"]["requests_per_s"]
    report["batching_speedup"] = round(on / off, 2) if off else None
    print(json.dumps(report, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
