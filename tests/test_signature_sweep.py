"""Malformed string tensors against every signature of the servables we ship,
in a fresh process that imports only TensorFlow and tensorflow-text (what
stock TF Serving links): the process must survive every case, and every case
but a long or odd valid batch must be refused with INVALID_ARGUMENT.

The models: the committed `chat` version, the zero-shot all-MiniLM-L6-v2
`encoder` exported exactly as `lepton-tf main` exports it, and an `intent`
servable from the same export code as the main job's (a small classifier
head, so the test trains in seconds). Before the in-graph checks, the
encoder died on a scalar, on a zero-size inner dimension (`Span::at failed
bounds check`, SIGABRT) and on rank 33 (SIGSEGV); chat on rank 33.
"""

import collections
import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, python_env

SWEEP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "signature_sweep.py")


def sweep(path: str) -> tuple[list, dict]:
    """Runs every case of `signature_sweep.py` on `path`, restarting after a
    death. Returns (deaths, {label: [codes]})."""
    deaths, results, first = [], collections.defaultdict(list), 0
    while True:
        done = subprocess.run([sys.executable, SWEEP, path, str(first)], capture_output=True,
                              text=True, timeout=1200, env=python_env(TF_CPP_MIN_LOG_LEVEL="3"))
        started = None
        for line in done.stdout.splitlines():
            if line.startswith("CASE "):
                started = line
            elif line.startswith("RESULT "):
                _, _, code = line.split(" ", 3)[:3]
                results[started.split(" ", 2)[2]].append(code)
                started = None
        if done.returncode == 0 and "DONE" in done.stdout:
            return deaths, results
        assert started is not None, f"the sweep did not start: {done.stderr[-2000:]}"
        deaths.append((started, done.returncode, done.stderr.strip().splitlines()[-2:]))
        first = int(started.split()[1]) + 1


def check(path: str) -> None:
    sys.path.insert(0, os.path.dirname(SWEEP))
    from signature_sweep import MAY_ANSWER, VALID

    deaths, results = sweep(path)
    assert not deaths, f"{len(deaths)} cases killed the process: {deaths[:5]}"
    wrong = {label: codes for label, codes in results.items()
             if not label.endswith(VALID) and not label.endswith(MAY_ANSWER)
             and set(codes) != {"InvalidArgumentError"}}
    assert not wrong, json.dumps(wrong, indent=1)[:3000]
    valid = {label: codes for label, codes in results.items() if label.endswith(VALID)}
    assert valid and all(set(codes) == {"OK"} for codes in valid.values()), valid
    for label in MAY_ANSWER:
        codes = {c for key, cs in results.items() if key.endswith(label) for c in cs}
        assert codes <= {"OK", "InvalidArgumentError"}, (label, codes)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The encoder as the main job exports it and a small intent servable."""
    import yaml

    from lepton_tf.commands.main_job import ensure_encoder
    from lepton_tf.tasks.registry import train

    base = tmp_path_factory.mktemp("shipped")
    paths = {"encoder": ensure_encoder(str(base))}
    rows = [("block my card", "card"), ("my card is stolen", "card"),
            ("change my pin", "pin"), ("forgot my pin", "pin")] * 3
    data = base / "train.csv"
    data.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    config = {"name": "intent", "output_dir": str(base / "run"), "seed": 1, "epochs": 1,
              "steps_per_epoch": 2, "batch_size": 4, "learning_rate": 0.01,
              "model": {"sequence_length": 8, "hidden_dim": 8, "intermediate_dim": 16,
                        "num_layers": 1, "num_heads": 1},
              "data": {"train": str(data), "calibration_fraction": 0.34,
                       "accept_fraction": 0.5}}
    (base / "intent.yaml").write_text(yaml.safe_dump(config))
    paths["intent"] = train("intent", config_path=str(base / "intent.yaml"),
                            base_dir=str(base), export=True)
    return paths


def committed_chat() -> str:
    """The latest committed `chat` version folder."""
    from lepton_tf.export import latest_version_path

    return latest_version_path(os.path.join(REPO, "saved_models"), "chat")


def test_the_committed_chat_model_survives_every_malformed_input():
    check(committed_chat())


def test_the_encoder_survives_every_malformed_input(exported):
    check(exported["encoder"])


def test_the_intent_servable_survives_every_malformed_input(exported):
    check(exported["intent"])


# --- the same sweep over REST and gRPC, against `lepton-tf serve` ---------------

MODELS_CONFIG = """model_config_list {{
  config {{ name: "chat" base_path: "{chat}" model_platform: "tensorflow" }}
  config {{ name: "encoder" base_path: "{encoder}" model_platform: "tensorflow" }}
  config {{ name: "intent" base_path: "{intent}" model_platform: "tensorflow" }}
}}
"""


# A valid batch of odd strings: the encoder and intent answer it, chat refuses it.
REST_MAY_ANSWER = ("inputs 1 MB", 'instances [""]', "inputs b64 invalid utf-8")


def _deep(depth: int) -> str:
    return "[" * depth + '"x"' + "]" * depth


def rest_bodies(signature: str, defs) -> list:
    """(label, JSON body) of the malformed requests a hostile client sends to
    one signature: its first string input malformed, the others valid."""
    from signature_sweep import OPTIONS

    strings = sorted(k for k, v in defs.inputs.items() if v.dtype == 7)  # DT_STRING
    swept = strings[0]

    def inputs(value: str) -> str:
        if len(defs.inputs) == 1:
            return value
        others = {k: (OPTIONS[k] if k in OPTIONS else ["hello there"])
                  for k in defs.inputs if k != swept}
        return '{"%s": %s, %s}' % (swept, value, json.dumps(others)[1:-1])

    def body(key: str, value: str) -> str:
        value = value if key == "instances" else inputs(value)
        return '{"signature_name": "%s", "%s": %s}' % (signature, key, value)

    return [
        ("instances [[]]", body("instances", "[[]]")),
        ("instances []", body("instances", "[]")),
        ('instances [[["x"]]]', body("instances", '[[["x"]]]')),
        ("instances deep 33", body("instances", "[%s]" % _deep(33))),
        ("instances deep 35", body("instances", "[%s]" % _deep(35))),
        ("instances deep 64", body("instances", "[%s]" % _deep(64))),
        ('instances [""]', body("instances", '[""]')),
        ("instances [1, 2]", body("instances", "[1, 2]")),
        ('inputs scalar ""', body("inputs", '""')),
        ('inputs scalar "x"', body("inputs", '"x"')),
        ("inputs []", body("inputs", "[]")),
        ("inputs [[]]", body("inputs", "[[]]")),
        ('inputs [["a"], ["b"]]', body("inputs", '[["a"], ["b"]]')),
        ("inputs deep 33", body("inputs", _deep(33))),
        ("inputs [1, 2]", body("inputs", "[1, 2]")),
        ("inputs b64 invalid utf-8", body("inputs", '[{"b64": "/+4="}]')),
        ("inputs 1 MB", body("inputs", '["%s"]' % ("word " * 200_000))),
    ]


def _server(tmp_path, exported):
    import grpc
    from conftest import free_port
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    chat = os.path.dirname(committed_chat())
    config = tmp_path / "models.config"
    config.write_text(MODELS_CONFIG.format(
        chat=chat, encoder=os.path.dirname(exported["encoder"]),
        intent=os.path.dirname(exported["intent"])))
    port, rest = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lepton_tf.cli", "serve", f"--port={port}",
         f"--rest_api_port={rest}", f"--model_config_file={config}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "serve.log", "wb"),
        env=python_env(), cwd=REPO)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    return process, rest, channel, prediction_service_pb2_grpc.PredictionServiceStub(channel)


def _wait_ready(process, rest, tmp_path, timeout=900):
    import time

    import requests

    start = time.time()
    while time.time() - start < timeout:
        assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        try:
            if all(requests.get(f"http://127.0.0.1:{rest}/v1/models/{m}", timeout=5).ok
                   for m in ("chat", "encoder", "intent")):
                return
        except requests.RequestException:
            pass
        time.sleep(2)
    raise AssertionError("the server did not load its models in time")


def test_rest_and_grpc_sweep_leave_the_server_serving(tmp_path, exported):
    import grpc
    import numpy as np
    import requests
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    sys.path.insert(0, os.path.dirname(SWEEP))
    from signature_sweep import MAY_ANSWER, VALID, cases, read_meta_graph

    process, rest, channel, stub = _server(tmp_path, exported)
    try:
        _wait_ready(process, rest, tmp_path)

        def alive(model="encoder"):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            r = requests.post(f"http://127.0.0.1:{rest}/v1/models/{model}:predict",
                              data='{"instances": ["is it still up?"]}', timeout=60)
            assert r.ok, r.text

        bad = []
        for model, path in (("encoder", exported["encoder"]), ("intent", exported["intent"]),
                            ("chat", committed_chat())):
            meta_graph = read_meta_graph(path)
            for signature, defs in meta_graph.signature_def.items():
                if signature.startswith("__"):
                    continue
                for label, payload in rest_bodies(signature, defs):
                    r = requests.post(f"http://127.0.0.1:{rest}/v1/models/{model}:predict",
                                      data=payload.encode(), timeout=120)
                    ok = r.status_code == 400 and "error" in r.json() or (
                        label in REST_MAY_ANSWER and r.status_code in (200, 400, 413))
                    if not ok:
                        bad.append(("REST", model, signature, label, r.status_code, r.text[:200]))
                    alive()
            for signature, swept, label, feed in cases(meta_graph):
                request = predict_pb2.PredictRequest()
                request.model_spec.name = model
                request.model_spec.signature_name = signature
                for key, value in feed.items():
                    request.inputs[key].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
                try:
                    stub.Predict(request, timeout=120)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as e:
                    code = e.code()
                expected = {grpc.StatusCode.OK} if label == VALID else (
                    {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT}
                    if label in MAY_ANSWER else {grpc.StatusCode.INVALID_ARGUMENT})
                if code not in expected:
                    bad.append(("gRPC", model, signature, swept, label, code))
                alive()
        assert not bad, bad[:20]
        alive("chat")
    finally:
        channel.close()
        process.terminate()
        process.wait(timeout=60)
