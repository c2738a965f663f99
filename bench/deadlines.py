"""Compute after the deadline: large requests with short deadlines, per servable and front.

    python bench/deadlines.py --deadline-ms 300 --repeats 5 --out runs/deadlines.json -- \
        --model_config_file=models.config --search_index=indexes/stackfaq --assistant \
        --request_limits_file=serving/request_limits.json

The target is "no request computes more than 1 s past its deadline".
The server runs as a child process (`lepton-tf serve` with the arguments after
`--`, plus `--rest_api_timeout_in_ms` = the deadline and the Prometheus page).
Each case is warmed once without a deadline, then sent `--repeats` times over
gRPC (the call's deadline) and over REST (`--rest_api_timeout_in_ms`), one at a
time: chat `generate` with 64 rows of 128 sampled tokens (no early stop), chat
beam search, 8192 rows of intent, encoder and search, and an assistant turn
(gRPC stream and REST NDJSON). Compute past the deadline is what the server
itself measured (`:lepton:serving:compute_past_deadline_seconds`, per model,
from the run's end minus the deadline), read before and after each case: the
runs past the deadline, their p99 and max (upper bounds of the histogram's
buckets, 1 ms to 30 s), and the exact process-wide max per model at the end.
The client's wait past its deadline (answer time minus the deadline) is given
too. Without cancellation inside a TF call, the chat case computes ~40 s past
a 0.3 s deadline.
"""

from __future__ import annotations

import collections
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import grpc
import numpy as np
import requests
import soak

import bench_cli

TEXT = soak.TEXT
METRICS_PATH = "/monitoring/prometheus/metrics"


def cases(rows: int, chat_rows: int) -> list[dict]:
    """The large requests: name, model, signature, inputs (numpy)."""
    def text(n):
        return np.array([f"{TEXT} {i}".encode() for i in range(n)], dtype=object)

    def generate(n, beams, temperature):
        return {"context": text(n), "max_new_tokens": np.array(128, np.int32),
                "temperature": np.array(temperature, np.float32),
                "top_p": np.array(1.0, np.float32), "top_k": np.array(0, np.int32),
                "num_beams": np.array(beams, np.int32), "seed": np.array(1, np.int32),
                "no_repeat_ngram_size": np.array(0, np.int32)}
    return [
        {"name": "chat-generate-128-sampled", "model": "chat", "signature": "generate",
         "inputs": generate(chat_rows, 1, 5.0)},
        {"name": "chat-generate-128-beams4", "model": "chat", "signature": "generate",
         "inputs": generate(max(chat_rows // 8, 1), 4, 0.0)},
        {"name": "intent", "model": "intent", "signature": "serving_default",
         "inputs": {"text": text(rows)}},
        {"name": "encoder", "model": "encoder", "signature": "serving_default",
         "inputs": {"text": text(rows)}},
        {"name": "search", "model": "search", "signature": "serving_default",
         "inputs": {"query": text(rows)}},
        {"name": "assistant-stream", "model": "assistant", "stream": True,  # a chat turn
         "message": "I need to book a bus from Fresno to Los Angeles for four people "
                    "tomorrow morning, and then a hotel near the station for two nights."},
    ]


def _rest_inputs(inputs: dict) -> dict:
    return {k: ([x.decode() for x in v] if v.dtype == object else v.tolist())
            if v.ndim else v.item() for k, v in inputs.items()}


def _inputs_for(metadata_inputs: dict, case_inputs: dict) -> dict:
    """The case's inputs under the servable's own input alias (a one-input signature)."""
    if set(case_inputs) <= set(metadata_inputs) or len(metadata_inputs) != 1:
        return case_inputs
    (alias,) = metadata_inputs
    return {alias: next(iter(case_inputs.values()))}


def send(case: dict, front: str, ports, timeout: float | None):
    """One request; returns (status text, seconds)."""
    import tensorflow as tf
    from google.protobuf import struct_pb2
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from lepton_tf.client.assistant import stream_call
    start = time.monotonic()
    rest = f"http://127.0.0.1:{ports[1]}"
    channel = grpc.insecure_channel(f"127.0.0.1:{ports[0]}", options=[
        ("grpc.max_send_message_length", 1 << 28), ("grpc.max_receive_message_length", 1 << 28)])
    try:
        if case.get("stream"):
            body = {"session_id": f"deadline-{time.monotonic_ns()}", "message": case["message"]}
            if front == "grpc":
                request = struct_pb2.Struct()
                request.update(body)
                try:
                    for _ in stream_call(channel)(request, timeout=timeout or 600):
                        pass
                    status = "OK"
                except grpc.RpcError as e:
                    status = e.code().name
            else:
                r = requests.post(f"{rest}/v1/assistant:stream", json=body, timeout=600)
                status = str(r.status_code) + ("/error-event" if '"error"' in r.text else "")
        elif front == "grpc":
            request = predict_pb2.PredictRequest()
            request.model_spec.name = case["model"]
            request.model_spec.signature_name = case["signature"]
            for alias, value in case["inputs"].items():
                request.inputs[alias].CopyFrom(tf.make_tensor_proto(value))
            try:
                prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                    request, timeout=timeout or 600)
                status = "OK"
            except grpc.RpcError as e:
                status = e.code().name
        else:
            r = requests.post(f"{rest}/v1/models/{case['model']}:predict", timeout=600, json={
                "signature_name": case["signature"], "inputs": _rest_inputs(case["inputs"])})
            status = str(r.status_code)
    finally:
        channel.close()
    return status, time.monotonic() - start


def histogram(rest: str) -> dict:
    """model -> {le: cumulative count} of the past-deadline histogram, and max gauges."""
    text = requests.get(rest + METRICS_PATH, timeout=30).text
    out = collections.defaultdict(dict)
    for m in re.finditer(r':lepton:serving:compute_past_deadline_seconds_bucket\{le="([^"]+)",'
                         r'model_name="([^"]*)"\} (\S+)', text):
        out[m.group(2)][float(m.group(1))] = float(m.group(3))
    return {"buckets": dict(out), "max": {m: v["max"] for m, v in
                                          soak.parse_past_deadline(text).items()}}


def _diff(before: dict, after: dict) -> dict:
    """Per model: runs past the deadline between two reads, their p99 and max (bucket bounds)."""
    found = {}
    for model, buckets in after["buckets"].items():
        old = before["buckets"].get(model, {})
        pairs = sorted((le, n - old.get(le, 0.0)) for le, n in buckets.items())
        total = pairs[-1][1] if pairs else 0
        if not total:
            continue
        p99 = next(le for le, n in pairs if n >= 0.99 * total)
        top = next(le for le, n in pairs if n >= total)
        found[model] = {"runs_past_deadline": int(total), "p99_s_at_most": p99,
                        "max_s_at_most": top}
    return found


def main(argv=None) -> int:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--deadline-ms", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, default=8192, help="rows for intent/encoder/search")
    parser.add_argument("--chat-rows", type=int, default=64, help="rows for chat generate")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--out")
    parser.add_argument("--server-log", help="the server's output (default: a temp file)")
    parser.add_argument("server_args", nargs="*", help="after --: `lepton-tf serve` arguments")
    args = parser.parse_args(argv)
    args.tiny = False
    args.server_args = [*args.server_args, f"--rest_api_timeout_in_ms={args.deadline_ms}",
                        "--monitoring_config_file=serving/monitoring.config"]
    ports = (soak.free_port(), soak.free_port())
    proc = soak.start_server(args, *ports)
    rest = f"http://127.0.0.1:{ports[1]}"
    limit = args.deadline_ms / 1000
    report = {"deadline_s": limit, "repeats": args.repeats, "cases": {}}
    try:
        hosted = soak.valid_requests(rest)
        for case in cases(args.rows, args.chat_rows):
            if args.only and case["name"] not in args.only.split(","):
                continue
            if case["model"] not in hosted and not case.get("stream"):
                continue
            if "inputs" in case and case["signature"] == "serving_default":
                case["inputs"] = _inputs_for(hosted[case["model"]], case["inputs"])
            warm_status, warm_s = send(case, "grpc", ports, None)  # traced, no deadline
            entry = {"uncut_s": round(warm_s, 2), "uncut_status": warm_status}
            for front in ("grpc", "rest"):
                before = histogram(rest)
                answers = [send(case, front, ports, limit) for _ in range(args.repeats)]
                time.sleep(0.5)  # a cancelled run's end is recorded after its answer
                entry[front] = {
                    "statuses": dict(collections.Counter(s for s, _ in answers)),
                    "client_wait_past_deadline_s_max": round(max(
                        t for _, t in answers) - limit, 3),
                    "server_compute_past_deadline": _diff(before, histogram(rest))}
            report["cases"][case["name"]] = entry
            print(case["name"], json.dumps(entry), flush=True)
        report["process_max_past_deadline_s"] = histogram(rest)["max"]
        report["server"] = soak.proc_status(proc.pid)
    finally:
        soak.stop_server(proc)
    bench_cli.write_report(report, args.out)
    worst = max(report["process_max_past_deadline_s"].values(), default=0.0)
    return 0 if worst <= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
