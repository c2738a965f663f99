"""`lepton-tf serve` run the way TF Serving's end-to-end tests run `tensorflow_model_server`.

Ported from tensorflow/serving's `test_util/tensorflow_model_server_test_base.py`
(`RunServer`, `WaitForServerReady`, `CallREST`, `SortedObject`, `VerifyPredictRequest`):
the same flags, the same readiness probe (a Predict on a missing model until the
error names a "Servable"), the same request helpers. One difference: TF Serving
keeps every server it started alive until the process exits; here one runs at a
time (the test machine is shared), restarted when a test asks for other flags.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import grpc
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from conftest import REPO, free_port, python_env

TESTDATA = os.path.join(REPO, "tests", "testdata", "tfserving")
RPC_TIMEOUT = 20.0
HTTP_REST_TIMEOUT_MS = 5000
# TF Serving's RunServer passes --grpc_socket_path=/tmp/tf-serving.sock to every server;
# one per test process here, so parallel runs do not share it.
GRPC_SOCKET_PATH = os.path.join(tempfile.gettempdir(), f"tf-serving-{os.getpid()}.sock")
WAIT_FOR_SERVER_READY_SECS = 180  # TF Serving waits 60 s; TensorFlow imports slowly here
DEFAULT_SIGNATURE = "serving_default"

_servers: dict = {}


def data_path(name: str) -> str:
    """A path under TF Serving's test data (`servables/tensorflow/testdata`)."""
    return os.path.join(TESTDATA, name)


def model_version(model_path: str) -> int:
    """`_GetModelVersion`: the one numbered folder under `model_path`."""
    return int(sorted(os.listdir(model_path))[0])


def stop_servers() -> None:
    for proc, _, _ in _servers.values():
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    _servers.clear()
    if os.path.exists(GRPC_SOCKET_PATH):
        os.unlink(GRPC_SOCKET_PATH)


def wait_for_server_ready(port: int, proc) -> None:
    """`WaitForServerReady`: Predict on a missing model until the error names a Servable."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "intentionally_missing_model"
    deadline = time.monotonic() + WAIT_FOR_SERVER_READY_SECS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"lepton-tf serve exited with {proc.returncode}")
        time.sleep(1)
        with grpc.insecure_channel(f"localhost:{port}") as channel:
            try:
                prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                    request, RPC_TIMEOUT)
            except grpc.RpcError as error:
                if "Servable" in (error.details() or ""):
                    return
    raise RuntimeError("lepton-tf serve did not become ready")


def run_server(model_name, model_path, model_config_file=None, monitoring_config_file=None,
               batching_parameters_file=None, grpc_channel_arguments="",
               wait_for_server_ready_=True, pipe=None, model_config_file_poll_period=None,
               extra_flags=()):
    """`RunServer`: `(Popen, grpc host:port, rest host:port)` of a server with these flags.

    Raises:
        ValueError: when both model_path and model_config_file are empty.
    """
    key = (model_name, model_path, model_config_file, monitoring_config_file,
           batching_parameters_file, grpc_channel_arguments, model_config_file_poll_period,
           tuple(extra_flags), pipe)
    if key in _servers and _servers[key][0].poll() is None:
        return _servers[key]
    stop_servers()
    port, rest_api_port = free_port(), free_port()
    command = [sys.executable, "-m", "lepton_tf.cli", "serve", f"--port={port}",
               f"--rest_api_port={rest_api_port}",
               f"--rest_api_timeout_in_ms={HTTP_REST_TIMEOUT_MS}",
               f"--grpc_socket_path={GRPC_SOCKET_PATH}"]
    if model_config_file:
        command.append(f"--model_config_file={model_config_file}")
    elif model_path:
        command += [f"--model_name={model_name}", f"--model_base_path={model_path}"]
    else:
        raise ValueError("Both model_config_file and model_path cannot be empty!")
    if monitoring_config_file:
        command.append(f"--monitoring_config_file={monitoring_config_file}")
    if model_config_file_poll_period is not None:
        command.append(f"--model_config_file_poll_wait_seconds={model_config_file_poll_period}")
    if batching_parameters_file:
        command += ["--enable_batching", f"--batching_parameters_file={batching_parameters_file}"]
    if grpc_channel_arguments:
        command.append(f"--grpc_channel_arguments={grpc_channel_arguments}")
    command += list(extra_flags)
    proc = subprocess.Popen(command, stderr=pipe, stdout=subprocess.DEVNULL, cwd=REPO,
                            env=python_env())
    if wait_for_server_ready_:
        try:
            wait_for_server_ready(port, proc)
        except RuntimeError:
            proc.kill()
            raise
    hostports = (proc, f"localhost:{port}", f"localhost:{rest_api_port}")
    _servers[key] = hostports
    return hostports


def call_rest(url: str, req, max_attempts: int = 1):
    """`CallREST`: the body of a REST call (POST with `req` as JSON, GET without)."""
    for attempt in range(max_attempts):
        try:
            data = json.dumps(req).encode("utf-8") if req is not None else None
            with urllib.request.urlopen(urllib.request.Request(url, data=data),
                                        timeout=RPC_TIMEOUT) as resp:
                return resp.read()
        except Exception:  # noqa: BLE001 - retried as TF Serving's helper does
            if attempt == max_attempts - 1:
                raise
            time.sleep(1)
    return None


def sorted_object(obj):
    """`SortedObject`: nested lists and dicts sorted, for order-free JSON comparison."""
    if isinstance(obj, dict):
        return sorted((k, sorted_object(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return sorted(sorted_object(x) for x in obj)
    return obj


def verify_predict_request(address, expected_output, expected_version, model_name="default",
                           specify_output=True, batch_input=False,
                           signature_name=DEFAULT_SIGNATURE, rpc_timeout=RPC_TIMEOUT):
    """`VerifyPredictRequest`: x = float [2.0] of shape [1] ([1, 1] with batch_input)."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    request.inputs["x"].dtype = types_pb2.DT_FLOAT
    request.inputs["x"].float_val.append(2.0)
    request.inputs["x"].tensor_shape.dim.add().size = 1
    if batch_input:
        request.inputs["x"].tensor_shape.dim.add().size = 1
    if specify_output:
        request.output_filter.append("y")
    with grpc.insecure_channel(address) as channel:
        result = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, rpc_timeout)
    assert "y" in result.outputs
    assert result.outputs["y"].dtype == types_pb2.DT_FLOAT
    assert len(result.outputs["y"].float_val) == 1
    assert result.outputs["y"].float_val[0] == expected_output
    verify_model_spec(result.model_spec, model_name, signature_name, expected_version)


def verify_model_spec(actual, exp_model_name, exp_signature_name, exp_version):
    """`_VerifyModelSpec`."""
    assert actual.name == exp_model_name
    assert actual.signature_name == exp_signature_name
    assert actual.version.value == exp_version
