"""Turns per second and latency per turn of the `dst` servable, at batch 1 and 16.

    python bench/dst.py --model saved_models/dst [--data data/sgd/dst_sample] [--repeats 3] [--grpc | --hosted]

With `--grpc` the model is hosted by the embedded server (`lepton_tf.server`, the TF
Serving API on 127.0.0.1, a free port) and every request is a gRPC Predict, as a client
of `lepton-tf serve` sends it; without it the SavedModel is called in this process.
With `--hosted` the embedded server hosts it and the assistant's own tracker
(`assistant.tasks.hosted_tracker`, in the server's process, as `serve --assistant
--task_tracker dst` runs it) tracks each turn, once re-encoding the schema on every turn
and once with the schema's vectors cached: milliseconds per turn, side by side.

Rows are real SGD user turns with their service's schema (one row = one turn for
one service). Two paths: `track_turn_encoded` with the service's schema vectors
cached (what `ModelTracker` does: the turn alone is encoded) and `serving_default`
(all strings: the schema descriptions are encoded on every request). Prints one
line per (path, batch): turns/s, p50 and p95 milliseconds per request.
"""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import numpy as np

import bench_cli


def sgd_rows(data: Path):
    """(user, system, service) of every user frame of the folder's dialogues."""
    rows = []
    for path in sorted(data.glob("dialogues_*.json*")):
        raw = path.read_bytes()
        for dialogue in json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw):
            system = ""
            for turn in dialogue["turns"]:
                if turn["speaker"] == "SYSTEM":
                    system = turn["utterance"]
                    continue
                rows += [(turn["utterance"], system, f["service"]) for f in turn["frames"]]
    return rows


def main() -> None:
    parser = bench_cli.parser(__doc__)
    parser.add_argument("--model", required=True, help="dst version folder or base folder")
    parser.add_argument("--data", default="data/sgd/dst_sample", help="SGD-layout folder of turns")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the turns per setting")
    parser.add_argument("--grpc", action="store_true", help="through the embedded server over gRPC")
    parser.add_argument("--hosted", action="store_true",
                        help="the assistant's hosted tracker, schema re-encoded vs cached, per turn")
    args = parser.parse_args()

    import tensorflow as tf

    from lepton_tf.dialogue.model_tracker import ModelTracker
    from lepton_tf.dialogue.schema import load_schema
    from lepton_tf.export.model_path import resolve_version_path

    path = resolve_version_path(args.model, "`lepton-tf train dst --export`")
    data = Path(args.data)
    schema = load_schema(next(p for p in (data / "schema.json", data / "schema.json.gz") if p.exists()))
    rows = sgd_rows(data)
    if args.hosted:
        _bench_hosted(args, schema, rows, path)
        return
    tracker = ModelTracker.from_saved_model(path)
    server = None
    if args.grpc:
        import os

        from lepton_tf.client.base import PredictClient
        from lepton_tf.server.app import ModelServer, ServerOptions

        server = ModelServer(ServerOptions(model_name="dst", model_base_path=os.path.dirname(os.path.abspath(path)),
                                           port=0, rest_api_port=0, file_system_poll_wait_seconds=0))
        server.start()
        client = PredictClient(f"127.0.0.1:{server.grpc_port}", timeout_s=60)
    else:
        loaded = tf.saved_model.load(path)
    print(f"{path}: {len(rows)} turns of {data}, {'gRPC to the embedded server' if args.grpc else 'in process'}")
    try:
        _bench(args, schema, rows, tracker, (lambda name: (lambda **x: client.predict("dst", x, signature_name=name)))
               if args.grpc else (lambda name: loaded.signatures[name]), not args.grpc)
    finally:
        if server is not None:
            server.stop()


def _bench(args, schema, rows, tracker, signature_fn, as_tensors: bool) -> None:
    import tensorflow as tf

    from lepton_tf.dialogue.model_tracker import elements_of, request_rows

    for signature in ("track_turn_encoded", "serving_default"):
        fn = signature_fn(signature)
        for batch in (1, 16):
            requests = []
            for start in range(0, len(rows) - batch + 1, batch):
                chunk = rows[start:start + batch]
                # One service per request so rows share the padded schema sizes.
                service = elements_of(schema[chunk[0][2]])
                inputs = request_rows(chunk[0][0], chunk[0][1], [service] * batch)
                inputs["user_utterance"] = np.array([u.encode() for u, _, _ in chunk], dtype=object)
                inputs["system_utterance"] = np.array([s.encode() for _, s, _ in chunk], dtype=object)
                if signature == "track_turn_encoded":
                    inputs = tracker._with_vectors(inputs)
                requests.append({k: tf.constant(v) if as_tensors else v for k, v in inputs.items()})
            fn(**requests[0])  # trace and warm up
            latencies = []
            for _ in range(args.repeats):
                for request in requests:
                    begin = time.perf_counter()
                    fn(**request)
                    latencies.append(time.perf_counter() - begin)
            seconds = np.array(latencies)
            print(f"{signature:20s} batch {batch:2d}: {batch * len(seconds) / seconds.sum():7.1f} turns/s, "
                  f"p50 {1000 * np.percentile(seconds, 50):6.1f} ms, p95 {1000 * np.percentile(seconds, 95):6.1f} ms "
                  f"per request ({len(seconds)} requests)")


def _bench_hosted(args, schema, rows, path) -> None:
    """`hosted_tracker` over the embedded server's `dst`: one `update` per turn."""
    import os

    from lepton_tf.assistant.tasks import hosted_tracker
    from lepton_tf.dialogue.state import DialogueState
    from lepton_tf.server.app import ModelServer, ServerOptions

    server = ModelServer(ServerOptions(model_name="dst", model_base_path=os.path.dirname(os.path.abspath(path)),
                                       port=0, rest_api_port=0, file_system_poll_wait_seconds=0))
    server.start()
    print(f"{path}: {len(rows)} turns of {args.data}, the assistant's hosted tracker in the server's process")
    try:
        for cache in (False, True):
            tracker = hosted_tracker(server.manager, "dst", cache_schema=cache)
            tracker.update(DialogueState(), rows[0][1], rows[0][0], {rows[0][2]: schema[rows[0][2]]})  # warm up
            latencies = []
            for _ in range(args.repeats):
                for user, system, service in rows:
                    begin = time.perf_counter()
                    tracker.update(DialogueState(), system, user, {service: schema[service]})
                    latencies.append(time.perf_counter() - begin)
            seconds = np.array(latencies)
            label = "schema vectors cached" if cache else "schema re-encoded"
            print(f"hosted, {label:21s}: {len(seconds) / seconds.sum():7.1f} turns/s, "
                  f"p50 {1000 * np.percentile(seconds, 50):6.1f} ms, p95 {1000 * np.percentile(seconds, 95):6.1f} ms "
                  f"per turn ({len(seconds)} turns)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
