"""Model management under load: new versions, removed versions, failed loads, config polling.

LEPTON_RELOAD_TEST_SECONDS sets how long the 16 clients run (default 8 s; the
30 s soak: `LEPTON_RELOAD_TEST_SECONDS=30 pytest tests/test_server_reload.py`).
"""

import os
import shutil
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import get_model_status_pb2, prediction_service_pb2_grpc

from conftest import free_port
from serving_models import export_half_plus_two, predict_request

DURATION_S = float(os.environ.get("LEPTON_RELOAD_TEST_SECONDS", "8"))
State = get_model_status_pb2.ModelVersionStatus.State


def _server(**options):
    from lepton_tf.server.app import ModelServer, ServerOptions
    return ModelServer(ServerOptions(port=0, rest_api_port=free_port(), **options)).start()


def _wait_for(predicate, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_reload_under_load_zero_failures(tmp_path):
    base = str(tmp_path / "half")
    export_half_plus_two(base, 1, b=3.0)          # y = 0.5x + 2 + version
    server = _server(model_name="half", model_base_path=base, file_system_poll_wait_seconds=0.2)
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    stop, lock = threading.Event(), threading.Lock()
    results, failures = [], []

    def client(seed):
        rng = np.random.default_rng(seed)
        seen_v2 = False
        while not stop.is_set():
            x = rng.normal(size=3).astype(np.float32)
            try:
                response = stub.Predict(predict_request("half", {"x": x}), timeout=10)
            except grpc.RpcError as e:
                with lock:
                    failures.append(f"{e.code().name}: {e.details()}")
                continue
            version = response.model_spec.version.value
            y = tf.make_ndarray(response.outputs["y"])
            with lock:
                results.append((time.monotonic(), version))
                if not np.allclose(y, 0.5 * x + 2 + version, atol=1e-5):
                    failures.append(f"wrong answer from version {version}")
                if seen_v2 and version == 1:
                    failures.append("went back to version 1")
            seen_v2 |= version == 2

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    start = time.monotonic()
    for t in threads:
        t.start()
    try:
        time.sleep(DURATION_S / 3)
        export_half_plus_two(base, 2, b=4.0)       # drop in a new version
        assert _wait_for(lambda: server.manager.available() == [("half", 2)], DURATION_S / 3)
        switched = time.monotonic()
        shutil.rmtree(os.path.join(base, "1"))     # and remove the old one
        time.sleep(max(0.0, start + DURATION_S - time.monotonic()))
    finally:
        stop.set()
        for t in threads:
            t.join()
        channel.close()
        server.stop()
    assert failures == []
    versions = {v for _, v in results}
    assert versions == {1, 2}
    after = [v for t, v in results if t > switched + 0.5]
    assert after and set(after) == {2}
    assert len(results) > 16 * 10


def test_failed_version_is_reported_and_previous_keeps_serving(tmp_path):
    base = str(tmp_path / "half")
    export_half_plus_two(base, 1)
    server = _server(model_name="half", model_base_path=base, file_system_poll_wait_seconds=0.1)
    try:
        broken = os.path.join(base, "2")
        os.makedirs(broken)
        with open(os.path.join(broken, "saved_model.pb"), "wb") as f:
            f.write(b"not a SavedModel")
        assert _wait_for(lambda: server.manager.status("half")[-1][1] == State.END)
        version, state, error = server.manager.status("half", 2)[0]
        assert error is not None and "Failed to load" in error.message
        with server.manager.servable("half") as servable:
            assert servable.version == 1
        # The same over gRPC: GetModelStatus shows the error, Predict still answers.
        from tensorflow_serving.apis import model_service_pb2_grpc
        channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        request = get_model_status_pb2.GetModelStatusRequest()
        request.model_spec.name = "half"
        rows = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(
            request, timeout=10).model_version_status
        assert [(r.version, r.state) for r in rows] == [(1, State.AVAILABLE), (2, State.END)]
        assert rows[1].status.error_code != 0 and rows[1].status.error_message
        out = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            predict_request("half", {"x": np.ones(1, np.float32)}), timeout=10)
        assert out.model_spec.version.value == 1
        channel.close()
    finally:
        server.stop()


def test_config_file_polling_adds_and_removes_models(tmp_path):
    base = str(tmp_path / "half")
    export_half_plus_two(base, 1)
    config = tmp_path / "models.config"
    entry = 'config {{ name: "{}" base_path: "' + base + '" model_platform: "tensorflow" }}'
    config.write_text("model_config_list { " + entry.format("a") + " }")
    server = _server(model_config_file=str(config), model_config_file_poll_wait_seconds=0.1,
                     file_system_poll_wait_seconds=0.1)
    try:
        config.write_text("model_config_list { " + entry.format("b") + " }")
        assert _wait_for(lambda: server.manager.available() == [("b", 1)])
        config.write_text("model_config_list { this is not a config }")
        time.sleep(0.3)  # a bad file is logged and ignored: b keeps serving
        assert server.manager.available() == [("b", 1)]
    finally:
        server.stop()


@pytest.mark.parametrize("warmup", [True, False])
def test_warmup_runs_before_available(tmp_path, warmup):
    from lepton_tf.export import write_warmup_requests

    base = str(tmp_path / "half")
    path = export_half_plus_two(base, 1, warmup=False)
    # A warmup record the version cannot answer: with warmup on, it never becomes AVAILABLE.
    write_warmup_requests(path, "half", {"serving_default": {"z": np.ones(1, np.float32)}})
    server = _server(model_name="half", model_base_path=base, enable_model_warmup=warmup,
                     file_system_poll_wait_seconds=0)
    try:
        version, state, error = server.manager.status("half")[0]
        if warmup:
            assert state == State.END and "warmup record 0 (predict_log) failed" in error.message
            assert "input tensor alias not found" in error.message
        else:
            assert state == State.AVAILABLE and error is None
    finally:
        server.stop()


def test_version_policy_changes_load_and_unload(tmp_path):
    from lepton_tf.server.config import single_model_config

    base = str(tmp_path / "half")
    export_half_plus_two(base, 1)
    export_half_plus_two(base, 2, b=3.0)
    server = _server(model_name="half", model_base_path=base, file_system_poll_wait_seconds=0)
    try:
        assert server.manager.available() == [("half", 2)]      # default: latest 1
        config = single_model_config("half", base)
        policy = config.model_config_list.config[0].model_version_policy
        policy.all.SetInParent()
        server.reload_config(config)
        assert server.manager.available() == [("half", 1), ("half", 2)]
        policy.specific.versions.append(1)
        server.reload_config(config)
        assert server.manager.available() == [("half", 1)]
        policy.latest.num_versions = 1                           # unloaded v2 comes back
        server.reload_config(config)
        assert server.manager.available() == [("half", 2)]
    finally:
        server.stop()
